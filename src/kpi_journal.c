/* kpi_journal: order-independent duplicate detection over journal entries.
 *
 * The state lives in journal_entry only; a flush reads what its batch needs
 * (the staged entries' rows and their groups' windows) and nothing is kept
 * between batches, so the in-memory state is bounded by the batch. No cache
 * across batches: message keys need not keep a group on one partition
 * (events.md), so another instance may write any group between two of our
 * flushes, and a cache could only spare the reads of entries and groups seen
 * before, while most entries of a stream are new and need their probes anyway
 * (bench/README.md: the insert, not the read, is half of the backend's work). */
#include "gevinst/kpi_journal.h"

#include "gevinst/hexkey.h"
#include "gevinst/pgbin.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serialises journal flushes of all instances ("gevi" "jour"). */
#define JOURNAL_LOCK_KEY "7450580228102729074"

/* Entry and group keys: the first 16 bytes of the entry's pseudonym and of
 * the group's SHA-256, as journal_entry's uuid columns hold them
 * (sql/012_journal_uuid_keys.sql). */
enum { JKEY = 16 };

typedef struct jstaged {
    uint8_t entry[JKEY];
    uint8_t grp[JKEY];
    bool error; /* entered-in-error */
    int64_t t, o;
    int32_t i;
    const char *unit;
    int64_t dur_us;
} jstaged_t;

/* One entry during a flush: as stored (o_*) and as it will be (n_*). */
typedef struct jent {
    uint8_t entry[JKEY];
    bool known; /* a row exists */
    bool o_alive, o_dup;
    bool n_alive, n_dup, n_erased, n_recorded;
    uint8_t o_grp[JKEY], n_grp[JKEY];
    int64_t o_t, n_t, o_dur, n_dur;
    const char *o_unit, *n_unit;
    int64_t vt, vo; /* version of the recording: time, offset, index */
    int32_t vi;
    bool changed; /* anything but dup differs from the row */
} jent_t;

typedef struct grange {
    uint8_t grp[JKEY];
    int64_t lo, hi;
} grange_t;

typedef struct member {
    const uint8_t *grp;
    int64_t t;
    const uint8_t *entry;
    size_t ent;
} member_t;

struct kpi_journal {
    const timeutil_tz_t *tz;
    strpool_t *pool;
    int64_t window_us, default_dur_us;
    /* Double-buffered staging (see kpi_journal_detach): add fills `in`, a
     * flush reads `staged`. */
    jstaged_t *staged;
    size_t nstaged, staged_cap;
    jstaged_t *in;
    size_t nin, in_cap;
    bool detached;
    /* Per flush. */
    jent_t *ents;
    size_t nents, ents_cap;
    int32_t *index; /* open addressing over ents, -1 empty */
    size_t index_cap;
};

kpi_journal_t *kpi_journal_new(const timeutil_tz_t *tz, strpool_t *pool, int64_t window_us,
                               int64_t default_dur_us)
{
    kpi_journal_t *kj = calloc(1, sizeof(*kj));
    if (!kj)
        return NULL;
    kj->tz = tz;
    kj->pool = pool;
    kj->window_us = window_us;
    kj->default_dur_us = default_dur_us;
    return kj;
}

void kpi_journal_destroy(kpi_journal_t *kj)
{
    if (!kj)
        return;
    free(kj->staged);
    free(kj->in);
    free(kj->ents);
    free(kj->index);
    free(kj);
}

bool kpi_journal_add(kpi_journal_t *kj, const event_t *ev, int64_t offset, int index)
{
    if (!KPI_STAGING_RESERVE(kj))
        return false;
    jstaged_t *s = &kj->in[kj->nin];
    memset(s, 0, sizeof(*s));
    s->t = ev->time_us;
    s->o = offset;
    s->i = index;
    if (ev->kind == EVENT_KIND_JOURNAL_ERROR) {
        uint8_t full[HEXKEY_BYTES];
        hexkey_decode(full, ev->journal_error.entry);
        memcpy(s->entry, full, JKEY);
        s->error = true;
        kj->nin++;
        return true;
    }
    const event_journal_recorded_t *j = &ev->journal;
    /* One buffer for the entry's binary pseudonym, then the group's hash. */
    _Static_assert(HEXKEY_BYTES == SHA256_DIGEST_LENGTH, "one buffer for both");
    uint8_t full[SHA256_DIGEST_LENGTH];
    hexkey_decode(full, j->entry);
    memcpy(s->entry, full, JKEY);
    /* The group key hashes the parts with their lengths, so no two different
     * (patient, item_type, fingerprint) triples can share an input. */
    unsigned char buf[PSEUDO_HEX_LEN + 2 * (4 + EVENT_STR_MAX)];
    size_t n = 0;
    uint32_t len;
    memcpy(buf, j->patient, PSEUDO_HEX_LEN);
    n = PSEUDO_HEX_LEN;
    len = (uint32_t)strlen(j->item_type);
    memcpy(buf + n, &len, 4);
    memcpy(buf + n + 4, j->item_type, len);
    n += 4 + len;
    len = (uint32_t)strlen(j->fingerprint);
    memcpy(buf + n, &len, 4);
    memcpy(buf + n + 4, j->fingerprint, len);
    n += 4 + len;
    SHA256(buf, n, full);
    memcpy(s->grp, full, JKEY);
    s->unit = strpool_intern(kj->pool, ev->unit_id, strlen(ev->unit_id));
    if (!s->unit)
        return false;
    s->dur_us = j->has_duration ? (int64_t)(j->duration_s * 1e6 + 0.5) : kj->default_dur_us;
    kj->nin++;
    return true;
}

size_t kpi_journal_pending(const kpi_journal_t *kj)
{
    return kj->nin + (kj->detached ? kj->nstaged : 0);
}

void kpi_journal_detach(kpi_journal_t *kj)
{
    KPI_STAGING_DETACH(kj, jstaged_t);
}

void kpi_journal_discard(kpi_journal_t *kj)
{
    kj->nstaged = kj->nin = 0;
    kj->detached = false;
    kj->nents = 0;
}

/* ---- the per-flush entry map ------------------------------------------ */

static bool ents_reset(kpi_journal_t *kj, size_t expect)
{
    size_t cap = 64;
    while (cap < expect * 2 + 2)
        cap *= 2;
    if (cap > kj->index_cap) {
        int32_t *p = realloc(kj->index, cap * sizeof(*p));
        if (!p)
            return false;
        kj->index = p;
        kj->index_cap = cap;
    }
    memset(kj->index, 0xff, kj->index_cap * sizeof(int32_t));
    kj->nents = 0;
    return true;
}

static size_t ent_slot(const kpi_journal_t *kj, const uint8_t key[JKEY])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    size_t j = h & (kj->index_cap - 1);
    while (kj->index[j] >= 0 && memcmp(kj->ents[kj->index[j]].entry, key, JKEY) != 0)
        j = (j + 1) & (kj->index_cap - 1);
    return j;
}

/* Index of the entry, added (unknown, not alive) when absent; -1 on OOM. */
static ssize_t ent_get(kpi_journal_t *kj, const uint8_t key[JKEY], bool *created)
{
    if ((kj->nents + 1) * 2 > kj->index_cap) {
        /* Rehash into a table twice the size. */
        size_t n = kj->nents;
        if (!ents_reset(kj, kj->index_cap))
            return -1;
        kj->nents = n;
        for (size_t i = 0; i < n; i++)
            kj->index[ent_slot(kj, kj->ents[i].entry)] = (int32_t)i;
    }
    size_t j = ent_slot(kj, key);
    if (created)
        *created = kj->index[j] < 0;
    if (kj->index[j] >= 0)
        return kj->index[j];
    if (kj->nents == kj->ents_cap) {
        size_t cap = kj->ents_cap ? kj->ents_cap * 2 : 1024;
        jent_t *p = realloc(kj->ents, cap * sizeof(*p));
        if (!p)
            return -1;
        kj->ents = p;
        kj->ents_cap = cap;
    }
    jent_t *e = &kj->ents[kj->nents];
    memset(e, 0, sizeof(*e));
    memcpy(e->entry, key, JKEY);
    kj->index[j] = (int32_t)kj->nents;
    return (ssize_t)kj->nents++;
}

/* ---- flush ------------------------------------------------------------ */

static bool exec_ok(store_t *st, PGresult *res, ExecStatusType want, char *errstr,
                    size_t errstr_size)
{
    if (PQresultStatus(res) == want)
        return true;
    store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return false;
}

static int cmp_ent_ptr(const void *a, const void *b)
{
    const jent_t *const *x = a, *const *y = b;
    return memcmp((*x)->entry, (*y)->entry, JKEY);
}

/* The entries of the map that pass keep (all when NULL), by key; NULL on OOM.
 * Valid until the map grows. */
static jent_t **ents_sorted(kpi_journal_t *kj, bool (*keep)(const jent_t *))
{
    jent_t **v = malloc((kj->nents + 1) * sizeof(*v));
    size_t n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < kj->nents; i++)
        if (!keep || keep(&kj->ents[i]))
            v[n++] = &kj->ents[i];
    qsort(v, n, sizeof(*v), cmp_ent_ptr);
    v[n] = NULL;
    return v;
}

/* Binary result fields (network byte order). */
static int64_t get_i64(const PGresult *res, int row, int col)
{
    return pgbin_get_int8(PQgetvalue(res, row, col));
}

static int32_t get_i32(const PGresult *res, int row, int col)
{
    return pgbin_get_int4(PQgetvalue(res, row, col));
}

static bool get_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] != 0;
}

static bool get_key(const PGresult *res, int row, int col, uint8_t out[JKEY])
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != JKEY)
        return false;
    memcpy(out, PQgetvalue(res, row, col), JKEY);
    return true;
}

/* Columns of both kinds of rows load_state reads. */
enum { C_STAGED, C_ENTRY, C_GRP, C_T, C_O, C_I, C_UNIT, C_DUR, C_DUP, C_ERASED, C_COUNT };

/* Fills an entry of the map from a stored row. */
static void ent_from_row(kpi_journal_t *kj, jent_t *e, const PGresult *res, int r)
{
    e->known = true;
    bool erased = get_bool(res, r, C_ERASED);
    bool has_grp = get_key(res, r, C_GRP, e->o_grp);
    e->n_erased = erased;
    e->n_recorded = has_grp;
    e->vt = get_i64(res, r, C_T);
    e->vo = get_i64(res, r, C_O);
    e->vi = get_i32(res, r, C_I);
    if (has_grp) {
        e->o_t = e->vt;
        e->o_unit = PQgetisnull(res, r, C_UNIT)
                        ? NULL
                        : strpool_intern(kj->pool, PQgetvalue(res, r, C_UNIT),
                                         (size_t)PQgetlength(res, r, C_UNIT));
        e->o_dur = get_i64(res, r, C_DUR);
        e->o_dup = get_bool(res, r, C_DUP);
    }
    e->o_alive = has_grp && !erased;
    e->n_alive = e->o_alive;
    e->n_dup = e->o_dup;
    memcpy(e->n_grp, e->o_grp, JKEY);
    e->n_t = e->o_t;
    e->n_unit = e->o_unit;
    e->n_dur = e->o_dur;
}

/* One statement reads the stored rows of every staged entry (staged = true)
 * and the alive entries of every group a staged recording or a stored row of
 * a staged entry belongs to, within window of the group's times (staged =
 * false). That is a superset of the windows of the groups the batch changes
 * (changed_ranges), which is all recompute needs: extra rows are real
 * neighbours and keep their status. Both reads are index scans per key and
 * per group (journal_entry_pkey, journal_entry_grp_t): OFFSET 0 keeps the
 * planner from flattening a lateral subquery into a join it could hash, which
 * for large tables meant a sequential scan of journal_entry. For this
 * statement only, bitmap scans are off: with an estimate of two rows a group
 * the planner took them for most batches, and building a bitmap per group
 * cost more than the index scan (perf: ~12 % of the backend). set_config(...,
 * true) is transaction-local like SET LOCAL, and a failed transaction drops
 * it. */
static const char LOAD_SQL[] =
    "WITH f AS MATERIALIZED (SELECT e.* FROM (SELECT unnest($1::uuid[]) AS entry) k "
    "CROSS JOIN LATERAL (SELECT e.entry, e.grp, e.t, e.o, e.i, e.unit_id, e.dur_us, e.dup, "
    "e.erased FROM gevinst.journal_entry e WHERE e.entry = k.entry OFFSET 0) e), "
    "r AS (SELECT g, min(t) - $4::bigint AS lo, max(t) + $4::bigint AS hi FROM ("
    "SELECT unnest($2::uuid[]) AS g, unnest($3::bigint[]) AS t "
    "UNION ALL SELECT f.grp, f.t FROM f WHERE f.grp IS NOT NULL AND NOT f.erased) u GROUP BY g) "
    "SELECT true, f.* FROM f UNION ALL "
    "SELECT false, w.* FROM r CROSS JOIN LATERAL (SELECT e.entry, e.grp, e.t, e.o, e.i, "
    "e.unit_id, e.dur_us, e.dup, e.erased FROM gevinst.journal_entry e WHERE e.grp = r.g AND "
    "e.t BETWEEN r.lo AND r.hi AND NOT e.erased OFFSET 0) w";

static bool load_state(kpi_journal_t *kj, store_t *st, char *errstr, size_t errstr_size)
{
    pgbin_t keys, grps, ts;
    char win[24];
    bool oom = false;
    pgbin_init(&keys, PGBIN_UUID);
    pgbin_init(&grps, PGBIN_UUID);
    pgbin_init(&ts, PGBIN_INT8);
    for (size_t s = 0; s < kj->nstaged; s++) {
        const jstaged_t *sg = &kj->staged[s];
        if (ent_get(kj, sg->entry, NULL) < 0) {
            oom = true;
            break;
        }
        if (!sg->error) {
            pgbin_add_bytes(&grps, sg->grp, JKEY);
            pgbin_add_int8(&ts, sg->t);
        }
    }
    /* The map holds just the staged entries now. In key order the probes walk
     * the primary key from left to right. */
    jent_t **order = oom ? NULL : ents_sorted(kj, NULL);
    if (order)
        for (size_t i = 0; i < kj->nents; i++)
            pgbin_add_bytes(&keys, order[i]->entry, JKEY);
    else
        oom = true;
    free(order);
    snprintf(win, sizeof(win), "%" PRId64, kj->window_us);
    const char *p[4];
    int len[4] = {0, 0, 0, 0}, fmt[4] = {1, 1, 1, 0};
    p[0] = pgbin_param(&keys, &len[0]);
    p[1] = pgbin_param(&grps, &len[1]);
    p[2] = pgbin_param(&ts, &len[2]);
    p[3] = win;
    PGresult *res = NULL;
    oom = oom || !p[0] || !p[1] || !p[2];
    store_plan_t plan;
    bool set = !oom && store_plan_off(st, "{enable_bitmapscan}", &plan, errstr, errstr_size);
    if (set)
        res = PQexecParams(store_conn(st), LOAD_SQL, 4, NULL, p, len, fmt, 1);
    pgbin_free(&keys);
    pgbin_free(&grps);
    pgbin_free(&ts);
    if (oom) {
        snprintf(errstr, errstr_size, "out of memory");
        return false;
    }
    if (!set || !exec_ok(st, res, PGRES_TUPLES_OK, errstr, errstr_size))
        return false;
    /* Back to the value the caller's transaction had. */
    if (!store_plan_restore(st, &plan, errstr, errstr_size)) {
        PQclear(res);
        return false;
    }
    if (PQnfields(res) != C_COUNT) {
        PQclear(res);
        snprintf(errstr, errstr_size, "journal: unexpected result shape");
        return false;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        uint8_t key[JKEY];
        bool created;
        if (!get_key(res, r, C_ENTRY, key)) {
            PQclear(res);
            snprintf(errstr, errstr_size, "journal: bad entry key in journal_entry");
            return false;
        }
        ssize_t idx = ent_get(kj, key, &created);
        if (idx < 0) {
            PQclear(res);
            snprintf(errstr, errstr_size, "out of memory");
            return false;
        }
        /* A staged entry's own row fills it; a window row of a staged entry
         * repeats it and one of another entry is that entry, unchanged. */
        if (get_bool(res, r, C_STAGED) || created)
            ent_from_row(kj, &kj->ents[idx], res, r);
    }
    PQclear(res);
    return true;
}

/* Applies the staged events in arrival order: the latest recording wins, an
 * entered-in-error erases for good. */
static void merge_staged(kpi_journal_t *kj)
{
    for (size_t s = 0; s < kj->nstaged; s++) {
        const jstaged_t *sg = &kj->staged[s];
        jent_t *e = &kj->ents[ent_get(kj, sg->entry, NULL)];
        if (sg->error) {
            if (!e->n_erased) {
                e->n_erased = true;
                e->n_alive = false;
                e->changed = true;
                if (!e->n_recorded) {
                    e->vt = sg->t;
                    e->vo = sg->o;
                    e->vi = sg->i;
                }
            }
            continue;
        }
        if (e->n_recorded &&
            (e->vt > sg->t ||
             (e->vt == sg->t && (e->vo > sg->o || (e->vo == sg->o && e->vi > sg->i)))))
            continue; /* an older recording */
        e->n_recorded = true;
        e->vt = sg->t;
        e->vo = sg->o;
        e->vi = sg->i;
        memcpy(e->n_grp, sg->grp, JKEY);
        e->n_t = sg->t;
        e->n_unit = sg->unit;
        e->n_dur = sg->dur_us;
        e->n_alive = !e->n_erased;
        e->changed = true;
    }
}

static int cmp_range(const void *a, const void *b)
{
    const grange_t *x = a, *y = b;
    int c = memcmp(x->grp, y->grp, JKEY);
    return c ? c : (x->lo > y->lo) - (x->lo < y->lo);
}

static int cmp_member(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int c = memcmp(x->grp, y->grp, JKEY);
    if (c)
        return c;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return memcmp(x->entry, y->entry, JKEY);
}

/* The groups a change touches, each with the span of changed times. */
static grange_t *changed_ranges(kpi_journal_t *kj, size_t *count)
{
    grange_t *r = malloc((2 * kj->nents + 1) * sizeof(*r));
    size_t n = 0;
    if (!r)
        return NULL;
    for (size_t i = 0; i < kj->nents; i++) {
        const jent_t *e = &kj->ents[i];
        if (!e->changed)
            continue;
        if (e->o_alive) {
            memcpy(r[n].grp, e->o_grp, JKEY);
            r[n].lo = r[n].hi = e->o_t;
            n++;
        }
        if (e->n_alive) {
            memcpy(r[n].grp, e->n_grp, JKEY);
            r[n].lo = r[n].hi = e->n_t;
            n++;
        }
    }
    qsort(r, n, sizeof(*r), cmp_range);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && memcmp(r[m - 1].grp, r[i].grp, JKEY) == 0) {
            if (r[i].hi > r[m - 1].hi)
                r[m - 1].hi = r[i].hi;
            continue;
        }
        r[m++] = r[i];
    }
    *count = m;
    return r;
}

static const grange_t *range_of(const grange_t *r, size_t n, const uint8_t grp[JKEY])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(r[mid].grp, grp, JKEY);
        if (c == 0)
            return &r[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Recomputes duplicate status where a change can reach: entries of a touched
 * group from its first changed time up to window past its last. */
static bool recompute(kpi_journal_t *kj, const grange_t *r, size_t n)
{
    member_t *m = malloc((kj->nents + 1) * sizeof(*m));
    size_t k = 0;
    if (!m)
        return false;
    for (size_t i = 0; i < kj->nents; i++) {
        jent_t *e = &kj->ents[i];
        if (e->n_alive && range_of(r, n, e->n_grp))
            m[k++] = (member_t){e->n_grp, e->n_t, e->entry, i};
    }
    qsort(m, k, sizeof(*m), cmp_member);
    for (size_t i = 0; i < k; i++) {
        const grange_t *g = range_of(r, n, m[i].grp);
        if (m[i].t < g->lo || m[i].t > g->hi + kj->window_us)
            continue; /* out of reach of every change: keeps its status */
        bool has_prev = i > 0 && memcmp(m[i - 1].grp, m[i].grp, JKEY) == 0;
        kj->ents[m[i].ent].n_dup = has_prev && m[i].t - m[i - 1].t <= kj->window_us;
    }
    free(m);
    return true;
}

static void contribute(kpi_journal_t *kj, kpi_delta_t *kd, const char *unit, int64_t t, bool dup,
                       int64_t dur, int64_t sign)
{
    int32_t day = timeutil_local_day(kj->tz, t);
    kpi_delta_add(kd, unit, KPI_DOUBLE_DOCUMENTATION_SHARE, day, dup ? sign : 0, sign);
    if (dup)
        kpi_delta_add(kd, unit, KPI_DOUBLE_DOCUMENTATION_MINUTES, day, sign * dur, sign);
}

/* Boolean arrays: pgbin takes each element verbatim, one byte 0 or 1 here. */
#define BOOL_OID 16u

/* The columns of the rows write_entries sends, in the statements' order. */
typedef struct jrows {
    pgbin_t k, g, t, o, i, u, d, dup, er;
} jrows_t;

static void jrows_init(jrows_t *w)
{
    pgbin_init(&w->k, PGBIN_UUID);
    pgbin_init(&w->g, PGBIN_UUID);
    pgbin_init(&w->t, PGBIN_INT8);
    pgbin_init(&w->o, PGBIN_INT8);
    pgbin_init(&w->i, PGBIN_INT4);
    pgbin_init(&w->u, PGBIN_TEXT);
    pgbin_init(&w->d, PGBIN_INT8);
    pgbin_init(&w->dup, BOOL_OID);
    pgbin_init(&w->er, BOOL_OID);
}

static void jrows_free(jrows_t *w)
{
    pgbin_free(&w->k);
    pgbin_free(&w->g);
    pgbin_free(&w->t);
    pgbin_free(&w->o);
    pgbin_free(&w->i);
    pgbin_free(&w->u);
    pgbin_free(&w->d);
    pgbin_free(&w->dup);
    pgbin_free(&w->er);
}

static void jrows_add(jrows_t *w, const jent_t *e)
{
    uint8_t dup = e->n_alive && e->n_dup, er = e->n_erased;
    pgbin_add_bytes(&w->k, e->entry, JKEY);
    if (e->n_recorded) {
        pgbin_add_bytes(&w->g, e->n_grp, JKEY);
        pgbin_add_text(&w->u, e->n_unit);
    } else {
        pgbin_add_null(&w->g);
        pgbin_add_null(&w->u);
    }
    pgbin_add_int8(&w->t, e->vt);
    pgbin_add_int8(&w->o, e->vo);
    pgbin_add_int4(&w->i, e->vi);
    pgbin_add_int8(&w->d, e->n_recorded ? e->n_dur : 0);
    pgbin_add_bytes(&w->dup, &dup, 1);
    pgbin_add_bytes(&w->er, &er, 1);
}

static bool jrows_exec(jrows_t *w, store_t *st, const char *sql, char *errstr, size_t errstr_size)
{
    enum { NCOL = 9 };
    pgbin_t *col[NCOL] = {&w->k, &w->g, &w->t, &w->o, &w->i, &w->u, &w->d, &w->dup, &w->er};
    const char *p[NCOL];
    int len[NCOL], fmt[NCOL];
    if (w->k.count == 0)
        return true;
    for (int c = 0; c < NCOL; c++) {
        fmt[c] = 1;
        p[c] = pgbin_param(col[c], &len[c]);
        if (!p[c]) {
            snprintf(errstr, errstr_size, "out of memory");
            return false;
        }
    }
    PGresult *res = PQexecParams(store_conn(st), sql, NCOL, NULL, p, len, fmt, 0);
    if (!exec_ok(st, res, PGRES_COMMAND_OK, errstr, errstr_size))
        return false;
    PQclear(res);
    return true;
}

/* Set-returning functions in the select list run in lockstep (the arrays have
 * one length) one value per call; unnest in FROM would first copy every row
 * into a tuplestore (perf: ~8 % of the backend). */
#define JROWS_SELECT                                                                               \
    "SELECT unnest($1::uuid[]), unnest($2::uuid[]), unnest($3::bigint[]), "                        \
    "unnest($4::bigint[]), unnest($5::int[]), unnest($6::text[]), unnest($7::bigint[]), "          \
    "unnest($8::bool[]), unnest($9::bool[])"

static bool ent_needs_write(const jent_t *e)
{
    return e->changed || e->n_dup != e->o_dup;
}

/* Entries without a row are inserted plainly: under the advisory lock nobody
 * else can have added one since load_state looked (an ON CONFLICT insert pays
 * for an extra probe of the primary key). Rows that exist are upserted, whose
 * conflict path always finds them through the primary key. */
static bool write_entries(kpi_journal_t *kj, store_t *st, kpi_delta_t *kd, char *errstr,
                          size_t errstr_size)
{
    /* In key order, so the inserts walk the primary key from left to right
     * without a sort on the server. */
    jent_t **order = ents_sorted(kj, ent_needs_write);
    if (!order) {
        snprintf(errstr, errstr_size, "out of memory");
        return false;
    }
    jrows_t fresh, known;
    jrows_init(&fresh);
    jrows_init(&known);
    for (jent_t **pe = order; *pe; pe++) {
        jent_t *e = *pe;
        if (e->o_alive)
            contribute(kj, kd, e->o_unit, e->o_t, e->o_dup, e->o_dur, -1);
        if (e->n_alive)
            contribute(kj, kd, e->n_unit, e->n_t, e->n_dup, e->n_dur, +1);
        jrows_add(e->known ? &known : &fresh, e);
    }
    bool ok = jrows_exec(&fresh, st,
                         "INSERT INTO gevinst.journal_entry (entry, grp, t, o, i, unit_id, dur_us, "
                         "dup, erased) " JROWS_SELECT,
                         errstr, errstr_size) &&
              jrows_exec(&known, st,
                         "INSERT INTO gevinst.journal_entry (entry, grp, t, o, i, unit_id, dur_us, "
                         "dup, erased) " JROWS_SELECT
                         " ON CONFLICT (entry) DO UPDATE SET grp = EXCLUDED.grp, t = EXCLUDED.t, "
                         "o = EXCLUDED.o, i = EXCLUDED.i, unit_id = EXCLUDED.unit_id, "
                         "dur_us = EXCLUDED.dur_us, dup = EXCLUDED.dup, erased = EXCLUDED.erased",
                         errstr, errstr_size);
    jrows_free(&fresh);
    jrows_free(&known);
    free(order);
    return ok;
}

bool kpi_journal_flush(kpi_journal_t *kj, store_t *st, kpi_delta_t *kd, char *errstr,
                       size_t errstr_size)
{
    if (!kj->detached)
        kpi_journal_detach(kj);
    kj->detached = false;
    if (kj->nstaged == 0)
        return true;
    bool ok = false;
    grange_t *ranges = NULL;
    size_t nranges = 0;
    PGresult *res = PQexec(store_conn(st), "SELECT pg_advisory_xact_lock(" JOURNAL_LOCK_KEY ")");
    if (!exec_ok(st, res, PGRES_TUPLES_OK, errstr, errstr_size))
        goto out;
    PQclear(res);
    if (!ents_reset(kj, kj->nstaged) || !load_state(kj, st, errstr, errstr_size))
        goto out;
    merge_staged(kj);
    ranges = changed_ranges(kj, &nranges);
    if (!ranges) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (!recompute(kj, ranges, nranges)) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    ok = write_entries(kj, st, kd, errstr, errstr_size);
out:
    free(ranges);
    kj->nstaged = 0;
    kj->nents = 0;
    return ok;
}
