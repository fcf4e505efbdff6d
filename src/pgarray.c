/* pgarray: array literals for batched statements. */
#include "gevinst/pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pgarray_init(pgarray_t *a)
{
    memset(a, 0, sizeof(*a));
}

void pgarray_reset(pgarray_t *a)
{
    a->len = 0;
    a->count = 0;
    a->oom = false;
}

void pgarray_free(pgarray_t *a)
{
    free(a->buf);
    pgarray_init(a);
}

static bool reserve(pgarray_t *a, size_t more)
{
    if (a->oom)
        return false;
    /* +3: the closing brace, a NUL, and the opening brace of an empty array. */
    if (a->len + more + 3 <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + more + 3)
        cap *= 2;
    char *p = realloc(a->buf, cap);
    if (!p) {
        a->oom = true;
        return false;
    }
    a->buf = p;
    a->cap = cap;
    return true;
}

static void sep(pgarray_t *a)
{
    if (a->count++ == 0)
        a->buf[a->len++] = '{';
    else
        a->buf[a->len++] = ',';
}

void pgarray_add_textn(pgarray_t *a, const char *s, size_t n)
{
    if (!reserve(a, 2 * n + 4))
        return;
    sep(a);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

void pgarray_add_text(pgarray_t *a, const char *s)
{
    if (!s) {
        if (!reserve(a, 6))
            return;
        sep(a);
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    pgarray_add_textn(a, s, strlen(s));
}

void pgarray_add_int(pgarray_t *a, int64_t v)
{
    if (!reserve(a, 24))
        return;
    sep(a);
    a->len += (size_t)snprintf(a->buf + a->len, 24, "%" PRId64, v);
}

void pgarray_add_double(pgarray_t *a, double v)
{
    if (!reserve(a, 32))
        return;
    sep(a);
    /* %.17g round-trips every double exactly. */
    a->len += (size_t)snprintf(a->buf + a->len, 32, "%.17g", v);
}

const char *pgarray_str(pgarray_t *a)
{
    if (!reserve(a, 0))
        return NULL;
    if (a->count == 0) {
        memcpy(a->buf, "{}", 3);
        return a->buf;
    }
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}
