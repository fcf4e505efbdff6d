/* kpi_appt: latest-snapshot-wins appointment KPIs with retraction. */
#include "gevinst/kpi_appt.h"

#include "gevinst/hexkey.h"
#include "gevinst/pgarray.h"

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

typedef struct entry {
    uint8_t key[32]; /* binary pseudonym */
    bool used;
    bool present;    /* has a winning snapshot */
    bool pg_present; /* a row exists in appt_state, at version (pt, po, pi) */
    bool dirty;      /* cur differs from the row */
    snap_t cur;
    int64_t pt, po;
    int32_t pi;
} entry_t;

typedef struct staged {
    uint8_t key[32];
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
    /* Keys changed in this batch, so a flush never walks the whole cache. */
    uint8_t (*dirty)[32];
    size_t ndirty, dirty_cap;
    uint64_t hits, misses;
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
    ka->cap = 4096;
    ka->tab = calloc(ka->cap, sizeof(entry_t));
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
    free(ka->tab);
    free(ka->staged);
    free(ka->in);
    free(ka->dirty);
    free(ka);
}

static size_t slot(const kpi_appt_t *ka, const uint8_t key[32])
{
    /* Keys are HMAC outputs: their bytes are already uniformly spread. */
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    size_t j = h & (ka->cap - 1);
    while (ka->tab[j].used && memcmp(ka->tab[j].key, key, 32) != 0)
        j = (j + 1) & (ka->cap - 1);
    return j;
}

static void table_grow(kpi_appt_t *ka)
{
    size_t cap = ka->cap * 2;
    entry_t *tab = calloc(cap, sizeof(entry_t));
    if (!tab)
        return;
    entry_t *old = ka->tab;
    size_t old_cap = ka->cap;
    ka->tab = tab;
    ka->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            ka->tab[slot(ka, old[i].key)] = old[i];
    free(old);
}

static entry_t *lookup(kpi_appt_t *ka, const uint8_t key[32], bool create)
{
    if (create && (ka->count + 1) * 2 > ka->cap)
        table_grow(ka);
    entry_t *e = &ka->tab[slot(ka, key)];
    if (!e->used) {
        if (!create)
            return NULL;
        memset(e, 0, sizeof(*e));
        memcpy(e->key, key, 32);
        e->used = true;
        ka->count++;
    }
    return e;
}

static void cache_clear(kpi_appt_t *ka)
{
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
        uint8_t(*p)[32] = realloc(ka->dirty, cap * sizeof(*p));
        if (!p)
            return false;
        ka->dirty = p;
        ka->dirty_cap = cap;
    }
    memcpy(ka->dirty[ka->ndirty++], e->key, 32);
    e->dirty = true;
    return true;
}

bool kpi_appt_add(kpi_appt_t *ka, const event_t *ev, int64_t offset, int index)
{
    if (ka->nin == ka->in_cap) {
        size_t cap = ka->in_cap ? ka->in_cap * 2 : 1024;
        staged_t *p = realloc(ka->in, cap * sizeof(*p));
        if (!p)
            return false;
        ka->in = p;
        ka->in_cap = cap;
    }
    const char *unit = strpool_intern(ka->pool, ev->unit_id, strlen(ev->unit_id));
    if (!unit)
        return false;
    staged_t *st = &ka->in[ka->nin++];
    const event_appointment_t *a = &ev->appointment;
    hexkey_decode(st->key, a->appointment);
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
    staged_t *p = ka->staged;
    size_t cap = ka->staged_cap;
    ka->staged = ka->in;
    ka->staged_cap = ka->in_cap;
    ka->nstaged = ka->nin;
    ka->in = p;
    ka->in_cap = cap;
    ka->nin = 0;
    ka->detached = true;
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

/* Reads the rows of staged appointments the cache does not hold. */
static bool load_missing(kpi_appt_t *ka, store_t *st, char *errstr, size_t errstr_size)
{
    pgarray_t keys;
    char hex[65];
    pgarray_init(&keys);
    for (size_t i = 0; i < ka->nstaged; i++) {
        entry_t *e = lookup(ka, ka->staged[i].key, false);
        if (e) {
            ka->hits++;
            continue;
        }
        ka->misses++;
        e = lookup(ka, ka->staged[i].key, true);
        /* Absent until the database says otherwise. */
        hexkey_encode(e->key, hex);
        pgarray_add_text(&keys, hex);
    }
    bool ok = true;
    if (keys.count) {
        const char *p[1] = {pgarray_str(&keys)};
        PGresult *res = PQexecParams(
            store_conn(st),
            "SELECT encode(s.appt, 'hex'), s.t, s.o, s.i, s.unit_id, s.start_day, s.booked_day, "
            "s.channel, s.status FROM gevinst.appt_state s "
            "WHERE s.appt = ANY (SELECT decode(k, 'hex') FROM unnest($1::text[]) k)",
            1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            store_error(st, res, errstr, errstr_size);
            ok = false;
        } else {
            for (int r = 0; r < PQntuples(res); r++) {
                uint8_t key[32];
                hexkey_decode(key, PQgetvalue(res, r, 0));
                entry_t *e = lookup(ka, key, true);
                snap_t *s = &e->cur;
                s->t = strtoll(PQgetvalue(res, r, 1), NULL, 10);
                s->o = strtoll(PQgetvalue(res, r, 2), NULL, 10);
                s->i = (int32_t)strtol(PQgetvalue(res, r, 3), NULL, 10);
                const char *unit = PQgetvalue(res, r, 4);
                s->unit = strpool_intern(ka->pool, unit, strlen(unit));
                s->start_day = (int32_t)strtol(PQgetvalue(res, r, 5), NULL, 10);
                s->booked_day = (int32_t)strtol(PQgetvalue(res, r, 6), NULL, 10);
                s->channel = (uint8_t)atoi(PQgetvalue(res, r, 7));
                s->status = (uint8_t)atoi(PQgetvalue(res, r, 8));
                e->present = e->pg_present = true;
                e->pt = s->t;
                e->po = s->o;
                e->pi = s->i;
            }
        }
        PQclear(res);
    }
    pgarray_free(&keys);
    return ok;
}

/* Writes changed states: updates only rows still at the version read, inserts
 * only rows nobody else inserted. Any shortfall means another writer. */
static kpi_flush_result_t write_states(kpi_appt_t *ka, store_t *st, char *errstr,
                                       size_t errstr_size)
{
    enum { NCOL = 12 }; /* key, t, o, i, unit, start, booked, channel, status, old t, o, i */
    pgarray_t upd[NCOL], ins[NCOL];
    size_t nupd = 0, nins = 0;
    char hex[65];
    for (int c = 0; c < NCOL; c++) {
        pgarray_init(&upd[c]);
        pgarray_init(&ins[c]);
    }
    for (size_t d = 0; d < ka->ndirty; d++) {
        entry_t *e = lookup(ka, ka->dirty[d], false);
        pgarray_t *arr = e->pg_present ? upd : ins;
        hexkey_encode(e->key, hex);
        pgarray_add_text(&arr[0], hex);
        pgarray_add_int(&arr[1], e->cur.t);
        pgarray_add_int(&arr[2], e->cur.o);
        pgarray_add_int(&arr[3], e->cur.i);
        pgarray_add_text(&arr[4], e->cur.unit);
        pgarray_add_int(&arr[5], e->cur.start_day);
        pgarray_add_int(&arr[6], e->cur.booked_day);
        pgarray_add_int(&arr[7], e->cur.channel);
        pgarray_add_int(&arr[8], e->cur.status);
        if (e->pg_present) {
            pgarray_add_int(&arr[9], e->pt);
            pgarray_add_int(&arr[10], e->po);
            pgarray_add_int(&arr[11], e->pi);
            nupd++;
        } else {
            nins++;
        }
    }

    kpi_flush_result_t r = KPI_FLUSH_OK;
    const char *p[NCOL];
    if (nupd) {
        for (int c = 0; c < NCOL; c++)
            p[c] = pgarray_str(&upd[c]);
        PGresult *res = PQexecParams(
            store_conn(st),
            "UPDATE gevinst.appt_state s SET t = u.t, o = u.o, i = u.i, unit_id = u.unit, "
            "start_day = u.sd, booked_day = u.bd, channel = u.ch, status = u.st "
            "FROM (SELECT decode(k, 'hex') AS k, t, o, i, unit, sd, bd, ch, st, pt, po, pi "
            "      FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], "
            "      $6::int[], $7::int[], $8::smallint[], $9::smallint[], $10::bigint[], "
            "      $11::bigint[], $12::int[]) AS x(k, t, o, i, unit, sd, bd, ch, st, pt, po, pi) "
            "      ORDER BY 1) u "
            "WHERE s.appt = u.k AND s.t = u.pt AND s.o = u.po AND s.i = u.pi",
            NCOL, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            store_error(st, res, errstr, errstr_size);
            r = KPI_FLUSH_FAILED;
        } else if ((size_t)strtoull(PQcmdTuples(res), NULL, 10) != nupd) {
            snprintf(errstr, errstr_size,
                     "appointment state changed by another instance (%s of %zu rows matched)",
                     PQcmdTuples(res), nupd);
            r = KPI_FLUSH_FENCED;
        }
        PQclear(res);
    }
    if (r == KPI_FLUSH_OK && nins) {
        for (int c = 0; c < 9; c++)
            p[c] = pgarray_str(&ins[c]);
        PGresult *res = PQexecParams(
            store_conn(st),
            "INSERT INTO gevinst.appt_state (appt, t, o, i, unit_id, start_day, booked_day, "
            "channel, status) "
            "SELECT decode(k, 'hex'), t, o, i, unit, sd, bd, ch, st "
            "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], "
            "$6::int[], $7::int[], $8::smallint[], $9::smallint[]) "
            "AS x(k, t, o, i, unit, sd, bd, ch, st) ORDER BY 1 ON CONFLICT DO NOTHING",
            9, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
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
        pgarray_free(&upd[c]);
        pgarray_free(&ins[c]);
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
    if (!load_missing(ka, st, errstr, errstr_size))
        return KPI_FLUSH_FAILED;
    for (size_t i = 0; i < ka->nstaged; i++) {
        const staged_t *sg = &ka->staged[i];
        entry_t *e = lookup(ka, sg->key, true);
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
        entry_t *e = lookup(ka, ka->dirty[d], false);
        e->dirty = false;
        e->pg_present = true;
        e->pt = e->cur.t;
        e->po = e->cur.o;
        e->pi = e->cur.i;
    }
    ka->ndirty = 0;
    /* Bounded memory: every entry is clean now, so dropping them all is safe;
     * the next batches reload what they touch. */
    if (ka->count > ka->cache_max)
        cache_clear(ka);
}

void kpi_appt_discard(kpi_appt_t *ka)
{
    ka->nstaged = ka->nin = 0;
    ka->detached = false;
    cache_clear(ka);
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
