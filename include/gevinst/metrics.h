#ifndef GEVINST_METRICS_H
#define GEVINST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* metrics: process-wide counters and gauges the pipeline updates and the HTTP
 * endpoint reads (another thread). Updates are lock-free atomics; per-label
 * series (rejections by reason, lag per partition) take a short mutex. */

#include "gevinst/event.h"

/* Counters (monotonic). */
typedef enum metric_counter {
    M_MESSAGES_CONSUMED, /* Kafka messages read */
    M_EVENTS_ACCEPTED,
    M_EVENTS_REJECTED, /* all reasons; by reason below */
    M_BATCHES_COMMITTED,
    M_BATCHES_FAILED, /* rolled back: outage, fencing */
    M_ROWS_WRITTEN,   /* KPI cells, state rows, rejections */
    M_CACHE_HITS,
    M_CACHE_MISSES,
    M_OFFSETS_LOST, /* messages Kafka deleted before we read them */
    M_GOALS_FILE_ERRORS,
    M_COUNTER_COUNT
} metric_counter_t;

/* Gauges (current value). */
typedef enum metric_gauge {
    M_STATE_CACHE_ENTRIES,
    M_ASSIGNED_PARTITIONS,
    M_PG_CONNECTED,     /* 0/1 */
    M_KAFKA_CONNECTED,  /* 0/1: at least one broker up */
    M_GOALS_LOADED,     /* 0/1: the goals file in force loaded fine (1 without a file) */
    M_LAST_COMMIT_UNIX, /* wall time of the last successful commit, seconds */
    M_CONSUMING,        /* 0/1: assigned and polling */
    M_GAUGE_COUNT
} metric_gauge_t;

void metrics_add(metric_counter_t c, uint64_t n);
void metrics_set(metric_gauge_t g, int64_t v);
uint64_t metrics_counter(metric_counter_t c);
int64_t metrics_gauge(metric_gauge_t g);

/* Rejections by events.md reason. */
void metrics_reject(event_reason_t reason);
uint64_t metrics_rejected(event_reason_t reason);

/* Commit latency histogram (seconds). */
void metrics_commit_latency(double seconds);

/* Consumer lag per partition (high watermark - next offset); a lag < 0
 * removes the series (partition revoked). */
void metrics_lag(const char *topic, int32_t partition, int64_t lag);

/* Alerts by kind and delivery status ("goal.off_track", "delivered"): the
 * alert module sets the current counts. */
void metrics_alerts(const char *kind, const char *status, int64_t count);

/* Writes the Prometheus text exposition (version 0.0.4) of everything above
 * plus gevinst_build_info into a malloc'd buffer; caller frees. */
char *metrics_render(size_t *len);

/* Forgets everything (tests). */
void metrics_reset(void);

/* ---- additions (service issue) ---------------------------------------- */

/* Tallies of one batch, kept while decoding and published only when the
 * batch commits, so that events consumed again after a rollback are not
 * counted twice. accepted is signed: a late audit event found at flush time
 * moves one accepted event of the batch to rejected[EVENT_REASON_LATE_EVENT]. */
typedef struct metrics_batch {
    int64_t accepted;
    uint64_t rejected[EVENT_REASON_COUNT];
    uint64_t rows; /* rows written by the commit */
} metrics_batch_t;

/* Adds b to M_EVENTS_ACCEPTED, the rejections (as metrics_reject does) and
 * M_ROWS_WRITTEN, then zeroes b. Call after a successful COMMIT; call
 * memset(b, 0, ...) instead when the batch is rolled back. */
void metrics_batch_publish(metrics_batch_t *b);

/* Feeds librdkafka's statistics JSON (rd_kafka_conf_set_stats_cb, with
 * statistics.interval.ms set): M_KAFKA_CONNECTED becomes 1 when any broker is
 * in state "UP", else 0. Ignores what it cannot parse. */
void metrics_kafka_stats(const char *json, size_t len);

/* The /healthz rule: NULL when healthy, else a one-line reason (a static
 * string). Checked in this order, the first failing one wins:
 *   M_PG_CONNECTED = 0    "postgres unreachable"
 *   M_KAFKA_CONNECTED = 0 "kafka unreachable"
 *   M_GOALS_LOADED = 0    "goals file failed to load"
 *   M_CONSUMING = 0       "not consuming yet" */
const char *metrics_health(void);

#endif
