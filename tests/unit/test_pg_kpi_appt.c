/* kpi_appt_flush (src/kpi_appt.c) against a real PostgreSQL: the latest
 * snapshot wins within a batch (time, then offset, then index); a new
 * appointment counts only its winner; entered-in-error counts nothing; a cold
 * cache meets rows already there (older or newer than the batch) and merges
 * them; another instance's change to a cached row fences the flush; a big
 * table is probed by key, never scanned whole; the cache keeps its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/kpi_appt.h"
#include "gevinst/store.h"
#include "test_util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static store_t *st;
static strpool_t *pool;
static timeutil_tz_t *tz;
static const char *unit;

enum { DAY = 20000 }; /* start and booking day of every snapshot */
static const int64_t DAY_US = (int64_t)DAY * 86400 * 1000000;

/* Fails unless the state row of appointment n (t|o|i|status|channel) is expected. */
static void expect_state(int n, const char *expected)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT t, o, i, status, channel FROM gevinst.appt_state "
             "WHERE appt = repeat(lpad(to_hex(%d), 2, '0'), 16)::uuid",
             n);
    test_pg_expect_row(store_conn(st), sql, expected);
}

/* Stages a snapshot of the appointment whose pseudonym is n in hex, width
 * digits wide, repeated to 64 digits: width 2 for n in 1..255 (what
 * expect_state reads), 8 for the large tables. */
static void add_key(kpi_appt_t *ka, unsigned n, int width, int64_t t, event_status_t status,
                    event_channel_t channel, int64_t offset, int index)
{
    event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_APPOINTMENT_BOOKED; /* the status is what counts */
    ev.time_us = t;
    snprintf(ev.unit_id, sizeof(ev.unit_id), "u1");
    for (int b = 0; b < 64; b += width)
        snprintf(ev.appointment.appointment + b, (size_t)width + 1, "%0*x", width, n);
    ev.appointment.status = status;
    ev.appointment.channel = channel;
    ev.appointment.start_us = DAY_US + 3600000000;
    ev.appointment.booked_at_us = DAY_US + 7200000000;
    kpi_appt_add(ka, &ev, offset, index);
}

static void add(kpi_appt_t *ka, int n, int64_t t, event_status_t status, event_channel_t channel,
                int64_t offset, int index)
{
    add_key(ka, (unsigned)n, 2, t, status, channel, offset, index);
}

/* appt_state's scan counts: "sequential|index". Pending counts of this
 * backend, so they move within a transaction. */
static const char *SCANS_SQL = "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables "
                               "WHERE relid = 'gevinst.appt_state'::regclass";

/* The planner settings a flush may change for one statement and must set back. */
static const char *PLAN_SQL = "SELECT current_setting('enable_hashjoin'), "
                              "current_setting('enable_mergejoin')";

/* Flushes and commits (or rolls back and discards) one batch; fails if a
 * successful flush left the planner settings changed. With probe_only, fails
 * if the flush read appt_state by anything but its index. */
static kpi_flush_result_t flush_checked(kpi_appt_t *ka, kpi_delta_t *kd, bool probe_only)
{
    char errstr[512];
    long seq0 = 0, idx0 = 0, seq1 = 0, idx1 = 0;
    test_pg_exec(store_conn(st), "BEGIN");
    if (probe_only) {
        char *row = test_pg_row(store_conn(st), SCANS_SQL);
        assert_int_equal(sscanf(row, "%ld|%ld", &seq0, &idx0), 2);
        free(row);
    }
    char *plan0 = test_pg_row(store_conn(st), PLAN_SQL);
    kpi_flush_result_t r = kpi_appt_flush(ka, st, kd, errstr, sizeof(errstr));
    if (r == KPI_FLUSH_OK)
        test_pg_expect_row(store_conn(st), PLAN_SQL, plan0);
    free(plan0);
    if (r == KPI_FLUSH_OK && probe_only) {
        char *row = test_pg_row(store_conn(st), SCANS_SQL);
        assert_int_equal(sscanf(row, "%ld|%ld", &seq1, &idx1), 2);
        free(row);
        assert_int_equal(seq1, seq0);
        assert_true(idx1 > idx0);
    }
    if (r == KPI_FLUSH_OK) {
        test_pg_exec(store_conn(st), "COMMIT");
        kpi_appt_committed(ka);
    } else {
        test_pg_exec(store_conn(st), "ROLLBACK");
        kpi_appt_discard(ka);
    }
    if (r == KPI_FLUSH_FAILED)
        fail_msg("flush: %s", errstr);
    return r;
}

static kpi_flush_result_t flush(kpi_appt_t *ka, kpi_delta_t *kd)
{
    return flush_checked(ka, kd, false);
}

/* "num/den" of a delta cell, "-" when it is zero or absent. */
static char *cell(const kpi_delta_t *kd, kpi_id_t kpi)
{
    static char out[4][64];
    static int next;
    char *o = out[next++ % 4];
    int64_t num, den;
    if (!kpi_delta_get(kd, unit, kpi, DAY, &num, &den))
        return strcpy(o, "-");
    snprintf(o, 64, "%lld/%lld", (long long)num, (long long)den);
    return o;
}

static int reset(void **state)
{
    (void)state;
    test_pg_exec(store_conn(st), "TRUNCATE gevinst.appt_state");
    return 0;
}

/* New appointments, each seen several times in one batch. */
static void test_new_keys_in_one_batch(void **state)
{
    (void)state;
    kpi_appt_t *ka = kpi_appt_new(tz, pool, 1024);
    kpi_delta_t *kd = kpi_delta_new();
    /* 1: the latest time wins, whatever the order. */
    add(ka, 1, 100, EVENT_STATUS_BOOKED, EVENT_CHANNEL_PORTAL, 10, 0);
    add(ka, 1, 300, EVENT_STATUS_ARRIVED, EVENT_CHANNEL_PORTAL, 11, 0);
    add(ka, 1, 200, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 12, 0);
    /* 2: same time: the higher offset wins, then the higher index. */
    add(ka, 2, 100, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_STAFF, 21, 0);
    add(ka, 2, 100, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_STAFF, 20, 5);
    add(ka, 2, 100, EVENT_STATUS_CANCELLED, EVENT_CHANNEL_STAFF, 21, 1);
    /* 3: ends entered in error: counts nothing, but its row is kept. */
    add(ka, 3, 100, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 30, 0);
    add(ka, 3, 200, EVENT_STATUS_ENTERED_IN_ERROR, EVENT_CHANNEL_PORTAL, 31, 0);
    /* 4: one snapshot. */
    add(ka, 4, 100, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_STAFF, 40, 0);
    assert_int_equal(flush(ka, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "1/3");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "1/2");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_SELF_BOOKED), "0/1");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_STAFF_BOOKED), "1/1");
    expect_state(1, "300|11|0|2|0");
    expect_state(2, "100|21|1|1|1");
    expect_state(3, "200|31|0|5|0");
    expect_state(4, "100|40|0|4|1");
    test_pg_expect_row(store_conn(st), "SELECT count(*) FROM gevinst.appt_state", "4");

    /* Next batch, cached: the old winner is taken back. */
    kpi_delta_clear(kd);
    add(ka, 1, 250, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 13, 0); /* older: nothing */
    add(ka, 4, 400, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_STAFF, 41, 0);
    add(ka, 3, 300, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 32, 0);
    assert_int_equal(flush(ka, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "1/1");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "0/1");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_STAFF_BOOKED), "-1/0");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_SELF_BOOKED), "1/1");
    expect_state(1, "300|11|0|2|0");
    expect_state(3, "300|32|0|4|0");
    expect_state(4, "400|41|0|3|1");
    kpi_delta_destroy(kd);
    kpi_appt_destroy(ka);
}

/* A cold cache (a restart, another instance) meets rows already there: a
 * batch older than the row changes nothing, a newer one replaces it, also
 * when the key shows up in the batch more than once. */
static void test_cold_cache_existing_rows(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 1024);
    kpi_delta_t *kd = kpi_delta_new();
    add(a, 1, 1000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 1, 0);
    add(a, 2, 1000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 2, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);

    kpi_appt_t *b = kpi_appt_new(tz, pool, 1024);
    kpi_delta_clear(kd);
    /* 1: every snapshot older than the row. */
    add(b, 1, 500, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_STAFF, 5, 0);
    add(b, 1, 900, EVENT_STATUS_BOOKED, EVENT_CHANNEL_STAFF, 6, 0);
    /* 2: one older, one newer, then an older one again. */
    add(b, 2, 500, EVENT_STATUS_BOOKED, EVENT_CHANNEL_STAFF, 7, 0);
    add(b, 2, 2000, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_STAFF, 8, 0);
    add(b, 2, 1500, EVENT_STATUS_ENTERED_IN_ERROR, EVENT_CHANNEL_STAFF, 9, 0);
    /* 5: new, next to them. */
    add(b, 5, 100, EVENT_STATUS_BOOKED, EVENT_CHANNEL_PHONE, 10, 0);
    assert_int_equal(flush(b, kd), KPI_FLUSH_OK);
    /* 2 takes back portal + noshow and adds staff + fulfilled; 5 adds a booking. */
    assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "-1/1");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "-1/0");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_SELF_BOOKED), "-1/-1");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_STAFF_BOOKED), "0/1");
    expect_state(1, "1000|1|0|4|0");
    expect_state(2, "2000|8|0|3|1");
    expect_state(5, "100|10|0|0|2");

    /* a still caches 2 at its old version: its write is fenced. */
    kpi_delta_clear(kd);
    add(a, 2, 3000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 11, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_FENCED);
    expect_state(2, "2000|8|0|3|1");
    /* After the discard it reads the row again and goes through. */
    kpi_delta_clear(kd);
    add(a, 2, 3000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 11, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "1/0");
    expect_state(2, "3000|11|0|4|0");
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
    kpi_appt_destroy(b);
}

/* Many new keys in one batch, a few of them already stored: every row is
 * written once and the counts add up. */
static void test_large_mixed_batch(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 1024);
    kpi_delta_t *kd = kpi_delta_new();
    for (int n = 1; n <= 200; n += 10)
        add(a, n, 50, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_STAFF, n, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "20/20");

    kpi_appt_t *b = kpi_appt_new(tz, pool, 1024);
    kpi_delta_clear(kd);
    for (int n = 1; n <= 250; n++) {
        add(b, n, 100, EVENT_STATUS_BOOKED, EVENT_CHANNEL_PORTAL, 1000 + n, 0);
        add(b, n, 200, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_PORTAL, 1000 + n, 1);
    }
    assert_int_equal(flush(b, kd), KPI_FLUSH_OK);
    /* 250 fulfilled portal bookings in, 20 staff no-shows out. */
    assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "250/230");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "-20/230");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_SELF_BOOKED), "0/250");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_STAFF_BOOKED), "-20/-20");
    test_pg_expect_row(store_conn(st),
                       "SELECT count(*), count(*) FILTER (WHERE t = 200 AND status = 3) "
                       "FROM gevinst.appt_state",
                       "250|250");
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
    kpi_appt_destroy(b);
}

/* A batch of thousands of keys against a table ten times its size, with
 * planner statistics: the read of rows the cache lacks and the fenced update
 * probe the primary key per key. Left to itself, the planner read and hashed
 * the whole table for them every batch at this ratio (only for a table many
 * times bigger did it probe). */
static void test_large_table_probed_by_key(void **state)
{
    (void)state;
    test_pg_exec(store_conn(st),
                 "INSERT INTO gevinst.appt_state SELECT repeat(lpad(to_hex(g), 8, '0'), 4)::uuid, "
                 "1000, g, 0, 'u1', 20000, 20000, 0, 0 "
                 "FROM generate_series(1, 50000) g");
    test_pg_exec(store_conn(st), "ANALYZE gevinst.appt_state");

    /* Cold cache: 5,000 stored keys get a newer snapshot, 1,000 are new. */
    kpi_appt_t *a = kpi_appt_new(tz, pool, 100000);
    kpi_delta_t *kd = kpi_delta_new();
    for (unsigned n = 1; n <= 5000; n++)
        add_key(a, n * 7, 8, 2000, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_PORTAL, n, 0);
    for (unsigned n = 60001; n <= 61000; n++)
        add_key(a, n, 8, 2000, EVENT_STATUS_BOOKED, EVENT_CHANNEL_STAFF, n, 0);
    assert_int_equal(flush_checked(a, kd, true), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "0/1000");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "0/5000");

    /* Cached now: the update alone; the session's own setting survives it. */
    test_pg_exec(store_conn(st), "SET enable_mergejoin = off");
    kpi_delta_clear(kd);
    for (unsigned n = 1; n <= 5000; n++)
        add_key(a, n * 7, 8, 3000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, 100000 + n, 0);
    assert_int_equal(flush_checked(a, kd, true), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "5000/0");
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE_SELF_BOOKED), "5000/0");
    test_pg_expect_row(store_conn(st),
                       "SELECT count(*), count(*) FILTER (WHERE t = 3000 AND status = 4), "
                       "count(*) FILTER (WHERE t = 2000) FROM gevinst.appt_state",
                       "51000|5000|1000");
    test_pg_expect_row(store_conn(st), PLAN_SQL, "on|off");
    test_pg_exec(store_conn(st), "RESET enable_mergejoin");
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
}

/* Flushes and commits one batch; fails unless the cache held at most max
 * entries while the batch was written (not only once committed). */
static void flush_within(kpi_appt_t *ka, kpi_delta_t *kd, size_t max)
{
    char errstr[512];
    test_pg_exec(store_conn(st), "BEGIN");
    kpi_flush_result_t r = kpi_appt_flush(ka, st, kd, errstr, sizeof(errstr));
    if (r != KPI_FLUSH_OK)
        fail_msg("flush: %s", errstr);
    assert_true(kpi_appt_cache_size(ka) <= max);
    test_pg_exec(store_conn(st), "COMMIT");
    kpi_appt_committed(ka);
}

/* A stream of more appointments than the cache may hold: the cache is emptied
 * before a batch would take it past its bound, and the evicted keys' next
 * snapshots are read back from appt_state and take back the old ones. */
static void test_cache_bound(void **state)
{
    (void)state;
    enum { MAX = 1024, BATCH = 400, KEYS = 2400 };
    kpi_appt_t *a = kpi_appt_new(tz, pool, MAX);
    kpi_delta_t *kd = kpi_delta_new();
    for (unsigned first = 1; first <= KEYS; first += BATCH) {
        kpi_delta_clear(kd);
        for (unsigned n = first; n < first + BATCH; n++)
            add_key(a, n, 8, 1000, EVENT_STATUS_BOOKED, EVENT_CHANNEL_STAFF, n, 0);
        flush_within(a, kd, MAX);
        assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "0/400");
    }
    uint64_t misses = kpi_appt_cache_misses(a);
    for (unsigned first = 1; first <= KEYS; first += BATCH) {
        kpi_delta_clear(kd);
        for (unsigned n = first; n < first + BATCH; n++)
            add_key(a, n, 8, 2000, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_PORTAL, KEYS + n, 0);
        flush_within(a, kd, MAX);
        /* Each staff booking taken back, each portal attendance added. */
        assert_string_equal(cell(kd, KPI_SELF_BOOKING_SHARE), "400/0");
        assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "0/400");
    }
    /* Most of the first keys were evicted and had to be read back. */
    assert_true(kpi_appt_cache_misses(a) - misses >= KEYS - MAX);
    test_pg_expect_row(store_conn(st),
                       "SELECT count(*), count(*) FILTER (WHERE t = 2000 AND status = 3 AND "
                       "channel = 0) FROM gevinst.appt_state",
                       "2400|2400");
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
}

/* The largest bound the configuration allows reserves more than this machine
 * has (100 M entries): the cache then starts small and still works. */
static void test_huge_bound(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 100000000);
    assert_non_null(a);
    kpi_delta_t *kd = kpi_delta_new();
    for (unsigned n = 1; n <= 5000; n++)
        add_key(a, n, 8, 1000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, n, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "5000/5000");
    assert_int_equal(kpi_appt_cache_size(a), 5000);
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
}

/* Every assignment discards the cache, empty at the first: that must not
 * touch the table, sized for the bound (about 13,000 pages at the default
 * 250,000), which cost 0.2 s of page faults per assignment on a VM. */
static void test_discard_empty_cache(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 250000);
    assert_non_null(a);
    struct rusage r0, r1;
    assert_int_equal(getrusage(RUSAGE_SELF, &r0), 0);
    kpi_appt_discard(a);
    assert_int_equal(getrusage(RUSAGE_SELF, &r1), 0);
    assert_true(r1.ru_minflt - r0.ru_minflt < 1000);
    assert_int_equal(kpi_appt_cache_size(a), 0);
    kpi_appt_destroy(a);
}

static int setup(void **state)
{
    (void)state;
    st = test_pg_store();
    char errstr[512];
    tz = timeutil_tz_new("UTC", errstr, sizeof(errstr));
    pool = strpool_new();
    if (!tz || !pool) {
        fprintf(stderr, "tz/pool: %s\n", errstr);
        return -1;
    }
    unit = strpool_intern(pool, "u1", 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    strpool_destroy(pool);
    timeutil_tz_destroy(tz);
    store_destroy(st);
    return 0;
}

/* The start of an appointment daemon faults the cache table in: afterwards
 * the table is all in memory (touching it again faults nothing) and still
 * empty, and a cache with entries is left alone. */
static void test_prefault(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 250000);
    assert_non_null(a);
    struct rusage r0, r1, r2;
    assert_int_equal(getrusage(RUSAGE_SELF, &r0), 0);
    kpi_appt_prefault(a);
    assert_int_equal(getrusage(RUSAGE_SELF, &r1), 0);
    kpi_appt_prefault(a);
    assert_int_equal(getrusage(RUSAGE_SELF, &r2), 0);
    assert_true(r1.ru_minflt - r0.ru_minflt >= 20); /* 54 MB: 27 huge pages at the least */
    assert_true(r2.ru_minflt - r1.ru_minflt < 10);
    assert_int_equal(kpi_appt_cache_size(a), 0);

    kpi_delta_t *kd = kpi_delta_new();
    for (unsigned n = 1; n <= 100; n++)
        add_key(a, n, 8, 1000, EVENT_STATUS_NOSHOW, EVENT_CHANNEL_PORTAL, n, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "100/100");
    kpi_appt_committed(a);
    /* Not empty: nothing is written; the cached winners still retract. */
    kpi_appt_prefault(a);
    assert_int_equal(kpi_appt_cache_size(a), 100);
    kpi_delta_clear(kd);
    for (unsigned n = 1; n <= 100; n++)
        add_key(a, n, 8, 2000, EVENT_STATUS_FULFILLED, EVENT_CHANNEL_PORTAL, 1000 + n, 0);
    assert_int_equal(flush(a, kd), KPI_FLUSH_OK);
    /* 100 no-shows became fulfilled: both in the denominator, out of the numerator. */
    assert_string_equal(cell(kd, KPI_NO_SHOW_RATE), "-100/0");
    kpi_appt_committed(a);
    kpi_delta_destroy(kd);
    kpi_appt_destroy(a);
}

static long resident_mb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &rss), 2);
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

/* A bound far above the default: the start touches 256 MB of its table,
 * not all 1.7 GB of it. */
static void test_prefault_big_bound(void **state)
{
    (void)state;
    kpi_appt_t *a = kpi_appt_new(tz, pool, 5000000);
    assert_non_null(a);
    long before = resident_mb();
    kpi_appt_prefault(a);
    long grew = resident_mb() - before;
    assert_true(grew >= 200);
    assert_true(grew <= 300);
    kpi_appt_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_new_keys_in_one_batch, reset),
        cmocka_unit_test_setup(test_cold_cache_existing_rows, reset),
        cmocka_unit_test_setup(test_large_mixed_batch, reset),
        cmocka_unit_test_setup(test_large_table_probed_by_key, reset),
        cmocka_unit_test_setup(test_cache_bound, reset),
        cmocka_unit_test_setup(test_huge_bound, reset),
        cmocka_unit_test(test_discard_empty_cache),
        cmocka_unit_test_setup(test_prefault, reset),
        cmocka_unit_test(test_prefault_big_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
