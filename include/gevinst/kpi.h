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

#endif
