/* deliver (src/deliver.c) against a real PostgreSQL and real local receivers:
 * a webhook receiver that fails the first attempts (attempts recorded,
 * backoff respected), SMTP to a loopback server (headers, quoted-printable
 * UTF-8 body, a temporary and a permanent refusal), Kafka to librdkafka's
 * mock cluster read back as a CloudEvent, suppression (old period, superseded
 * revision, follow-up of nothing sent), revisions in order, two deliverers
 * sharing one outbox without sending a row twice, a stop mid-send and a
 * killed process (everything still delivered, nothing lost), stats.
 *
 * The receivers are tests/support/http_sink.py and smtp_sink.py (python3,
 * standard library only), started per test on free loopback ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/config.h"
#include "gevinst/deliver.h"
#include "gevinst/goals.h"
#include "gevinst/judge.h"
#include "gevinst/metrics.h"
#include "gevinst/migrate.h"
#include "gevinst/store.h"
#include "gevinst/timeutil.h"
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DASHBOARD "https://dash.example.org/d/gevinst"
#define NBSP_ "\xc2\xa0"

static store_t *st;

/* ------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Polls sql until it returns expected; fails after timeout_ms. Returns the ms it took. */
static int64_t wait_rows(const char *sql, const char *expected, int timeout_ms)
{
    int64_t start = now_ms();
    for (;;) {
        char *got = test_pg_rows(store_conn(st), sql);
        bool same = strcmp(got, expected) == 0;
        if (same) {
            free(got);
            return now_ms() - start;
        }
        if (now_ms() - start > timeout_ms)
            fail_msg("after %d ms: %s\nexpected:\n%sgot:\n%s", timeout_ms, sql, expected, got);
        free(got);
        sleep_ms(50);
    }
}

/* ---------------------------------------------------------- receivers */

typedef struct sink {
    pid_t pid;
    char dir[64];
    char out[96];
    int port;
} sink_t;

/* Starts tests/support/<script> with extra arguments (NULL-terminated). */
static sink_t *sink_start(const char *script, ...)
{
    sink_t *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    snprintf(s->dir, sizeof(s->dir), "/tmp/gevinst-sink.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->out, sizeof(s->out), "%s/out.jsonl", s->dir);
    char port_file[96], path[512];
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    snprintf(path, sizeof(path), "%s/tests/support/%s", GEVINST_SOURCE_DIR, script);
    /* Debian's python3 when there is one: a pyenv shim in PATH costs seconds per start. */
    const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    const char *argv[32] = {python, path, "--port-file", port_file, "--out", s->out};
    int argc = 6;
    va_list ap;
    va_start(ap, script);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        execvp(python, (char *const *)argv);
        _exit(127);
    }
    int64_t start = now_ms();
    for (;;) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port);
            fclose(f);
            if (ok == 1)
                break;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            fail_msg("%s exited before it listened (status %d)", script, status);
        if (now_ms() - start > 10000)
            fail_msg("%s not listening after 10 s", script);
        sleep_ms(20);
    }
    return s;
}

static void sink_stop(sink_t *s)
{
    if (!s)
        return;
    kill(s->pid, SIGTERM);
    int status;
    waitpid(s->pid, &status, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
    free(s);
}

/* What the receiver recorded: a JSON array of its lines. */
static json_t *sink_records(const sink_t *s)
{
    json_t *arr = json_array();
    FILE *f = fopen(s->out, "r");
    if (!f)
        return arr;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *rec = json_loads(line, 0, &e);
        if (!rec)
            fail_msg("sink wrote a bad line: %s", e.text);
        json_array_append_new(arr, rec);
    }
    free(line);
    fclose(f);
    return arr;
}

static void sink_url(const sink_t *s, const char *path, char *out, size_t size)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---------------------------------------------------------- fixtures */

static config_t cfg;
static char smtp_url[64];

static void cfg_init(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = "test.conf";
    cfg.pg_conninfo = (char *)test_pg_conninfo();
    cfg.smtp_url = "";
    cfg.smtp_from = "Gevinst <gevinst@example.org>";
    cfg.dashboard_url = DASHBOARD;
    cfg.alerts_max_age_days = 14;
    cfg.kafka_brokers = "";
}

static void conf_fast(deliver_conf_t *dc)
{
    deliver_conf_default(dc);
    dc->base_delay_ms = 300;
    dc->max_delay_ms = 5000;
    dc->jitter = false;
    dc->poll_ms = 200;
    dc->lease_ms = 10000;
    dc->connect_timeout_ms = 2000;
    dc->webhook_timeout_ms = 5000;
    dc->smtp_timeout_ms = 5000;
    dc->kafka_timeout_ms = 5000;
}

static deliver_t *start(const deliver_conf_t *dc)
{
    char errstr[256];
    deliver_t *d = deliver_start_conf(&cfg, dc, errstr, sizeof(errstr));
    if (!d)
        fail_msg("deliver_start: %s", errstr);
    return d;
}

static void reset_db(void)
{
    test_pg_exec(
        store_conn(st),
        "TRUNCATE gevinst.alert_outbox, gevinst.alert_state, gevinst.goal_def, gevinst.owner,"
        " gevinst.unit CASCADE");
    test_pg_exec(store_conn(st),
                 "INSERT INTO gevinst.unit (unit_id, name, parent_id) VALUES"
                 " ('psykisk-helse-og-rus', 'Psykisk helse og rus', NULL),"
                 " ('phr-poliklinikk-ost', 'Poliklinikk \xc3\xb8st', 'psykisk-helse-og-rus')");
    test_pg_exec(store_conn(st),
                 "INSERT INTO gevinst.owner (owner_id, name, email, webhook) VALUES"
                 " ('leder-phr', 'Kari Nordmann', 'kari.nordmann@example.org', NULL)");
    test_pg_exec(
        store_conn(st),
        "INSERT INTO gevinst.goal_def (goal_id, unit_id, kpi, direction, period, baseline_from,"
        " baseline_to, target_value, target_date, tolerance, consecutive, owner_id, benefit_type,"
        " minutes_per_unit, nok_per_unit) VALUES ('ost-noshow', 'phr-poliklinikk-ost',"
        " 'no_show_rate', 'decrease', 'month', '2019-01-01', '2019-12-31', 0.05, '2025-12-31',"
        " 0.01, 3, 'leder-phr', 'time_saved', 45, 900)");
}

/* An off-track alert of the month that ended `days_ago` days before today
 * (its period: that month), state and revision as given. Returns alert_id. */
static long add_alert(const char *key, const char *kind, const char *state, int revision,
                      int days_ago)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "INSERT INTO gevinst.alert_state (goal_id, unit_id, kpi, kind, period_start,"
             " period_end, state, actual, expected, detail, revision, alert_key)"
             " SELECT 'ost-noshow', 'phr-poliklinikk-ost', 'no_show_rate', '%s',"
             " date_trunc('month', e)::date, e, '%s', 0.124, 0.08,"
             " '{\"center\": 0.14, \"nok_saved_cumulative\": 123400}', %d, '%s'"
             " FROM (SELECT current_date - %d AS e) x RETURNING alert_id",
             kind, state, revision, key, days_ago);
    char *id = test_pg_rows(store_conn(st), sql);
    long v = strtol(id, NULL, 10);
    free(id);
    return v;
}

static void add_outbox(long alert_id, int revision, const char *channel, const char *target,
                       const char *status)
{
    test_pg_execf(store_conn(st),
                  "INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status)"
                  " VALUES (%ld, %d, '%s', '%s', '%s')",
                  alert_id, revision, channel, target, status);
}

/* ------------------------------------------------------------- tests */

static void test_webhook_retries_with_backoff(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", "--fail-first", "2", NULL);
    char url[128];
    sink_url(sink, "/hooks/phr?token=s3cret", url, sizeof(url));
    long id = add_alert("a1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "webhook", url, "pending");

    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    wait_rows("SELECT status, attempts FROM gevinst.alert_delivery", "delivered|3\n", 15000);
    deliver_stop(d);

    /* The last failure stays recorded, without the URL's secret. */
    char *err = test_pg_rows(store_conn(st), "SELECT last_error FROM gevinst.alert_delivery");
    assert_non_null(strstr(err, "HTTP 503"));
    assert_non_null(strstr(err, "http://127.0.0.1:"));
    assert_null(strstr(err, "s3cret"));
    free(err);
    test_pg_expect_rows(store_conn(st),
                        "SELECT delivered_at IS NOT NULL FROM gevinst.alert_delivery", "t\n");

    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 3);
    double t[3];
    for (size_t i = 0; i < 3; i++) {
        json_t *r = json_array_get(recs, i);
        t[i] = json_number_value(json_object_get(r, "time"));
        assert_string_equal(json_string_value(json_object_get(r, "method")), "POST");
        assert_string_equal(json_string_value(json_object_get(r, "path")),
                            "/hooks/phr?token=s3cret");
        json_t *h = json_object_get(r, "headers");
        assert_string_equal(json_string_value(json_object_get(h, "content-type")),
                            "application/json; charset=utf-8");
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%ld", id);
        assert_string_equal(json_string_value(json_object_get(h, "x-gevinst-alert-id")), idbuf);
        assert_string_equal(json_string_value(json_object_get(h, "x-gevinst-revision")), "1");
        json_t *body = json_loads(json_string_value(json_object_get(r, "body")), 0, NULL);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "schema")), "gevinst.alert/1");
        assert_int_equal(json_integer_value(json_object_get(body, "alert_id")), id);
        assert_int_equal(json_integer_value(json_object_get(body, "revision")), 1);
        assert_string_equal(json_string_value(json_object_get(body, "unit_name")),
                            "Poliklinikk \xc3\xb8st");
        assert_string_equal(json_string_value(json_object_get(body, "dashboard_url")), DASHBOARD);
        json_decref(body);
    }
    /* Backoff: 300 ms after the first failure, 600 ms after the second. */
    assert_true(t[1] - t[0] >= 0.29);
    assert_true(t[2] - t[1] >= 0.59);
    assert_true(t[2] - t[1] > (t[1] - t[0]) * 1.5);
    json_decref(recs);
    sink_stop(sink);
}

/* Undoes quoted-printable (soft breaks and =XX), CRLF kept as LF. */
static char *qp_decode(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    assert_non_null(out);
    while (*s) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=' && s[1] && s[2]) {
            unsigned v;
            sscanf(s + 1, "%2x", &v);
            *o++ = (char)v;
            s += 3;
        } else if (s[0] == '\r' && s[1] == '\n') {
            *o++ = '\n';
            s += 2;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static void test_email_over_smtp(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("smtp_sink.py", "--fail-first", "1", NULL);
    snprintf(smtp_url, sizeof(smtp_url), "smtp://127.0.0.1:%d", sink->port);
    cfg.smtp_url = smtp_url;
    long id = add_alert("e1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "email", "kari.nordmann@example.org", "pending");

    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    wait_rows("SELECT status, attempts FROM gevinst.alert_delivery", "delivered|2\n", 15000);
    deliver_stop(d);
    char *err = test_pg_rows(store_conn(st), "SELECT last_error FROM gevinst.alert_delivery");
    assert_non_null(strstr(err, "451"));
    free(err);

    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 2);
    json_t *r = json_array_get(recs, 1);
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 250);
    assert_string_equal(json_string_value(json_object_get(r, "mail_from")), "gevinst@example.org");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "rcpt"), 0)),
                        "kari.nordmann@example.org");
    const char *data = json_string_value(json_object_get(r, "data"));
    char msgid[128];
    snprintf(msgid, sizeof(msgid), "\r\nMessage-ID: <gevinst.alert.%ld.1.", id);
    assert_non_null(strstr(data, msgid));
    assert_non_null(strstr(data, "@example.org>\r\n"));
    assert_true(strncmp(data, "Date: ", 6) == 0);
    assert_non_null(strstr(data, "\r\nFrom: Gevinst <gevinst@example.org>\r\n"));
    assert_non_null(strstr(data, "\r\nTo: <kari.nordmann@example.org>\r\n"));
    assert_non_null(strstr(data, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(data, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(data, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(data, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
    assert_non_null(strstr(data, "\r\nAuto-Submitted: auto-generated\r\n"));
    const char *body = strstr(data, "\r\n\r\n");
    assert_non_null(body);
    char *text = qp_decode(body + 4);
    assert_non_null(strstr(text, "Poliklinikk \xc3\xb8st"));
    assert_non_null(strstr(text, "ligger etter planen"));
    assert_non_null(strstr(text, DASHBOARD));
    free(text);
    json_decref(recs);
    sink_stop(sink);
    cfg.smtp_url = "";
}

static void test_email_permanent_refusal(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("smtp_sink.py", "--reject-rcpt", "nobody@example.org", NULL);
    snprintf(smtp_url, sizeof(smtp_url), "smtp://127.0.0.1:%d", sink->port);
    cfg.smtp_url = smtp_url;
    long id = add_alert("e2", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "email", "nobody@example.org", "pending");
    add_outbox(id, 1, "email", "not an address", "pending");

    deliver_conf_t dc;
    conf_fast(&dc);
    dc.permanent_attempts = 2;
    deliver_t *d = start(&dc);
    wait_rows("SELECT target, status, attempts FROM gevinst.alert_delivery ORDER BY target",
              "nobody@example.org|failed|2\nnot an address|failed|2\n", 15000);
    deliver_stop(d);
    test_pg_expect_rows(store_conn(st),
                        "SELECT target, last_error FROM gevinst.alert_delivery ORDER BY target",
                        "nobody@example.org|SMTP: RCPT failed: 550\n"
                        "not an address|e-mail: target is not an e-mail address\n");
    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 0);
    json_decref(recs);
    sink_stop(sink);
    cfg.smtp_url = "";
}

static void test_kafka_cloudevent(void **state)
{
    (void)state;
    reset_db();
    char errstr[512];
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    /* This handle only hosts the mock cluster: no bootstrap.servers warning. */
    rd_kafka_conf_set(mconf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
    assert_non_null(mrk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "gevinst.alerts", 1, 1), 0);
    char brokers[256];
    snprintf(brokers, sizeof(brokers), "%s", rd_kafka_mock_cluster_bootstraps(mc));
    cfg.kafka_brokers = brokers;

    long id = add_alert("k1", "goal.achieved", "notice", 1, 3);
    add_outbox(id, 1, "kafka", "gevinst.alerts", "pending");
    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    wait_rows("SELECT status, attempts, last_error FROM gevinst.alert_delivery",
              "delivered|1|NULL\n", 20000);
    deliver_stop(d);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(cconf, "bootstrap.servers", brokers, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(cconf, "group.id", "test-deliver", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(cconf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, "gevinst.alerts", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);
    json_t *ev = NULL;
    char key[32] = "";
    const char *ctype = NULL;
    size_t ctype_len = 0;
    int64_t start_ms = now_ms();
    while (!ev && now_ms() - start_ms < 15000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            ev = json_loadb(m->payload, m->len, 0, NULL);
            snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
            rd_kafka_headers_t *hdrs;
            const void *hv;
            if (rd_kafka_message_headers(m, &hdrs) == 0 &&
                rd_kafka_header_get_last(hdrs, "content-type", &hv, &ctype_len) == 0)
                ctype = strndup(hv, ctype_len);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    assert_non_null(ev);

    char expect_id[32], expect_key[32];
    snprintf(expect_id, sizeof(expect_id), "%ld-1", id);
    snprintf(expect_key, sizeof(expect_key), "%ld", id);
    assert_string_equal(key, expect_key);
    assert_non_null(ctype);
    assert_string_equal(ctype, "application/cloudevents+json; charset=UTF-8");
    free((void *)ctype);
    assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "gevinst.alert");
    assert_string_equal(json_string_value(json_object_get(ev, "source")), "gevinstd");
    assert_string_equal(json_string_value(json_object_get(ev, "id")), expect_id);
    assert_string_equal(json_string_value(json_object_get(ev, "subject")), "ost-noshow");
    assert_string_equal(json_string_value(json_object_get(ev, "datacontenttype")),
                        "application/json");
    const char *time_s = json_string_value(json_object_get(ev, "time"));
    assert_non_null(time_s);
    assert_int_equal(strlen(time_s), 20); /* YYYY-MM-DDTHH:MM:SSZ */
    json_t *data = json_object_get(ev, "data");
    assert_int_equal(json_integer_value(json_object_get(data, "alert_id")), id);
    assert_string_equal(json_string_value(json_object_get(data, "kind")), "goal.achieved");
    assert_string_equal(json_string_value(json_object_get(data, "state")), "notice");
    json_decref(ev);

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    cfg.kafka_brokers = "";
}

static void test_suppression(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    /* Too old: the period ended 30 days ago (limit 14). */
    long old = add_alert("s-old", "goal.off_track", "firing", 1, 30);
    add_outbox(old, 1, "webhook", url, "pending");
    /* Exactly at the limit: sent. */
    long edge = add_alert("s-edge", "kpi.special_cause", "firing", 1, 14);
    add_outbox(edge, 1, "webhook", url, "pending");
    /* Superseded: revision 1 still pending while the alert is at 2 (resolved),
     * and nothing delivered before, so the resolution is not sent either. */
    long sup = add_alert("s-sup", "goal.off_track", "resolved", 2, 3);
    add_outbox(sup, 1, "webhook", url, "pending");
    add_outbox(sup, 2, "webhook", url, "pending");
    /* A withdrawal of something delivered, period long past: sent anyway. */
    long wd = add_alert("s-wd", "kpi.improvement", "withdrawn", 2, 40);
    add_outbox(wd, 1, "webhook", url, "delivered");
    add_outbox(wd, 2, "webhook", url, "pending");

    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    char expected[1024];
    snprintf(expected, sizeof(expected),
             "%ld|1|suppressed|0\n%ld|1|delivered|1\n%ld|1|suppressed|0\n%ld|2|suppressed|0\n"
             "%ld|1|delivered|0\n%ld|2|delivered|1\n",
             old, edge, sup, sup, wd, wd);
    wait_rows("SELECT alert_id, revision, status, attempts FROM gevinst.alert_outbox"
              " ORDER BY alert_id, revision",
              expected, 15000);
    deliver_stop(d);
    snprintf(expected, sizeof(expected),
             "%ld|period ended 30 days ago, more than alerts.max_age_days (14)\n"
             "%ld|superseded by revision 2 before it was sent\n"
             "%ld|nothing was delivered earlier to this target to resolve\n",
             old, sup, sup);
    test_pg_expect_rows(store_conn(st),
                        "SELECT alert_id, last_error FROM gevinst.alert_outbox WHERE status ="
                        " 'suppressed' ORDER BY alert_id, revision",
                        expected);

    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 2);
    bool saw_withdrawal = false;
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *body = json_loads(
            json_string_value(json_object_get(json_array_get(recs, i), "body")), 0, NULL);
        if (json_integer_value(json_object_get(body, "alert_id")) == wd) {
            saw_withdrawal = true;
            assert_string_equal(json_string_value(json_object_get(body, "state")), "withdrawn");
            assert_int_equal(json_integer_value(json_object_get(body, "revision")), 2);
            assert_non_null(
                strstr(json_string_value(json_object_get(body, "message")), "trukket tilbake"));
        }
        json_decref(body);
    }
    assert_true(saw_withdrawal);
    json_decref(recs);
    sink_stop(sink);
}

/* Revision 2 waits while revision 1 of the same alert and target is pending
 * in backoff, and goes once revision 1 is delivered: receivers see them in order. */
static void test_revisions_in_order(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", "--fail-first", "1", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    long id = add_alert("o1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "webhook", url, "pending");

    deliver_conf_t dc;
    conf_fast(&dc);
    dc.base_delay_ms = 1500;
    deliver_t *d = start(&dc);
    /* First attempt fails; while it waits, the alert moves on to revision 2,
     * written as the judge would: state and the new outbox row together. */
    wait_rows("SELECT attempts FROM gevinst.alert_outbox", "1\n", 10000);
    test_pg_execf(
        store_conn(st),
        "UPDATE gevinst.alert_state SET revision = 2, state = 'firing', updated_at = now()"
        " WHERE alert_id = %ld",
        id);
    test_pg_execf(store_conn(st),
                  "INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status)"
                  " VALUES (%ld, 2, 'webhook', '%s', 'pending')",
                  id, url);
    deliver_kick(d);
    sleep_ms(500);
    /* Revision 2 has not overtaken revision 1. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT revision, status FROM gevinst.alert_outbox ORDER BY revision",
                        "1|pending\n2|pending\n");
    wait_rows("SELECT revision, status FROM gevinst.alert_outbox ORDER BY revision",
              "1|suppressed\n2|delivered\n", 10000);
    deliver_stop(d);
    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 2); /* the failed one, then revision 2 */
    json_t *body =
        json_loads(json_string_value(json_object_get(json_array_get(recs, 1), "body")), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(body, "revision")), 2);
    json_decref(body);
    json_decref(recs);
    sink_stop(sink);
}

/* The judge withdraws an alert while its first revision is being sent: it
 * suppresses what is pending and, seeing nothing delivered, queues no
 * withdrawal. The send succeeds: the row is recorded as delivered (the
 * truth), and the withdrawal is queued and sent, so the owner is not left
 * with an alert that no longer holds. */
static void test_withdrawn_while_in_flight(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", "--hang-first", "1", "--hang-seconds", "1.5", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    long id = add_alert("w1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "webhook", url, "pending");
    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    wait_rows("SELECT next_attempt_at > now() FROM gevinst.alert_outbox", "t\n", 10000);
    /* As src/judge.c withdraws. */
    test_pg_execf(
        store_conn(st),
        "UPDATE gevinst.alert_state SET state = 'withdrawn', revision = 2 WHERE alert_id = %ld",
        id);
    test_pg_execf(
        store_conn(st),
        "UPDATE gevinst.alert_outbox SET status = 'suppressed', last_error = 'alert withdrawn "
        "before this revision was delivered' WHERE alert_id = %ld AND status = 'pending'",
        id);
    wait_rows("SELECT revision, status, attempts, last_error FROM gevinst.alert_outbox"
              " ORDER BY revision",
              "1|delivered|1|NULL\n2|delivered|1|NULL\n", 10000);
    deliver_stop(d);
    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 2);
    /* The receiver records a request when it answers: the hung one comes last. */
    bool saw_withdrawal = false;
    for (size_t i = 0; i < 2; i++) {
        json_t *body = json_loads(
            json_string_value(json_object_get(json_array_get(recs, i), "body")), 0, NULL);
        if (json_integer_value(json_object_get(body, "revision")) == 2) {
            saw_withdrawal = true;
            assert_string_equal(json_string_value(json_object_get(body, "state")), "withdrawn");
        }
        json_decref(body);
    }
    assert_true(saw_withdrawal);
    json_decref(recs);
    sink_stop(sink);
}

/* Two deliverers on one outbox: every row sent exactly once. */
static void test_two_instances(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "t%d", i);
        long id = add_alert(key, "goal.off_track", "firing", 1, 3);
        add_outbox(id, 1, "webhook", url, "pending");
    }
    deliver_conf_t dc;
    conf_fast(&dc);
    dc.batch = 3; /* small claims, so both take turns */
    deliver_t *d1 = start(&dc);
    deliver_t *d2 = start(&dc);
    wait_rows("SELECT status, count(*) FROM gevinst.alert_outbox GROUP BY 1", "delivered|40\n",
              20000);
    deliver_stats_t s1, s2;
    deliver_get_stats(d1, &s1);
    deliver_get_stats(d2, &s2);
    deliver_stop(d1);
    deliver_stop(d2);
    assert_int_equal(s1.sent + s2.sent, 40);
    test_pg_expect_rows(store_conn(st),
                        "SELECT attempts, count(*) FROM gevinst.alert_outbox GROUP BY 1", "1|40\n");
    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 40);
    json_t *seen = json_object();
    for (size_t i = 0; i < 40; i++) {
        json_t *body = json_loads(
            json_string_value(json_object_get(json_array_get(recs, i), "body")), 0, NULL);
        char k[32];
        snprintf(k, sizeof(k), "%lld",
                 (long long)json_integer_value(json_object_get(body, "alert_id")));
        assert_null(json_object_get(seen, k));
        json_object_set_new(seen, k, json_true());
        json_decref(body);
    }
    json_decref(seen);
    json_decref(recs);
    sink_stop(sink);
}

/* deliver_stop() in the middle of a slow send returns within ~2 s and
 * releases the row; a new deliverer sends everything. */
static void test_stop_mid_send_and_restart(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", "--hang-first", "1", "--hang-seconds", "4", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "r%d", i);
        long id = add_alert(key, "goal.off_track", "firing", 1, 3);
        add_outbox(id, 1, "webhook", url, "pending");
    }
    deliver_conf_t dc;
    conf_fast(&dc);
    dc.lease_ms = 60000; /* a release, not the lease running out, must bring it back */
    deliver_t *d = start(&dc);
    sleep_ms(700); /* the first request is hanging in the receiver now */
    int64_t t0 = now_ms();
    deliver_stop(d);
    int64_t took = now_ms() - t0;
    assert_true(took < 2500);
    test_pg_expect_rows(
        store_conn(st),
        "SELECT status, count(*), sum(attempts) FROM gevinst.alert_outbox GROUP BY 1",
        "pending|5|0\n");
    /* Released: due now, not at the end of the lease. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.alert_outbox WHERE next_attempt_at > now()",
                        "0\n");

    d = start(&dc);
    wait_rows("SELECT status, count(*) FROM gevinst.alert_outbox GROUP BY 1", "delivered|5\n",
              10000);
    deliver_stop(d);
    sink_stop(sink);
}

/* A deliverer process killed (SIGKILL) mid-send: its row comes back when the
 * lease ends and is sent again (at least once), nothing is lost. */
static void test_killed_process(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", "--hang-first", "1", "--hang-seconds", "2", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    long id = add_alert("k-1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "webhook", url, "pending");

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* A fresh process image: no state shared with the test's connection. */
        setenv("DELIVER_LEASE_MS", "3000", 1);
        execl("/proc/self/exe", "test_pg_deliver", "--serve", (char *)NULL);
        _exit(127);
    }
    wait_rows("SELECT next_attempt_at > now() FROM gevinst.alert_outbox", "t\n", 10000);
    sleep_ms(300);
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    assert_true(WIFSIGNALED(status));
    test_pg_expect_rows(store_conn(st), "SELECT status, attempts FROM gevinst.alert_outbox",
                        "pending|0\n");

    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    /* The child's lease (3 s) must run out first. */
    int64_t waited =
        wait_rows("SELECT status, attempts FROM gevinst.alert_outbox", "delivered|1\n", 15000);
    assert_true(waited > 1000);
    deliver_stop(d);
    sleep_ms(2500); /* the hung first request completes in the receiver */
    json_t *recs = sink_records(sink);
    assert_int_equal(json_array_size(recs), 2); /* sent twice: at least once */
    json_decref(recs);
    sink_stop(sink);
}

static void test_stats_and_kick(void **state)
{
    (void)state;
    reset_db();
    sink_t *sink = sink_start("http_sink.py", NULL);
    char url[128];
    sink_url(sink, "/", url, sizeof(url));
    deliver_conf_t dc;
    conf_fast(&dc);
    dc.poll_ms = 60000; /* only a kick wakes it */
    deliver_t *d = start(&dc);
    sleep_ms(300);
    long id = add_alert("st1", "goal.off_track", "firing", 1, 3);
    add_outbox(id, 1, "webhook", url, "pending");
    long old = add_alert("st2", "data.silence", "firing", 1, 60);
    test_pg_execf(store_conn(st),
                  "UPDATE gevinst.alert_state SET goal_id = NULL, kpi = NULL WHERE alert_id = %ld",
                  old);
    add_outbox(old, 1, "webhook", url, "pending");
    /* Flush: kicks, and returns once a later round finds nothing due. */
    int64_t t_flush = now_ms();
    assert_true(deliver_flush(d, 5000));
    assert_true(now_ms() - t_flush < 3000);
    test_pg_expect_rows(store_conn(st),
                        "SELECT status, count(*) FROM gevinst.alert_outbox GROUP BY 1 ORDER BY 1",
                        "delivered|1\nsuppressed|1\n");
    /* Nothing due: flush returns at once. */
    t_flush = now_ms();
    assert_true(deliver_flush(d, 5000));
    assert_true(now_ms() - t_flush < 1000);
    /* The outbox table refreshes at most every 10 s; a new deliverer reads it at once. */
    deliver_stop(d);
    d = start(&dc);
    deliver_stats_t s;
    int64_t t0 = now_ms();
    do {
        sleep_ms(50);
        deliver_get_stats(d, &s);
    } while (s.outbox[0][DELIVER_DELIVERED] < 0 && now_ms() - t0 < 5000);
    assert_string_equal(deliver_kind_name(0), "goal.off_track");
    assert_string_equal(deliver_kind_name(4), "data.silence");
    assert_string_equal(deliver_status_name(DELIVER_SUPPRESSED), "suppressed");
    assert_int_equal(s.outbox[0][DELIVER_DELIVERED], 1);
    assert_int_equal(s.outbox[0][DELIVER_PENDING], 0);
    assert_int_equal(s.outbox[4][DELIVER_SUPPRESSED], 1);
    assert_true(s.pg_connected);
    /* The same counts reach the metrics endpoint. */
    char *m = metrics_render(NULL);
    assert_non_null(m);
    assert_non_null(strstr(m, "gevinst_alerts{kind=\"goal.off_track\",status=\"delivered\"} 1\n"));
    assert_non_null(strstr(m, "gevinst_alerts{kind=\"data.silence\",status=\"suppressed\"} 1\n"));
    assert_non_null(strstr(m, "gevinst_alerts{kind=\"kpi.improvement\",status=\"failed\"} 0\n"));
    free(m);
    deliver_stop(d);
    sink_stop(sink);
}

/* The judge and the deliverer together, as in the daemon: a real shift
 * judged into a kpi.special_cause alert and sent; its resolution sent; then
 * late data removes the grounds and the withdrawal is sent. The messages
 * carry what the judge worked out (limits, benefit, the resolving period). */
static void judge_at(const goals_t *g, const char *now)
{
    judge_conf_t jc;
    judge_conf_defaults(&jc);
    jc.timezone = "Europe/Oslo";
    jc.max_age_days = 3650;
    jc.dashboard_url = DASHBOARD;
    int64_t now_us = 0;
    assert_true(timeutil_parse_rfc3339(now, strlen(now), &now_us));
    char errstr[1024];
    bool retriable = true;
    if (!judge_run(st, g, &jc, now_us, NULL, &retriable, errstr, sizeof(errstr)))
        fail_msg("judge_run: %s", errstr);
}

static void bucket(const char *day, int num, int den)
{
    test_pg_execf(
        store_conn(st),
        "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) "
        "VALUES ('klinikk-a', 'no_show_rate', '%s', %d, %d) "
        "ON CONFLICT (unit_id, kpi, day) DO UPDATE SET num = EXCLUDED.num, den = EXCLUDED.den",
        day, num, den);
}

/* The message of the n-th request the receiver got. */
static char *nth_message(const sink_t *sink, size_t n, json_t **body_out)
{
    json_t *recs = sink_records(sink);
    if (json_array_size(recs) <= n)
        fail_msg("receiver has %zu requests, wanted #%zu", json_array_size(recs), n + 1);
    json_t *body =
        json_loads(json_string_value(json_object_get(json_array_get(recs, n), "body")), 0, NULL);
    assert_non_null(body);
    char *msg = strdup(json_string_value(json_object_get(body, "message")));
    if (getenv("GEVINST_TEST_VERBOSE")) /* to read the messages as an owner would */
        fprintf(stderr, "----- %s\n%s\n", json_string_value(json_object_get(body, "subject")), msg);
    json_decref(recs);
    *body_out = body;
    return msg;
}

static void expect_phrase(const char *text, const char *phrase)
{
    /* Wrapped text: line breaks read as spaces. */
    char *flat = strdup(text);
    for (char *p = flat; *p; p++)
        if (*p == '\n' && p[1] != '\n' && p > flat && p[-1] != '\n')
            *p = ' ';
    if (!strstr(flat, phrase))
        fail_msg("expected \"%s\" in:\n%s", phrase, text);
    free(flat);
}

static void test_judge_then_deliver(void **state)
{
    (void)state;
    reset_db();
    test_pg_exec(store_conn(st),
                 "TRUNCATE gevinst.kpi_bucket, gevinst.event_clock, gevinst.goal_period,"
                 " gevinst.goal_result CASCADE");
    sink_t *sink = sink_start("http_sink.py", NULL);
    char goals_json[2048];
    snprintf(
        goals_json, sizeof(goals_json),
        "{\"units\": [{\"id\": \"klinikk-a\", \"name\": \"Klinikk \xc3\x85s\"}],"
        " \"owners\": [{\"id\": \"leder\", \"name\": \"Kari Nordmann\","
        "   \"webhook\": \"http://127.0.0.1:%d/kari\"}],"
        " \"goals\": [{\"id\": \"a-noshow\", \"unit\": \"klinikk-a\", \"kpi\": \"no_show_rate\","
        "   \"direction\": \"decrease\", \"baseline\": {\"from\": \"2023-01-01\", \"to\":"
        "   \"2023-06-30\"}, \"target\": {\"value\": 0.05, \"date\": \"2024-12-31\"},"
        "   \"tolerance\": 0.01, \"owner\": \"leder\","
        "   \"benefit\": {\"type\": \"avoided_cost\", \"nok_per_unit\": 900}}]}",
        sink->port);
    char *errors = NULL;
    int count = 0;
    goals_t *g = goals_parse("goals.json", goals_json, strlen(goals_json), &errors, &count);
    if (!g)
        fail_msg("goals: %s", errors);
    char errstr[512];
    bool retriable;
    if (!goals_sync(g, st, &retriable, errstr, sizeof(errstr)))
        fail_msg("goals_sync: %s", errstr);

    /* Baseline 10 % for six months, then 30 % in July and August. */
    static const int num[] = {10, 14, 6, 10, 12, 8};
    for (int m = 0; m < 6; m++) {
        char day[16];
        snprintf(day, sizeof(day), "2023-%02d-10", m + 1);
        bucket(day, num[m], 100);
    }
    bucket("2023-07-10", 30, 100);
    bucket("2023-08-10", 30, 100);
    test_pg_exec(store_conn(st), "INSERT INTO gevinst.event_clock (role, max_time) VALUES"
                                 " ('appointments', '2023-09-03T00:00:00+02:00')");
    judge_at(g, "2023-09-05T12:00:00Z");

    cfg.alerts_max_age_days = 3650; /* the data is from 2023 */
    deliver_conf_t dc;
    conf_fast(&dc);
    deliver_t *d = start(&dc);
    wait_rows("SELECT revision, status FROM gevinst.alert_outbox", "1|delivered\n", 10000);
    json_t *body;
    char *msg = nth_message(sink, 0, &body);
    assert_string_equal(json_string_value(json_object_get(body, "kind")), "kpi.special_cause");
    assert_string_equal(json_string_value(json_object_get(body, "unit_name")), "Klinikk \xc3\x85s");
    expect_phrase(msg, "Andel uteblitte timer (no_show_rate) i Klinikk \xc3\x85s har endret seg "
                       "i feil retning");
    expect_phrase(msg, "I juli 2023 var andel uteblitte timer 30,0" NBSP_ "% mot "
                       "utgangsniv\xc3\xa5\x65t 10,0" NBSP_ "%, alts\xc3\xa5 20,0" NBSP_
                       "prosentpoeng h\xc3\xb8yere.");
    expect_phrase(msg, "Det gjelder fortsatt: i august 2023 var andel uteblitte timer 30,0");
    expect_phrase(msg, "\xe2\x88\x92"
                       "36" NBSP_ "000" NBSP_ "kr og \xe2\x88\x92"
                       "40 "
                       "uteblitte timer unng\xc3\xa5tt");
    /* The lower limit is below 0 %: only the upper one is named. */
    expect_phrase(msg, "kontrollgrensene (over 21,7" NBSP_ "%)");
    expect_phrase(msg, "skal ned fra 10,0" NBSP_ "% (utgangsniv\xc3\xa5\x65t, m\xc3\xa5lt "
                       "1." NBSP_ "januar 2023\xe2\x80\x93"
                       "30." NBSP_ "juni 2023) til 5,0");
    free(msg);
    json_decref(body);

    /* September back at 10 %: resolved, and the owner hears it. */
    bucket("2023-09-10", 10, 100);
    test_pg_exec(store_conn(st),
                 "UPDATE gevinst.event_clock SET max_time = '2023-10-03T00:00:00+02:00'");
    judge_at(g, "2023-10-04T08:00:00Z");
    deliver_kick(d);
    wait_rows("SELECT revision, status FROM gevinst.alert_outbox ORDER BY 1",
              "1|delivered\n2|delivered\n", 10000);
    msg = nth_message(sink, 1, &body);
    assert_string_equal(json_string_value(json_object_get(body, "state")), "resolved");
    expect_phrase(msg, "endringen i feil retning som startet i juli 2023, er over");
    expect_phrase(msg, "I september 2023 var andel uteblitte timer 10,0");
    free(msg);
    json_decref(body);

    /* Late data: July and August were 10 % after all. The grounds are gone:
     * withdrawn, and since it was delivered, the withdrawal is sent. */
    bucket("2023-07-10", 10, 100);
    bucket("2023-08-10", 10, 100);
    judge_at(g, "2023-10-04T09:00:00Z");
    deliver_kick(d);
    wait_rows("SELECT revision, status FROM gevinst.alert_outbox ORDER BY 1",
              "1|delivered\n2|delivered\n3|delivered\n", 10000);
    msg = nth_message(sink, 2, &body);
    assert_string_equal(json_string_value(json_object_get(body, "state")), "withdrawn");
    assert_int_equal(json_integer_value(json_object_get(body, "revision")), 3);
    expect_phrase(msg, "Varselet vi sendte tidligere om andel uteblitte timer i Klinikk \xc3\x85s "
                       "(juli 2023) er trukket tilbake.");
    assert_string_equal(json_string_value(json_object_get(body, "subject")),
                        "[Gevinst] Trukket tilbake: \xc2\xabTydelig endring i feil retning: "
                        "andel uteblitte timer i Klinikk \xc3\x85s (fra juli 2023)\xc2\xbb");
    free(msg);
    json_decref(body);

    deliver_stop(d);
    cfg.alerts_max_age_days = 14;
    goals_destroy(g);
    free(errors);
    sink_stop(sink);
}

/* ------------------------------------------------------------- main */

static int setup(void **state)
{
    (void)state;
    st = test_pg_store();
    cfg_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_destroy(st);
    return 0;
}

static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoll(v, NULL, 10) : dflt;
}

/* "test_pg_deliver --serve": a deliverer as a process of its own, for the
 * killed-process test above and tests/integration/alerts_delivery.sh.
 * Migrates GEVINST_TEST_CONNINFO, then delivers until SIGTERM or SIGINT and
 * stops (exit 0). Settings from the environment: DELIVER_BROKERS,
 * DELIVER_SMTP_URL, DELIVER_LEASE_MS (default 3000), DELIVER_BASE_MS (300). */
static int serve(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked before the thread starts, so it inherits the mask and sigwait gets them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const char *conninfo = test_pg_conninfo();
    if (!conninfo)
        return 2;
    st = store_new(conninfo);
    char errstr[512];
    bool retriable;
    if (!store_connect(st, errstr, sizeof(errstr)) ||
        !migrate_run(store_conn(st), NULL, &retriable, errstr, sizeof(errstr))) {
        fprintf(stderr, "serve: %s\n", errstr);
        return 1;
    }
    store_destroy(st);
    cfg_init();
    const char *brokers = getenv("DELIVER_BROKERS"), *smtp = getenv("DELIVER_SMTP_URL");
    cfg.kafka_brokers = brokers ? (char *)brokers : "";
    cfg.smtp_url = smtp ? (char *)smtp : "";
    deliver_conf_t dc;
    conf_fast(&dc);
    dc.lease_ms = env_ms("DELIVER_LEASE_MS", 3000);
    dc.base_delay_ms = env_ms("DELIVER_BASE_MS", 300);
    deliver_t *d = deliver_start_conf(&cfg, &dc, errstr, sizeof(errstr));
    if (!d) {
        fprintf(stderr, "serve: %s\n", errstr);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    deliver_stop(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_retries_with_backoff),
        cmocka_unit_test(test_email_over_smtp),
        cmocka_unit_test(test_email_permanent_refusal),
        cmocka_unit_test(test_kafka_cloudevent),
        cmocka_unit_test(test_suppression),
        cmocka_unit_test(test_revisions_in_order),
        cmocka_unit_test(test_withdrawn_while_in_flight),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_stop_mid_send_and_restart),
        cmocka_unit_test(test_killed_process),
        cmocka_unit_test(test_stats_and_kick),
        cmocka_unit_test(test_judge_then_deliver),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
