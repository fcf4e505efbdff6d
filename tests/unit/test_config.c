/* Unit tests for the configuration (src/config.c): defaults against
 * daemon.md, every error message with its "path:line: " prefix, rdkafka
 * pass-through, redaction, the effective-config log and the reload diff. */
#include "gevinst/config.h"
#include "gevinst/log.h"

#include "test_util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define PATH "t.conf"

/* The three required keys on lines 1-6; tests append from line 7 on. */
#define BASE                                                                                       \
    "[kafka]\n"                                                                                    \
    "brokers = b1:9092\n"                                                                          \
    "[postgres]\n"                                                                                 \
    "conninfo = dbname=x\n"                                                                        \
    "[privacy]\n"                                                                                  \
    "pseudonym_key_file = /k\n"

/* Every key of the table, as daemon.md and config.h name them. */
static const char *all_keys[] = {
    "alerts.dashboard_url",
    "alerts.data_team_owner",
    "alerts.max_age_days",
    "alerts.rejection_threshold",
    "alerts.silence_days",
    "alerts.smtp_from",
    "alerts.smtp_url",
    "goals.file",
    "goals.grace_days",
    "http.listen",
    "kafka.brokers",
    "kafka.group_id",
    "kafka.max_message_bytes",
    "kafka.topic.alerts",
    "kafka.topic.appointments",
    "kafka.topic.audit",
    "kafka.topic.journal",
    "kpi.audit_allowed_lateness_minutes",
    "kpi.audit_idle_timeout_minutes",
    "kpi.default_entry_minutes",
    "kpi.documentation_action_prefixes",
    "kpi.double_documentation_window_hours",
    "kpi.timezone",
    "log.level",
    "pipeline.batch_events",
    "pipeline.batch_ms",
    "pipeline.decode_threads",
    "pipeline.state_cache_entries",
    "postgres.conninfo",
    "postgres.reader_role",
    "privacy.min_cell_size",
    "privacy.pseudonym_key_file",
    "privacy.store_rejected_payload",
};
#define ALL_KEYS_COUNT (sizeof(all_keys) / sizeof(all_keys[0]))

static config_t *parse_text(const char *text, char **errors, int *count)
{
    return config_parse(PATH, text, strlen(text), errors, count);
}

/* BASE + extra; must parse without error. */
static config_t *parse_ok(const char *extra)
{
    char text[8192];
    char *errors = NULL;
    int count = -1;
    snprintf(text, sizeof(text), "%s%s", BASE, extra);
    config_t *cfg = parse_text(text, &errors, &count);
    if (!cfg || count != 0)
        fail_msg("unexpected errors (%d) for:\n%s\n---\n%s", count, extra, errors ? errors : "");
    assert_null(errors);
    return cfg;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Parses text and requires exactly the expected errors (one per line, each
 * ending in '\n'), counted right, and no config. */
static void expect_errors_text(const char *text, const char *expected)
{
    char *errors = NULL;
    int count = -1;
    config_t *cfg = parse_text(text, &errors, &count);
    assert_null(cfg);
    assert_non_null(errors);
    if (strcmp(errors, expected) != 0)
        fail_msg("for:\n%s---\ngot:\n%s---\nexpected:\n%s", text, errors, expected);
    assert_int_equal(count, count_lines(expected));
    free(errors);
}

/* Same for BASE + extra. */
static void expect_errors(const char *extra, const char *expected)
{
    char text[8192];
    snprintf(text, sizeof(text), "%s%s", BASE, extra);
    expect_errors_text(text, expected);
}

/* For one "[section]\nkey = value" appended to BASE (section at line 7,
 * key at line 8): expects the single error "t.conf:8: <message>". */
static void expect_value_error(const char *section, const char *key, const char *value,
                               const char *message)
{
    char extra[1024], expected[1024];
    snprintf(extra, sizeof(extra), "[%s]\n%s = %s\n", section, key, value);
    snprintf(expected, sizeof(expected), PATH ":8: %s\n", message);
    expect_errors(extra, expected);
}

static void test_defaults(void **state)
{
    (void)state;
    config_t *cfg = parse_ok("");
    assert_string_equal(cfg->path, PATH);
    /* The required ones, as given. */
    assert_string_equal(cfg->kafka_brokers, "b1:9092");
    assert_string_equal(cfg->pg_conninfo, "dbname=x");
    assert_string_equal(cfg->pseudonym_key_file, "/k");
    /* [kafka] */
    assert_string_equal(cfg->kafka_group_id, "gevinstd");
    assert_string_equal(cfg->topic_appointments, "ehr.appointments");
    assert_string_equal(cfg->topic_journal, "ehr.journal");
    assert_string_equal(cfg->topic_audit, "ehr.audit");
    assert_string_equal(cfg->topic_alerts, "gevinst.alerts");
    assert_int_equal(cfg->max_message_bytes, 1048576);
    assert_int_equal(cfg->rdkafka_count, 0);
    assert_null(cfg->rdkafka);
    /* [postgres] */
    assert_string_equal(cfg->pg_reader_role, "gevinst_reader");
    /* [pipeline] */
    assert_int_equal(cfg->batch_events, 20000);
    assert_int_equal(cfg->batch_ms, 500);
    assert_int_equal(cfg->state_cache_entries, 250000);
    assert_int_equal(cfg->silence_days, 3);
    assert_true(cfg->rejection_threshold == 0.01);
    /* [kpi] */
    assert_string_equal(cfg->timezone, "Europe/Oslo");
    assert_int_equal(cfg->double_documentation_window_hours, 24);
    assert_true(cfg->default_entry_minutes == 5.0);
    assert_int_equal(cfg->audit_idle_timeout_minutes, 5);
    assert_int_equal(cfg->audit_allowed_lateness_minutes, 10);
    assert_int_equal(cfg->documentation_action_prefix_count, 4);
    assert_string_equal(cfg->documentation_action_prefixes[0], "note.");
    assert_string_equal(cfg->documentation_action_prefixes[1], "flowsheet.");
    assert_string_equal(cfg->documentation_action_prefixes[2], "journal.");
    assert_string_equal(cfg->documentation_action_prefixes[3], "careplan.");
    assert_null(cfg->documentation_action_prefixes[4]);
    /* [privacy] */
    assert_false(cfg->store_rejected_payload);
    assert_int_equal(cfg->min_cell_size, 5);
    /* [goals] */
    assert_string_equal(cfg->goals_file, "");
    assert_int_equal(cfg->grace_days, 2);
    /* [alerts] */
    assert_string_equal(cfg->data_team_owner, "");
    assert_string_equal(cfg->dashboard_url, "");
    assert_int_equal(cfg->alerts_max_age_days, 14);
    assert_string_equal(cfg->smtp_url, "");
    assert_string_equal(cfg->smtp_from, "");
    /* [http] */
    assert_string_equal(cfg->http_listen, "127.0.0.1:9187");
    /* [log] */
    assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
    config_destroy(cfg);
}

/* The example block of daemon.md, copied verbatim. */
static void test_daemon_md_example(void **state)
{
    (void)state;
    char *errors = NULL;
    int count = -1;
    const char *path = GEVINST_SOURCE_DIR "/tests/fixtures/config/daemon-example.conf";
    config_t *cfg = config_load(path, &errors, &count);
    if (!cfg)
        fail_msg("%s", errors ? errors : "(no errors)");
    assert_int_equal(count, 0);
    assert_null(errors);
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->kafka_brokers, "localhost:9092");
    assert_string_equal(cfg->kafka_group_id, "gevinstd");
    assert_string_equal(cfg->topic_appointments, "ehr.appointments");
    assert_string_equal(cfg->topic_journal, "ehr.journal");
    assert_string_equal(cfg->topic_audit, "ehr.audit");
    assert_string_equal(cfg->topic_alerts, "gevinst.alerts");
    assert_int_equal(cfg->rdkafka_count, 0); /* the rdkafka line is a comment */
    assert_string_equal(cfg->pg_conninfo, "dbname=gevinst");
    assert_string_equal(cfg->timezone, "Europe/Oslo");
    assert_int_equal(cfg->double_documentation_window_hours, 24);
    assert_true(cfg->default_entry_minutes == 5.0);
    assert_int_equal(cfg->audit_idle_timeout_minutes, 5);
    assert_int_equal(cfg->audit_allowed_lateness_minutes, 10);
    assert_int_equal(cfg->documentation_action_prefix_count, 4);
    assert_string_equal(cfg->documentation_action_prefixes[3], "careplan.");
    assert_string_equal(cfg->pseudonym_key_file, "/etc/gevinstd/pseudonym.key");
    assert_false(cfg->store_rejected_payload);
    assert_int_equal(cfg->min_cell_size, 5);
    assert_string_equal(cfg->goals_file, "/etc/gevinstd/goals.json");
    assert_int_equal(cfg->grace_days, 2);
    /* "data_team_owner =   ; comment" and friends are empty strings. */
    assert_string_equal(cfg->data_team_owner, "");
    assert_string_equal(cfg->dashboard_url, "");
    assert_int_equal(cfg->alerts_max_age_days, 14);
    assert_string_equal(cfg->smtp_url, "");
    assert_string_equal(cfg->smtp_from, "");
    assert_string_equal(cfg->http_listen, "127.0.0.1:9187");
    config_destroy(cfg);
}

static void test_values_set(void **state)
{
    (void)state;
    config_t *cfg = parse_ok("[kafka]\n"
                             "group_id = g2\n"
                             "topic.appointments = a\n"
                             "topic.journal =\n"
                             "topic.audit = \"au dit\"\n"
                             "topic.alerts =\n"
                             "max_message_bytes = 1024\n"
                             "[postgres]\n"
                             "reader_role =\n"
                             "[pipeline]\n"
                             "batch_events = 1\n"
                             "batch_ms = 60000\n"
                             "[kpi]\n"
                             "timezone = UTC\n"
                             "double_documentation_window_hours = 8760\n"
                             "default_entry_minutes = 2.5\n"
                             "audit_idle_timeout_minutes = 1\n"
                             "audit_allowed_lateness_minutes = 0\n"
                             "documentation_action_prefixes = a., , b. ,c.,\n"
                             "[privacy]\n"
                             "store_rejected_payload = yes\n"
                             "min_cell_size = 1\n"
                             "[goals]\n"
                             "file = g.json\n"
                             "grace_days = 0\n"
                             "[alerts]\n"
                             "data_team_owner = team\n"
                             "dashboard_url = https://d/x\n"
                             "max_age_days = 3650\n"
                             "smtp_url = smtp://relay:25\n"
                             "smtp_from = gevinst@example.org\n"
                             "[http]\n"
                             "listen =\n"
                             "[log]\n"
                             "level = debug\n");
    assert_string_equal(cfg->kafka_group_id, "g2");
    assert_string_equal(cfg->topic_appointments, "a");
    assert_string_equal(cfg->topic_journal, "");
    assert_string_equal(cfg->topic_audit, "au dit");
    assert_string_equal(cfg->topic_alerts, "");
    assert_int_equal(cfg->max_message_bytes, 1024);
    assert_string_equal(cfg->pg_reader_role, "");
    assert_int_equal(cfg->batch_events, 1);
    assert_int_equal(cfg->batch_ms, 60000);
    assert_string_equal(cfg->timezone, "UTC");
    assert_int_equal(cfg->double_documentation_window_hours, 8760);
    assert_true(cfg->default_entry_minutes == 2.5);
    assert_int_equal(cfg->audit_idle_timeout_minutes, 1);
    assert_int_equal(cfg->audit_allowed_lateness_minutes, 0);
    assert_int_equal(cfg->documentation_action_prefix_count, 3);
    assert_string_equal(cfg->documentation_action_prefixes[0], "a.");
    assert_string_equal(cfg->documentation_action_prefixes[1], "b.");
    assert_string_equal(cfg->documentation_action_prefixes[2], "c.");
    assert_null(cfg->documentation_action_prefixes[3]);
    assert_true(cfg->store_rejected_payload);
    assert_int_equal(cfg->min_cell_size, 1);
    assert_string_equal(cfg->goals_file, "g.json");
    assert_int_equal(cfg->grace_days, 0);
    assert_string_equal(cfg->data_team_owner, "team");
    assert_string_equal(cfg->dashboard_url, "https://d/x");
    assert_int_equal(cfg->alerts_max_age_days, 3650);
    assert_string_equal(cfg->smtp_url, "smtp://relay:25");
    assert_string_equal(cfg->smtp_from, "gevinst@example.org");
    assert_string_equal(cfg->http_listen, "");
    assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
    config_destroy(cfg);
}

static void test_booleans(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true},   {"TRUE", true},   {"yes", true}, {"On", true},   {"1", true},
        {"false", false}, {"False", false}, {"no", false}, {"OFF", false}, {"0", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "[privacy]\nstore_rejected_payload = %s\n", cases[i].text);
        config_t *cfg = parse_ok(extra);
        if (cfg->store_rejected_payload != cases[i].value)
            fail_msg("'%s' read as %d", cases[i].text, cfg->store_rejected_payload);
        config_destroy(cfg);
    }
}

static void test_log_levels(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int level;
    } cases[] = {{"error", LOG_LEVEL_ERROR},
                 {"warn", LOG_LEVEL_WARN},
                 {"info", LOG_LEVEL_INFO},
                 {"debug", LOG_LEVEL_DEBUG}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "[log]\nlevel = %s\n", cases[i].text);
        config_t *cfg = parse_ok(extra);
        assert_int_equal(cfg->log_level, cases[i].level);
        config_destroy(cfg);
    }
}

static void test_bounds_accepted(void **state)
{
    (void)state;
    config_t *cfg =
        parse_ok("[goals]\ngrace_days = 365\n[alerts]\nmax_age_days = 0\n"
                 "[kafka]\nmax_message_bytes = 100000000\n"
                 "[kpi]\ndefault_entry_minutes = 0\naudit_idle_timeout_minutes = 1440\n");
    assert_int_equal(cfg->grace_days, 365);
    assert_int_equal(cfg->alerts_max_age_days, 0);
    assert_int_equal(cfg->max_message_bytes, 100000000);
    assert_true(cfg->default_entry_minutes == 0.0);
    assert_int_equal(cfg->audit_idle_timeout_minutes, 1440);
    config_destroy(cfg);
    cfg = parse_ok("[kpi]\ndefault_entry_minutes = 1440\n");
    assert_true(cfg->default_entry_minutes == 1440.0);
    config_destroy(cfg);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_errors("[kafka]\nbrokerz = x\n", PATH ":8: unknown key 'brokerz' in [kafka]\n");
    /* A key of another section is unknown here. */
    expect_errors("[kafka]\nconninfo = x\n", PATH ":8: unknown key 'conninfo' in [kafka]\n");
    /* rdkafka.* only in [kafka]. */
    expect_errors("[postgres]\nrdkafka.client.id = x\n",
                  PATH ":8: unknown key 'rdkafka.client.id' in [postgres]\n");
    expect_errors("[kafka]\nrdkafka. = x\n", PATH ":8: unknown key 'rdkafka.' in [kafka]\n");
    /* Keys are case-sensitive. */
    expect_errors("[kafka]\nGroup_Id = x\n", PATH ":8: unknown key 'Group_Id' in [kafka]\n");
}

static void test_unknown_section(void **state)
{
    (void)state;
    expect_errors("[bogus]\n", PATH ":7: unknown section [bogus]\n");
    expect_errors("[bogus]\nk = v\n",
                  PATH ":7: unknown section [bogus]\n" PATH ":8: unknown key 'k' in [bogus]\n");
    expect_errors("[Kafka]\n", PATH ":7: unknown section [Kafka]\n");
}

static void test_key_outside_section(void **state)
{
    (void)state;
    expect_errors_text("top = 1\n" BASE, PATH ":1: key 'top' outside any [section]\n");
}

static void test_ini_errors_have_lines(void **state)
{
    (void)state;
    expect_errors("[kafka]\nnovalue\n", PATH ":8: expected 'key = value'\n");
    expect_errors("[kafka\n", PATH ":7: section header without ']'\n");
    expect_errors("[kafka]\nclient = \"open\n", PATH ":8: unterminated quoted value\n");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect_errors("[kafka]\ngroup_id = a\ngroup_id = b\n",
                  PATH ":9: duplicate key 'group_id' (first set at line 8)\n");
    /* Also across two [kafka] sections. */
    expect_errors("[kafka]\nbrokers = other:9092\n",
                  PATH ":8: duplicate key 'brokers' (first set at line 2)\n");
}

static void test_bad_int(void **state)
{
    (void)state;
    static const char *bad[] = {"2x", "", "1.5", "0x10", "two", "99999999999999999999", "- 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("goals", "grace_days", bad[i], "goals.grace_days: not an integer");
    expect_value_error("pipeline", "batch_ms", "5s", "pipeline.batch_ms: not an integer");
}

static void test_int_out_of_range(void **state)
{
    (void)state;
    expect_value_error("goals", "grace_days", "366",
                       "goals.grace_days: 366 is out of range [0, 365]");
    expect_value_error("goals", "grace_days", "-1",
                       "goals.grace_days: -1 is out of range [0, 365]");
    expect_value_error("kafka", "max_message_bytes", "1023",
                       "kafka.max_message_bytes: 1023 is out of range [1024, 100000000]");
    expect_value_error("kafka", "max_message_bytes", "100000001",
                       "kafka.max_message_bytes: 100000001 is out of range [1024, 100000000]");
    expect_value_error("privacy", "min_cell_size", "0",
                       "privacy.min_cell_size: 0 is out of range [1, 1000000]");
    expect_value_error("kpi", "double_documentation_window_hours", "0",
                       "kpi.double_documentation_window_hours: 0 is out of range [1, 8760]");
    expect_value_error("kpi", "audit_idle_timeout_minutes", "1441",
                       "kpi.audit_idle_timeout_minutes: 1441 is out of range [1, 1440]");
    expect_value_error("kpi", "audit_allowed_lateness_minutes", "-5",
                       "kpi.audit_allowed_lateness_minutes: -5 is out of range [0, 1440]");
    expect_value_error("alerts", "max_age_days", "3651",
                       "alerts.max_age_days: 3651 is out of range [0, 3650]");
    expect_value_error("pipeline", "batch_events", "0",
                       "pipeline.batch_events: 0 is out of range [1, 1000000]");
    expect_value_error("pipeline", "batch_ms", "9",
                       "pipeline.batch_ms: 9 is out of range [10, 60000]");
}

static void test_bad_double(void **state)
{
    (void)state;
    static const char *bad[] = {"abc", "", "5m", "nan", "inf", "-inf", "1e999", "5,5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("kpi", "default_entry_minutes", bad[i],
                           "kpi.default_entry_minutes: not a number");
    expect_value_error("kpi", "default_entry_minutes", "2000",
                       "kpi.default_entry_minutes: 2000 is out of range [0, 1440]");
    expect_value_error("kpi", "default_entry_minutes", "-0.5",
                       "kpi.default_entry_minutes: -0.5 is out of range [0, 1440]");
}

static void test_bad_bool(void **state)
{
    (void)state;
    static const char *bad[] = {"maybe", "", "2", "tru", "yes please", "\"\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("privacy", "store_rejected_payload", bad[i],
                           "privacy.store_rejected_payload: not a boolean (true or false)");
}

static void test_bad_log_level(void **state)
{
    (void)state;
    static const char *bad[] = {"verbose", "", "warning", "trace", "3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("log", "level", bad[i],
                           "log.level: not a log level (error, warn, info, debug)");
}

static void test_missing_required(void **state)
{
    (void)state;
    /* All three at once, in one parse; no section: no line. */
    expect_errors_text("", PATH ": missing required key 'kafka.brokers'\n" PATH
                                ": missing required key 'postgres.conninfo'\n" PATH
                                ": missing required key 'privacy.pseudonym_key_file'\n");
    /* With the sections present, at the line of each section. */
    expect_errors_text("[kafka]\n[postgres]\n# c\n[privacy]\n",
                       PATH ":1: missing required key 'kafka.brokers'\n" PATH
                            ":2: missing required key 'postgres.conninfo'\n" PATH
                            ":4: missing required key 'privacy.pseudonym_key_file'\n");
    /* Each one alone. */
    expect_errors_text("[postgres]\nconninfo = x\n[privacy]\npseudonym_key_file = k\n",
                       PATH ": missing required key 'kafka.brokers'\n");
    expect_errors_text("[kafka]\nbrokers = b\n[privacy]\npseudonym_key_file = k\n",
                       PATH ": missing required key 'postgres.conninfo'\n");
    expect_errors_text("[kafka]\nbrokers = b\n[postgres]\nconninfo = x\n[privacy]\n",
                       PATH ":5: missing required key 'privacy.pseudonym_key_file'\n");
}

static void test_empty_required(void **state)
{
    (void)state;
    expect_errors_text("[kafka]\nbrokers =\n[postgres]\nconninfo = \"\"\n"
                       "[privacy]\npseudonym_key_file = ; none\n",
                       PATH ":2: kafka.brokers: must not be empty\n" PATH
                            ":4: postgres.conninfo: must not be empty\n" PATH
                            ":6: privacy.pseudonym_key_file: must not be empty\n");
    expect_value_error("kafka", "group_id", "", "kafka.group_id: must not be empty");
}

static void test_no_topics(void **state)
{
    (void)state;
    expect_errors("[kafka]\ntopic.appointments =\ntopic.journal =\ntopic.audit =\n",
                  PATH ":8: no role to consume: kafka.topic.appointments, .journal and .audit "
                       "are all empty\n");
    /* One role is enough; the alerts topic is not a role. */
    static const char *keep[] = {"appointments", "journal", "audit"};
    for (size_t i = 0; i < 3; i++) {
        char extra[256];
        size_t o = (size_t)snprintf(extra, sizeof(extra), "[kafka]\ntopic.alerts =\n");
        for (size_t j = 0; j < 3; j++)
            if (j != i)
                o += (size_t)snprintf(extra + o, sizeof(extra) - o, "topic.%s =\n", keep[j]);
        config_t *cfg = parse_ok(extra);
        assert_string_equal(cfg->topic_alerts, "");
        assert_int_equal(*cfg->topic_appointments != '\0', i == 0);
        assert_int_equal(*cfg->topic_journal != '\0', i == 1);
        assert_int_equal(*cfg->topic_audit != '\0', i == 2);
        config_destroy(cfg);
    }
}

static void test_no_prefixes(void **state)
{
    (void)state;
    expect_value_error("kpi", "documentation_action_prefixes", "",
                       "kpi.documentation_action_prefixes: needs at least one prefix");
    expect_value_error("kpi", "documentation_action_prefixes", " , ,",
                       "kpi.documentation_action_prefixes: needs at least one prefix");
}

static void test_timezone(void **state)
{
    (void)state;
    static const char *bad[] = {"Mars/Olympus",          "Europe",
                                "../../../etc/passwd",   "/etc/localtime",
                                "Europe/../Europe/Oslo", "europe/oslo"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "kpi.timezone: unknown time zone '%s'", bad[i]);
        expect_value_error("kpi", "timezone", bad[i], msg);
    }
    static const char *good[] = {"UTC", "America/New_York", "Asia/Kolkata", "Europe/Oslo"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "[kpi]\ntimezone = %s\n", good[i]);
        config_t *cfg = parse_ok(extra);
        assert_string_equal(cfg->timezone, good[i]);
        config_destroy(cfg);
    }

    /* TZDIR is honoured; the default zone then is unknown, and has no line. */
    char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
    setenv("TZDIR", "/nonexistent-zoneinfo", 1);
    expect_errors("", PATH ": kpi.timezone: unknown time zone 'Europe/Oslo'\n");
    config_t *cfg = parse_ok("[kpi]\ntimezone = UTC\n");
    config_destroy(cfg);
    if (old)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    free(old);
}

static void test_http_listen(void **state)
{
    (void)state;
    static const char *bad[] = {"localhost", ":9187",    "host:",     "host:0", "host:65536",
                                "host:abc",  "host:80x", "127.0.0.1", "9187",   "host:-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("http", "listen", bad[i],
                           "http.listen: expected host:port (port 1-65535)");
    static const char *good[] = {"0.0.0.0:80", "localhost:65535", "[::1]:9187", "h:1", ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "[http]\nlisten = %s\n", good[i]);
        config_t *cfg = parse_ok(extra);
        assert_string_equal(cfg->http_listen, good[i]);
        config_destroy(cfg);
    }
}

static void test_smtp_needs_from(void **state)
{
    (void)state;
    expect_errors("[alerts]\nsmtp_url = smtp://relay:25\n",
                  PATH ":8: alerts.smtp_from is required with alerts.smtp_url\n");
    expect_errors("[alerts]\nsmtp_from =\nsmtp_url = smtp://relay:25\n",
                  PATH ":9: alerts.smtp_from is required with alerts.smtp_url\n");
    /* A sender without a relay is harmless. */
    config_t *cfg = parse_ok("[alerts]\nsmtp_from = a@b\n");
    assert_string_equal(cfg->smtp_from, "a@b");
    config_destroy(cfg);
}

static void test_reader_role(void **state)
{
    (void)state;
    static const char *bad[] = {"Gevinst", "reader-role", "a b", "r\xC3\xB8le", "x;drop"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_value_error("postgres", "reader_role", bad[i],
                           "postgres.reader_role: use lowercase letters, digits and _");
    config_t *cfg = parse_ok("[postgres]\nreader_role = dash_reader_2\n");
    assert_string_equal(cfg->pg_reader_role, "dash_reader_2");
    config_destroy(cfg);
}

/* librdkafka's own message, after "path:line: rdkafka.KEY: ", on one line. */
static void expect_rdkafka_error(const char *key, const char *value, const char *fragment)
{
    char text[1024], prefix[256];
    char *errors = NULL;
    int count = -1;
    snprintf(text, sizeof(text), "%s[kafka]\nrdkafka.%s = %s\n", BASE, key, value);
    snprintf(prefix, sizeof(prefix), PATH ":8: rdkafka.%s: ", key);
    config_t *cfg = parse_text(text, &errors, &count);
    assert_null(cfg);
    assert_int_equal(count, 1);
    assert_non_null(errors);
    if (strncmp(errors, prefix, strlen(prefix)) != 0 || !strstr(errors, fragment))
        fail_msg("got '%s', expected '%s...%s...'", errors, prefix, fragment);
    /* One error, one line. */
    assert_int_equal(count_lines(errors), 1);
    assert_int_equal(errors[strlen(errors) - 1], '\n');
    free(errors);
}

static void test_rdkafka_bad_property(void **state)
{
    (void)state;
    expect_rdkafka_error("no.such.prop", "1", "no.such.prop");
    expect_rdkafka_error("security.protocol", "bogus", "security.protocol");
    expect_rdkafka_error("socket.timeout.ms", "abc", "socket.timeout.ms");
    expect_rdkafka_error("socket.timeout.ms", "1", "socket.timeout.ms");
}

static void test_rdkafka_managed(void **state)
{
    (void)state;
    static const char *managed[] = {
        "bootstrap.servers",   "metadata.broker.list",     "group.id",
        "enable.auto.commit",  "enable.auto.offset.store", "auto.offset.reset",
        "enable.partition.eof"};
    for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++) {
        char extra[256], expected[256];
        snprintf(extra, sizeof(extra), "[kafka]\nrdkafka.%s = x\n", managed[i]);
        snprintf(expected, sizeof(expected),
                 PATH ":8: rdkafka.%s is managed by gevinstd and cannot be set\n", managed[i]);
        expect_errors(extra, expected);
    }
}

/* A property set twice is a mistake, as for the table's keys. */
static void test_rdkafka_duplicate(void **state)
{
    (void)state;
    expect_errors("[kafka]\nrdkafka.client.id = a\nrdkafka.client.id = b\n",
                  PATH ":9: duplicate key 'rdkafka.client.id' (first set at line 8)\n");
}

static void test_rdkafka_stored(void **state)
{
    (void)state;
    config_t *cfg = parse_ok("[kafka]\n"
                             "rdkafka.client.id = my-client\n"
                             "# comment\n"
                             "rdkafka.statistics.interval.ms = 5000\n"
                             "rdkafka.sasl.password = \"p ; w\"\n");
    assert_int_equal(cfg->rdkafka_count, 3);
    assert_string_equal(cfg->rdkafka[0].key, "client.id");
    assert_string_equal(cfg->rdkafka[0].value, "my-client");
    assert_int_equal(cfg->rdkafka[0].line, 8);
    assert_string_equal(cfg->rdkafka[1].key, "statistics.interval.ms");
    assert_string_equal(cfg->rdkafka[1].value, "5000");
    assert_int_equal(cfg->rdkafka[1].line, 10);
    assert_string_equal(cfg->rdkafka[2].key, "sasl.password");
    assert_string_equal(cfg->rdkafka[2].value, "p ; w");
    assert_int_equal(cfg->rdkafka[2].line, 11);
    config_destroy(cfg);
}

/* Errors of every layer in one file: all reported, in file order, then the
 * checks across keys. */
static void test_many_errors(void **state)
{
    (void)state;
    expect_errors_text("[kafka]\n"                          /* 1 */
                       "brokers = b:9092\n"                 /* 2 */
                       "brokerz = x\n"                      /* 3 */
                       "rdkafka.group.id = g\n"             /* 4 */
                       "max_message_bytes = 10\n"           /* 5 */
                       "[postgres]\n"                       /* 6 */
                       "conninfo = dbname=x\n"              /* 7 */
                       "reader_role = Bad\n"                /* 8 */
                       "[bogus]\n"                          /* 9 */
                       "[kpi]\n"                            /* 10 */
                       "timezone = Nowhere/City\n"          /* 11 */
                       "default_entry_minutes = x\n"        /* 12 */
                       "default_entry_minutes = 1\n"        /* 13 */
                       "what is this\n"                     /* 14 */
                       "[privacy]\n"                        /* 15 */
                       "store_rejected_payload = perhaps\n" /* 16 */
                       "[http]\n"                           /* 17 */
                       "listen = nowhere\n"                 /* 18 */
                       "[alerts]\n"                         /* 19 */
                       "smtp_url = smtp://r\n"              /* 20 */
                       "[log]\n"                            /* 21 */
                       "level = loud\n",                    /* 22 */
                       PATH
                       ":3: unknown key 'brokerz' in [kafka]\n" PATH
                       ":4: rdkafka.group.id is managed by gevinstd and cannot be set\n" PATH
                       ":5: kafka.max_message_bytes: 10 is out of range [1024, 100000000]\n" PATH
                       ":9: unknown section [bogus]\n" PATH
                       ":12: kpi.default_entry_minutes: not a number\n" PATH
                       ":13: duplicate key 'default_entry_minutes' (first set at line 12)\n" PATH
                       ":14: expected 'key = value'\n" PATH
                       ":16: privacy.store_rejected_payload: not a boolean (true or false)\n" PATH
                       ":22: log.level: not a log level (error, warn, info, debug)\n" PATH
                       ":15: missing required key 'privacy.pseudonym_key_file'\n" PATH
                       ":11: kpi.timezone: unknown time zone 'Nowhere/City'\n" PATH
                       ":18: http.listen: expected host:port (port 1-65535)\n" PATH
                       ":20: alerts.smtp_from is required with alerts.smtp_url\n" PATH
                       ":8: postgres.reader_role: use lowercase letters, digits and _\n");
}

static void test_load_missing_file(void **state)
{
    (void)state;
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_load("/nonexistent/gevinstd.conf", &errors, &count);
    assert_null(cfg);
    assert_int_equal(count, 1);
    assert_non_null(errors);
    assert_string_equal(errors,
                        "/nonexistent/gevinstd.conf: cannot read: No such file or directory\n");
    free(errors);
}

/* A path that is not a readable file is one error, not a parse of nothing. */
static void test_load_directory(void **state)
{
    (void)state;
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_load("/tmp", &errors, &count);
    assert_null(cfg);
    assert_int_equal(count, 1);
    assert_non_null(errors);
    assert_string_equal(errors, "/tmp: cannot read: Is a directory\n");
    free(errors);
}

/* A new temporary file (path: a mkstemp template) holding text, left open
 * for more. */
static FILE *temp_config(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    return f;
}

/* A file over the 16 MiB limit is refused, not cut and parsed. */
static void test_load_too_large(void **state)
{
    (void)state;
    char path[] = "/tmp/gevinst-test-config-XXXXXX";
    FILE *f = temp_config(path, BASE);
    static char comment[1024];
    memset(comment, '.', sizeof(comment) - 2);
    comment[0] = '#';
    comment[sizeof(comment) - 2] = '\n';
    for (int i = 0; i < 17 * 1024; i++)
        fputs(comment, f);
    fclose(f);
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_load(path, &errors, &count);
    unlink(path);
    assert_null(cfg);
    assert_int_equal(count, 1);
    char expected[128];
    snprintf(expected, sizeof(expected), "%s: cannot read: larger than 16 MiB\n", path);
    assert_string_equal(errors, expected);
    free(errors);
}

/* config_load_partial: a file with errors still gives what could be read, so
 * --check can go on to the goals and key files it names; config_load of the
 * same file gives nothing. */
static void test_load_partial(void **state)
{
    (void)state;
    char path[] = "/tmp/gevinst-test-config-XXXXXX";
    fclose(temp_config(path,
                       BASE "min_cell_size = five\n[goals]\nfile = /g.json\n[kafka]\nbogus = 1\n"));
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_load_partial(path, &errors, &count);
    assert_non_null(cfg);
    assert_int_equal(count, 2);
    assert_non_null(strstr(errors, ":7: "));  /* min_cell_size */
    assert_non_null(strstr(errors, ":11: ")); /* bogus */
    assert_string_equal(cfg->goals_file, "/g.json");
    assert_string_equal(cfg->pseudonym_key_file, "/k");
    assert_int_equal(cfg->min_cell_size, 5); /* in error: the default */
    config_destroy(cfg);
    free(errors);

    errors = NULL;
    count = -1;
    assert_null(config_load(path, &errors, &count));
    assert_int_equal(count, 2);
    free(errors);

    /* Without errors, the same as config_load. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(BASE, f);
    fclose(f);
    errors = NULL;
    count = -1;
    cfg = config_load_partial(path, &errors, &count);
    assert_non_null(cfg);
    assert_int_equal(count, 0);
    assert_null(errors);
    config_destroy(cfg);

    /* A file that cannot be read gives no config at all. */
    unlink(path);
    errors = NULL;
    assert_null(config_load_partial(path, &errors, &count));
    assert_int_equal(count, 1);
    free(errors);
}

/* A path longer than the message buffer: messages are cut, not overrun. */
static void test_long_path(void **state)
{
    (void)state;
    size_t n = 3000;
    char *path = malloc(n + 1);
    assert_non_null(path);
    memset(path, 'p', n);
    path[n] = '\0';
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_parse(path, "[kafka]\nbogus = 1\n", 18, &errors, &count);
    assert_null(cfg);
    assert_int_equal(count, 4); /* unknown key, three missing required keys */
    assert_int_equal(count_lines(errors), 4);
    for (const char *line = errors; *line; line = strchr(line, '\n') + 1) {
        size_t len = (size_t)(strchr(line, '\n') - line);
        assert_true(len > 0 && len < 1024);
        assert_int_equal(line[0], 'p');
    }
    free(errors);
    free(path);
}

/* Writes BASE, 2000 comment lines (well over the first 4096-byte read) and
 * then `tail`; returns the line number of tail's last line. */
static int write_large(const char *path, const char *tail)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(BASE, f);
    int line = 6;
    for (int i = 0; i < 2000; i++, line++)
        fprintf(f, "# padding comment line %04d .....................................\n", i);
    fputs(tail, f);
    fclose(f);
    return line + count_lines(tail) + (tail[strlen(tail) - 1] != '\n');
}

static void test_load_large_file(void **state)
{
    (void)state;
    char path[] = "/tmp/gevinst-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    /* An error on the last line, which has no newline. */
    int line = write_large(path, "[goals]\nfile = /last/line.json\ngrace_days = -3");
    char *errors = NULL;
    int count = -1;
    config_t *cfg = config_load(path, &errors, &count);
    assert_null(cfg);
    assert_int_equal(count, 1);
    char expected[512];
    snprintf(expected, sizeof(expected), "%s:%d: goals.grace_days: -3 is out of range [0, 365]\n",
             path, line);
    assert_string_equal(errors, expected);
    free(errors);

    /* Without the error it loads, last line included. */
    write_large(path, "[goals]\nfile = /last/line.json\n[log]\nlevel = warn");
    cfg = config_load(path, &errors, &count);
    if (!cfg)
        fail_msg("%s", errors);
    assert_int_equal(count, 0);
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->goals_file, "/last/line.json");
    assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
    config_destroy(cfg);
    unlink(path);
}

static void destroy_null(void **state)
{
    (void)state;
    config_destroy(NULL); /* must be a no-op */
}

/* ---- redaction ---- */

static void expect_redacted(const char *conninfo, const char *expected)
{
    char out[512];
    memset(out, 'X', sizeof(out));
    config_redact_conninfo(conninfo, out, sizeof(out));
    if (strcmp(out, expected) != 0)
        fail_msg("redact('%s') = '%s', expected '%s'", conninfo, out, expected);
}

static void test_redact_keyvalue(void **state)
{
    (void)state;
    expect_redacted("password=x", "password=***");
    expect_redacted("host=h password=x dbname=d", "host=h password=*** dbname=d");
    expect_redacted("host=h password = 'a b\\'c' dbname=d", "host=h password=*** dbname=d");
    expect_redacted("password = 'a b\\'c'", "password=***");
    expect_redacted("password='' host=h", "password=*** host=h");
    expect_redacted("host=h password=", "host=h password=***");
    expect_redacted("host=h user=u dbname=d", "host=h user=u dbname=d");
    expect_redacted("dbname=mypassword", "dbname=mypassword");
    expect_redacted("", "");
}

static void test_redact_uri(void **state)
{
    (void)state;
    expect_redacted("postgresql://u:pw@h/db", "postgresql://u:***@h/db");
    expect_redacted("postgres://u:pw@h:5432/db?sslmode=require",
                    "postgres://u:***@h:5432/db?sslmode=require");
    expect_redacted("postgresql://u@h/db?password=secret", "postgresql://u@h/db?password=***");
    expect_redacted("postgresql://u@h/db", "postgresql://u@h/db");
    expect_redacted("postgresql://h:5432/db", "postgresql://h:5432/db");
    expect_redacted("postgresql:///db?host=/run/postgresql",
                    "postgresql:///db?host=/run/postgresql");
}

/* libpq separates keywords by any white space, knows sslpassword, and lets
 * a backslash escape a character (a space, too) in an unquoted value. */
static void test_redact_libpq_syntax(void **state)
{
    (void)state;
    expect_redacted("host=h\tpassword=secret", "host=h\tpassword=***");
    expect_redacted("host=h\npassword=secret dbname=d", "host=h\npassword=*** dbname=d");
    expect_redacted("host=h\tpassword\t=\tsecret\tdbname=d", "host=h\tpassword=***\tdbname=d");
    expect_redacted("sslpassword=secret host=h", "sslpassword=*** host=h");
    expect_redacted("host=h sslpassword = 'se cret'", "host=h sslpassword=***");
    expect_redacted("password=se\\ cret host=h", "password=*** host=h");
    expect_redacted("password='se\\'cret' host=h", "password=*** host=h");
    /* URI query: every password parameter, the rest kept. */
    expect_redacted("postgresql://u@h/db?password=secret&sslmode=require",
                    "postgresql://u@h/db?password=***&sslmode=require");
    expect_redacted("postgresql://u@h/db?sslpassword=s1&password=s2&application_name=a",
                    "postgresql://u@h/db?sslpassword=***&password=***&application_name=a");
    expect_redacted("postgresql://u:pw@h/db?password=x&sslmode=disable",
                    "postgresql://u:***@h/db?password=***&sslmode=disable");
    /* An '@' after the first '/' is not user info (as libpq reads it). */
    expect_redacted("postgresql://h:5432/db?password=se@cret",
                    "postgresql://h:5432/db?password=***");
    expect_redacted("postgresql://u:p@h1:5432,h2/db", "postgresql://u:***@h1:5432,h2/db");
}

/* A buffer too small: cut short, terminated, and the secret not in it. */
static void test_redact_small_buffer(void **state)
{
    (void)state;
    static const char *inputs[] = {"host=h password=secret",
                                   "password=secret",
                                   "host=h\tsslpassword=secret",
                                   "postgresql://u:secret@h/db",
                                   "postgresql://u@h/db?password=secret",
                                   "postgresql://u@h/db?password=secret&sslmode=require",
                                   "postgresql://u@h/db?sslpassword=secret&password=secret",
                                   "postgresql://h:1/db?password=se@secret"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        for (size_t size = 1; size < 40; size++) {
            char out[48];
            memset(out, 'X', sizeof(out));
            config_redact_conninfo(inputs[i], out, size);
            assert_true(strlen(out) < size);
            assert_null(strstr(out, "secret"));
            assert_null(strstr(out, "secre"));
            for (size_t j = size; j < sizeof(out); j++)
                assert_int_equal(out[j], 'X'); /* nothing written past out_size */
        }
    }
    char out[4] = "abc";
    config_redact_conninfo("password=secret", out, 0);
    assert_string_equal(out, "abc"); /* size 0: untouched */
}

/* ---- effective config log ---- */

/* Runs config_log_effective(cfg) with stderr redirected to a file; returns
 * what it wrote (caller frees). */
static char *capture_log_effective(const config_t *cfg)
{
    char path[] = "/tmp/gevinst-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    config_log_effective(cfg);
    fflush(stderr);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    close(fd);
    char *out = test_read_file(path, NULL);
    unlink(path);
    return out;
}

static void test_log_effective(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    config_t *cfg = parse_ok("[postgres]\n"
                             "reader_role = r\n"
                             "[alerts]\n"
                             "smtp_url = smtp://mailer:smtpsecret@relay:25\n"
                             "smtp_from = a@b\n"
                             "dashboard_url = https://dash:dashsecret@d.example/x\n"
                             "[kafka]\n"
                             "rdkafka.client.id = visible-client\n"
                             "rdkafka.sasl.username = visible-user\n"
                             "rdkafka.sasl.password = rdsecret\n"
                             "rdkafka.ssl.key.password = keysecret\n");
    free(cfg->pg_conninfo);
    cfg->pg_conninfo = strdup("host=db password='pg secret' dbname=gevinst");
    char *out = capture_log_effective(cfg);

    static const char *secrets[] = {"pg secret", "smtpsecret", "dashsecret", "rdsecret",
                                    "keysecret"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(out, secrets[i]))
            fail_msg("'%s' leaked into:\n%s", secrets[i], out);

    assert_non_null(strstr(out, "config: effective configuration from " PATH "\n"));
    for (size_t i = 0; i < ALL_KEYS_COUNT; i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "config: %s = ", all_keys[i]);
        if (!strstr(out, needle))
            fail_msg("'%s' missing from:\n%s", needle, out);
    }
    static const char *lines[] = {
        "config: postgres.conninfo = host=db password=*** dbname=gevinst\n",
        "config: alerts.smtp_url = smtp://***@relay:25\n",
        "config: alerts.dashboard_url = https://***@d.example/x\n",
        "config: kafka.rdkafka.client.id = visible-client\n",
        "config: kafka.rdkafka.sasl.username = visible-user\n",
        "config: kafka.rdkafka.sasl.password = ***\n",
        "config: kafka.rdkafka.ssl.key.password = ***\n",
        "config: kafka.brokers = b1:9092\n",
        "config: kafka.group_id = gevinstd\n",
        "config: kpi.default_entry_minutes = 5\n",
        "config: kpi.documentation_action_prefixes = note., flowsheet., journal., careplan.\n",
        "config: privacy.store_rejected_payload = false\n",
        "config: log.level = info\n",
        "config: alerts.data_team_owner = \n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (!strstr(out, lines[i]))
            fail_msg("'%s' missing from:\n%s", lines[i], out);
    /* One line per key, plus the header and the rdkafka lines. */
    assert_int_equal(count_lines(out), 1 + (int)ALL_KEYS_COUNT + 4);
    free(out);
    config_destroy(cfg);
}

/* ---- reference ---- */

static void test_print_reference(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_print_reference(f);
    fclose(f);
    assert_non_null(buf);
    static const char header[] =
        "| key | type | default | reloadable | description |\n|---|---|---|---|---|\n";
    assert_memory_equal(buf, header, sizeof(header) - 1);
    for (size_t i = 0; i < ALL_KEYS_COUNT; i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "\n| `%s` | ", all_keys[i]);
        if (!strstr(buf, needle))
            fail_msg("'%s' missing from the reference", all_keys[i]);
    }
    assert_non_null(strstr(buf, "\n| `kafka.brokers` | string | required | no | "));
    assert_non_null(strstr(buf, "\n| `postgres.conninfo` | string | required | no | "));
    assert_non_null(strstr(buf, "\n| `privacy.pseudonym_key_file` | string | required | no | "));
    assert_non_null(strstr(buf, "\n| `kafka.group_id` | string | `gevinstd` | no | "));
    assert_non_null(strstr(buf, "\n| `goals.file` | string | `` | yes | "));
    assert_non_null(strstr(buf, "\n| `goals.grace_days` | integer | `2` | yes | "));
    assert_non_null(strstr(buf, "\n| `kpi.default_entry_minutes` | number | `5` | no | "));
    assert_non_null(
        strstr(buf, "\n| `privacy.store_rejected_payload` | boolean | `false` | yes | "));
    assert_non_null(strstr(buf, "\n| `log.level` | level | `info` | yes | "));
    assert_non_null(strstr(buf, "\n| `kafka.rdkafka.*` | string | | no | "));
    /* Header, separator, every key, rdkafka.*. */
    assert_int_equal(count_lines(buf), 2 + (int)ALL_KEYS_COUNT + 1);
    free(buf);
}

/* ---- reload diff ---- */

static void test_diff_unreloadable(void **state)
{
    (void)state;
    char out[512];
    config_t *a = parse_ok("");
    config_t *same = parse_ok("");
    assert_int_equal(config_diff_unreloadable(a, same, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* Reloadable keys do not count. */
    config_t *b = parse_ok("[goals]\nfile = /new/goals.json\ngrace_days = 7\n"
                           "[log]\nlevel = debug\n[privacy]\nmin_cell_size = 10\n");
    assert_int_equal(config_diff_unreloadable(a, b, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    config_destroy(b);

    char text[512];
    char *errors;
    int count;
    snprintf(text, sizeof(text), "%s", BASE);
    text[strlen("[kafka]\nbrokers = b")] = '9'; /* b9:9092 */
    b = parse_text(text, &errors, &count);
    assert_non_null(b);
    assert_int_equal(config_diff_unreloadable(a, b, out, sizeof(out)), 1);
    assert_string_equal(out, "kafka.brokers");
    config_destroy(b);

    /* A password change shows as such although the redacted forms agree. */
    config_t *p1 = parse_ok("");
    config_t *p2 = parse_ok("");
    free(p1->pg_conninfo);
    free(p2->pg_conninfo);
    p1->pg_conninfo = strdup("dbname=x password=old");
    p2->pg_conninfo = strdup("dbname=x password=new");
    assert_int_equal(config_diff_unreloadable(p1, p2, out, sizeof(out)), 1);
    assert_string_equal(out, "postgres.conninfo");
    config_destroy(p1);
    config_destroy(p2);

    /* Several, comma separated, in table order; rdkafka.* as one. */
    b = parse_ok("[kafka]\ngroup_id = other\nrdkafka.client.id = c\n[kpi]\ntimezone = UTC\n"
                 "documentation_action_prefixes = note.\n[http]\nlisten =\n");
    assert_int_equal(config_diff_unreloadable(a, b, out, sizeof(out)), 5);
    assert_string_equal(out, "http.listen, kafka.group_id, kpi.documentation_action_prefixes, "
                             "kpi.timezone, kafka.rdkafka.*");
    /* Symmetric. */
    assert_int_equal(config_diff_unreloadable(b, a, out, sizeof(out)), 5);
    /* A short buffer still counts them all and stays terminated. */
    char small[8];
    assert_int_equal(config_diff_unreloadable(a, b, small, sizeof(small)), 5);
    assert_true(strlen(small) < sizeof(small));
    assert_int_equal(config_diff_unreloadable(a, b, NULL, 0), 5);
    config_destroy(b);

    /* A number that differs beyond what %g shows. */
    config_t *d1 = parse_ok("[kpi]\ndefault_entry_minutes = 1439.99\n");
    config_t *d2 = parse_ok("[kpi]\ndefault_entry_minutes = 1439.991\n");
    assert_int_equal(config_diff_unreloadable(d1, d2, out, sizeof(out)), 1);
    assert_string_equal(out, "kpi.default_entry_minutes");
    config_destroy(d1);
    config_destroy(d2);

    /* An rdkafka value change. */
    config_t *r1 = parse_ok("[kafka]\nrdkafka.client.id = c1\n");
    config_t *r2 = parse_ok("[kafka]\nrdkafka.client.id = c2\n");
    assert_int_equal(config_diff_unreloadable(r1, r2, out, sizeof(out)), 1);
    assert_string_equal(out, "kafka.rdkafka.*");
    config_destroy(r1);
    config_destroy(r2);

    config_destroy(a);
    config_destroy(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_daemon_md_example),
        cmocka_unit_test(test_values_set),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_bounds_accepted),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_key_outside_section),
        cmocka_unit_test(test_ini_errors_have_lines),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_bad_int),
        cmocka_unit_test(test_int_out_of_range),
        cmocka_unit_test(test_bad_double),
        cmocka_unit_test(test_bad_bool),
        cmocka_unit_test(test_bad_log_level),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_empty_required),
        cmocka_unit_test(test_no_topics),
        cmocka_unit_test(test_no_prefixes),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_http_listen),
        cmocka_unit_test(test_smtp_needs_from),
        cmocka_unit_test(test_reader_role),
        cmocka_unit_test(test_rdkafka_bad_property),
        cmocka_unit_test(test_rdkafka_managed),
        cmocka_unit_test(test_rdkafka_duplicate),
        cmocka_unit_test(test_rdkafka_stored),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_directory),
        cmocka_unit_test(test_load_too_large),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_load_large_file),
        cmocka_unit_test(destroy_null),
        cmocka_unit_test(test_redact_keyvalue),
        cmocka_unit_test(test_redact_uri),
        cmocka_unit_test(test_redact_libpq_syntax),
        cmocka_unit_test(test_redact_small_buffer),
        cmocka_unit_test(test_log_effective),
        cmocka_unit_test(test_print_reference),
        cmocka_unit_test(test_diff_unreloadable),
        cmocka_unit_test(test_load_partial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
