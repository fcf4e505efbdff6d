#ifndef GEVINST_KPI_JOURNAL_H
#define GEVINST_KPI_JOURNAL_H

#include "gevinst/event.h"
#include "gevinst/kpi.h"
#include "gevinst/store.h"
#include "gevinst/strpool.h"
#include "gevinst/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kpi_journal: double_documentation_share and double_documentation_minutes.
 *
 * Entries group by (patient, item_type, fingerprint); within a group, ordered
 * by (time, pseudonymised entry id), an entry is a duplicate when the entry
 * before it lies at most `window` earlier. Adding, moving or removing one
 * entry can only change its own status and that of entries up to `window`
 * after it, so a flush loads just those windows of the groups a batch
 * touches. The state lives in gevinst.journal_entry; instances serialise
 * their journal flushes with a transaction-scoped advisory lock, so the
 * result never depends on how producers keyed the messages. */
typedef struct kpi_journal kpi_journal_t;

/* tz and pool are borrowed. window_us: kpi.double_documentation_window_hours;
 * default_dur_us: kpi.default_entry_minutes, both in microseconds. */
kpi_journal_t *kpi_journal_new(const timeutil_tz_t *tz, strpool_t *pool, int64_t window_us,
                               int64_t default_dur_us);
void kpi_journal_destroy(kpi_journal_t *kj);

/* Stages an accepted journal.entry-recorded or journal.entry-entered-in-error.
 * False: out of memory, nothing staged. */
bool kpi_journal_add(kpi_journal_t *kj, const event_t *ev, int64_t offset, int index);

/* Events staged and not yet flushed. */
size_t kpi_journal_pending(const kpi_journal_t *kj);

/* Hands what was added so far to the next flush, so the flush can run in
 * another thread while later adds go to the one after (add and flush may
 * then run concurrently; nothing else may). Without it, a flush takes
 * everything added. */
void kpi_journal_detach(kpi_journal_t *kj);

/* Inside the caller's transaction: locks, loads, merges, adds the KPI changes
 * to kd and writes the changed entries. False + errstr on a database error. */
bool kpi_journal_flush(kpi_journal_t *kj, store_t *st, kpi_delta_t *kd, char *errstr,
                       size_t errstr_size);

/* Forgets staged events (after a failed transaction; nothing is cached). */
void kpi_journal_discard(kpi_journal_t *kj);

#endif
