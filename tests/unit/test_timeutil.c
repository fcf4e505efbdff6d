/* Tests for timeutil: RFC 3339 parsing and local days in IANA zones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR_US (3600 * TIMEUTIL_US_PER_SEC)

static int64_t ts(const char *s)
{
    int64_t us = 0;
    if (!timeutil_parse_rfc3339(s, strlen(s), &us))
        fail_msg("not parsed: %s", s);
    return us;
}

static int32_t day(int y, int m, int d)
{
    return timeutil_days_from_civil(y, m, d);
}

static timeutil_tz_t *zone(const char *name)
{
    char err[256];
    timeutil_tz_t *tz = timeutil_tz_new(name, err, sizeof(err));
    if (!tz)
        fail_msg("%s", err);
    return tz;
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *utc; /* NULL: refused */
    } cases[] = {
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"},
        {"2025-02-03T09:12:44+01:00", "2025-02-03T08:12:44.000000Z"},
        {"2025-02-10T14:01:02.250Z", "2025-02-10T14:01:02.250000Z"},
        {"2025-06-01T00:00:00+05:30", "2025-05-31T18:30:00.000000Z"},
        {"2025-06-01T00:00:00-00:00", "2025-06-01T00:00:00.000000Z"},
        {"2025-06-01T00:00:00+23:59", "2025-05-31T00:01:00.000000Z"},
        {"2025-06-01T00:00:00-23:59", "2025-06-01T23:59:00.000000Z"},
        {"2025-06-01t00:00:00z", "2025-06-01T00:00:00.000000Z"},
        {"2025-06-01T00:00:00.000000001Z", "2025-06-01T00:00:00.000000Z"},
        {"2025-06-01T00:00:00.9999999999999Z", "2025-06-01T00:00:00.999999Z"},
        {"0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000Z"},
        {"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
        {"1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"},
        {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000Z"},
        {"2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000Z"},
        /* Leap seconds: only 23:59:60 UTC at a month's end, read as :59.999999. */
        {"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"},
        {"2015-06-30T23:59:60.5Z", "2015-06-30T23:59:59.999999Z"},
        {"2017-01-01T00:59:60+01:00", "2016-12-31T23:59:59.999999Z"},
        {"2016-12-31T12:00:60Z", NULL},
        {"2016-12-30T23:59:60Z", NULL},
        {"2017-01-01T00:59:60Z", NULL},
        {"2023-02-29T00:00:00Z", NULL},
        {"2100-02-29T00:00:00Z", NULL},
        {"2024-02-30T00:00:00Z", NULL},
        {"2024-06-31T00:00:00Z", NULL},
        {"2024-00-10T00:00:00Z", NULL},
        {"2024-13-10T00:00:00Z", NULL},
        {"2024-01-00T00:00:00Z", NULL},
        {"2024-01-32T00:00:00Z", NULL},
        {"2024-01-01T24:00:00Z", NULL},
        {"2024-01-01T23:60:00Z", NULL},
        {"2024-01-01T23:00:61Z", NULL},
        {"2024-01-01T00:00:00+24:00", NULL},
        {"2024-01-01T00:00:00-24:00", NULL},
        {"2024-01-01T00:00:00+99:00", NULL},
        {"2024-01-01T00:00:00+01:60", NULL},
        {"2024-01-01T00:00:00+0100", NULL},
        {"2024-01-01T00:00:00+01", NULL},
        {"2024-01-01T00:00:00+1:00", NULL},
        {"2024-01-01T00:00:00", NULL},
        {"2024-01-01T00:00:00.Z", NULL},
        {"2024-01-01T00:00:00.", NULL},
        {"2024-01-01T00:00:00,5Z", NULL},
        {"2024-01-01 00:00:00Z", NULL},
        {"2024-01-01_00:00:00Z", NULL},
        {"2024-01-01T00:00Z", NULL},
        {"2024-01-01", NULL},
        {"20240101T000000Z", NULL},
        {"2024-1-01T00:00:00Z", NULL},
        {"-2024-01-01T00:00:00Z", NULL},
        {"12024-01-01T00:00:00Z", NULL},
        {"2024-01-01T00:00:00ZZ", NULL},
        {"2024-01-01T00:00:00Z ", NULL},
        {"2024-01-01T00:00:00UTC", NULL},
        {"2024-01-01T00:00:00GMT+1", NULL},
        {"２０２４-01-01T00:00:00Z", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t us = 42;
        bool ok = timeutil_parse_rfc3339(cases[i].in, strlen(cases[i].in), &us);
        if (!cases[i].utc) {
            if (ok)
                fail_msg("accepted: %s", cases[i].in);
            assert_true(us == 42);
            continue;
        }
        if (!ok)
            fail_msg("refused: %s", cases[i].in);
        char out[32];
        assert_true(timeutil_format_utc(us, out));
        assert_string_equal(out, cases[i].utc);
    }

    /* The length is the string: a NUL or anything after it is refused. */
    const char s[] = "2024-01-01T00:00:00Z\0";
    int64_t us;
    assert_true(timeutil_parse_rfc3339(s, 20, &us));
    assert_false(timeutil_parse_rfc3339(s, 21, &us));
    assert_false(timeutil_parse_rfc3339(s, 19, &us));
    assert_false(timeutil_parse_rfc3339(NULL, 0, &us));
    /* Not NUL-terminated: only len bytes are read. */
    char nt[20];
    memcpy(nt, "2024-01-01T00:00:00Z", 20);
    assert_true(timeutil_parse_rfc3339(nt, 20, &us));
    assert_true(us == (int64_t)day(2024, 1, 1) * TIMEUTIL_US_PER_DAY);
}

static void test_civil(void **state)
{
    (void)state;
    assert_int_equal(day(1970, 1, 1), 0);
    assert_int_equal(day(1969, 12, 31), -1);
    assert_int_equal(day(2000, 3, 1), 11017);
    assert_int_equal(timeutil_iso_weekday(0), 4);                /* Thursday */
    assert_int_equal(timeutil_iso_weekday(-1), 3);               /* Wednesday */
    assert_int_equal(timeutil_iso_weekday(day(2025, 3, 30)), 7); /* Sunday */
    assert_int_equal(timeutil_iso_weekday(day(2025, 3, 31)), 1); /* Monday */
    for (int32_t d = day(-1, 1, 1); d <= day(10000, 1, 1); d += 13) {
        int y, m, dd;
        timeutil_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(day(y, m, dd), d);
    }
    char out[32];
    assert_true(timeutil_format_utc(-1, out));
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    assert_false(timeutil_format_utc(INT64_MAX, out));
    assert_string_equal(out, "");
}

static void test_oslo_dst_days(void **state)
{
    (void)state;
    timeutil_tz_t *tz = zone("Europe/Oslo");
    assert_string_equal(timeutil_tz_name(tz), "Europe/Oslo");

    /* Spring forward: 2025-03-30 is 23 hours, autumn 2025-10-26 is 25. */
    int32_t spring = day(2025, 3, 30), autumn = day(2025, 10, 26), plain = day(2025, 6, 1);
    assert_true(timeutil_local_day_start(tz, spring + 1) - timeutil_local_day_start(tz, spring) ==
                23 * HOUR_US);
    assert_true(timeutil_local_day_start(tz, autumn + 1) - timeutil_local_day_start(tz, autumn) ==
                25 * HOUR_US);
    assert_true(timeutil_local_day_start(tz, plain + 1) - timeutil_local_day_start(tz, plain) ==
                24 * HOUR_US);
    assert_true(timeutil_local_day_start(tz, spring) == ts("2025-03-29T23:00:00Z"));
    assert_true(timeutil_local_day_start(tz, spring + 1) == ts("2025-03-30T22:00:00Z"));
    assert_true(timeutil_local_day_start(tz, autumn) == ts("2025-10-25T22:00:00Z"));
    assert_true(timeutil_local_day_start(tz, autumn + 1) == ts("2025-10-26T23:00:00Z"));

    /* The changes themselves, at 01:00 UTC. */
    assert_int_equal(timeutil_utc_offset(tz, ts("2025-03-30T00:59:59.999999Z")), 3600);
    assert_int_equal(timeutil_utc_offset(tz, ts("2025-03-30T01:00:00Z")), 7200);
    assert_int_equal(timeutil_utc_offset(tz, ts("2025-10-26T00:59:59.999999Z")), 7200);
    assert_int_equal(timeutil_utc_offset(tz, ts("2025-10-26T01:00:00Z")), 3600);

    /* Around local midnight, winter (+01) and summer (+02). */
    assert_int_equal(timeutil_local_day(tz, ts("2025-01-14T22:59:59.999999Z")), day(2025, 1, 14));
    assert_int_equal(timeutil_local_day(tz, ts("2025-01-14T23:00:00Z")), day(2025, 1, 15));
    assert_int_equal(timeutil_local_day(tz, ts("2025-07-01T21:59:59.999999Z")), day(2025, 7, 1));
    assert_int_equal(timeutil_local_day(tz, ts("2025-07-01T22:00:00Z")), day(2025, 7, 2));
    /* The same instants written with local offsets. */
    assert_int_equal(timeutil_local_day(tz, ts("2025-07-01T23:59:59+02:00")), day(2025, 7, 1));
    assert_int_equal(timeutil_local_day(tz, ts("2025-07-02T00:00:00+02:00")), day(2025, 7, 2));
    /* Both 02:30s of the autumn night fall on the same day. */
    assert_int_equal(timeutil_local_day(tz, ts("2025-10-26T02:30:00+02:00")), autumn);
    assert_int_equal(timeutil_local_day(tz, ts("2025-10-26T02:30:00+01:00")), autumn);

    /* Far from the table: 1950 (no DST then), 2037/2038 (32-bit edge), 2100
     * (precomputed from the rule) and 2300 (rule evaluated on the fly). */
    assert_int_equal(timeutil_utc_offset(tz, ts("1950-07-01T12:00:00Z")), 3600);
    assert_int_equal(timeutil_utc_offset(tz, ts("2038-07-01T12:00:00Z")), 7200);
    assert_int_equal(timeutil_utc_offset(tz, ts("2100-01-01T12:00:00Z")), 3600);
    assert_int_equal(timeutil_utc_offset(tz, ts("2100-07-01T12:00:00Z")), 7200);
    assert_int_equal(timeutil_utc_offset(tz, ts("2300-07-01T12:00:00Z")), 7200);
    assert_int_equal(timeutil_utc_offset(tz, ts("2300-12-01T12:00:00Z")), 3600);
    assert_int_equal(timeutil_utc_offset(tz, ts("9999-07-01T12:00:00Z")), 7200);
    /* 2300-03-25 is that year's last Sunday of March: 23 hours. */
    int32_t far = day(2300, 3, 25);
    assert_int_equal(timeutil_iso_weekday(far), 7);
    assert_true(timeutil_local_day_start(tz, far + 1) - timeutil_local_day_start(tz, far) ==
                23 * HOUR_US);
    timeutil_tz_destroy(tz);
}

static void test_utc_and_fixed_zones(void **state)
{
    (void)state;
    timeutil_tz_t *utc = zone("UTC");
    for (int64_t us = -3 * TIMEUTIL_US_PER_DAY; us < 3 * TIMEUTIL_US_PER_DAY;
         us += 997 * HOUR_US / 1000) {
        int64_t d = us >= 0 ? us / TIMEUTIL_US_PER_DAY : -((-us - 1) / TIMEUTIL_US_PER_DAY) - 1;
        assert_int_equal(timeutil_local_day(utc, us), d);
    }
    assert_int_equal(timeutil_local_day(utc, -1), -1);
    assert_true(timeutil_local_day_start(utc, day(2025, 3, 30)) == ts("2025-03-30T00:00:00Z"));
    timeutil_tz_destroy(utc);

    /* India: +05:30 all year, no DST. */
    timeutil_tz_t *kol = zone("Asia/Kolkata");
    assert_int_equal(timeutil_local_day(kol, ts("2025-06-01T18:29:59.999999Z")), day(2025, 6, 1));
    assert_int_equal(timeutil_local_day(kol, ts("2025-06-01T18:30:00Z")), day(2025, 6, 2));
    for (int m = 1; m <= 12; m++) {
        int32_t d = day(2025, m, 15);
        assert_true(timeutil_local_day_start(kol, d + 1) - timeutil_local_day_start(kol, d) ==
                    24 * HOUR_US);
        assert_int_equal(timeutil_utc_offset(kol, (int64_t)d * TIMEUTIL_US_PER_DAY), 19800);
    }
    timeutil_tz_destroy(kol);
}

/* Where a DST change skips midnight itself, the day starts when the gap ends. */
static void test_midnight_gap(void **state)
{
    (void)state;
    char err[256];
    /* America/Santiago moved clocks from 00:00 to 01:00 on 2022-09-11. */
    timeutil_tz_t *tz = timeutil_tz_new("America/Santiago", err, sizeof(err));
    if (!tz)
        skip();
    int32_t d = day(2022, 9, 11);
    assert_true(timeutil_local_day_start(tz, d) == ts("2022-09-11T04:00:00Z"));
    assert_int_equal(timeutil_local_day(tz, ts("2022-09-11T03:59:59Z")), d - 1);
    assert_int_equal(timeutil_local_day(tz, ts("2022-09-11T04:00:00Z")), d);
    timeutil_tz_destroy(tz);
}

/* Against glibc's localtime_r over many instants in several zones. */
static void test_against_libc(void **state)
{
    (void)state;
    static const char *const zones[] = {"Europe/Oslo",      "America/New_York", "Australia/Sydney",
                                        "Europe/Dublin",    "Asia/Tehran",      "Pacific/Chatham",
                                        "America/St_Johns", "Africa/Casablanca"};
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        char err[256];
        timeutil_tz_t *tz = timeutil_tz_new(zones[z], err, sizeof(err));
        if (!tz)
            continue; /* a trimmed tzdata; Oslo alone is required (test above) */
        setenv("TZ", zones[z], 1);
        tzset();
        int64_t t = -2000000000LL;
        for (int i = 0; i < 20000; i++, t += 314159 + i) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            int64_t us = t * TIMEUTIL_US_PER_SEC;
            if (timeutil_utc_offset(tz, us) != tm.tm_gmtoff)
                fail_msg("%s at %lld: %d, libc %ld", zones[z], (long long)t,
                         timeutil_utc_offset(tz, us), tm.tm_gmtoff);
            assert_int_equal(timeutil_local_day(tz, us),
                             day(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
        }
        timeutil_tz_destroy(tz);
    }
    if (old_tz)
        setenv("TZ", old_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old_tz);
}

/* A "slim" TZif (zic -b slim) has few transitions and relies on its footer
 * rule: results must equal those of the full file. */
static void test_slim_tzif(void **state)
{
    (void)state;
    char dir[] = "/tmp/gevinst-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024], src[64];
    snprintf(src, sizeof(src), "%s/oslo.zi", dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("Rule EU 1977 1980 - Apr Sun>=1 1:00u 1:00 S\n"
          "Rule EU 1977 only - Sep lastSun 1:00u 0 -\n"
          "Rule EU 1978 only - Oct 1 1:00u 0 -\n"
          "Rule EU 1979 1995 - Sep lastSun 1:00u 0 -\n"
          "Rule EU 1981 max - Mar lastSun 1:00u 1:00 S\n"
          "Rule EU 1996 max - Oct lastSun 1:00u 0 -\n"
          "Zone Test/Oslo 1:00 EU CE%sT\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "zic -b slim -d %s %s 2>/dev/null", dir, src);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        int rc = system(cmd);
        (void)rc;
        skip(); /* no zic */
    }
    char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
    setenv("TZDIR", dir, 1);
    timeutil_tz_t *slim = zone("Test/Oslo");
    if (old)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    free(old);
    timeutil_tz_t *full = zone("Europe/Oslo");
    /* From 1996 on both follow the EU rule. */
    for (int64_t us = ts("1997-01-01T00:00:00Z"); us < ts("2400-01-01T00:00:00Z");
         us += 7919 * TIMEUTIL_US_PER_SEC * 97) {
        assert_int_equal(timeutil_utc_offset(slim, us), timeutil_utc_offset(full, us));
        assert_int_equal(timeutil_local_day(slim, us), timeutil_local_day(full, us));
    }
    timeutil_tz_destroy(slim);
    timeutil_tz_destroy(full);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_zone_errors(void **state)
{
    (void)state;
    char err[256];
    static const char *const bad[] = {
        "",      "../../etc/passwd", "/etc/localtime", "Europe/../../etc/passwd", "No/Such_Zone",
        "Europe"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(timeutil_tz_new(bad[i], err, sizeof(err)));
        assert_true(strlen(err) > 0);
    }
    assert_null(timeutil_tz_new(NULL, err, sizeof(err)));
    /* Zones that count leap seconds are refused, not silently misread. */
    if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0) {
        assert_null(timeutil_tz_new("right/UTC", err, sizeof(err)));
        assert_non_null(strstr(err, "leap"));
    }
    timeutil_tz_destroy(NULL);
}

typedef struct worker {
    timeutil_tz_t *tz;
    int bad;
} worker_t;

static void *worker(void *p)
{
    worker_t *w = p;
    int64_t base = ts("2025-01-01T00:00:00Z");
    for (int i = 0; i < 200000; i++) {
        int64_t us = base + (int64_t)i * 157 * TIMEUTIL_US_PER_SEC;
        int32_t d = timeutil_local_day(w->tz, us);
        /* Consistent with its own day boundaries. */
        if (us < timeutil_local_day_start(w->tz, d) || us >= timeutil_local_day_start(w->tz, d + 1))
            w->bad++;
    }
    return NULL;
}

/* One handle, many threads, no locks. */
static void test_threads(void **state)
{
    (void)state;
    timeutil_tz_t *tz = zone("Europe/Oslo");
    pthread_t t[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){tz, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    timeutil_tz_destroy(tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_civil),
        cmocka_unit_test(test_oslo_dst_days), cmocka_unit_test(test_utc_and_fixed_zones),
        cmocka_unit_test(test_midnight_gap),  cmocka_unit_test(test_against_libc),
        cmocka_unit_test(test_slim_tzif),     cmocka_unit_test(test_zone_errors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
