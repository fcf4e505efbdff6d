#ifndef GEVINST_PGARRAY_H
#define GEVINST_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pgarray: builds PostgreSQL array literals ('{"a","b"}') so a batch of rows
 * goes to the server as one statement with unnest($1::text[], ...). */
typedef struct pgarray {
    char *buf;
    size_t len, cap;
    size_t count;
    bool oom;
} pgarray_t;

void pgarray_init(pgarray_t *a);
void pgarray_reset(pgarray_t *a);
void pgarray_free(pgarray_t *a);
/* Appends a text element (NULL: SQL NULL), escaped for the array syntax. */
void pgarray_add_text(pgarray_t *a, const char *s);
void pgarray_add_textn(pgarray_t *a, const char *s, size_t n);
void pgarray_add_int(pgarray_t *a, int64_t v);
void pgarray_add_double(pgarray_t *a, double v);
/* The literal, NUL-terminated; valid until the next add or reset. NULL when
 * memory ran out. */
const char *pgarray_str(pgarray_t *a);

#endif
