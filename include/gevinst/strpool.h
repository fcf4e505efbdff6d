#ifndef GEVINST_STRPOOL_H
#define GEVINST_STRPOOL_H

#include <stddef.h>

/* strpool: interned strings (unit ids, item types), so hot paths compare and
 * hash pointers instead of bytes. Strings live as long as the pool. Safe to
 * use from several threads. */
typedef struct strpool strpool_t;

strpool_t *strpool_new(void);
void strpool_destroy(strpool_t *sp);

/* The pool's copy of s[0..len), added if new; NULL only when out of memory. */
const char *strpool_intern(strpool_t *sp, const char *s, size_t len);

size_t strpool_count(strpool_t *sp);

#endif
