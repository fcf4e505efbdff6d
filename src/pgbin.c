/* pgbin: binary array parameters for batched statements. */
#include "gevinst/pgbin.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ndim, flags (has nulls), element type, then one (dim, lower bound) pair. */
enum { HEADER = 5 * 4 };

void pgbin_init(pgbin_t *a, uint32_t elemtype)
{
    memset(a, 0, sizeof(*a));
    a->elemtype = elemtype;
    a->len = HEADER;
}

void pgbin_reset(pgbin_t *a)
{
    a->len = HEADER;
    a->count = 0;
    a->hasnull = false;
    a->oom = false;
}

void pgbin_free(pgbin_t *a)
{
    free(a->buf);
    pgbin_init(a, a->elemtype);
}

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* Room for one more element of n bytes (plus its length word). */
static char *grow(pgbin_t *a, size_t n)
{
    if (a->oom)
        return NULL;
    /* The server takes at most INT_MAX bytes per parameter and elements. */
    if (n > (size_t)INT_MAX - 4 || a->len + 4 + n > (size_t)INT_MAX || a->count == INT32_MAX) {
        a->oom = true;
        return NULL;
    }
    if (a->len + 4 + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + 4 + n)
            cap *= 2;
        char *p = realloc(a->buf, cap);
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->buf = p;
        a->cap = cap;
    }
    char *p = a->buf + a->len;
    a->len += 4 + n;
    a->count++;
    return p;
}

void pgbin_add_bytes(pgbin_t *a, const void *data, size_t n)
{
    char *p = grow(a, n);
    if (!p)
        return;
    put32(p, (uint32_t)n);
    if (n)
        memcpy(p + 4, data, n);
}

void pgbin_add_text(pgbin_t *a, const char *s)
{
    if (!s)
        pgbin_add_null(a);
    else
        pgbin_add_bytes(a, s, strlen(s));
}

void pgbin_add_null(pgbin_t *a)
{
    char *p = grow(a, 0);
    if (!p)
        return;
    put32(p, UINT32_MAX); /* length -1 */
    a->hasnull = true;
}

void pgbin_add_int8(pgbin_t *a, int64_t v)
{
    char *p = grow(a, 8);
    if (!p)
        return;
    put32(p, 8);
    put32(p + 4, (uint32_t)((uint64_t)v >> 32));
    put32(p + 8, (uint32_t)v);
}

void pgbin_add_int4(pgbin_t *a, int32_t v)
{
    char *p = grow(a, 4);
    if (!p)
        return;
    put32(p, 4);
    put32(p + 4, (uint32_t)v);
}

void pgbin_add_int2(pgbin_t *a, int16_t v)
{
    char *p = grow(a, 2);
    if (!p)
        return;
    put32(p, 2);
    p[4] = (char)((uint16_t)v >> 8);
    p[5] = (char)v;
}

const char *pgbin_param(pgbin_t *a, int *len)
{
    if (a->oom)
        return NULL;
    if (!a->buf) {
        /* Nothing added yet: the header still needs a home. */
        a->buf = malloc(HEADER);
        if (!a->buf) {
            a->oom = true;
            return NULL;
        }
        a->cap = HEADER;
    }
    put32(a->buf + 8, a->elemtype);
    put32(a->buf + 4, a->hasnull ? 1 : 0);
    if (a->count == 0) {
        /* An empty array has no dimensions: the elements' header is left out. */
        put32(a->buf, 0);
        *len = 12;
        return a->buf;
    }
    put32(a->buf, 1);
    put32(a->buf + 12, (uint32_t)a->count);
    put32(a->buf + 16, 1); /* lower bound */
    *len = (int)a->len;
    return a->buf;
}
