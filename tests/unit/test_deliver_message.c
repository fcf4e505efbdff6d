/* deliver_message: subjects and texts of every kind and state in words a unit
 * leader reads (names, not ids; Norwegian numbers, months and weeks), the
 * benefit and rule, fallbacks for missing detail, the JSON schema
 * gevinst.alert/1, the CloudEvent, and the RFC 5322 e-mail (headers, RFC 2047
 * subject, quoted-printable UTF-8 body, line lengths, stable Message-ID). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/deliver_message.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBSP "\xc2\xa0"
#define OST "Poliklinikk \xc3\xb8st"
#define DASH "https://dash.example.org/d/gevinst"

/* Detail as src/judge.c writes it for a goal alert. */
static const char *goal_detail =
    "{\"kind\": \"goal.off_track\", \"unit_name\": \"" OST "\", \"direction\": \"decrease\","
    " \"period\": \"month\", \"center\": 0.14, \"lcl\": 0.1, \"ucl\": 0.18,"
    " \"tolerance\": 0.01, \"consecutive\": 3, \"run_length\": 3, \"run_limit\": 8,"
    " \"first_period_start\": \"2025-01-01\", \"last_period_start\": \"2025-03-01\","
    " \"last_period_end\": \"2025-03-31\", \"last_actual\": 0.124, \"last_planned\": 0.08,"
    " \"target_value\": 0.05, \"target_date\": \"2025-12-31\", \"baseline_from\": \"2019-01-01\","
    " \"baseline_to\": \"2019-12-31\", \"benefit\": {\"type\": \"time_saved\","
    " \"avoided_units_cumulative\": 137.2, \"minutes_saved_cumulative\": 6174,"
    " \"nok_saved_cumulative\": 123480, \"through_period_end\": \"2025-03-31\"},"
    " \"owner_id\": \"leder-phr\"}";

static void goal_alert(deliver_alert_t *a, const char *kind, const char *state)
{
    deliver_alert_init(a);
    a->alert_id = 42;
    a->revision = 1;
    a->kind = kind;
    a->state = state;
    a->goal_id = "phr-noshow";
    a->unit_id = "phr-poliklinikk-ost";
    a->unit_name = OST;
    a->kpi = "no_show_rate";
    a->period_start = "2025-03-01";
    a->period_end = "2025-03-31";
    a->actual = 0.124;
    a->expected = 0.08;
    a->detail = goal_detail;
    a->updated_at = "2025-04-02T06:00:00Z";
    a->direction = "decrease";
    a->baseline_from = "2019-01-01";
    a->baseline_to = "2019-12-31";
    a->target_value = 0.05;
    a->target_date = "2025-12-31";
    a->tolerance = 0.01;
    a->consecutive = 3;
}

/* Text wraps where it will: phrases are looked for with line breaks read as spaces. */
static bool contains(const char *haystack, const char *needle)
{
    char *flat = strdup(haystack);
    assert_non_null(flat);
    for (char *p = flat; *p; p++)
        if (*p == '\n' && p > flat && p[-1] != '\r' && p[1] != '\n')
            *p = ' ';
    bool found = strstr(flat, needle) != NULL;
    free(flat);
    return found;
}

static void expect_in(const char *haystack, const char *needle)
{
    if (!contains(haystack, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

static void expect_not_in(const char *haystack, const char *needle)
{
    if (contains(haystack, needle))
        fail_msg("did not expect \"%s\" in:\n%s", needle, haystack);
}

/* Characters (not bytes) of the longest line. */
static size_t longest_line(const char *s)
{
    size_t best = 0, cur = 0;
    for (; *s; s++) {
        if (*s == '\n') {
            best = cur > best ? cur : best;
            cur = 0;
        } else if (((unsigned char)*s & 0xC0) != 0x80) {
            cur++;
        }
    }
    return cur > best ? cur : best;
}

static void check_subject(const char *kind, const char *state, const char *expected)
{
    deliver_alert_t a;
    goal_alert(&a, kind, state);
    char *s = deliver_message_subject(&a);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

static void test_subjects(void **state)
{
    (void)state;
    check_subject("goal.off_track", "firing",
                  "[Gevinst] Etter plan: andel uteblitte timer i " OST " (mars 2025)");
    check_subject("goal.off_track", "resolved",
                  "[Gevinst] Tilbake p\xc3\xa5 plan: andel uteblitte timer i " OST);
    check_subject("goal.achieved", "notice",
                  "[Gevinst] M\xc3\xa5let er n\xc3\xa5\x64\x64: andel uteblitte timer i " OST
                  " (mars 2025)");
    check_subject("kpi.special_cause", "firing",
                  "[Gevinst] Tydelig endring i feil retning: andel uteblitte timer i " OST
                  " (fra mars 2025)");
    check_subject("kpi.improvement", "firing",
                  "[Gevinst] Tydelig forbedring: andel uteblitte timer i " OST " (fra mars 2025)");
    check_subject("goal.off_track", "withdrawn",
                  "[Gevinst] Trukket tilbake: \xc2\xab"
                  "Etter plan: andel uteblitte timer i " OST " (mars 2025)\xc2\xbb");
}

static char *text_of(const char *kind, const char *state)
{
    deliver_alert_t a;
    goal_alert(&a, kind, state);
    char *t = deliver_message_text(&a, DASH);
    assert_non_null(t);
    return t;
}

/* What every goal message holds: goal, unit by name, KPI in words and code,
 * period, dashboard link, alert id and revision; no unit id; short lines. */
static void check_common(const char *t)
{
    expect_in(t, "\xc2\xabphr-noshow\xc2\xbb");
    expect_in(t, OST);
    expect_in(t, "andel uteblitte timer (no_show_rate)");
    expect_in(t, DASH);
    expect_in(t, "varsel 42, revisjon 1");
    expect_not_in(t, "phr-poliklinikk-ost");
    expect_not_in(t, "\r");
    assert_true(longest_line(t) <= 76);
    assert_true(strncmp(t, "Hei,\n\n", 6) == 0);
    assert_int_equal(t[strlen(t) - 1], '\n');
    assert_int_not_equal(t[strlen(t) - 2], '\n');
}

static void test_off_track_firing(void **state)
{
    (void)state;
    char *t = text_of("goal.off_track", "firing");
    check_common(t);
    expect_in(t, "ligger etter planen.");
    /* What moved, by how much, against what, since when. */
    expect_in(t, "I mars 2025 var andel uteblitte timer 12,4" NBSP "%.");
    expect_in(t, "Planen for perioden var 8,0" NBSP "%");
    expect_in(t, "4,4" NBSP "prosentpoeng");
    expect_in(t, "3 m\xc3\xa5neder p\xc3\xa5 rad");
    expect_in(t, "fra og med januar 2025");
    /* The goal, what it is worth, the rule. */
    expect_in(t, "skal ned fra 14,0" NBSP "% (utgangsniv\xc3\xa5\x65t, m\xc3\xa5lt i 2019) til "
                 "5,0" NBSP "% innen 31." NBSP "desember 2025");
    expect_in(t, "123" NBSP "480" NBSP "kr, 103 arbeidstimer og 137 uteblitte timer unng");
    expect_in(t, "(fra 1." NBSP "januar 2020)");
    expect_in(t, "mer enn 1,0" NBSP "prosentpoeng d\xc3\xa5rligere enn planen 3 m\xc3\xa5neder");
    free(t);
}

static void test_distinct_wording(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *state, *phrase;
    } cases[] = {
        {"goal.off_track", "firing", "ligger etter planen."},
        {"goal.off_track", "resolved", "er tilbake p\xc3\xa5 plan"},
        {"goal.off_track", "withdrawn", "er trukket tilbake."},
        {"goal.achieved", "notice", "Gratulerer!"},
        {"kpi.special_cause", "firing", "har endret seg i feil retning"},
        {"kpi.special_cause", "resolved", "endringen i feil retning som startet i mars 2025, er"},
        {"kpi.improvement", "firing", "har blitt bedre"},
        {"kpi.improvement", "resolved", "forbedringen som startet i mars 2025, er over"},
    };
    char *texts[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        texts[i] = text_of(cases[i].kind, cases[i].state);
        check_common(texts[i]);
        expect_in(texts[i], cases[i].phrase);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(texts[i], texts[j]);
    }
    /* A withdrawal explains itself and says no action is needed. */
    expect_in(texts[2], "Nyere data har endret bildet");
    expect_in(texts[2], "Du trenger ikke gj\xc3\xb8re noe.");
    expect_in(texts[2], "Det tilbakekalte varselet var: \xc2\xab"
                        "Etter plan");
    expect_not_in(texts[2], "Gevinst realisert");
    /* SPC alerts name the limits and the run rule. */
    expect_in(texts[4], "kontrollgrensene (under 10,0" NBSP "% eller over 18,0" NBSP "%)");
    expect_in(texts[4], "mer enn 8 m\xc3\xa5neder p\xc3\xa5 rad");
    expect_in(texts[4], "mot utgangsniv\xc3\xa5\x65t 8,0" NBSP "%");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        free(texts[i]);
}

static void test_resolved_uses_detail(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.off_track", "resolved");
    a.detail = "{\"resolved_by_period_start\": \"2025-05-01\", \"resolved_by_period_end\":"
               " \"2025-05-31\", \"resolved_by_actual\": 0.071, \"first_period_start\":"
               " \"2025-01-01\"}";
    char *t = deliver_message_text(&a, DASH);
    expect_in(t, "startet i januar 2025, er over.");
    expect_in(t, "I mai 2025 var andel uteblitte timer 7,1" NBSP "%, og perioden l\xc3\xa5 ikke");
    free(t);
}

/* Missing detail keys, a unit without a name, a goal gone from the file. */
static void test_fallbacks(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.off_track", "firing");
    a.detail = NULL;
    a.unit_name = NULL;
    char *t = deliver_message_text(&a, NULL);
    expect_in(t, "phr-poliklinikk-ost"); /* no name: the id is all there is */
    expect_in(t, "ikke beregnet for dette m\xc3\xa5let");
    expect_in(t, "gevinstoversikten (dashbordet)");
    expect_in(t, "fra og med januar 2025"); /* worked out from consecutive */
    free(t);

    /* The goal left the file: direction, target and baseline come from the detail. */
    goal_alert(&a, "goal.off_track", "firing");
    a.unit_name = NULL;
    a.direction = NULL;
    a.baseline_from = a.baseline_to = a.target_date = NULL;
    a.target_value = NAN;
    a.tolerance = NAN;
    a.consecutive = 0;
    t = deliver_message_text(&a, DASH);
    check_common(t);
    expect_in(t, "skal ned fra 14,0");
    free(t);

    /* Nothing but the essentials. */
    deliver_alert_init(&a);
    a.alert_id = 7;
    a.revision = 3;
    a.kind = "goal.off_track";
    a.state = "firing";
    a.unit_id = "u";
    a.period_start = "2025-03-01";
    a.period_end = "2025-03-31";
    a.detail = "not json";
    t = deliver_message_text(&a, DASH);
    expect_in(t, "varsel 7, revisjon 3");
    free(t);
    json_t *o = deliver_message_object(&a, "");
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "actual")));
    assert_true(json_is_null(json_object_get(o, "goal_id")));
    assert_true(json_is_null(json_object_get(o, "dashboard_url")));
    assert_true(json_is_object(json_object_get(o, "detail")));
    assert_int_equal(json_object_size(json_object_get(o, "detail")), 0);
    json_decref(o);
}

static void test_weeks_days_and_numbers(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.achieved", "notice");
    a.kpi = "documentation_minutes";
    a.period_start = "2025-03-17";
    a.period_end = "2025-03-23";
    a.actual = 41.26;
    a.target_value = 45;
    a.detail = "{\"benefit\": {\"minutes_saved_cumulative\": -12345, \"nok_saved_cumulative\":"
               " -10288}}";
    char *s = deliver_message_subject(&a);
    expect_in(s, "(uke 12 i 2025 (17.\xe2\x80\x93"
                 "23. mars))");
    free(s);
    char *t = deliver_message_text(&a, DASH);
    expect_in(t, "Gratulerer! Tid brukt p\xc3\xa5 dokumentasjon per bruker og dag "
                 "(documentation_minutes)");
    expect_in(t, "41,3" NBSP "minutter");
    expect_in(t, "tre uker p\xc3\xa5 rad");
    expect_in(t, "skal ned fra utgangsniv\xc3\xa5\x65t (m\xc3\xa5lt i 2019) til 45,0" NBSP
                 "minutter innen");
    expect_in(t, "\xe2\x88\x92"
                 "10" NBSP "288" NBSP "kr og \xe2\x88\x92"
                 "206 arbeidstimer");
    expect_in(t, "Et minustegn betyr");
    free(t);

    /* A week across two months. */
    a.period_start = "2025-03-31";
    a.period_end = "2025-04-06";
    s = deliver_message_subject(&a);
    expect_in(s, "(uke 14 i 2025 (31. mars\xe2\x80\x93"
                 "6. april))");
    free(s);
    /* ISO week 1 of 2026 starts in 2025. */
    a.period_start = "2025-12-29";
    a.period_end = "2026-01-04";
    s = deliver_message_subject(&a);
    expect_in(s, "uke 1 i 2026");
    free(s);
}

static void test_data_alerts(void **state)
{
    (void)state;
    deliver_alert_t a;
    deliver_alert_init(&a);
    a.alert_id = 9;
    a.revision = 1;
    a.kind = "data.silence";
    a.state = "firing";
    a.unit_id = "phr-poliklinikk-ost";
    a.period_start = "2025-03-02";
    a.period_end = "2025-03-05";
    a.detail = "{\"role\": \"appointments\", \"last_event\": \"2025-03-02\", \"silence_days\": 3,"
               " \"window_days\": 28, \"unit_name\": \"" OST "\"}";
    char *s = deliver_message_subject(&a);
    assert_string_equal(s, "[Gevinst] Ingen data fra timeboken (appointments) for " OST);
    free(s);
    char *t = deliver_message_text(&a, DASH);
    expect_in(t, "siden 2." NBSP "mars 2025");
    expect_in(t, "siste 28 dagene, ikke har hatt noen p\xc3\xa5 3 dager");
    expect_not_in(t, "Gevinst realisert");
    expect_not_in(t, "m\xc3\xa5l \xc2\xab");
    free(t);
    a.state = "resolved";
    t = deliver_message_text(&a, DASH);
    expect_in(t, "Det kommer igjen hendelser");
    free(t);

    deliver_alert_init(&a);
    a.alert_id = 10;
    a.revision = 1;
    a.kind = "data.rejections";
    a.state = "firing";
    a.unit_id = "ehr.journal";
    a.period_start = a.period_end = "2025-03-04";
    a.actual = 0.0204;
    a.expected = 0.01;
    a.detail = "{\"topic\": \"ehr.journal\", \"rejected\": 212, \"total\": 10400, \"share\":"
               " 0.0204, \"threshold\": 0.01}";
    s = deliver_message_subject(&a);
    assert_string_equal(s, "[Gevinst] Mange avviste hendelser p\xc3\xa5 ehr.journal (4." NBSP
                           "mars 2025)");
    free(s);
    t = deliver_message_text(&a, DASH);
    expect_in(t, "2,0" NBSP "% av hendelsene p\xc3\xa5 ehr.journal den 4." NBSP "mars 2025 ble");
    expect_in(t, "(212 av 10" NBSP "400)");
    expect_in(t, "mer enn 1,0" NBSP "%");
    free(t);
}

static const char *schema_keys[] = {
    "schema",    "alert_id", "revision", "kind",          "state",      "goal_id", "unit_id",
    "unit_name", "kpi",      "kpi_name", "period_start",  "period_end", "actual",  "expected",
    "detail",    "subject",  "message",  "dashboard_url", "updated_at",
};

static void test_json_schema(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.off_track", "firing");
    json_t *o = deliver_message_object(&a, DASH);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), sizeof(schema_keys) / sizeof(schema_keys[0]));
    for (size_t i = 0; i < sizeof(schema_keys) / sizeof(schema_keys[0]); i++)
        if (!json_object_get(o, schema_keys[i]))
            fail_msg("missing %s", schema_keys[i]);
    /* Round trip through text: valid JSON, UTF-8 kept. */
    char *text = json_dumps(o, JSON_COMPACT);
    json_error_t e;
    json_t *back = json_loads(text, 0, &e);
    assert_non_null(back);
    assert_true(json_equal(o, back));
    json_decref(back);
    free(text);
    assert_string_equal(json_string_value(json_object_get(o, "schema")), "gevinst.alert/1");
    assert_int_equal(json_integer_value(json_object_get(o, "alert_id")), 42);
    assert_int_equal(json_integer_value(json_object_get(o, "revision")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "goal.off_track");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(o, "goal_id")), "phr-noshow");
    assert_string_equal(json_string_value(json_object_get(o, "unit_id")), "phr-poliklinikk-ost");
    assert_string_equal(json_string_value(json_object_get(o, "unit_name")), OST);
    assert_string_equal(json_string_value(json_object_get(o, "kpi")), "no_show_rate");
    assert_string_equal(json_string_value(json_object_get(o, "kpi_name")), "andel uteblitte timer");
    assert_string_equal(json_string_value(json_object_get(o, "period_start")), "2025-03-01");
    assert_string_equal(json_string_value(json_object_get(o, "period_end")), "2025-03-31");
    assert_true(fabs(json_real_value(json_object_get(o, "actual")) - 0.124) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(o, "expected")) - 0.08) < 1e-12);
    assert_true(json_is_object(json_object_get(o, "detail")));
    assert_true(json_is_object(json_object_get(json_object_get(o, "detail"), "benefit")));
    assert_string_equal(json_string_value(json_object_get(o, "dashboard_url")), DASH);
    assert_string_equal(json_string_value(json_object_get(o, "updated_at")),
                        "2025-04-02T06:00:00Z");
    char *subject = deliver_message_subject(&a), *msg = deliver_message_text(&a, DASH);
    assert_string_equal(json_string_value(json_object_get(o, "subject")), subject);
    assert_string_equal(json_string_value(json_object_get(o, "message")), msg);
    free(subject);
    free(msg);
    json_decref(o);
}

static void test_cloudevent(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.off_track", "resolved");
    a.revision = 2;
    char *s = deliver_message_cloudevent(&a, DASH, 1743580800); /* 2025-04-02T08:00:00Z */
    assert_non_null(s);
    json_error_t e;
    json_t *ev = json_loads(s, 0, &e);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "gevinst.alert");
    assert_string_equal(json_string_value(json_object_get(ev, "source")), "gevinstd");
    assert_string_equal(json_string_value(json_object_get(ev, "id")), "42-2");
    /* time: when the alert changed, so a resend is the same event. */
    assert_string_equal(json_string_value(json_object_get(ev, "time")), "2025-04-02T06:00:00Z");
    assert_string_equal(json_string_value(json_object_get(ev, "subject")), "phr-noshow");
    assert_string_equal(json_string_value(json_object_get(ev, "datacontenttype")),
                        "application/json");
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "state")), "resolved");
    assert_int_equal(json_integer_value(json_object_get(data, "revision")), 2);
    json_decref(ev);
    free(s);

    /* Data alerts: the subject is the unit. */
    deliver_alert_init(&a);
    a.alert_id = 5;
    a.revision = 1;
    a.kind = "data.silence";
    a.state = "firing";
    a.unit_id = "phr-poliklinikk-ost";
    a.period_start = "2025-03-02";
    a.period_end = "2025-03-05";
    s = deliver_message_cloudevent(&a, "", 1743580800);
    ev = json_loads(s, 0, &e);
    assert_string_equal(json_string_value(json_object_get(ev, "subject")), "phr-poliklinikk-ost");
    /* No updated_at: the clock. */
    assert_string_equal(json_string_value(json_object_get(ev, "time")), "2025-04-02T08:00:00Z");
    json_decref(ev);
    free(s);
}

static int b64val(char c)
{
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(alpha, c);
    return p && c ? (int)(p - alpha) : -1;
}

/* Decodes a header of RFC 2047 B words (or plain ASCII) back to UTF-8. */
static char *header_decode(const char *h)
{
    char *out = calloc(1, strlen(h) + 1), *o = out;
    const char *p = h;
    while (*p) {
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            p += 10;
            unsigned v = 0;
            int bits = 0;
            for (; *p && *p != '?'; p++) {
                if (*p == '=')
                    continue;
                int x = b64val(*p);
                assert_true(x >= 0);
                v = (v << 6) | (unsigned)x;
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    *o++ = (char)((v >> bits) & 0xFF);
                }
            }
            assert_true(p[0] == '?' && p[1] == '=');
            p += 2;
            /* Folding between encoded words is not part of the text. */
            if (strncmp(p, "\r\n ", 3) == 0)
                p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static void test_header_encode(void **state)
{
    (void)state;
    char *h = deliver_header_encode("plain ASCII subject");
    assert_string_equal(h, "plain ASCII subject");
    free(h);
    const char *long_utf8 = "[Gevinst] Tydelig endring i feil retning: andel uteblitte timer i "
                            "Poliklinikk \xc3\xb8st og \xc3\xa6\xc3\xb8\xc3\xa5\xc3\x86\xc3\x98"
                            "\xc3\x85 \xe2\x80\x93 \xc2\xab\xc2\xbb (fra mars 2025)";
    h = deliver_header_encode(long_utf8);
    char *back = header_decode(h);
    assert_string_equal(back, long_utf8);
    free(back);
    /* Every encoded word is at most 75 characters and decodes to whole UTF-8 characters. */
    char *copy = strdup(h);
    for (char *line = strtok(copy, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        const char *word = line[0] == ' ' ? line + 1 : line;
        assert_true(strlen(word) <= 75);
        char *one = header_decode(word);
        assert_true(valid_utf8(one));
        free(one);
    }
    free(copy);
    free(h);
}

static char *qp_decode(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=') {
            unsigned v;
            assert_int_equal(sscanf(s + 1, "%2X", &v), 1);
            *o++ = (char)v;
            s += 3;
        } else if (s[0] == '\r' && s[1] == '\n') {
            *o++ = '\n';
            s += 2;
        } else {
            assert_int_not_equal(*s, '\n'); /* no bare LF */
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static void check_crlf_lines(const char *s, size_t max)
{
    const char *line = s;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            assert_true(p > s && p[-1] == '\r');
            assert_true((size_t)(p - 1 - line) <= max);
            line = p + 1;
        }
    }
}

static void test_qp_encode(void **state)
{
    (void)state;
    char *q = deliver_qp_encode("a=b \nPoliklinikk \xc3\xb8st\ntrailing space \n\n");
    assert_string_equal(q, "a=3Db=20\r\nPoliklinikk =C3=B8st\r\ntrailing space=20\r\n\r\n");
    free(q);
    /* A long line of two-byte characters: soft breaks, never inside =XX. */
    char long_line[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(long_line, "\xc3\xb8");
    strcat(long_line, "\n");
    q = deliver_qp_encode(long_line);
    check_crlf_lines(q, 76);
    for (const char *p = strstr(q, "=\r\n"); p; p = strstr(p + 1, "=\r\n"))
        assert_true(p[-1] != '=' && p[-2] != '=');
    char *back = qp_decode(q);
    assert_string_equal(back, long_line);
    free(back);
    free(q);
}

static void test_email(void **state)
{
    (void)state;
    deliver_alert_t a;
    goal_alert(&a, "goal.off_track", "firing");
    char *m = deliver_message_email(&a, DASH, "Gevinst <gevinst@example.org>",
                                    "kari.nordmann@example.org", 1743580800);
    assert_non_null(m);
    const char *body = strstr(m, "\r\n\r\n");
    assert_non_null(body);
    size_t hlen = (size_t)(body - m) + 2;
    char *headers = strndup(m, hlen);
    check_crlf_lines(headers, 78);
    assert_true(strncmp(headers, "Date: Wed, 02 Apr 2025 08:00:00 +0000\r\n", 39) == 0);
    expect_in(headers, "\r\nFrom: Gevinst <gevinst@example.org>\r\n");
    expect_in(headers, "\r\nTo: <kari.nordmann@example.org>\r\n");
    expect_in(headers, "\r\nMIME-Version: 1.0\r\n");
    expect_in(headers, "\r\nContent-Type: text/plain; charset=UTF-8\r\n");
    expect_in(headers, "\r\nContent-Transfer-Encoding: quoted-printable\r\n");
    expect_in(headers, "\r\nAuto-Submitted: auto-generated\r\n");
    expect_in(headers, "\r\nX-Gevinst-Alert-Id: 42\r\n");
    expect_in(headers, "\r\nX-Gevinst-Revision: 1\r\n");
    expect_not_in(headers, "References:");
    const char *mid = strstr(headers, "\r\nMessage-ID: <gevinst.alert.42.1.");
    assert_non_null(mid);
    char msgid[128];
    assert_int_equal(sscanf(mid + 2, "Message-ID: %127s", msgid), 1);
    assert_non_null(strstr(msgid, "@example.org>"));
    /* The subject decodes to the subject; nothing but ASCII in the headers. */
    const char *subj = strstr(headers, "\r\nSubject: ");
    assert_non_null(subj);
    subj += 11;
    const char *subj_end = strstr(subj, "\r\n");
    while (subj_end[2] == ' ')
        subj_end = strstr(subj_end + 2, "\r\n");
    char *enc = strndup(subj, (size_t)(subj_end - subj));
    char *dec = header_decode(enc), *expected = deliver_message_subject(&a);
    assert_string_equal(dec, expected);
    free(enc);
    free(dec);
    free(expected);
    for (const char *p = headers; *p; p++)
        assert_true((unsigned char)*p < 128);
    /* The body: quoted-printable of the text. */
    check_crlf_lines(body + 4, 76);
    for (const char *p = body + 4; *p; p++)
        assert_true((unsigned char)*p < 128);
    char *text = qp_decode(body + 4), *want = deliver_message_text(&a, DASH);
    assert_string_equal(text, want);
    free(text);
    free(want);

    /* Stable per alert revision and recipient, different per recipient. */
    char *again = deliver_message_email(&a, DASH, "Gevinst <gevinst@example.org>",
                                        "kari.nordmann@example.org", 1743580900);
    expect_in(again, msgid);
    free(again);
    char *other =
        deliver_message_email(&a, DASH, "gevinst@example.org", "ola@example.org", 1743580800);
    expect_not_in(other, msgid);
    expect_in(other, "\r\nFrom: gevinst@example.org\r\n");
    free(other);
    /* A display name that is not ASCII is encoded. */
    other = deliver_message_email(&a, DASH, "Gevinst \xc3\x85s kommune <gevinst@aas.kommune.no>",
                                  "ola@example.org", 1743580800);
    expect_in(other, "\r\nFrom: =?UTF-8?B?R2V2aW5zdCDDhXMga29tbXVuZQ==?= "
                     "<gevinst@aas.kommune.no>\r\n");
    expect_in(other, "@aas.kommune.no>\r\n");
    free(other);

    /* Later revisions thread under the first. */
    a.revision = 3;
    a.state = "resolved";
    char *r3 = deliver_message_email(&a, DASH, "gevinst@example.org", "kari.nordmann@example.org",
                                     1743580800);
    char first[128];
    snprintf(first, sizeof(first), "%s", msgid);
    char *dot = strstr(first, ".42.1.");
    assert_non_null(dot);
    expect_in(r3, "\r\nMessage-ID: <gevinst.alert.42.3.");
    char refs[160];
    snprintf(refs, sizeof(refs), "\r\nReferences: %s\r\n", first);
    expect_in(r3, refs);
    snprintf(refs, sizeof(refs), "\r\nIn-Reply-To: %s\r\n", first);
    expect_in(r3, refs);
    free(r3);
    free(headers);
    free(m);
}

static void test_address_only(void **state)
{
    (void)state;
    char out[128];
    deliver_address_only("Gevinst <gevinst@example.org>", out, sizeof(out));
    assert_string_equal(out, "gevinst@example.org");
    deliver_address_only("  gevinst@example.org ", out, sizeof(out));
    assert_string_equal(out, "gevinst@example.org");
    deliver_address_only("", out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_kpi_names(void **state)
{
    (void)state;
    static const char *codes[] = {
        "no_show_rate",       "no_show_rate_self_booked",   "no_show_rate_staff_booked",
        "self_booking_share", "double_documentation_share", "double_documentation_minutes",
        "ehr_active_minutes", "documentation_minutes"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *n = deliver_kpi_name(codes[i]);
        assert_non_null(n);
        assert_null(strchr(n, '_'));
    }
    assert_null(deliver_kpi_name("nope"));
    assert_null(deliver_kpi_name(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subjects),         cmocka_unit_test(test_off_track_firing),
        cmocka_unit_test(test_distinct_wording), cmocka_unit_test(test_resolved_uses_detail),
        cmocka_unit_test(test_fallbacks),        cmocka_unit_test(test_weeks_days_and_numbers),
        cmocka_unit_test(test_data_alerts),      cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_cloudevent),       cmocka_unit_test(test_header_encode),
        cmocka_unit_test(test_qp_encode),        cmocka_unit_test(test_email),
        cmocka_unit_test(test_address_only),     cmocka_unit_test(test_kpi_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
