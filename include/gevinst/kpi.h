#ifndef GEVINST_KPI_H
#define GEVINST_KPI_H

#include "gevinst/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The KPIs of kpis.md. Minute KPIs keep their numerator in microseconds so
 * additions and take-backs are exact; the views divide by 60e6. */
typedef enum kpi_id {
    KPI_NO_SHOW_RATE,
    KPI_NO_SHOW_RATE_SELF_BOOKED,
    KPI_NO_SHOW_RATE_STAFF_BOOKED,
    KPI_SELF_BOOKING_SHARE,
    KPI_DOUBLE_DOCUMENTATION_SHARE,
    KPI_DOUBLE_DOCUMENTATION_MINUTES,
    KPI_EHR_ACTIVE_MINUTES,
    KPI_DOCUMENTATION_MINUTES,
    KPI_COUNT
} kpi_id_t;

/* "no_show_rate", ... */
const char *kpi_name(kpi_id_t kpi);
/* False for a name that is not a KPI. */
bool kpi_parse(const char *name, kpi_id_t *out);

/* kpi_delta: additive changes to kpi_bucket (unit, kpi, local day) gathered
 * over a batch and written in one statement. */
typedef struct kpi_delta kpi_delta_t;

kpi_delta_t *kpi_delta_new(void);
void kpi_delta_destroy(kpi_delta_t *kd);

/* unit must stay valid until the next clear (use interned strings). day is
 * days since 1970-01-01 (local calendar). */
void kpi_delta_add(kpi_delta_t *kd, const char *unit, kpi_id_t kpi, int32_t day, int64_t num,
                   int64_t den);

/* Non-zero cells staged. */
size_t kpi_delta_cells(const kpi_delta_t *kd);

/* Reads a cell back (tests). False when absent or zero. */
bool kpi_delta_get(const kpi_delta_t *kd, const char *unit, kpi_id_t kpi, int32_t day, int64_t *num,
                   int64_t *den);

/* Adds every non-zero cell to gevinst.kpi_bucket inside the caller's
 * transaction, in key order (so concurrent instances do not deadlock). */
bool kpi_delta_flush(kpi_delta_t *kd, store_t *st, bool *retriable, char *errstr,
                     size_t errstr_size);

void kpi_delta_clear(kpi_delta_t *kd);

/* The double-buffered staging of the KPI modules (kpi_appt, kpi_journal,
 * kpi_audit), which all name their fields alike: add fills `in`, a flush
 * reads `staged`. Detaching swaps the two, so a flush in the commit thread
 * takes what was added so far while later adds fill the other buffer. */
/* Room for one more element in `in`; evaluates to false when out of memory. */
#define KPI_STAGING_RESERVE(m)                                                                     \
    kpi_staging_reserve(&(m)->in, &(m)->in_cap, (m)->nin, sizeof(*(m)->in))

/* in_ptr: the address of the array pointer (of any element type), which is
 * read and written as bytes, so no type is aliased. */
bool kpi_staging_reserve(void *in_ptr, size_t *cap, size_t n, size_t elem);

#define KPI_STAGING_DETACH(m, type)                                                                \
    do {                                                                                           \
        type *p_ = (m)->staged;                                                                    \
        size_t cap_ = (m)->staged_cap;                                                             \
        (m)->staged = (m)->in;                                                                     \
        (m)->staged_cap = (m)->in_cap;                                                             \
        (m)->nstaged = (m)->nin;                                                                   \
        (m)->in = p_;                                                                              \
        (m)->in_cap = cap_;                                                                        \
        (m)->nin = 0;                                                                              \
        (m)->detached = true;                                                                      \
    } while (0)

#endif
