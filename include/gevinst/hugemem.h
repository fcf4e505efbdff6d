#ifndef GEVINST_HUGEMEM_H
#define GEVINST_HUGEMEM_H

/* hugemem: big zeroed tables (state caches) backed by transparent huge pages
 * where the kernel allows them (THP "madvise" mode, Debian's default). A 4 KiB
 * page costs one fault at first touch (15 us each in the KVM guest of
 * bench/README.md) and one TLB entry; a cache of 50 MB probed at random pays
 * both ~13,000 times where 2 MiB pages pay ~25. Without THP the memory is
 * ordinary pages, so nothing depends on it. */

#include <stddef.h>

/* size bytes of zeroed memory, or NULL. Free with hugemem_free(p, size). */
void *hugemem_zalloc(size_t size);
/* Gives p (from hugemem_zalloc(size), or NULL) back to the kernel. */
void hugemem_free(void *p, size_t size);

#endif
