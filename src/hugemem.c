/* hugemem: anonymous mappings advised for transparent huge pages. Small
 * tables go to malloc: a mapping of its own would waste most of a huge page. */
#include "gevinst/hugemem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
/* Below this calloc serves: malloc's own pages are shared with other data. */
#define HUGEMEM_MIN (4 * HUGE_PAGE)

void *hugemem_zalloc(size_t size)
{
    if (size == 0)
        return NULL;
    if (size < HUGEMEM_MIN)
        return calloc(1, size);
    if (size > SIZE_MAX / 2)
        return NULL; /* no machine maps it, and the rounding below would wrap */
    /* Over-map by a huge page and cut the ends off, so the table starts on a
     * huge page boundary (mmap only promises 4 KiB alignment). */
    size_t len = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uint8_t *raw =
        mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    munmap(p + len, (size_t)(raw + HUGE_PAGE - p));
    (void)madvise(p, len, MADV_HUGEPAGE); /* advice only: EINVAL without THP */
    return p;
}

void hugemem_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size < HUGEMEM_MIN) {
        free(p);
        return;
    }
    munmap(p, (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
}
