/* kpi_audit: active EHR time per user from the access log. */
#include "gevinst/kpi_audit.h"

#include "gevinst/hexkey.h"
#include "gevinst/pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct aev {
    int64_t t;
    uint64_t tie; /* hash of the CloudEvent id: orders equal times the same way everywhere */
    const char *unit;
    bool doc;
} aev_t;

typedef struct auser {
    uint8_t key[32];
    bool used;
    bool in_db; /* a row exists at version ver */
    bool dirty;
    int64_t ver;
    int64_t max_t; /* INT64_MIN: no event yet */
    aev_t *ev;     /* sorted by (t, tie) */
    uint32_t n, cap;
} auser_t;

typedef struct astaged {
    uint8_t key[32];
    aev_t e;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int index;
    char event_id[EVENT_STR_MAX + 1];
} astaged_t;

struct kpi_audit {
    const timeutil_tz_t *tz;
    strpool_t *pool;
    kpi_audit_conf_t conf;
    auser_t *tab;
    size_t cap, count;
    /* Double-buffered staging (see kpi_audit_detach): add fills `in`, a
     * flush reads `staged`. */
    astaged_t *staged;
    size_t nstaged, staged_cap;
    astaged_t *in;
    size_t nin, in_cap;
    bool detached;
    uint8_t (*dirty)[32];
    size_t ndirty, dirty_cap;
};

kpi_audit_t *kpi_audit_new(const timeutil_tz_t *tz, strpool_t *pool, const kpi_audit_conf_t *conf)
{
    kpi_audit_t *ka = calloc(1, sizeof(*ka));
    if (!ka)
        return NULL;
    ka->tz = tz;
    ka->pool = pool;
    ka->conf = *conf;
    if (ka->conf.cache_max < 1024)
        ka->conf.cache_max = 1024;
    ka->cap = 1024;
    ka->tab = calloc(ka->cap, sizeof(auser_t));
    if (!ka->tab) {
        free(ka);
        return NULL;
    }
    return ka;
}

static void cache_clear(kpi_audit_t *ka)
{
    for (size_t i = 0; i < ka->cap; i++)
        free(ka->tab[i].ev);
    memset(ka->tab, 0, ka->cap * sizeof(auser_t));
    ka->count = 0;
    ka->ndirty = 0;
}

void kpi_audit_destroy(kpi_audit_t *ka)
{
    if (!ka)
        return;
    cache_clear(ka);
    free(ka->tab);
    free(ka->staged);
    free(ka->in);
    free(ka->dirty);
    free(ka);
}

static size_t slot(const kpi_audit_t *ka, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    size_t j = h & (ka->cap - 1);
    while (ka->tab[j].used && memcmp(ka->tab[j].key, key, 32) != 0)
        j = (j + 1) & (ka->cap - 1);
    return j;
}

static void grow(kpi_audit_t *ka)
{
    auser_t *old = ka->tab;
    size_t old_cap = ka->cap;
    auser_t *tab = calloc(old_cap * 2, sizeof(auser_t));
    if (!tab)
        return;
    ka->tab = tab;
    ka->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            ka->tab[slot(ka, old[i].key)] = old[i];
    free(old);
}

static auser_t *lookup(kpi_audit_t *ka, const uint8_t key[32], bool create)
{
    if (create && (ka->count + 1) * 2 > ka->cap)
        grow(ka);
    auser_t *u = &ka->tab[slot(ka, key)];
    if (!u->used) {
        if (!create)
            return NULL;
        memset(u, 0, sizeof(*u));
        memcpy(u->key, key, 32);
        u->used = true;
        u->max_t = INT64_MIN;
        ka->count++;
    }
    return u;
}

static bool is_doc(const kpi_audit_t *ka, const char *action)
{
    for (char **p = ka->conf.doc_prefixes; p && *p; p++)
        if (strncmp(action, *p, strlen(*p)) == 0)
            return true;
    return false;
}

bool kpi_audit_add(kpi_audit_t *ka, const event_t *ev, const char *topic, int32_t partition,
                   int64_t offset, int index)
{
    if (!KPI_STAGING_RESERVE(ka))
        return false;
    const char *unit = strpool_intern(ka->pool, ev->unit_id, strlen(ev->unit_id));
    if (!unit)
        return false;
    astaged_t *s = &ka->in[ka->nin++];
    hexkey_decode(s->key, ev->audit.user);
    s->e.t = ev->time_us;
    s->e.tie = hexkey_fnv1a(ev->id, strlen(ev->id));
    s->e.unit = unit;
    s->e.doc = is_doc(ka, ev->audit.action);
    s->topic = topic;
    s->partition = partition;
    s->offset = offset;
    s->index = index;
    snprintf(s->event_id, sizeof(s->event_id), "%s", ev->id);
    return true;
}

size_t kpi_audit_pending(const kpi_audit_t *ka)
{
    return ka->nin + (ka->detached ? ka->nstaged : 0);
}

void kpi_audit_detach(kpi_audit_t *ka)
{
    KPI_STAGING_DETACH(ka, astaged_t);
}

/* ---- persisted form of the recent events: "t tie doc len:unit\n" ------- */

static bool ev_push(auser_t *u, aev_t e, uint32_t at)
{
    if (u->n == u->cap) {
        uint32_t cap = u->cap ? u->cap * 2 : 8;
        aev_t *p = realloc(u->ev, cap * sizeof(*p));
        if (!p)
            return false;
        u->ev = p;
        u->cap = cap;
    }
    memmove(&u->ev[at + 1], &u->ev[at], (u->n - at) * sizeof(aev_t));
    u->ev[at] = e;
    u->n++;
    return true;
}

static bool parse_recent(kpi_audit_t *ka, auser_t *u, const char *s)
{
    while (*s) {
        long long t;
        unsigned long long tie;
        int doc, used;
        size_t len;
        if (sscanf(s, "%lld %llu %d %zu:%n", &t, &tie, &doc, &len, &used) != 4)
            return false;
        s += used;
        if (strnlen(s, len) < len)
            return false;
        aev_t e = {t, tie, strpool_intern(ka->pool, s, len), doc != 0};
        if (!e.unit || !ev_push(u, e, u->n))
            return false;
        s += len;
        if (*s == '\n')
            s++;
    }
    return true;
}

static char *format_recent(const auser_t *u)
{
    size_t cap = 64, len = 0;
    for (uint32_t i = 0; i < u->n; i++)
        cap += 64 + strlen(u->ev[i].unit);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (uint32_t i = 0; i < u->n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%lld %llu %d %zu:%s\n",
                                (long long)u->ev[i].t, (unsigned long long)u->ev[i].tie,
                                u->ev[i].doc ? 1 : 0, strlen(u->ev[i].unit), u->ev[i].unit);
    return out;
}

/* ---- flush ------------------------------------------------------------ */

static bool load_missing(kpi_audit_t *ka, store_t *st, char *errstr, size_t errstr_size)
{
    pgarray_t keys;
    char hex[65];
    pgarray_init(&keys);
    for (size_t i = 0; i < ka->nstaged; i++) {
        if (lookup(ka, ka->staged[i].key, false))
            continue;
        lookup(ka, ka->staged[i].key, true);
        hexkey_encode(ka->staged[i].key, hex);
        pgarray_add_text(&keys, hex);
    }
    if (keys.count == 0) {
        pgarray_free(&keys);
        return true;
    }
    const char *p[1] = {pgarray_str(&keys)};
    PGresult *res = PQexecParams(store_conn(st),
                                 "SELECT encode(a.usr, 'hex'), a.ver, a.max_t, a.recent "
                                 "FROM unnest($1::text[]) AS k(hex) CROSS JOIN LATERAL "
                                 "(SELECT * FROM gevinst.audit_user a "
                                 "WHERE a.usr = decode(k.hex, 'hex') OFFSET 0) a",
                                 1, NULL, p, NULL, NULL, 0);
    pgarray_free(&keys);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        store_error(st, res, errstr, errstr_size);
    for (int r = 0; ok && r < PQntuples(res); r++) {
        uint8_t key[32];
        hexkey_decode(key, PQgetvalue(res, r, 0));
        auser_t *u = lookup(ka, key, true);
        u->in_db = true;
        u->ver = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        u->max_t = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        if (!parse_recent(ka, u, PQgetvalue(res, r, 3))) {
            snprintf(errstr, errstr_size, "gevinst.audit_user: unreadable recent events");
            ok = false;
        }
    }
    PQclear(res);
    return ok;
}

/* Adds (sign +1) or takes back (-1) the active time of the gap a -> b. */
static void gap(kpi_audit_t *ka, kpi_delta_t *kd, const aev_t *a, const aev_t *b, int64_t sign)
{
    int64_t d = b->t - a->t;
    if (d <= 0 || d > ka->conf.idle_us)
        return;
    int32_t day = timeutil_local_day(ka->tz, a->t);
    kpi_delta_add(kd, a->unit, KPI_EHR_ACTIVE_MINUTES, day, sign * d, 0);
    if (a->doc)
        kpi_delta_add(kd, a->unit, KPI_DOCUMENTATION_MINUTES, day, sign * d, 0);
}

static bool mark_dirty(kpi_audit_t *ka, auser_t *u)
{
    if (u->dirty)
        return true;
    if (ka->ndirty == ka->dirty_cap) {
        size_t cap = ka->dirty_cap ? ka->dirty_cap * 2 : 256;
        uint8_t(*p)[32] = realloc(ka->dirty, cap * sizeof(*p));
        if (!p)
            return false;
        ka->dirty = p;
        ka->dirty_cap = cap;
    }
    memcpy(ka->dirty[ka->ndirty++], u->key, 32);
    u->dirty = true;
    return true;
}

static bool before(const aev_t *a, const aev_t *b)
{
    return a->t < b->t || (a->t == b->t && a->tie < b->tie);
}

/* Places one event; false when it is late. */
static bool place(kpi_audit_t *ka, kpi_delta_t *kd, auser_t *u, const aev_t *e)
{
    if (u->max_t != INT64_MIN && e->t < u->max_t - ka->conf.lateness_us)
        return false;
    uint32_t at = u->n;
    while (at > 0 && before(e, &u->ev[at - 1]))
        at--;
    const aev_t *prev = at > 0 ? &u->ev[at - 1] : NULL;
    const aev_t *next = at < u->n ? &u->ev[at] : NULL;
    if (prev && next)
        gap(ka, kd, prev, next, -1);
    if (prev)
        gap(ka, kd, prev, e, +1);
    if (next)
        gap(ka, kd, e, next, +1);
    ev_push(u, *e, at);
    if (e->t > u->max_t)
        u->max_t = e->t;
    /* Nothing before (latest - lateness) can arrive, so an event older than
     * that minus the idle timeout can never again be the start of a gap. */
    int64_t keep = u->max_t - ka->conf.lateness_us - ka->conf.idle_us;
    uint32_t drop = 0;
    while (drop + 1 < u->n && u->ev[drop].t < keep)
        drop++;
    if (drop) {
        memmove(u->ev, u->ev + drop, (u->n - drop) * sizeof(aev_t));
        u->n -= drop;
    }
    return true;
}

static bool count_user_days(kpi_audit_t *ka, store_t *st, kpi_delta_t *kd, const bool *late,
                            char *errstr, size_t errstr_size)
{
    pgarray_t k, u, d;
    char hex[65];
    pgarray_init(&k);
    pgarray_init(&u);
    pgarray_init(&d);
    for (size_t i = 0; i < ka->nstaged; i++) {
        if (late[i])
            continue;
        hexkey_encode(ka->staged[i].key, hex);
        pgarray_add_text(&k, hex);
        pgarray_add_text(&u, ka->staged[i].e.unit);
        pgarray_add_int(&d, timeutil_local_day(ka->tz, ka->staged[i].e.t));
    }
    bool ok = true;
    if (k.count) {
        const char *p[3] = {pgarray_str(&k), pgarray_str(&u), pgarray_str(&d)};
        PGresult *res = PQexecParams(
            store_conn(st),
            "INSERT INTO gevinst.audit_user_day (usr, unit_id, day) "
            "SELECT DISTINCT decode(k, 'hex'), u, d FROM unnest($1::text[], $2::text[], "
            "$3::int[]) AS x(k, u, d) ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING "
            "RETURNING unit_id, day",
            3, NULL, p, NULL, NULL, 0);
        ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!ok)
            store_error(st, res, errstr, errstr_size);
        for (int r = 0; ok && r < PQntuples(res); r++) {
            const char *unit = PQgetvalue(res, r, 0);
            const char *in = strpool_intern(ka->pool, unit, strlen(unit));
            int32_t day = (int32_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
            kpi_delta_add(kd, in, KPI_EHR_ACTIVE_MINUTES, day, 0, 1);
            kpi_delta_add(kd, in, KPI_DOCUMENTATION_MINUTES, day, 0, 1);
        }
        PQclear(res);
    }
    pgarray_free(&k);
    pgarray_free(&u);
    pgarray_free(&d);
    return ok;
}

/* Existing users from the arrays (hex key, max time, recent list, version
 * read), only where that version is still there. */
#define UPDATE_USERS                                                                               \
    "UPDATE gevinst.audit_user a SET ver = a.ver + 1, max_t = x.m, recent = x.r "                  \
    "FROM (SELECT decode(k, 'hex') AS k, m, r, v FROM unnest($1::text[], $2::bigint[], "           \
    "$3::text[], $4::bigint[]) AS y(k, m, r, v) ORDER BY 1) x "                                    \
    "WHERE a.usr = x.k AND a.ver = x.v"

static kpi_audit_result_t write_users(kpi_audit_t *ka, store_t *st, char *errstr,
                                      size_t errstr_size)
{
    pgarray_t upd[4], ins[3];
    size_t nupd = 0, nins = 0;
    char hex[65];
    for (int c = 0; c < 4; c++)
        pgarray_init(&upd[c]);
    for (int c = 0; c < 3; c++)
        pgarray_init(&ins[c]);
    kpi_audit_result_t r = KPI_AUDIT_OK;
    for (size_t i = 0; i < ka->ndirty && r == KPI_AUDIT_OK; i++) {
        auser_t *u = lookup(ka, ka->dirty[i], false);
        char *recent = format_recent(u);
        if (!recent) {
            snprintf(errstr, errstr_size, "out of memory");
            r = KPI_AUDIT_FAILED;
            break;
        }
        hexkey_encode(u->key, hex);
        pgarray_t *a = u->in_db ? upd : ins;
        pgarray_add_text(&a[0], hex);
        pgarray_add_int(&a[1], u->max_t);
        pgarray_add_text(&a[2], recent);
        if (u->in_db) {
            pgarray_add_int(&upd[3], u->ver);
            nupd++;
        } else {
            nins++;
        }
        free(recent);
    }
    const char *p[4];
    if (r == KPI_AUDIT_OK && nupd) {
        for (int c = 0; c < 4; c++)
            p[c] = pgarray_str(&upd[c]);
        /* Joins off: a batch of users would otherwise hash all of audit_user. */
        store_plan_t plan;
        bool set = store_plan_off(st, STORE_PLAN_NO_HASH, &plan, errstr, errstr_size);
        PGresult *res =
            set ? PQexecParams(store_conn(st), UPDATE_USERS, 4, NULL, p, NULL, NULL, 0) : NULL;
        if (!set) {
            r = KPI_AUDIT_FAILED;
        } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            store_error(st, res, errstr, errstr_size);
            r = KPI_AUDIT_FAILED;
        } else if ((size_t)strtoull(PQcmdTuples(res), NULL, 10) != nupd) {
            snprintf(errstr, errstr_size, "audit state changed by another instance");
            r = KPI_AUDIT_FENCED;
        }
        PQclear(res);
        if (r == KPI_AUDIT_OK && !store_plan_restore(st, &plan, errstr, errstr_size))
            r = KPI_AUDIT_FAILED;
    }
    if (r == KPI_AUDIT_OK && nins) {
        for (int c = 0; c < 3; c++)
            p[c] = pgarray_str(&ins[c]);
        PGresult *res = PQexecParams(
            store_conn(st),
            "INSERT INTO gevinst.audit_user (usr, ver, max_t, recent) "
            "SELECT decode(k, 'hex'), 1, m, r FROM unnest($1::text[], $2::bigint[], $3::text[]) "
            "AS y(k, m, r) ORDER BY 1 ON CONFLICT DO NOTHING",
            3, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            store_error(st, res, errstr, errstr_size);
            r = KPI_AUDIT_FAILED;
        } else if ((size_t)strtoull(PQcmdTuples(res), NULL, 10) != nins) {
            snprintf(errstr, errstr_size, "audit state inserted by another instance");
            r = KPI_AUDIT_FENCED;
        }
        PQclear(res);
    }
    for (int c = 0; c < 4; c++)
        pgarray_free(&upd[c]);
    for (int c = 0; c < 3; c++)
        pgarray_free(&ins[c]);
    return r;
}

kpi_audit_result_t kpi_audit_flush(kpi_audit_t *ka, store_t *st, kpi_delta_t *kd,
                                   kpi_audit_late_cb on_late, void *opaque, char *errstr,
                                   size_t errstr_size)
{
    if (!ka->detached)
        kpi_audit_detach(ka);
    ka->detached = false;
    if (ka->nstaged == 0)
        return KPI_AUDIT_OK;
    if (!load_missing(ka, st, errstr, errstr_size))
        return KPI_AUDIT_FAILED;
    bool *late = calloc(ka->nstaged, sizeof(bool));
    if (!late) {
        snprintf(errstr, errstr_size, "out of memory");
        return KPI_AUDIT_FAILED;
    }
    for (size_t i = 0; i < ka->nstaged; i++) {
        astaged_t *s = &ka->staged[i];
        auser_t *u = lookup(ka, s->key, true);
        int64_t latest = u->max_t;
        if (!place(ka, kd, u, &s->e)) {
            late[i] = true;
            kpi_audit_late_t l = {s->topic, s->partition, s->offset,
                                  s->index, s->event_id,  latest - ka->conf.lateness_us - s->e.t};
            if (on_late)
                on_late(opaque, &l);
            continue;
        }
        if (!mark_dirty(ka, u)) {
            free(late);
            snprintf(errstr, errstr_size, "out of memory");
            return KPI_AUDIT_FAILED;
        }
    }
    bool ok = count_user_days(ka, st, kd, late, errstr, errstr_size);
    free(late);
    ka->nstaged = 0;
    if (!ok)
        return KPI_AUDIT_FAILED;
    return write_users(ka, st, errstr, errstr_size);
}

void kpi_audit_committed(kpi_audit_t *ka)
{
    for (size_t i = 0; i < ka->ndirty; i++) {
        auser_t *u = lookup(ka, ka->dirty[i], false);
        u->ver = u->in_db ? u->ver + 1 : 1;
        u->in_db = true;
        u->dirty = false;
    }
    ka->ndirty = 0;
    if (ka->count > ka->conf.cache_max)
        cache_clear(ka);
}

void kpi_audit_discard(kpi_audit_t *ka)
{
    ka->nstaged = ka->nin = 0;
    ka->detached = false;
    cache_clear(ka);
}
