#ifndef GEVINST_JUDGE_H
#define GEVINST_JUDGE_H

/* judge: goal judgement and data alerts (goals.md). Reads the periods of
 * every goal from PostgreSQL, judges them with spc, and in one transaction
 * writes the results (gevinst.goal_result, goal_period: the views goal,
 * goal_status, benefit_realized) and the alerts with their outbox rows
 * (gevinst.alert_state, alert_outbox).
 *
 * Everything is recomputed from the data as it is now, so a run is
 * idempotent: running twice with nothing new changes nothing. Alerts are
 * upserted by key; an alert whose grounds are gone becomes withdrawn, never
 * deleted. Outbox rows are written for what must be sent: a new firing or
 * notice, a change to resolved (or back to firing), and a withdrawal of an
 * alert of which a revision was delivered.
 *
 * Decisions where goals.md is silent:
 *   - A period is closed when the clock (gevinst.event_clock of the KPI's
 *     source role) is at or after local midnight starting day end + 1 +
 *     grace_days; days are local days of conf->timezone.
 *   - Suppression ("period ended more than max_age_days ago") is judged on
 *     the period the revision is about: the latest point of a firing run or
 *     episode, the point that resolved it, the point of a notice. So a shift
 *     that started long ago but lasts is still told; a backfill is not.
 *   - data.silence: per unit and role in gevinst.unit_role_clock. Raised when
 *     the role's clock is at least silence_days x 24 h past the unit's last
 *     event and at most 28 days; keyed by the local day of that last event;
 *     resolved when a later event of the unit arrives. Once raised it stays
 *     firing past the 28 days.
 *   - data.rejections: per topic and local day of receipt in
 *     gevinst.intake_daily; share = rejected / (accepted + rejected), where
 *     rejected is every outcome but accepted and unsupported_type (skipped
 *     events of other types are not errors, events.md). Consecutive days over
 *     the threshold make one episode, keyed by its first day, firing while
 *     it includes the latest day, resolved by a day at or under it. The
 *     alert's unit_id is the topic.
 *   - Data alerts go to conf->data_team_owner; with none, only to Kafka. */

#include "gevinst/config.h"
#include "gevinst/goals.h"
#include "gevinst/store.h"
#include "gevinst/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settings of a judgement. Strings are borrowed (the caller keeps them alive
 * for the call); "" means none. */
typedef struct judge_conf {
    int grace_days;             /* goals.grace_days (default 2) */
    int silence_days;           /* alerts.silence_days (default 3) */
    double rejection_threshold; /* alerts.rejection_threshold (default 0.01) */
    int max_age_days;           /* alerts.max_age_days (default 14) */
    const char *timezone;       /* kpi.timezone, loaded when tz is NULL */
    const timeutil_tz_t *tz;    /* optional: that zone already loaded (borrowed) */
    const char *data_team_owner;
    const char *dashboard_url;
    const char *smtp_url;     /* e-mail rows only when set */
    const char *topic_alerts; /* kafka rows only when set */
} judge_conf_t;

/* Defaults of goals.md (tz NULL, timezone Europe/Oslo, strings ""). */
void judge_conf_defaults(judge_conf_t *jc);

/* Defaults, then everything cfg has (strings borrowed from cfg). */
void judge_conf_from_config(judge_conf_t *jc, const config_t *cfg);

typedef struct judge_stats {
    size_t goals;             /* goals judged */
    size_t periods;           /* goal periods with data */
    size_t points;            /* closed ones */
    size_t alerts_new;        /* alerts raised for the first time */
    size_t alerts_changed;    /* existing alerts with a new revision (withdrawals included) */
    size_t alerts_withdrawn;  /* of which withdrawn now */
    size_t alerts_firing;     /* firing after this run */
    size_t outbox_pending;    /* outbox rows written to be sent */
    size_t outbox_suppressed; /* outbox rows written as suppressed */
    double duration_ms;
} judge_stats_t;

/* Judges every goal of g (NULL: data alerts only, goal results untouched)
 * and the data alerts, as of now_us (UTC microseconds; used for suppression
 * only, the periods close by the event-time clocks). Serialised between
 * instances by a transaction-scoped advisory lock: a second instance waits,
 * then judges the data as it is then.
 *
 * Runs inside the caller's transaction when one is open on the store's
 * connection (the caller commits), else in its own, committed on success and
 * rolled back on failure. stats may be NULL. On failure errstr is set and
 * *retriable (may be NULL) says whether the connection was the cause. */
bool judge_run(store_t *st, const goals_t *g, const judge_conf_t *conf, int64_t now_us,
               judge_stats_t *stats, bool *retriable, char *errstr, size_t errstr_size);

#endif
