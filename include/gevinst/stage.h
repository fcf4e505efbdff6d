#ifndef GEVINST_STAGE_H
#define GEVINST_STAGE_H

#include "gevinst/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* stage: what one batch will write besides KPI state: rejected events, intake
 * counts and units seen. Kept in memory until stage_flush() writes it inside
 * the caller's transaction, so it becomes visible together with the offsets. */
typedef struct stage stage_t;

stage_t *stage_new(void);
void stage_destroy(stage_t *sg);

/* Forgets everything staged (after a commit, or a rollback). */
void stage_clear(stage_t *sg);

/* A rejected event. Strings are copied; payload may be NULL (not stored). */
void stage_reject(stage_t *sg, const char *topic, int32_t partition, int64_t offset,
                  int batch_index, const char *reason, const char *detail, const char *event_id,
                  const char *payload, size_t payload_len);

/* Adds n to the count of (topic, outcome) for today's local day. */
void stage_count(stage_t *sg, const char *topic, const char *outcome, int64_t n);

/* Source roles, for the event-time clocks. */
typedef enum stage_role {
    STAGE_ROLE_APPOINTMENTS,
    STAGE_ROLE_JOURNAL,
    STAGE_ROLE_AUDIT,
    STAGE_ROLE_COUNT
} stage_role_t;

/* An accepted event of unit_id: when_us is the receipt time, event_us the
 * event's own time (UTC us). Feeds unit_seen, and the event-time clocks per
 * role and per (unit, role). */
void stage_unit(stage_t *sg, const char *unit_id, size_t unit_len, int64_t when_us,
                stage_role_t role, int64_t event_us);

/* Rows staged (rejections + count cells + units), for batch sizing and tests. */
size_t stage_rows(const stage_t *sg);

/* Writes everything staged; the caller holds the transaction open. tz is the
 * KPI time zone (the receipt day is local). False + errstr on failure, with
 * *retriable telling a connection problem from a statement error. */
bool stage_flush(stage_t *sg, store_t *st, const char *tz, bool *retriable, char *errstr,
                 size_t errstr_size);

#endif
