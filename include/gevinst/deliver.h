#ifndef GEVINST_DELIVER_H
#define GEVINST_DELIVER_H

#include "gevinst/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* deliver: sends the alert outbox (gevinst.alert_outbox, goals.md "Delivery")
 * from a thread of its own with its own PostgreSQL connection, so a slow SMTP
 * relay or webhook never holds up event consumption.
 *
 * The table is the only state: a restart loses nothing. Each round:
 *
 *  1. Claim: one UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) moves
 *     next_attempt_at of up to 50 due pending rows to now() + lease (5 min):
 *     a lease. No other instance sees them until it runs out, so two
 *     instances never send the same row at the same time, and a row whose
 *     sender died (crash, kill) is due again when its lease ends: at least
 *     once, never lost. A row waits while an earlier revision of the same
 *     alert for the same channel and target is still pending, so revisions
 *     arrive in order.
 *  2. Decide, per row, without sending: 'suppressed' (recorded, not sent,
 *     last_error says why) when
 *       - a later revision of the alert exists (only the current state can be
 *         written, and the later revision's row will say it);
 *       - the alert's period ended more than alerts.max_age_days ago, unless
 *         it follows up (resolved, withdrawn) something delivered to this
 *         target, which the owner must hear the end of;
 *       - it resolves or withdraws something never delivered to this target.
 *  3. Send (e-mail over SMTP, webhook POST, Kafka CloudEvent), then record,
 *     only if the lease is still ours (next_attempt_at unchanged):
 *       delivered: status, delivered_at, attempts + 1 (also over a
 *         'suppressed' the judge wrote while the row was in flight, and then,
 *         if the alert is withdrawn by now, its withdrawal is queued for this
 *         target: what was sent gets taken back);
 *       failed attempt: attempts + 1, last_error, next_attempt_at = now() +
 *         base_delay x 2^(attempts-1), capped at max_delay, +-20% jitter
 *         (30 s, 1 min, 2 min, ... 1 h);
 *       gave up ('failed'): transient errors after give_up_after (24 h) since
 *         the row was written, once min_attempts (3) are made; permanent errors
 *         (HTTP 4xx but 408/429, SMTP 5xx, a bad address or URL, no SMTP
 *         relay configured) after permanent_attempts (3): the first attempts
 *         absorb a misconfiguration fixed within minutes.
 *     A send cut short by deliver_stop() releases the row (due at once, no
 *     attempt counted): it is sent again, maybe twice, never lost.
 *
 * Receivers drop duplicates by (alert_id, revision): the e-mail carries them
 * in X-Gevinst-Alert-Id / X-Gevinst-Revision and a stable Message-ID, the
 * webhook in the JSON and X-Gevinst-* / Idempotency-Key headers, Kafka in
 * the CloudEvent id "<alert_id>-<revision>" (key: alert_id). */
typedef struct deliver deliver_t;

/* Tunables; deliver_conf_default() fills the production values. */
typedef struct deliver_conf {
    int64_t base_delay_ms; /* first retry delay (30 000) */
    int64_t max_delay_ms;  /* cap of the exponential delay (3 600 000) */
    int64_t give_up_ms; /* transient errors: give up this long after the row was written (24 h) */
    int min_attempts;   /* ... but not before this many attempts (3) */
    int permanent_attempts;     /* permanent errors: give up after this many attempts (3) */
    int64_t lease_ms;           /* how long a claimed row is ours (300 000) */
    int64_t poll_ms;            /* look for due rows at least this often without a kick (30 000) */
    int batch;                  /* rows claimed per round (50) */
    int64_t connect_timeout_ms; /* SMTP and webhook connect (5 000) */
    int64_t webhook_timeout_ms; /* whole webhook request (15 000) */
    int64_t smtp_timeout_ms;    /* whole SMTP transaction (30 000) */
    int64_t kafka_timeout_ms;   /* until the delivery report (15 000) */
    bool jitter;                /* false: exact delays (tests) */
} deliver_conf_t;

void deliver_conf_default(deliver_conf_t *dc);

/* Starts the thread. Copies from cfg (which need not outlive the call):
 * pg_conninfo, smtp_url, smtp_from, dashboard_url, alerts_max_age_days,
 * kafka_brokers and the rdkafka.* passthrough keys (for the producer, made at
 * the first Kafka row). Connecting to PostgreSQL happens in the thread, with
 * backoff, so an unreachable server is no start-up error. Expects the schema
 * migrated (it retries quietly until it is). NULL + errstr when the thread or
 * libcurl cannot start. */
deliver_t *deliver_start(const config_t *cfg, char *errstr, size_t errstr_size);

/* Same with explicit tunables (tests); dc is copied. */
deliver_t *deliver_start_conf(const config_t *cfg, const deliver_conf_t *dc, char *errstr,
                              size_t errstr_size);

/* On SIGHUP: takes the reloadable alerts.* keys (smtp_url, smtp_from,
 * dashboard_url, max_age_days) from cfg for the next round; Kafka and
 * PostgreSQL settings stay as started. False when out of memory. */
bool deliver_reconfigure(deliver_t *d, const config_t *cfg);

/* Wakes the thread now (call after committing new outbox rows). Cheap and
 * thread-safe; accepts NULL. */
void deliver_kick(deliver_t *d);

/* Wakes the thread and waits until a round that started after this call
 * found nothing due: what could be delivered now is delivered (rows waiting
 * for a retry stay pending). For --exit-on-eof: judge, commit, then flush
 * before deliver_stop(). False when timeout_ms passed first. */
bool deliver_flush(deliver_t *d, int timeout_ms);

/* Stops the thread within about 2 s (a send in progress is cut short and its
 * row released for a resend), joins it and frees everything; accepts NULL. */
void deliver_stop(deliver_t *d);

typedef enum deliver_status {
    DELIVER_PENDING,
    DELIVER_DELIVERED,
    DELIVER_FAILED,
    DELIVER_SUPPRESSED,
    DELIVER_STATUS_COUNT
} deliver_status_t;

#define DELIVER_KIND_COUNT 6

/* "pending", "delivered", "failed", "suppressed". */
const char *deliver_status_name(deliver_status_t s);
/* The alert kinds of goals.md in a fixed order: "goal.off_track", ... */
const char *deliver_kind_name(int kind);

typedef struct deliver_stats {
    /* Since deliver_start, by this instance. */
    uint64_t sent;       /* delivered */
    uint64_t failures;   /* failed attempts (retried or given up) */
    uint64_t gave_up;    /* rows this instance marked 'failed' */
    uint64_t suppressed; /* rows this instance marked 'suppressed' */
    uint64_t released;   /* sends cut short by a stop, left for a resend */
    /* Rows in the outbox by alert kind and status, whoever wrote them, as of
     * the last refresh (every round, at most every 10 s); -1 before the first.
     * Each refresh also sets metrics_alerts(kind, status, n) for every cell. */
    int64_t outbox[DELIVER_KIND_COUNT][DELIVER_STATUS_COUNT];
    bool pg_connected;
} deliver_stats_t;

/* A consistent copy of the counters; thread-safe. */
void deliver_get_stats(deliver_t *d, deliver_stats_t *out);

#endif
