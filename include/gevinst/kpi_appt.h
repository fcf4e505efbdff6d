#ifndef GEVINST_KPI_APPT_H
#define GEVINST_KPI_APPT_H

#include "gevinst/event.h"
#include "gevinst/kpi.h"
#include "gevinst/store.h"
#include "gevinst/strpool.h"
#include "gevinst/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kpi_appt: the appointment KPIs (no_show_rate and its channel variants,
 * self_booking_share). For each appointment the snapshot with the latest
 * (time, offset, batch index) wins; its contributions replace the old
 * winner's. The winner of every appointment is kept in gevinst.appt_state
 * (pseudonymised id) with a bounded in-memory cache in front.
 *
 * Per batch: kpi_appt_add() each snapshot, then inside the batch transaction
 * kpi_appt_flush(), then kpi_appt_committed() or, if the transaction failed,
 * kpi_appt_discard(). To flush in another thread while the next batch is
 * added, kpi_appt_detach() first: the flush then takes only what was added
 * before it (add and flush may then run concurrently; nothing else may). */
typedef struct kpi_appt kpi_appt_t;

/* tz and pool are borrowed. cache_max bounds the cached appointments. */
kpi_appt_t *kpi_appt_new(const timeutil_tz_t *tz, strpool_t *pool, size_t cache_max);
void kpi_appt_destroy(kpi_appt_t *ka);

/* Stages one accepted appointment event; offset and index order snapshots
 * with the same time (later wins). False: out of memory, nothing staged. */
bool kpi_appt_add(kpi_appt_t *ka, const event_t *ev, int64_t offset, int index);

/* Snapshots staged and not yet flushed. */
size_t kpi_appt_pending(const kpi_appt_t *ka);

/* Hands what was added so far to the next flush; later adds go to the one
 * after. Without it, a flush takes everything added. */
void kpi_appt_detach(kpi_appt_t *ka);

typedef enum kpi_flush_result {
    KPI_FLUSH_OK,
    KPI_FLUSH_FENCED, /* another instance changed a state row: redo the batch */
    KPI_FLUSH_FAILED,
} kpi_flush_result_t;

/* Loads missing states, merges the staged snapshots, adds the KPI changes to
 * kd and writes the changed states (each only if its row still holds the
 * version read). Runs inside the caller's transaction. */
kpi_flush_result_t kpi_appt_flush(kpi_appt_t *ka, store_t *st, kpi_delta_t *kd, char *errstr,
                                  size_t errstr_size);

/* The transaction committed: the cache now matches the database. */
void kpi_appt_committed(kpi_appt_t *ka);

/* The transaction did not commit: forget staged snapshots and the cache. */
void kpi_appt_discard(kpi_appt_t *ka);

/* Cache figures for metrics and the stats log. */
size_t kpi_appt_cache_size(const kpi_appt_t *ka);

/* Touches every page of the cache table now, so the first flush does not
 * fault it in: random keys reach every page of it within the first batch
 * anyway (its first flush took 207 ms instead of 1.2 for the lookups, on a
 * VM where a fault is slow). For the start of a daemon that consumes
 * appointments, while nothing else runs; an empty cache only (else nothing
 * happens), and at most its first 256 MB (the default bound needs 54). */
void kpi_appt_prefault(kpi_appt_t *ka);
uint64_t kpi_appt_cache_hits(const kpi_appt_t *ka);
uint64_t kpi_appt_cache_misses(const kpi_appt_t *ka);

#endif
