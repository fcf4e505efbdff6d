/* bench_pagefault: what one page fault costs on this machine, against a
 * write to a page already mapped. gevinstd and its PostgreSQL backend touch
 * fresh memory all the time unless told otherwise (see bench/README.md), and
 * in some virtual machines a fault costs tens of times what it does on bare
 * metal; this says which kind of machine the end-to-end figures come from.
 *
 * Usage: bench_pagefault [MB [RUNS]]   (defaults 256 and 5)
 * Prints the median over RUNS of: wall time per first touch of a 4 KiB page
 * (a minor fault: the kernel maps and zeroes it) and per second touch. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (mb == 0 || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: bench_pagefault [MB [RUNS]]\n");
        return 2;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = mb << 20, pages = len / page;
    double *first = calloc((size_t)runs, sizeof(double));
    double *again = calloc((size_t)runs, sizeof(double));
    if (!first || !again)
        return 1;
    for (int r = 0; r < runs; r++) {
        volatile char *p =
            mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        double t0 = now_s();
        for (size_t i = 0; i < len; i += page)
            p[i] = 1;
        double t1 = now_s();
        for (size_t i = 0; i < len; i += page)
            p[i] = 2;
        double t2 = now_s();
        first[r] = (t1 - t0) * 1e6 / (double)pages;
        again[r] = (t2 - t1) * 1e6 / (double)pages;
        munmap((void *)p, len);
    }
    qsort(first, (size_t)runs, sizeof(double), cmp_double);
    qsort(again, (size_t)runs, sizeof(double), cmp_double);
    printf("%zu pages of %zu bytes, %d runs, median:\n", pages, page, runs);
    printf("  first touch (minor fault): %8.3f us/page\n", first[runs / 2]);
    printf("  second touch:              %8.3f us/page\n", again[runs / 2]);
    free(first);
    free(again);
    return 0;
}
