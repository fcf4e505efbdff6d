/* kpi_appt: latest-snapshot-wins appointment KPIs with retraction. */
#include "gevinst/kpi_appt.h"

#include "gevinst/hexkey.h"
#include "gevinst/hugemem.h"
#include "gevinst/pgbin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot as the KPIs need it. */
typedef struct snap {
    int64_t t, o; /* event time (UTC us), Kafka offset */
    int32_t i;    /* element index in a batch message */
    const char *unit;
    int32_t start_day, booked_day;
    uint8_t channel, status;
} snap_t;

/* Keys are the first 16 bytes of the binary pseudonym, as appt_state's uuid
 * column holds them (sql/011_appt_uuid_key.sql: 128 bits keep them apart). */
enum { KEY_BYTES = 16 };
/* Keys ahead whose cache slots load_missing() prefetches. */
enum { PREFETCH_AHEAD = 8 };
/* Most of the table kpi_appt_prefault() touches: 1.2 M entries' worth. */
#define PREFAULT_MAX ((size_t)256 << 20)

typedef struct entry {
    uint8_t key[KEY_BYTES];
    bool used;
    bool present;    /* has a winning snapshot */
    bool pg_present; /* a row exists in appt_state, at version (pt, po, pi) */
    bool dirty;      /* cur differs from the row */
    bool inserted;   /* with gen current: its row was new, cur already counted */
    snap_t cur;
    int64_t pt, po;
    int32_t pi;
    uint32_t winner; /* with gen current: its latest snapshot in staged */
    uint64_t gen;    /* the flush that found it missing from the cache */
} entry_t;

typedef struct staged {
    uint8_t key[KEY_BYTES];
    snap_t s;
} staged_t;

struct kpi_appt {
    const timeutil_tz_t *tz;
    strpool_t *pool;
    size_t cache_max;
    entry_t *tab;
    size_t cap, count;
    /* Double-buffered staging: kpi_appt_add() fills `in` while a flush may
     * be reading `staged` in the commit thread (kpi_appt_detach). */
    staged_t *staged;
    size_t nstaged, staged_cap;
    staged_t *in;
    size_t nin, in_cap;
    bool detached;
    /* Entries changed in this batch, so a flush never walks the whole cache,
     * and each staged snapshot's entry. Pointers into tab: the table only
     * grows while load_missing creates entries, before either is used, and
     * committed() or a discard ends their use before the next flush. */
    entry_t **dirty;
    size_t ndirty, dirty_cap;
    entry_t **ent;
    size_t ent_cap;
    uint64_t hits, misses;
    uint64_t gen; /* flushes so far: marks the entries a flush loaded */
};

static bool newer(const snap_t *a, int64_t t, int64_t o, int32_t i)
{
    if (a->t != t)
        return a->t > t;
    if (a->o != o)
        return a->o > o;
    return a->i > i;
}

kpi_appt_t *kpi_appt_new(const timeutil_tz_t *tz, strpool_t *pool, size_t cache_max)
{
    kpi_appt_t *ka = calloc(1, sizeof(*ka));
    if (!ka)
        return NULL;
    ka->tz = tz;
    ka->pool = pool;
    ka->cache_max = cache_max < 1024 ? 1024 : cache_max;
    /* Sized once for the bound (at most half full): growing by doubling
     * would rehash and touch every size on the way, and flushes clear the
     * cache before they would pass the bound (load_missing). Pages are only
     * touched as they fill. A bound too big to reserve (more than the machine
     * could ever map) starts small and grows as before. */
    ka->cap = 4096;
    while (ka->cap < 2 * ka->cache_max)
        ka->cap *= 2;
    ka->tab = hugemem_zalloc(ka->cap * sizeof(entry_t));
    if (!ka->tab) {
        ka->cap = 4096;
        ka->tab = hugemem_zalloc(ka->cap * sizeof(entry_t));
    }
    if (!ka->tab) {
        free(ka);
        return NULL;
    }
    return ka;
}

void kpi_appt_destroy(kpi_appt_t *ka)
{
    if (!ka)
        return;
    hugemem_free(ka->tab, ka->cap * sizeof(entry_t));
    free(ka->staged);
    free(ka->in);
    free(ka->dirty);
    free(ka->ent);
    free(ka);
}

/* Where a key's probe starts. Keys are HMAC outputs: their bytes are already
 * uniformly spread. */
static size_t home(const kpi_appt_t *ka, const uint8_t key[KEY_BYTES])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return h & (ka->cap - 1);
}

static size_t slot(const kpi_appt_t *ka, const uint8_t key[KEY_BYTES])
{
    size_t j = home(ka, key);
    while (ka->tab[j].used && memcmp(ka->tab[j].key, key, KEY_BYTES) != 0)
        j = (j + 1) & (ka->cap - 1);
    return j;
}

static void table_grow(kpi_appt_t *ka)
{
    size_t cap = ka->cap * 2;
    entry_t *tab = hugemem_zalloc(cap * sizeof(entry_t));
    if (!tab)
        return;
    entry_t *old = ka->tab;
    size_t old_cap = ka->cap;
    ka->tab = tab;
    ka->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            ka->tab[slot(ka, old[i].key)] = old[i];
    hugemem_free(old, old_cap * sizeof(entry_t));
}

static entry_t *lookup(kpi_appt_t *ka, const uint8_t key[KEY_BYTES], bool create)
{
    if (create && (ka->count + 1) * 2 > ka->cap)
        table_grow(ka);
    entry_t *e = &ka->tab[slot(ka, key)];
    if (!e->used) {
        if (!create)
            return NULL;
        memset(e, 0, sizeof(*e));
        memcpy(e->key, key, KEY_BYTES);
        e->used = true;
        ka->count++;
    }
    return e;
}

static void cache_clear(kpi_appt_t *ka)
{
    /* An empty table is all zeros already: clearing it would touch (fault
     * in) every page of a table sized for the bound, 0.2 s at the default,
     * at every assignment. */
    if (ka->count)
        memset(ka->tab, 0, ka->cap * sizeof(entry_t));
    ka->count = 0;
    ka->ndirty = 0;
}

static bool mark_dirty(kpi_appt_t *ka, entry_t *e)
{
    if (e->dirty)
        return true;
    if (ka->ndirty == ka->dirty_cap) {
        size_t cap = ka->dirty_cap ? ka->dirty_cap * 2 : 1024;
        entry_t **p = realloc(ka->dirty, cap * sizeof(*p));
        if (!p)
            return false;
        ka->dirty = p;
        ka->dirty_cap = cap;
    }
    ka->dirty[ka->ndirty++] = e;
    e->dirty = true;
    return true;
}

bool kpi_appt_add(kpi_appt_t *ka, const event_t *ev, int64_t offset, int index)
{
    if (!KPI_STAGING_RESERVE(ka))
        return false;
    const char *unit = strpool_intern(ka->pool, ev->unit_id, strlen(ev->unit_id));
    if (!unit)
        return false;
    staged_t *st = &ka->in[ka->nin++];
    const event_appointment_t *a = &ev->appointment;
    uint8_t full[HEXKEY_BYTES];
    hexkey_decode(full, a->appointment);
    memcpy(st->key, full, KEY_BYTES);
    st->s.t = ev->time_us;
    st->s.o = offset;
    st->s.i = index;
    st->s.unit = unit;
    st->s.start_day = timeutil_local_day(ka->tz, a->start_us);
    st->s.booked_day = timeutil_local_day(ka->tz, a->booked_at_us);
    st->s.channel = (uint8_t)a->channel;
    st->s.status = (uint8_t)a->status;
    return true;
}

size_t kpi_appt_pending(const kpi_appt_t *ka)
{
    return ka->nin + (ka->detached ? ka->nstaged : 0);
}

void kpi_appt_detach(kpi_appt_t *ka)
{
    KPI_STAGING_DETACH(ka, staged_t);
}

/* Adds (sign +1) or takes back (-1) what one winning snapshot contributes. */
static void contribute(kpi_delta_t *kd, const snap_t *s, int64_t sign)
{
    if (s->status == EVENT_STATUS_ENTERED_IN_ERROR)
        return;
    bool portal = s->channel == EVENT_CHANNEL_PORTAL;
    kpi_delta_add(kd, s->unit, KPI_SELF_BOOKING_SHARE, s->booked_day, portal ? sign : 0, sign);
    if (s->status == EVENT_STATUS_ARRIVED || s->status == EVENT_STATUS_FULFILLED ||
        s->status == EVENT_STATUS_NOSHOW) {
        int64_t ns = s->status == EVENT_STATUS_NOSHOW ? sign : 0;
        kpi_delta_add(kd, s->unit, KPI_NO_SHOW_RATE, s->start_day, ns, sign);
        kpi_delta_add(kd, s->unit,
                      portal ? KPI_NO_SHOW_RATE_SELF_BOOKED : KPI_NO_SHOW_RATE_STAFF_BOOKED,
                      s->start_day, ns, sign);
    }
}

/* New rows from the nine arrays of write order (key, t, o, i, unit, start day,
 * booked day, channel, status), in key order as every writer locks rows,
 * against deadlocks. The arrays are unnested in the select list, where they
 * run in lockstep one value per call: unnest() in FROM copies every row into a
 * tuplestore first (in psql, 20,000 rows of nine columns: 3.3 against 11-26 ms). */
#define INSERT_STATES                                                                              \
    "INSERT INTO gevinst.appt_state (appt, t, o, i, unit_id, start_day, booked_day, channel, "     \
    "status) SELECT unnest($1::uuid[]), unnest($2::bigint[]), unnest($3::bigint[]), "              \
    "unnest($4::int[]), unnest($5::text[]), unnest($6::int[]), unnest($7::int[]), "                \
    "unnest($8::smallint[]), unnest($9::smallint[]) ORDER BY 1 ON CONFLICT DO NOTHING"

/* Existing rows from the twelve arrays of write order (the nine above, then
 * the version read: t, o, i), only where that version is still there. */
#define UPDATE_STATES                                                                              \
    "UPDATE gevinst.appt_state s SET t = u.t, o = u.o, i = u.i, unit_id = u.unit, "                \
    "start_day = u.sd, booked_day = u.bd, channel = u.ch, status = u.st "                          \
    "FROM (SELECT unnest($1::uuid[]) AS k, unnest($2::bigint[]) AS t, unnest($3::bigint[]) AS o, " \
    "      unnest($4::int[]) AS i, unnest($5::text[]) AS unit, unnest($6::int[]) AS sd, "          \
    "      unnest($7::int[]) AS bd, unnest($8::smallint[]) AS ch, unnest($9::smallint[]) AS st, "  \
    "      unnest($10::bigint[]) AS pt, unnest($11::bigint[]) AS po, unnest($12::int[]) AS pi "    \
    "      ORDER BY 1) u "                                                                         \
    "WHERE s.appt = u.k AND s.t = u.pt AND s.o = u.po AND s.i = u.pi"

/* Runs sql with n binary array parameters. NULL with errstr when an array ran
 * out of memory; otherwise the result, to be checked and cleared. */
static PGresult *exec_arrays(store_t *st, const char *sql, pgbin_t *arr, int n, int result_format,
                             char *errstr, size_t errstr_size)
{
    enum { MAXP = 12 };
    const char *v[MAXP];
    int len[MAXP], fmt[MAXP];
    if (n > MAXP) {
        snprintf(errstr, errstr_size, "%d array parameters, at most %d", n, MAXP);
        return NULL;
    }
    for (int c = 0; c < n; c++) {
        v[c] = pgbin_param(&arr[c], &len[c]);
        fmt[c] = 1;
        if (!v[c]) {
            snprintf(errstr, errstr_size, "out of memory building appointment state arrays");
            return NULL;
        }
    }
    return PQexecParams(store_conn(st), sql, n, NULL, v, len, fmt, result_format);
}

/* Runs a statement that returns rows; false with errstr unless it did. */
static bool rows_ok(store_t *st, PGresult *res, char *errstr, size_t errstr_size)
{
    if (!res)
        return false;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        store_error(st, res, errstr, errstr_size);
        return false;
    }
    return true;
}

/* The cached entry of the binary key in column 0 of row r; NULL if none. */
static entry_t *row_entry(kpi_appt_t *ka, const PGresult *res, int r)
{
    if (PQgetlength(res, r, 0) != KEY_BYTES)
        return NULL;
    return lookup(ka, (const uint8_t *)PQgetvalue(res, r, 0), false);
}

/* Key order, as uuid compares (memcmp): the order the INSERT and UPDATE lock
 * rows in (their ORDER BY). Arrays sent in it spare PostgreSQL the sort: its
 * sort checks for sorted input first (10,000 random keys cost it ~4 ms). */
static int by_staged_key(const void *a, const void *b, void *arg)
{
    const kpi_appt_t *ka = arg;
    return memcmp(ka->staged[*(const size_t *)a].key, ka->staged[*(const size_t *)b].key,
                  KEY_BYTES);
}

static int by_entry_key(const void *a, const void *b)
{
    return memcmp((*(entry_t *const *)a)->key, (*(entry_t *const *)b)->key, KEY_BYTES);
}

/* Reads the rows of keys marked missing in this flush that load_missing could
 * not insert: they exist already (from before the cache, or another writer). */
static bool select_existing(kpi_appt_t *ka, store_t *st, const size_t *first, size_t nfirst,
                            char *errstr, size_t errstr_size)
{
    pgbin_t keys;
    pgbin_init(&keys, PGBIN_UUID);
    for (size_t j = 0; j < nfirst; j++) {
        const entry_t *e = ka->ent[first[j]];
        if (!e->inserted)
            pgbin_add_bytes(&keys, e->key, KEY_BYTES);
    }
    bool ok = true;
    if (keys.count) {
        /* Binary in and out: no hex, no number parsing on either side. One
         * primary-key probe per key (LATERAL, not flattened): "= ANY" of a
         * batch-sized array is planned as a scan of the whole table. */
        PGresult *res = exec_arrays(st,
                                    "SELECT s.appt, s.t, s.o, s.i, s.unit_id, s.start_day, "
                                    "s.booked_day, s.channel, s.status "
                                    "FROM unnest($1::uuid[]) AS k(appt) CROSS JOIN LATERAL "
                                    "(SELECT * FROM gevinst.appt_state s WHERE s.appt = k.appt "
                                    "OFFSET 0) s",
                                    &keys, 1, 1, errstr, errstr_size);
        if (!rows_ok(st, res, errstr, errstr_size)) {
            ok = false;
        } else {
            for (int r = 0; r < PQntuples(res); r++) {
                entry_t *e = row_entry(ka, res, r);
                if (!e) {
                    snprintf(errstr, errstr_size, "appt_state returned a key not asked for");
                    ok = false;
                    break;
                }
                snap_t *s = &e->cur;
                s->t = pgbin_get_int8(PQgetvalue(res, r, 1));
                s->o = pgbin_get_int8(PQgetvalue(res, r, 2));
                s->i = pgbin_get_int4(PQgetvalue(res, r, 3));
                s->unit =
                    strpool_intern(ka->pool, PQgetvalue(res, r, 4), (size_t)PQgetlength(res, r, 4));
                s->start_day = pgbin_get_int4(PQgetvalue(res, r, 5));
                s->booked_day = pgbin_get_int4(PQgetvalue(res, r, 6));
                s->channel = (uint8_t)pgbin_get_int2(PQgetvalue(res, r, 7));
                s->status = (uint8_t)pgbin_get_int2(PQgetvalue(res, r, 8));
                e->present = e->pg_present = true;
                e->pt = s->t;
                e->po = s->o;
                e->pi = s->i;
            }
        }
        PQclear(res);
    }
    pgbin_free(&keys);
    return ok;
}

/* Brings every staged appointment into the cache. Most keys the cache does
 * not hold are new appointments, so rather than look each up (and mostly not
 * find it) their latest staged snapshot is inserted right away; a key the
 * insert returns is new and just that snapshot counts (the ones before it
 * would be added and taken back again). Only the keys that were there already
 * are read and merged like cached ones. */
static bool load_missing(kpi_appt_t *ka, store_t *st, kpi_delta_t *kd, char *errstr,
                         size_t errstr_size)
{
    /* One staged index per key missing from the cache, to find it again. */
    size_t *first = malloc(ka->nstaged * sizeof(*first));
    if (ka->ent_cap < ka->nstaged) {
        entry_t **p = realloc(ka->ent, ka->nstaged * sizeof(*p));
        if (p) {
            ka->ent = p;
            ka->ent_cap = ka->nstaged;
        }
    }
    if (!first || ka->ent_cap < ka->nstaged) {
        free(first);
        snprintf(errstr, errstr_size, "out of memory loading appointment states");
        return false;
    }
    /* Bounded memory: every entry is clean between flushes, so the cache can
     * be emptied before this batch's keys would take it past its bound; the
     * table then never grows unless one batch alone has more keys. */
    if (ka->count + ka->nstaged > ka->cache_max && ka->ndirty == 0)
        cache_clear(ka);
    size_t nfirst = 0, cap = ka->cap;
    ka->gen++;
    for (size_t i = 0; i < ka->nstaged; i++) {
        const staged_t *sg = &ka->staged[i];
        /* The table is far bigger than the CPU caches and keys are random:
         * start fetching a later key's slot while this one is probed. */
        if (i + PREFETCH_AHEAD < ka->nstaged)
            __builtin_prefetch(&ka->tab[home(ka, ka->staged[i + PREFETCH_AHEAD].key)]);
        entry_t *e = lookup(ka, sg->key, false);
        if (e) {
            ka->hits++;
            /* Later in the batch wins a tie, as in the merge. */
            if (e->gen == ka->gen && !newer(&ka->staged[e->winner].s, sg->s.t, sg->s.o, sg->s.i))
                e->winner = (uint32_t)i;
            ka->ent[i] = e;
            continue;
        }
        ka->misses++;
        e = lookup(ka, sg->key, true);
        /* Absent until the database says otherwise. */
        e->gen = ka->gen;
        e->winner = (uint32_t)i;
        first[nfirst++] = i;
        ka->ent[i] = e;
    }
    if (ka->cap != cap) /* the table grew: entries moved */
        for (size_t i = 0; i < ka->nstaged; i++)
            ka->ent[i] = lookup(ka, ka->staged[i].key, false);

    /* In key order, so the statement's ORDER BY finds its input sorted. */
    if (nfirst > 1)
        qsort_r(first, nfirst, sizeof(*first), by_staged_key, ka);
    enum { NCOL = 9 }; /* key, t, o, i, unit, start, booked, channel, status */
    static const uint32_t types[NCOL] = {PGBIN_UUID, PGBIN_INT8, PGBIN_INT8, PGBIN_INT4, PGBIN_TEXT,
                                         PGBIN_INT4, PGBIN_INT4, PGBIN_INT2, PGBIN_INT2};
    pgbin_t arr[NCOL];
    for (int c = 0; c < NCOL; c++)
        pgbin_init(&arr[c], types[c]);
    for (size_t j = 0; j < nfirst; j++) {
        const entry_t *e = ka->ent[first[j]];
        const snap_t *s = &ka->staged[e->winner].s;
        pgbin_add_bytes(&arr[0], e->key, KEY_BYTES);
        pgbin_add_int8(&arr[1], s->t);
        pgbin_add_int8(&arr[2], s->o);
        pgbin_add_int4(&arr[3], s->i);
        pgbin_add_text(&arr[4], s->unit);
        pgbin_add_int4(&arr[5], s->start_day);
        pgbin_add_int4(&arr[6], s->booked_day);
        pgbin_add_int2(&arr[7], s->channel);
        pgbin_add_int2(&arr[8], s->status);
    }
    bool ok = true;
    if (nfirst) {
        PGresult *res =
            exec_arrays(st, INSERT_STATES " RETURNING appt", arr, NCOL, 1, errstr, errstr_size);
        if (!rows_ok(st, res, errstr, errstr_size)) {
            ok = false;
        } else {
            for (int r = 0; r < PQntuples(res); r++) {
                entry_t *e = row_entry(ka, res, r);
                if (!e || e->gen != ka->gen || e->inserted) {
                    snprintf(errstr, errstr_size, "appt_state insert returned a key not sent");
                    ok = false;
                    break;
                }
                /* The row matches cur: clean, and counted once here. */
                e->cur = ka->staged[e->winner].s;
                e->present = e->pg_present = e->inserted = true;
                e->pt = e->cur.t;
                e->po = e->cur.o;
                e->pi = e->cur.i;
                contribute(kd, &e->cur, +1);
            }
        }
        PQclear(res);
    }
    for (int c = 0; c < NCOL; c++)
        pgbin_free(&arr[c]);
    if (ok)
        ok = select_existing(ka, st, first, nfirst, errstr, errstr_size);
    free(first);
    return ok;
}

/* Writes changed states: updates only rows still at the version read, inserts
 * only rows nobody else inserted. Any shortfall means another writer. */
static kpi_flush_result_t write_states(kpi_appt_t *ka, store_t *st, char *errstr,
                                       size_t errstr_size)
{
    enum { NCOL = 12 }; /* key, t, o, i, unit, start, booked, channel, status, old t, o, i */
    static const uint32_t types[NCOL] = {
        PGBIN_UUID, PGBIN_INT8, PGBIN_INT8, PGBIN_INT4, PGBIN_TEXT, PGBIN_INT4,
        PGBIN_INT4, PGBIN_INT2, PGBIN_INT2, PGBIN_INT8, PGBIN_INT8, PGBIN_INT4,
    };
    pgbin_t upd[NCOL], ins[NCOL];
    size_t nupd = 0, nins = 0;
    for (int c = 0; c < NCOL; c++) {
        pgbin_init(&upd[c], types[c]);
        pgbin_init(&ins[c], types[c]);
    }
    if (ka->ndirty > 1)
        qsort(ka->dirty, ka->ndirty, sizeof(*ka->dirty), by_entry_key);
    for (size_t d = 0; d < ka->ndirty; d++) {
        entry_t *e = ka->dirty[d];
        pgbin_t *arr = e->pg_present ? upd : ins;
        pgbin_add_bytes(&arr[0], e->key, KEY_BYTES);
        pgbin_add_int8(&arr[1], e->cur.t);
        pgbin_add_int8(&arr[2], e->cur.o);
        pgbin_add_int4(&arr[3], e->cur.i);
        pgbin_add_text(&arr[4], e->cur.unit);
        pgbin_add_int4(&arr[5], e->cur.start_day);
        pgbin_add_int4(&arr[6], e->cur.booked_day);
        pgbin_add_int2(&arr[7], e->cur.channel);
        pgbin_add_int2(&arr[8], e->cur.status);
        if (e->pg_present) {
            pgbin_add_int8(&arr[9], e->pt);
            pgbin_add_int8(&arr[10], e->po);
            pgbin_add_int4(&arr[11], e->pi);
            nupd++;
        } else {
            nins++;
        }
    }

    kpi_flush_result_t r = KPI_FLUSH_OK;
    if (nupd) {
        /* Hash and merge joins off for this statement: with a batch's worth of
         * keys against a table not many times the batch (440,000 rows for
         * 8,000 keys, measured) the planner hashes all of appt_state, a scan
         * of the whole table every batch, rather than probe its primary key
         * once per key. Set back afterwards. */
        store_plan_t plan;
        bool set = store_plan_off(st, STORE_PLAN_NO_HASH, &plan, errstr, errstr_size);
        PGresult *res =
            set ? exec_arrays(st, UPDATE_STATES, upd, NCOL, 0, errstr, errstr_size) : NULL;
        if (!res) {
            r = KPI_FLUSH_FAILED;
        } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            store_error(st, res, errstr, errstr_size);
            r = KPI_FLUSH_FAILED;
        } else if ((size_t)strtoull(PQcmdTuples(res), NULL, 10) != nupd) {
            snprintf(errstr, errstr_size,
                     "appointment state changed by another instance (%s of %zu rows matched)",
                     PQcmdTuples(res), nupd);
            r = KPI_FLUSH_FENCED;
        }
        PQclear(res);
        if (r == KPI_FLUSH_OK && !store_plan_restore(st, &plan, errstr, errstr_size))
            r = KPI_FLUSH_FAILED;
    }
    if (r == KPI_FLUSH_OK && nins) {
        PGresult *res = exec_arrays(st, INSERT_STATES, ins, 9, 0, errstr, errstr_size);
        if (!res) {
            r = KPI_FLUSH_FAILED;
        } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            store_error(st, res, errstr, errstr_size);
            r = KPI_FLUSH_FAILED;
        } else if ((size_t)strtoull(PQcmdTuples(res), NULL, 10) != nins) {
            snprintf(errstr, errstr_size,
                     "appointment state inserted by another instance (%s of %zu rows new)",
                     PQcmdTuples(res), nins);
            r = KPI_FLUSH_FENCED;
        }
        PQclear(res);
    }
    for (int c = 0; c < NCOL; c++) {
        pgbin_free(&upd[c]);
        pgbin_free(&ins[c]);
    }
    return r;
}

kpi_flush_result_t kpi_appt_flush(kpi_appt_t *ka, store_t *st, kpi_delta_t *kd, char *errstr,
                                  size_t errstr_size)
{
    if (!ka->detached)
        kpi_appt_detach(ka);
    ka->detached = false;
    if (ka->nstaged == 0)
        return KPI_FLUSH_OK;
    if (!load_missing(ka, st, kd, errstr, errstr_size))
        return KPI_FLUSH_FAILED;
    for (size_t i = 0; i < ka->nstaged; i++) {
        const staged_t *sg = &ka->staged[i];
        entry_t *e = ka->ent[i];
        if (e->gen == ka->gen && e->inserted)
            continue; /* new row: its latest snapshot is written and counted */
        if (e->present && newer(&e->cur, sg->s.t, sg->s.o, sg->s.i))
            continue; /* an older snapshot arriving late changes nothing */
        if (e->present)
            contribute(kd, &e->cur, -1);
        e->cur = sg->s;
        e->present = true;
        if (!mark_dirty(ka, e)) {
            snprintf(errstr, errstr_size, "out of memory");
            return KPI_FLUSH_FAILED;
        }
        contribute(kd, &e->cur, +1);
    }
    ka->nstaged = 0;
    return write_states(ka, st, errstr, errstr_size);
}

void kpi_appt_committed(kpi_appt_t *ka)
{
    for (size_t d = 0; d < ka->ndirty; d++) {
        entry_t *e = ka->dirty[d];
        e->dirty = false;
        e->pg_present = true;
        e->pt = e->cur.t;
        e->po = e->cur.o;
        e->pi = e->cur.i;
    }
    ka->ndirty = 0;
    /* The bound is kept by load_missing, before a batch would pass it. */
}

void kpi_appt_discard(kpi_appt_t *ka)
{
    ka->nstaged = ka->nin = 0;
    ka->detached = false;
    cache_clear(ka);
}

void kpi_appt_prefault(kpi_appt_t *ka)
{
    /* A write per 4 KiB page (a read would map the shared zero page and the
     * first real write fault again); with huge pages most are hits. Only an
     * empty table: it is all zeros, so writing zeros changes nothing. */
    if (ka->count)
        return;
    volatile uint8_t *p = (volatile uint8_t *)ka->tab;
    size_t size = ka->cap * sizeof(entry_t);
    /* A bound set far above the default must not cost its whole table in
     * RSS and seconds at every start: beyond this, flushes fault it in. */
    if (size > PREFAULT_MAX)
        size = PREFAULT_MAX;
    for (size_t off = 0; off < size; off += 4096)
        p[off] = 0;
}

size_t kpi_appt_cache_size(const kpi_appt_t *ka)
{
    return ka->count;
}

uint64_t kpi_appt_cache_hits(const kpi_appt_t *ka)
{
    return ka->hits;
}

uint64_t kpi_appt_cache_misses(const kpi_appt_t *ka)
{
    return ka->misses;
}
