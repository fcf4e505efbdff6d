#ifndef GEVINST_DELIVER_MESSAGE_H
#define GEVINST_DELIVER_MESSAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* deliver_message: what an alert says, per channel (goals.md "What is sent").
 * Pure functions of one alert row: no I/O, no clock but the `now` passed in.
 *
 * Written for a unit leader, not a data person, in Norwegian bokmål: what
 * moved, by how much, against what, since when, what it is worth, where to
 * look. The unit is named by its name (its id only when the registry has no
 * name), the KPI in words with its code in parentheses. No patient or user
 * data exists at this level and none is added.
 *
 * The JSON object (webhook body, and the `data` of the Kafka CloudEvent),
 * schema "gevinst.alert/1"; members are never removed or renamed within /1,
 * receivers should ignore members they do not know:
 *
 *   schema         "gevinst.alert/1"
 *   alert_id       integer  stable id of the alert (gevinst.alert.alert_id)
 *   revision       integer  grows with every change of state; (alert_id, revision)
 *                           is unique: drop a message whose pair you have seen
 *   kind           "goal.off_track" | "goal.achieved" | "kpi.special_cause" |
 *                  "kpi.improvement" | "data.silence" | "data.rejections"
 *   state          "firing" | "resolved" | "notice" | "withdrawn"
 *   goal_id        string | null (data alerts)
 *   unit_id        string
 *   unit_name      string   (unit_id when the registry has no name)
 *   kpi            string | null (data alerts)
 *   kpi_name       string | null   the KPI in words (bokmål)
 *   period_start   "YYYY-MM-DD"    first day of the period the alert is keyed by
 *   period_end     "YYYY-MM-DD"    its last day
 *   actual         number | null   KPI value of that period (a proportion as 0..1)
 *   expected       number | null   planned value (goal.*) or baseline center (kpi.*)
 *   detail         object          the alert's detail as written by the judge
 *   subject        string          one-line summary (the e-mail subject)
 *   message        string          the plain-text message (the e-mail body)
 *   dashboard_url  string | null   alerts.dashboard_url
 *   updated_at     string | null   when the alert last changed (RFC 3339)
 */

/* One alert revision as read from gevinst.alert_state joined with unit and
 * goal_def. Strings may be NULL where the column is; numbers are NAN when
 * unknown. Nothing here is owned: the caller keeps the strings alive. */
typedef struct deliver_alert {
    int64_t alert_id;
    int revision;
    const char *kind;
    const char *state;
    const char *goal_id;   /* NULL for data alerts */
    const char *unit_id;   /* never NULL */
    const char *unit_name; /* NULL: unit not in the registry */
    const char *kpi;       /* NULL for data alerts */
    const char *period_start;
    const char *period_end;
    double actual;
    double expected;
    const char *detail;     /* JSON object text; NULL or invalid = {} */
    const char *updated_at; /* RFC 3339, or NULL */

    /* The goal as defined now; all NULL/NAN when it left the goals file. */
    const char *direction; /* "decrease", "increase" */
    const char *baseline_from;
    const char *baseline_to;
    double baseline_value;
    double target_value;
    const char *target_date;
    double tolerance; /* NAN: the default (10% of the distance to target) */
    int consecutive;  /* 0: unknown */
} deliver_alert_t;

/* An alert with every number NAN and every string NULL. */
void deliver_alert_init(deliver_alert_t *a);

/* The KPI in words ("andel uteblitte timer"), or NULL for an unknown code. */
const char *deliver_kpi_name(const char *kpi);

/* One-line summary, UTF-8, no line breaks (the e-mail subject). malloc'd. */
char *deliver_message_subject(const deliver_alert_t *a);

/* The plain-text message, UTF-8, lines separated by "\n", at most ~76
 * columns where words allow. dashboard_url may be NULL or "". malloc'd. */
char *deliver_message_text(const deliver_alert_t *a, const char *dashboard_url);

/* The "gevinst.alert/1" object described above. New reference; NULL when out of memory. */
json_t *deliver_message_object(const deliver_alert_t *a, const char *dashboard_url);

/* A complete RFC 5322 message with CRLF line ends: Date (from now), From,
 * To, Subject (RFC 2047 encoded when not ASCII), Message-ID (stable per alert
 * revision, so a resend is recognisable as the same message), References to
 * revision 1 for later revisions, Auto-Submitted, MIME text/plain UTF-8 in
 * quoted-printable, and X-Gevinst-Alert-Id / X-Gevinst-Revision. `from` may
 * be "Name <addr>" (a non-ASCII name is RFC 2047-encoded) or a bare address.
 * malloc'd. */
char *deliver_message_email(const deliver_alert_t *a, const char *dashboard_url, const char *from,
                            const char *to, time_t now);

/* A CloudEvents 1.0 structured-mode JSON event: specversion "1.0", type
 * "gevinst.alert", source "gevinstd", id "<alert_id>-<revision>", time (when
 * the alert changed: updated_at; now when that is missing), subject (the goal id, or the unit id
 * for data alerts), datacontenttype "application/json", data (the object above). malloc'd, compact.
 */
char *deliver_message_cloudevent(const deliver_alert_t *a, const char *dashboard_url, time_t now);

/* Quoted-printable (RFC 2045) of text whose lines end in "\n": CRLF line
 * ends, soft breaks so no line exceeds 76 characters. malloc'd. */
char *deliver_qp_encode(const char *text);

/* An unstructured header value: as it is when printable ASCII, else RFC 2047
 * "=?UTF-8?B?...?=" words of at most 75 characters, never splitting a UTF-8
 * sequence, folded with CRLF SPACE. malloc'd. */
char *deliver_header_encode(const char *value);

/* The address part of "Name <addr>" (or the whole string), into out. */
void deliver_address_only(const char *from, char *out, size_t out_size);

#endif
