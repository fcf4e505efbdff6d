/* stage: batch rows for rejected_event, intake_daily and unit_seen. */
#include "gevinst/stage.h"
#include "gevinst/hexkey.h"

#include "gevinst/pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct count_cell {
    char *topic;
    char *outcome;
    int64_t n;
} count_cell_t;

typedef struct unit_cell {
    char *unit_id;
    int64_t first_us;
    int64_t n;
    bool has[STAGE_ROLE_COUNT];
    int64_t ev_min[STAGE_ROLE_COUNT], ev_max[STAGE_ROLE_COUNT];
} unit_cell_t;

static const char *const role_names[STAGE_ROLE_COUNT] = {"appointments", "journal", "audit"};

struct stage {
    /* Rejections go straight into array literals: they are rare. */
    pgarray_t r_topic, r_part, r_offset, r_index, r_reason, r_detail, r_event_id, r_payload;
    size_t rejects;
    count_cell_t *counts;
    size_t count_len, count_cap;
    /* Open-addressing hash of units: a batch sees few distinct units but
     * many events each, so lookups must be cheap. */
    unit_cell_t *units;
    size_t unit_len, unit_cap;
};

stage_t *stage_new(void)
{
    stage_t *sg = calloc(1, sizeof(*sg));
    if (!sg)
        return NULL;
    sg->unit_cap = 256;
    sg->units = calloc(sg->unit_cap, sizeof(unit_cell_t));
    if (!sg->units) {
        free(sg);
        return NULL;
    }
    return sg;
}

static pgarray_t *reject_arrays(stage_t *sg, size_t i)
{
    pgarray_t *all[] = {&sg->r_topic,  &sg->r_part,   &sg->r_offset,   &sg->r_index,
                        &sg->r_reason, &sg->r_detail, &sg->r_event_id, &sg->r_payload};
    return i < 8 ? all[i] : NULL;
}

void stage_clear(stage_t *sg)
{
    for (size_t i = 0; i < 8; i++)
        pgarray_reset(reject_arrays(sg, i));
    sg->rejects = 0;
    for (size_t i = 0; i < sg->count_len; i++) {
        free(sg->counts[i].topic);
        free(sg->counts[i].outcome);
    }
    sg->count_len = 0;
    for (size_t i = 0; i < sg->unit_cap; i++) {
        free(sg->units[i].unit_id);
        sg->units[i].unit_id = NULL;
    }
    sg->unit_len = 0;
}

void stage_destroy(stage_t *sg)
{
    if (!sg)
        return;
    stage_clear(sg);
    for (size_t i = 0; i < 8; i++)
        pgarray_free(reject_arrays(sg, i));
    free(sg->counts);
    free(sg->units);
    free(sg);
}

void stage_reject(stage_t *sg, const char *topic, int32_t partition, int64_t offset,
                  int batch_index, const char *reason, const char *detail, const char *event_id,
                  const char *payload, size_t payload_len)
{
    pgarray_add_text(&sg->r_topic, topic);
    pgarray_add_int(&sg->r_part, partition);
    pgarray_add_int(&sg->r_offset, offset);
    pgarray_add_int(&sg->r_index, batch_index);
    pgarray_add_text(&sg->r_reason, reason);
    pgarray_add_text(&sg->r_detail, detail);
    pgarray_add_text(&sg->r_event_id, event_id);
    if (payload) {
        /* text cannot hold NUL bytes; such a payload is kept up to the first. */
        size_t n = strnlen(payload, payload_len);
        pgarray_add_textn(&sg->r_payload, payload, n);
    } else {
        pgarray_add_text(&sg->r_payload, NULL);
    }
    sg->rejects++;
    stage_count(sg, topic, reason, 1);
}

void stage_count(stage_t *sg, const char *topic, const char *outcome, int64_t n)
{
    for (size_t i = 0; i < sg->count_len; i++) {
        if (strcmp(sg->counts[i].outcome, outcome) == 0 &&
            strcmp(sg->counts[i].topic, topic) == 0) {
            sg->counts[i].n += n;
            return;
        }
    }
    if (sg->count_len == sg->count_cap) {
        size_t cap = sg->count_cap ? sg->count_cap * 2 : 16;
        count_cell_t *p = realloc(sg->counts, cap * sizeof(*p));
        if (!p)
            return;
        sg->counts = p;
        sg->count_cap = cap;
    }
    sg->counts[sg->count_len++] = (count_cell_t){strdup(topic), strdup(outcome), n};
}

static void unit_grow(stage_t *sg)
{
    size_t cap = sg->unit_cap * 2;
    unit_cell_t *cells = calloc(cap, sizeof(*cells));
    if (!cells)
        return;
    for (size_t i = 0; i < sg->unit_cap; i++) {
        unit_cell_t *c = &sg->units[i];
        if (!c->unit_id)
            continue;
        size_t j = hexkey_fnv1a(c->unit_id, strlen(c->unit_id)) & (cap - 1);
        while (cells[j].unit_id)
            j = (j + 1) & (cap - 1);
        cells[j] = *c;
    }
    free(sg->units);
    sg->units = cells;
    sg->unit_cap = cap;
}

static void cell_clock(unit_cell_t *c, stage_role_t role, int64_t event_us)
{
    if (!c->has[role] || event_us < c->ev_min[role])
        c->ev_min[role] = event_us;
    if (!c->has[role] || event_us > c->ev_max[role])
        c->ev_max[role] = event_us;
    c->has[role] = true;
}

void stage_unit(stage_t *sg, const char *unit_id, size_t unit_len, int64_t when_us,
                stage_role_t role, int64_t event_us)
{
    if (sg->unit_len * 2 >= sg->unit_cap)
        unit_grow(sg);
    size_t j = hexkey_fnv1a(unit_id, unit_len) & (sg->unit_cap - 1);
    while (sg->units[j].unit_id) {
        unit_cell_t *c = &sg->units[j];
        if (strncmp(c->unit_id, unit_id, unit_len) == 0 && c->unit_id[unit_len] == '\0') {
            c->n++;
            if (when_us < c->first_us)
                c->first_us = when_us;
            cell_clock(c, role, event_us);
            return;
        }
        j = (j + 1) & (sg->unit_cap - 1);
    }
    sg->units[j] =
        (unit_cell_t){.unit_id = strndup(unit_id, unit_len), .first_us = when_us, .n = 1};
    cell_clock(&sg->units[j], role, event_us);
    sg->unit_len++;
}

size_t stage_rows(const stage_t *sg)
{
    return sg->rejects + sg->count_len + sg->unit_len;
}

static bool run(store_t *st, const char *sql, int n, const char *const *params, bool *retriable,
                char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecParams(store_conn(st), sql, n, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        *retriable = store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return ok;
}

/* Event-time clocks: per (unit, role) first and last, per role the latest. */
static bool flush_clocks(stage_t *sg, store_t *st, bool *retriable, char *errstr,
                         size_t errstr_size)
{
    pgarray_t u, r, lo, hi;
    pgarray_init(&u);
    pgarray_init(&r);
    pgarray_init(&lo);
    pgarray_init(&hi);
    for (size_t i = 0; i < sg->unit_cap; i++) {
        const unit_cell_t *c = &sg->units[i];
        for (int role = 0; c->unit_id && role < STAGE_ROLE_COUNT; role++) {
            if (!c->has[role])
                continue;
            pgarray_add_text(&u, c->unit_id);
            pgarray_add_text(&r, role_names[role]);
            pgarray_add_int(&lo, c->ev_min[role]);
            pgarray_add_int(&hi, c->ev_max[role]);
        }
    }
    const char *p[4] = {pgarray_str(&u), pgarray_str(&r), pgarray_str(&lo), pgarray_str(&hi)};
    bool ok =
        p[0] && p[1] && p[2] && p[3] &&
        run(st,
            "WITH x AS (SELECT u, r, to_timestamp(lo / 1e6) AS lo, to_timestamp(hi / 1e6) AS hi "
            "  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS y(u, r, lo, "
            "hi)), "
            "c AS (INSERT INTO gevinst.event_clock (role, max_time) "
            "  SELECT r, max(hi) FROM x GROUP BY r ORDER BY r "
            "  ON CONFLICT (role) DO UPDATE SET max_time = greatest(event_clock.max_time, "
            "  EXCLUDED.max_time)) "
            "INSERT INTO gevinst.unit_role_clock (unit_id, role, first_time, last_time) "
            "SELECT u, r, lo, hi FROM x ORDER BY u, r "
            "ON CONFLICT (unit_id, role) DO UPDATE SET "
            "first_time = least(unit_role_clock.first_time, EXCLUDED.first_time), "
            "last_time = greatest(unit_role_clock.last_time, EXCLUDED.last_time)",
            4, p, retriable, errstr, errstr_size);
    pgarray_free(&u);
    pgarray_free(&r);
    pgarray_free(&lo);
    pgarray_free(&hi);
    return ok;
}

bool stage_flush(stage_t *sg, store_t *st, const char *tz, bool *retriable, char *errstr,
                 size_t errstr_size)
{
    *retriable = false;
    if (!store_conn(st)) {
        snprintf(errstr, errstr_size, "not connected to PostgreSQL");
        *retriable = true;
        return false;
    }
    if (sg->rejects) {
        const char *p[9] = {
            pgarray_str(&sg->r_topic),    pgarray_str(&sg->r_part),    pgarray_str(&sg->r_offset),
            pgarray_str(&sg->r_index),    pgarray_str(&sg->r_reason),  pgarray_str(&sg->r_detail),
            pgarray_str(&sg->r_event_id), pgarray_str(&sg->r_payload), tz};
        for (int i = 0; i < 8; i++)
            if (!p[i]) {
                snprintf(errstr, errstr_size, "out of memory staging rejections");
                return false;
            }
        /* ON CONFLICT: a message consumed again after an ambiguous commit
         * must not fail the batch; the offsets make the counts exact. */
        if (!run(st,
                 "INSERT INTO gevinst.rejected_event (topic, partition, \"offset\", batch_index, "
                 "reason, detail, event_id, payload, day) "
                 "SELECT t, p, o, i, r, d, e, pl, (now() AT TIME ZONE $9)::date "
                 "FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::text[], "
                 "$6::text[], $7::text[], $8::text[]) AS u(t, p, o, i, r, d, e, pl) "
                 "ON CONFLICT DO NOTHING",
                 9, p, retriable, errstr, errstr_size))
            return false;
    }
    if (sg->count_len) {
        pgarray_t t, o, n;
        pgarray_init(&t);
        pgarray_init(&o);
        pgarray_init(&n);
        for (size_t i = 0; i < sg->count_len; i++) {
            pgarray_add_text(&t, sg->counts[i].topic);
            pgarray_add_text(&o, sg->counts[i].outcome);
            pgarray_add_int(&n, sg->counts[i].n);
        }
        const char *p[4] = {pgarray_str(&t), pgarray_str(&o), pgarray_str(&n), tz};
        bool ok =
            p[0] && p[1] && p[2] &&
            run(st,
                "INSERT INTO gevinst.intake_daily (day, topic, outcome, events) "
                "SELECT (now() AT TIME ZONE $4)::date, t, o, n "
                "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(t, o, n) ORDER BY t, o "
                "ON CONFLICT (day, topic, outcome) "
                "DO UPDATE SET events = intake_daily.events + EXCLUDED.events",
                4, p, retriable, errstr, errstr_size);
        pgarray_free(&t);
        pgarray_free(&o);
        pgarray_free(&n);
        if (!ok)
            return false;
    }
    if (sg->unit_len) {
        pgarray_t u, f, n;
        pgarray_init(&u);
        pgarray_init(&f);
        pgarray_init(&n);
        for (size_t i = 0; i < sg->unit_cap; i++) {
            if (!sg->units[i].unit_id)
                continue;
            pgarray_add_text(&u, sg->units[i].unit_id);
            pgarray_add_int(&f, sg->units[i].first_us);
            pgarray_add_int(&n, sg->units[i].n);
        }
        const char *p[3] = {pgarray_str(&u), pgarray_str(&f), pgarray_str(&n)};
        /* Sorted so concurrent instances lock unit rows in the same order. */
        bool ok = p[0] && p[1] && p[2] &&
                  run(st,
                      "INSERT INTO gevinst.unit_seen (unit_id, first_seen, events) "
                      "SELECT u, to_timestamp(f / 1e6), n "
                      "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS x(u, f, n) "
                      "ORDER BY u "
                      "ON CONFLICT (unit_id) DO UPDATE SET events = unit_seen.events + "
                      "EXCLUDED.events, first_seen = least(unit_seen.first_seen, "
                      "EXCLUDED.first_seen)",
                      3, p, retriable, errstr, errstr_size);
        pgarray_free(&u);
        pgarray_free(&f);
        pgarray_free(&n);
        if (!ok)
            return false;
        if (!flush_clocks(sg, st, retriable, errstr, errstr_size))
            return false;
    }
    return true;
}
