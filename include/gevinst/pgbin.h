#ifndef GEVINST_PGBIN_H
#define GEVINST_PGBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pgbin: one-dimensional PostgreSQL arrays in the binary wire format, sent as
 * a PQexecParams parameter with paramFormats[i] = 1. The server then reads
 * them with array_recv (no array_in parsing, no decode() of hex keys).
 *
 * The element type must be the one the statement expects ($1::bytea[] wants
 * PGBIN_BYTEA): array_recv rejects any other. A fixed-size type's elements
 * must have its size (uuid: 16 bytes). Binary results of the scalar
 * types are read back with pgbin_get_int8/4/2. */

/* Element type OIDs (pg_type.h; stable across PostgreSQL versions). */
#define PGBIN_BYTEA 17u
#define PGBIN_INT8 20u
#define PGBIN_INT2 21u
#define PGBIN_INT4 23u
#define PGBIN_TEXT 25u
#define PGBIN_UUID 2950u /* elements: 16 bytes each (pgbin_add_bytes) */

typedef struct pgbin {
    char *buf; /* header space, then the elements */
    size_t len, cap;
    uint32_t elemtype;
    int32_t count;
    bool hasnull;
    bool oom;
} pgbin_t;

/* elemtype: one of the PGBIN_* OIDs. */
void pgbin_init(pgbin_t *a, uint32_t elemtype);
/* Empties the array, keeps the element type and the memory. */
void pgbin_reset(pgbin_t *a);
void pgbin_free(pgbin_t *a);

/* Elements; each must match the element type (bytes: bytea, uuid or text, taken
 * verbatim; text must be in the client encoding). */
void pgbin_add_bytes(pgbin_t *a, const void *p, size_t n);
void pgbin_add_text(pgbin_t *a, const char *s); /* NULL: SQL NULL */
void pgbin_add_null(pgbin_t *a);
void pgbin_add_int8(pgbin_t *a, int64_t v);
void pgbin_add_int4(pgbin_t *a, int32_t v);
void pgbin_add_int2(pgbin_t *a, int16_t v);

/* The finished parameter: its bytes and, in *len, their number (for
 * paramLengths). Valid until the next add, reset or free. NULL when memory
 * ran out or the array outgrew a parameter (2 GB). */
const char *pgbin_param(pgbin_t *a, int *len);

/* Binary result values (PQgetvalue with resultFormat 1): big-endian. */
static inline int64_t pgbin_get_int8(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return (int64_t)v;
}

static inline int32_t pgbin_get_int4(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

static inline int16_t pgbin_get_int2(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int16_t)((uint16_t)u[0] << 8 | u[1]);
}

#endif
