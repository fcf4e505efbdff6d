/* Unit tests for src/metrics.c: the rendered exposition line by line, every
 * rejection reason present at zero, counters and gauges, label escaping, the
 * histogram's cumulative buckets with _sum and _count, batch publishing,
 * Kafka statistics, the /healthz rule, and concurrent updates. */
#include "gevinst/event.h"
#include "gevinst/metrics.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static char *render(void)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');
    return text;
}

/* Whether `text` holds `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        if (!eol)
            break;
        p = eol + 1;
    }
    return false;
}

#define assert_line(text, line)                                                                    \
    do {                                                                                           \
        if (!has_line((text), (line)))                                                             \
            fail_msg("missing line: %s\n--- in ---\n%s", (line), (text));                          \
    } while (0)

#define assert_no_line(text, line)                                                                 \
    do {                                                                                           \
        if (has_line((text), (line)))                                                              \
            fail_msg("unexpected line: %s", (line));                                               \
    } while (0)

static void test_zero_state(void **state)
{
    (void)state;
    char *t = render();
    static const char *lines[] = {
        "# TYPE gevinst_messages_consumed_total counter",
        "gevinst_messages_consumed_total 0",
        "# TYPE gevinst_events_accepted_total counter",
        "gevinst_events_accepted_total 0",
        "# TYPE gevinst_events_rejected_total counter",
        "gevinst_events_rejected_total{reason=\"too_large\"} 0",
        "gevinst_events_rejected_total{reason=\"invalid_json\"} 0",
        "gevinst_events_rejected_total{reason=\"not_cloudevent\"} 0",
        "gevinst_events_rejected_total{reason=\"unsupported_type\"} 0",
        "gevinst_events_rejected_total{reason=\"missing_field\"} 0",
        "gevinst_events_rejected_total{reason=\"invalid_field\"} 0",
        "gevinst_events_rejected_total{reason=\"type_status_mismatch\"} 0",
        "gevinst_events_rejected_total{reason=\"late_event\"} 0",
        "gevinst_batches_committed_total 0",
        "gevinst_batches_failed_total 0",
        "gevinst_rows_written_total 0",
        "gevinst_state_cache_hits_total 0",
        "gevinst_state_cache_misses_total 0",
        "# TYPE gevinst_state_cache_entries gauge",
        "gevinst_state_cache_entries 0",
        "gevinst_offsets_lost_total 0",
        "# TYPE gevinst_commit_duration_seconds histogram",
        "gevinst_commit_duration_seconds_bucket{le=\"0.005\"} 0",
        "gevinst_commit_duration_seconds_bucket{le=\"10\"} 0",
        "gevinst_commit_duration_seconds_bucket{le=\"+Inf\"} 0",
        "gevinst_commit_duration_seconds_sum 0",
        "gevinst_commit_duration_seconds_count 0",
        "# TYPE gevinst_consumer_lag gauge",
        "# TYPE gevinst_alerts gauge",
        "gevinst_goals_file_errors_total 0",
        "gevinst_goals_loaded 0",
        "gevinst_postgres_up 0",
        "gevinst_kafka_up 0",
        "gevinst_consuming 0",
        "gevinst_assigned_partitions 0",
        "gevinst_last_commit_timestamp_seconds 0",
        "# TYPE gevinst_build_info gauge",
        "gevinst_build_info{version=\"" GEVINST_VERSION "\"} 1",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_line(t, lines[i]);
    /* Every reason of events.md, none left out. */
    for (int r = 0; r < EVENT_REASON_COUNT; r++) {
        char want[128];
        snprintf(want, sizeof(want), "gevinst_events_rejected_total{reason=\"%s\"} 0",
                 event_reason_name((event_reason_t)r));
        assert_line(t, want);
    }
    free(t);
}

/* The text format's structure: each family has one HELP and one TYPE line
 * before its samples, samples of a family are contiguous, every sample line
 * is "name[{labels}] value", and nothing but gevinst_ names appear. */
static void test_structure(void **state)
{
    (void)state;
    metrics_lag("ehr.audit", 0, 5);
    metrics_alerts("goal.off_track", "delivered", 2);
    metrics_commit_latency(0.2);
    char *t = render();
    char family[128] = "", type[32] = "";
    char seen[64][128];
    int nseen = 0, helps = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        char name[128], kind[32];
        if (sscanf(line, "# HELP %127s", name) == 1) {
            assert_int_equal(strncmp(name, "gevinst_", 8), 0);
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], name) == 0)
                    fail_msg("family %s twice", name);
            assert_true(nseen < 64);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
            snprintf(family, sizeof(family), "%s", name);
            type[0] = '\0';
            helps++;
            continue;
        }
        if (sscanf(line, "# TYPE %127s %31s", name, kind) == 2) {
            assert_string_equal(name, family);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 ||
                        strcmp(kind, "histogram") == 0);
            snprintf(type, sizeof(type), "%s", kind);
            continue;
        }
        assert_true(line[0] != '#');
        assert_true(type[0] != '\0'); /* TYPE came first */
        size_t n = strcspn(line, "{ ");
        char sample[128];
        assert_true(n < sizeof(sample));
        memcpy(sample, line, n);
        sample[n] = '\0';
        if (strcmp(type, "histogram") == 0) {
            size_t fl = strlen(family);
            assert_int_equal(strncmp(sample, family, fl), 0);
            const char *suffix = sample + fl;
            assert_true(strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 ||
                        strcmp(suffix, "_count") == 0);
        } else {
            assert_string_equal(sample, family);
        }
        if (line[n] == '{') {
            const char *close = strrchr(line, '}');
            assert_non_null(close);
            assert_int_equal(close[1], ' ');
        }
        const char *value = strrchr(line, ' ');
        char *end;
        strtod(value + 1, &end);
        assert_int_equal(*end, '\0');
    }
    assert_true(helps >= 20);
    free(t);
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    metrics_add(M_MESSAGES_CONSUMED, 41);
    metrics_add(M_MESSAGES_CONSUMED, 1);
    metrics_add(M_BATCHES_COMMITTED, 3);
    metrics_add(M_BATCHES_FAILED, 1);
    metrics_add(M_CACHE_HITS, 90);
    metrics_add(M_CACHE_MISSES, 10);
    metrics_add(M_OFFSETS_LOST, 7);
    metrics_add(M_GOALS_FILE_ERRORS, 2);
    metrics_add(M_COUNTER_COUNT, 5); /* out of range: ignored */
    metrics_set(M_STATE_CACHE_ENTRIES, 1234);
    metrics_set(M_PG_CONNECTED, 1);
    metrics_set(M_LAST_COMMIT_UNIX, 1700000000);
    metrics_set(M_ASSIGNED_PARTITIONS, 6);
    assert_int_equal(metrics_counter(M_MESSAGES_CONSUMED), 42);
    assert_int_equal(metrics_gauge(M_STATE_CACHE_ENTRIES), 1234);
    assert_int_equal(metrics_counter(M_COUNTER_COUNT), 0);

    char *t = render();
    assert_line(t, "gevinst_messages_consumed_total 42");
    assert_line(t, "gevinst_batches_committed_total 3");
    assert_line(t, "gevinst_batches_failed_total 1");
    assert_line(t, "gevinst_state_cache_hits_total 90");
    assert_line(t, "gevinst_state_cache_misses_total 10");
    assert_line(t, "gevinst_offsets_lost_total 7");
    assert_line(t, "gevinst_goals_file_errors_total 2");
    assert_line(t, "gevinst_state_cache_entries 1234");
    assert_line(t, "gevinst_postgres_up 1");
    assert_line(t, "gevinst_last_commit_timestamp_seconds 1700000000");
    assert_line(t, "gevinst_assigned_partitions 6");
    free(t);

    metrics_set(M_PG_CONNECTED, 0);
    t = render();
    assert_line(t, "gevinst_postgres_up 0");
    free(t);

    metrics_reset();
    assert_int_equal(metrics_counter(M_MESSAGES_CONSUMED), 0);
    t = render();
    assert_line(t, "gevinst_messages_consumed_total 0");
    free(t);
}

static void test_rejections(void **state)
{
    (void)state;
    metrics_reject(EVENT_REASON_INVALID_JSON);
    metrics_reject(EVENT_REASON_INVALID_JSON);
    metrics_reject(EVENT_REASON_LATE_EVENT);
    metrics_reject(EVENT_REASON_COUNT); /* ignored */
    assert_int_equal(metrics_rejected(EVENT_REASON_INVALID_JSON), 2);
    assert_int_equal(metrics_rejected(EVENT_REASON_LATE_EVENT), 1);
    assert_int_equal(metrics_rejected(EVENT_REASON_TOO_LARGE), 0);
    /* The total follows without a second call. */
    assert_int_equal(metrics_counter(M_EVENTS_REJECTED), 3);
    char *t = render();
    assert_line(t, "gevinst_events_rejected_total{reason=\"invalid_json\"} 2");
    assert_line(t, "gevinst_events_rejected_total{reason=\"late_event\"} 1");
    assert_line(t, "gevinst_events_rejected_total{reason=\"too_large\"} 0");
    /* No unlabelled sample beside the labelled ones: sum() would count twice. */
    assert_no_line(t, "gevinst_events_rejected_total 3");
    free(t);
}

static void test_batch_publish(void **state)
{
    (void)state;
    metrics_batch_t b = {0};
    b.accepted = 10;
    b.rejected[EVENT_REASON_MISSING_FIELD] = 2;
    /* A late audit event found at flush time. */
    b.accepted--;
    b.rejected[EVENT_REASON_LATE_EVENT]++;
    b.rows = 25;
    metrics_batch_publish(&b);
    assert_int_equal(b.accepted, 0);
    assert_int_equal(b.rows, 0);
    assert_int_equal(b.rejected[EVENT_REASON_MISSING_FIELD], 0);
    assert_int_equal(metrics_counter(M_EVENTS_ACCEPTED), 9);
    assert_int_equal(metrics_counter(M_EVENTS_REJECTED), 3);
    assert_int_equal(metrics_counter(M_ROWS_WRITTEN), 25);
    assert_int_equal(metrics_rejected(EVENT_REASON_MISSING_FIELD), 2);
    assert_int_equal(metrics_rejected(EVENT_REASON_LATE_EVENT), 1);
    /* An empty batch adds nothing. */
    metrics_batch_publish(&b);
    assert_int_equal(metrics_counter(M_EVENTS_ACCEPTED), 9);
    char *t = render();
    assert_line(t, "gevinst_events_accepted_total 9");
    assert_line(t, "gevinst_rows_written_total 25");
    assert_line(t, "gevinst_events_rejected_total{reason=\"missing_field\"} 2");
    free(t);
}

static void test_lag_series(void **state)
{
    (void)state;
    metrics_lag("ehr.journal", 1, 7);
    metrics_lag("ehr.audit", 10, 0);
    metrics_lag("ehr.audit", 2, 3);
    metrics_lag("ehr.audit", 2, 4); /* replaces */
    char *t = render();
    assert_line(t, "gevinst_consumer_lag{topic=\"ehr.audit\",partition=\"2\"} 4");
    assert_line(t, "gevinst_consumer_lag{topic=\"ehr.audit\",partition=\"10\"} 0");
    assert_line(t, "gevinst_consumer_lag{topic=\"ehr.journal\",partition=\"1\"} 7");
    assert_no_line(t, "gevinst_consumer_lag{topic=\"ehr.audit\",partition=\"2\"} 3");
    /* Sorted by topic, then partition number (2 before 10). */
    const char *p2 = strstr(t, "partition=\"2\"}"), *p10 = strstr(t, "partition=\"10\"}");
    const char *j = strstr(t, "topic=\"ehr.journal\"");
    assert_true(p2 && p10 && j && p2 < p10 && p10 < j);
    free(t);

    metrics_lag("ehr.audit", 2, -1); /* revoked */
    metrics_lag("nope", 0, -1);      /* unknown: nothing happens */
    t = render();
    assert_null(strstr(t, "partition=\"2\"}"));
    assert_line(t, "gevinst_consumer_lag{topic=\"ehr.journal\",partition=\"1\"} 7");
    free(t);
}

static void test_label_escaping(void **state)
{
    (void)state;
    metrics_lag("a\"b\\c\nd", 3, 1);
    metrics_alerts("kind \"x\"", "back\\slash", 5);
    metrics_alerts("blåbær", "queued", 1); /* UTF-8 passes as it is */
    char *t = render();
    assert_line(t, "gevinst_consumer_lag{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} 1");
    assert_line(t, "gevinst_alerts{kind=\"kind \\\"x\\\"\",status=\"back\\\\slash\"} 5");
    assert_line(t, "gevinst_alerts{kind=\"blåbær\",status=\"queued\"} 1");
    free(t);
}

static void test_alerts(void **state)
{
    (void)state;
    metrics_alerts("goal.off_track", "pending", 3);
    metrics_alerts("goal.off_track", "delivered", 2);
    metrics_alerts("data.stale", "failed", 1);
    metrics_alerts("goal.off_track", "pending", 0); /* set, not added */
    char *t = render();
    assert_line(t, "gevinst_alerts{kind=\"goal.off_track\",status=\"pending\"} 0");
    assert_line(t, "gevinst_alerts{kind=\"goal.off_track\",status=\"delivered\"} 2");
    assert_line(t, "gevinst_alerts{kind=\"data.stale\",status=\"failed\"} 1");
    free(t);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_commit_latency(0.001);
    metrics_commit_latency(0.005); /* on a bound: counts in it (le) */
    metrics_commit_latency(0.3);
    metrics_commit_latency(2.0);
    metrics_commit_latency(20.0); /* only +Inf */
    metrics_commit_latency(-1);   /* clock step: counted as 0 */
    char *t = render();
    static const char *want[] = {
        "gevinst_commit_duration_seconds_bucket{le=\"0.005\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.01\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.025\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.05\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.1\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.25\"} 3",
        "gevinst_commit_duration_seconds_bucket{le=\"0.5\"} 4",
        "gevinst_commit_duration_seconds_bucket{le=\"1\"} 4",
        "gevinst_commit_duration_seconds_bucket{le=\"2.5\"} 5",
        "gevinst_commit_duration_seconds_bucket{le=\"5\"} 5",
        "gevinst_commit_duration_seconds_bucket{le=\"10\"} 5",
        "gevinst_commit_duration_seconds_bucket{le=\"+Inf\"} 6",
        "gevinst_commit_duration_seconds_count 6",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_line(t, want[i]);
    const char *sum = strstr(t, "gevinst_commit_duration_seconds_sum ");
    assert_non_null(sum);
    assert_float_equal(strtod(sum + strlen("gevinst_commit_duration_seconds_sum "), NULL),
                       0.001 + 0.005 + 0.3 + 2.0 + 20.0, 1e-9);
    /* Buckets in increasing order of le, +Inf last. */
    const char *prev = t;
    for (size_t i = 0; i < 12; i++) {
        const char *at = strstr(t, want[i]);
        assert_true(at > prev);
        prev = at;
    }
    free(t);
}

static void test_kafka_stats(void **state)
{
    (void)state;
    const char *up = "{\"name\":\"gevinstd#consumer-1\",\"brokers\":{"
                     "\"b1:9092/1\":{\"nodeid\":1,\"state\":\"DOWN\"},"
                     "\"b2:9092/2\":{\"nodeid\":2,\"state\":\"UP\"}}}";
    const char *down = "{\"brokers\":{\"b1:9092/1\":{\"state\":\"CONNECT\"},"
                       "\"b2:9092/2\":{\"state\":\"DOWN\"}}}";
    metrics_kafka_stats(up, strlen(up));
    assert_int_equal(metrics_gauge(M_KAFKA_CONNECTED), 1);
    metrics_kafka_stats(down, strlen(down));
    assert_int_equal(metrics_gauge(M_KAFKA_CONNECTED), 0);
    metrics_kafka_stats(up, strlen(up));
    /* What does not parse changes nothing. */
    metrics_kafka_stats("{\"brok", 6);
    metrics_kafka_stats("[]", 2);
    assert_int_equal(metrics_gauge(M_KAFKA_CONNECTED), 1);
}

static void test_health_rule(void **state)
{
    (void)state;
    assert_string_equal(metrics_health(), "postgres unreachable");
    metrics_set(M_PG_CONNECTED, 1);
    assert_string_equal(metrics_health(), "kafka unreachable");
    metrics_set(M_KAFKA_CONNECTED, 1);
    assert_string_equal(metrics_health(), "goals file failed to load");
    metrics_set(M_GOALS_LOADED, 1);
    assert_string_equal(metrics_health(), "not consuming yet");
    metrics_set(M_CONSUMING, 1);
    assert_null(metrics_health());
    metrics_set(M_KAFKA_CONNECTED, 0);
    assert_string_equal(metrics_health(), "kafka unreachable");
    metrics_set(M_PG_CONNECTED, 0); /* both down: PostgreSQL is named first */
    assert_string_equal(metrics_health(), "postgres unreachable");
}

#define THREAD_ADDS 100000

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < THREAD_ADDS; i++) {
        metrics_add(M_MESSAGES_CONSUMED, 1);
        metrics_reject(EVENT_REASON_INVALID_FIELD);
        if (i % 100 == 0) {
            metrics_commit_latency(0.01);
            metrics_lag("t", i % 7, i);
        }
    }
    return NULL;
}

/* Writers on two threads while a reader renders: nothing lost, nothing torn. */
static void test_concurrency(void **state)
{
    (void)state;
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, adder, NULL), 0);
    assert_int_equal(pthread_create(&b, NULL, adder, NULL), 0);
    for (int i = 0; i < 50; i++)
        free(render());
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(metrics_counter(M_MESSAGES_CONSUMED), 2 * THREAD_ADDS);
    assert_int_equal(metrics_rejected(EVENT_REASON_INVALID_FIELD), 2 * THREAD_ADDS);
    assert_int_equal(metrics_counter(M_EVENTS_REJECTED), 2 * THREAD_ADDS);
    char *t = render();
    assert_line(t, "gevinst_commit_duration_seconds_count 2000");
    assert_line(t, "gevinst_commit_duration_seconds_bucket{le=\"0.01\"} 2000");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_zero_state, setup),
        cmocka_unit_test_setup(test_structure, setup),
        cmocka_unit_test_setup(test_counters_and_gauges, setup),
        cmocka_unit_test_setup(test_rejections, setup),
        cmocka_unit_test_setup(test_batch_publish, setup),
        cmocka_unit_test_setup(test_lag_series, setup),
        cmocka_unit_test_setup(test_label_escaping, setup),
        cmocka_unit_test_setup(test_alerts, setup),
        cmocka_unit_test_setup(test_histogram, setup),
        cmocka_unit_test_setup(test_kafka_stats, setup),
        cmocka_unit_test_setup(test_health_rule, setup),
        cmocka_unit_test_setup(test_concurrency, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
