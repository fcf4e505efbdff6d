/* strpool: open-addressing set of strings. */
#include "gevinst/strpool.h"
#include "gevinst/hexkey.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct strpool {
    pthread_mutex_t lock; /* the pipeline interns from two threads */
    char **slots;
    size_t cap, count;
};

strpool_t *strpool_new(void)
{
    strpool_t *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    pthread_mutex_init(&sp->lock, NULL);
    sp->cap = 64;
    sp->slots = calloc(sp->cap, sizeof(char *));
    if (!sp->slots) {
        free(sp);
        return NULL;
    }
    return sp;
}

void strpool_destroy(strpool_t *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->cap; i++)
        free(sp->slots[i]);
    free(sp->slots);
    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

static int grow(strpool_t *sp)
{
    size_t cap = sp->cap * 2;
    char **slots = calloc(cap, sizeof(char *));
    if (!slots)
        return -1;
    for (size_t i = 0; i < sp->cap; i++) {
        if (!sp->slots[i])
            continue;
        size_t j = hexkey_fnv1a(sp->slots[i], strlen(sp->slots[i])) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = sp->slots[i];
    }
    free(sp->slots);
    sp->slots = slots;
    sp->cap = cap;
    return 0;
}

static const char *intern(strpool_t *sp, const char *s, size_t len)
{
    if (sp->count * 2 >= sp->cap && grow(sp) != 0)
        return NULL;
    size_t j = hexkey_fnv1a(s, len) & (sp->cap - 1);
    while (sp->slots[j]) {
        if (strncmp(sp->slots[j], s, len) == 0 && sp->slots[j][len] == '\0')
            return sp->slots[j];
        j = (j + 1) & (sp->cap - 1);
    }
    sp->slots[j] = strndup(s, len);
    if (!sp->slots[j])
        return NULL;
    sp->count++;
    return sp->slots[j];
}

const char *strpool_intern(strpool_t *sp, const char *s, size_t len)
{
    pthread_mutex_lock(&sp->lock);
    const char *r = intern(sp, s, len);
    pthread_mutex_unlock(&sp->lock);
    return r;
}

size_t strpool_count(strpool_t *sp)
{
    pthread_mutex_lock(&sp->lock);
    size_t n = sp->count;
    pthread_mutex_unlock(&sp->lock);
    return n;
}
