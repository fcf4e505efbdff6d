#ifndef GEVINST_KPI_AUDIT_H
#define GEVINST_KPI_AUDIT_H

#include "gevinst/event.h"
#include "gevinst/kpi.h"
#include "gevinst/store.h"
#include "gevinst/strpool.h"
#include "gevinst/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kpi_audit: ehr_active_minutes and documentation_minutes from the access log.
 *
 * Per user, events ordered by time; each gap of at most the idle timeout is
 * active time for the unit and local day of its earlier event. An event more
 * than the allowed lateness older than the user's latest is late_event. As
 * nothing earlier than (latest - lateness) can arrive, only the events of the
 * last (lateness + idle) are kept per user: an event inserted in between
 * splits one gap into two. The denominator counts each (user, unit, day)
 * once, remembered in gevinst.audit_user_day. */
typedef struct kpi_audit kpi_audit_t;

typedef struct kpi_audit_conf {
    int64_t idle_us;
    int64_t lateness_us;
    char **doc_prefixes; /* NULL-terminated, borrowed */
    size_t cache_max;    /* users kept in memory */
} kpi_audit_conf_t;

kpi_audit_t *kpi_audit_new(const timeutil_tz_t *tz, strpool_t *pool, const kpi_audit_conf_t *conf);
void kpi_audit_destroy(kpi_audit_t *ka);

/* Stages an accepted audit.access event; topic must outlive the flush
 * (interned), offset/partition/index locate it for a late_event record. */
bool kpi_audit_add(kpi_audit_t *ka, const event_t *ev, const char *topic, int32_t partition,
                   int64_t offset, int index);

/* Events staged and not yet flushed. */
size_t kpi_audit_pending(const kpi_audit_t *ka);

/* Hands what was added so far to the next flush, so the flush can run in
 * another thread while later adds go to the one after (add and flush may
 * then run concurrently; nothing else may). Without it, a flush takes
 * everything added. False from add: out of memory, nothing staged. */
void kpi_audit_detach(kpi_audit_t *ka);

/* A staged event found late at flush time. */
typedef struct kpi_audit_late {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int index;
    const char *event_id;
    int64_t late_by_us; /* how far before (latest - allowed lateness) */
} kpi_audit_late_t;

typedef void (*kpi_audit_late_cb)(void *opaque, const kpi_audit_late_t *late);

/* Inside the caller's transaction: loads missing users, merges, reports late
 * events through on_late, adds KPI changes to kd, writes changed users only
 * where the row still holds the version read. */
typedef enum kpi_audit_result {
    KPI_AUDIT_OK,
    KPI_AUDIT_FENCED,
    KPI_AUDIT_FAILED,
} kpi_audit_result_t;

kpi_audit_result_t kpi_audit_flush(kpi_audit_t *ka, store_t *st, kpi_delta_t *kd,
                                   kpi_audit_late_cb on_late, void *opaque, char *errstr,
                                   size_t errstr_size);

void kpi_audit_committed(kpi_audit_t *ka);
void kpi_audit_discard(kpi_audit_t *ka);

#endif
