/* kpi_delta: a batch's additive KPI changes, keyed by (unit, kpi, day). */
#include "gevinst/kpi.h"

#include "gevinst/pgbin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kpi_names[KPI_COUNT] = {
    "no_show_rate",       "no_show_rate_self_booked",   "no_show_rate_staff_booked",
    "self_booking_share", "double_documentation_share", "double_documentation_minutes",
    "ehr_active_minutes", "documentation_minutes",
};

const char *kpi_name(kpi_id_t kpi)
{
    return (unsigned)kpi < KPI_COUNT ? kpi_names[kpi] : "?";
}

bool kpi_parse(const char *name, kpi_id_t *out)
{
    for (int i = 0; i < KPI_COUNT; i++) {
        if (strcmp(name, kpi_names[i]) == 0) {
            *out = (kpi_id_t)i;
            return true;
        }
    }
    return false;
}

typedef struct cell {
    const char *unit; /* NULL: empty slot */
    int32_t day;
    int32_t kpi;
    int64_t num, den;
} cell_t;

struct kpi_delta {
    cell_t *cells;
    size_t cap, count;
};

kpi_delta_t *kpi_delta_new(void)
{
    kpi_delta_t *kd = calloc(1, sizeof(*kd));
    if (!kd)
        return NULL;
    kd->cap = 1024;
    kd->cells = calloc(kd->cap, sizeof(cell_t));
    if (!kd->cells) {
        free(kd);
        return NULL;
    }
    return kd;
}

void kpi_delta_destroy(kpi_delta_t *kd)
{
    if (!kd)
        return;
    free(kd->cells);
    free(kd);
}

/* Units are interned, so the pointer identifies the unit. */
static size_t slot_of(const kpi_delta_t *kd, const char *unit, int kpi, int32_t day)
{
    uint64_t h = (uint64_t)(uintptr_t)unit * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)(uint32_t)day << 8 | (uint64_t)kpi) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    size_t j = h & (kd->cap - 1);
    while (kd->cells[j].unit &&
           !(kd->cells[j].unit == unit && kd->cells[j].kpi == kpi && kd->cells[j].day == day))
        j = (j + 1) & (kd->cap - 1);
    return j;
}

static void grow(kpi_delta_t *kd)
{
    kpi_delta_t bigger = {calloc(kd->cap * 2, sizeof(cell_t)), kd->cap * 2, 0};
    if (!bigger.cells)
        return;
    for (size_t i = 0; i < kd->cap; i++) {
        if (!kd->cells[i].unit)
            continue;
        bigger.cells[slot_of(&bigger, kd->cells[i].unit, kd->cells[i].kpi, kd->cells[i].day)] =
            kd->cells[i];
        bigger.count++;
    }
    free(kd->cells);
    *kd = bigger;
}

void kpi_delta_add(kpi_delta_t *kd, const char *unit, kpi_id_t kpi, int32_t day, int64_t num,
                   int64_t den)
{
    if (kd->count * 2 >= kd->cap)
        grow(kd);
    size_t j = slot_of(kd, unit, (int)kpi, day);
    cell_t *c = &kd->cells[j];
    if (!c->unit) {
        *c = (cell_t){unit, day, (int32_t)kpi, 0, 0};
        kd->count++;
    }
    c->num += num;
    c->den += den;
}

size_t kpi_delta_cells(const kpi_delta_t *kd)
{
    size_t n = 0;
    for (size_t i = 0; i < kd->cap; i++)
        n += kd->cells[i].unit && (kd->cells[i].num || kd->cells[i].den);
    return n;
}

bool kpi_delta_get(const kpi_delta_t *kd, const char *unit, kpi_id_t kpi, int32_t day, int64_t *num,
                   int64_t *den)
{
    const cell_t *c = &kd->cells[slot_of(kd, unit, (int)kpi, day)];
    if (!c->unit || (!c->num && !c->den))
        return false;
    *num = c->num;
    *den = c->den;
    return true;
}

void kpi_delta_clear(kpi_delta_t *kd)
{
    memset(kd->cells, 0, kd->cap * sizeof(cell_t));
    kd->count = 0;
}

bool kpi_delta_flush(kpi_delta_t *kd, store_t *st, bool *retriable, char *errstr,
                     size_t errstr_size)
{
    enum { NCOL = 5 };
    static const uint32_t types[NCOL] = {PGBIN_TEXT, PGBIN_TEXT, PGBIN_INT4, PGBIN_INT8,
                                         PGBIN_INT8};
    pgbin_t a[NCOL];
    *retriable = false;
    if (kd->count == 0)
        return true;
    for (int c = 0; c < NCOL; c++)
        pgbin_init(&a[c], types[c]);
    /* Binary arrays: the server skips array_in, which cost as much as the upsert's
     * lookups for these short rows. */
    for (size_t i = 0; i < kd->cap; i++) {
        const cell_t *c = &kd->cells[i];
        if (!c->unit || (!c->num && !c->den))
            continue;
        pgbin_add_text(&a[0], c->unit);
        pgbin_add_text(&a[1], kpi_names[c->kpi]);
        pgbin_add_int4(&a[2], c->day);
        pgbin_add_int8(&a[3], c->num);
        pgbin_add_int8(&a[4], c->den);
    }
    bool ok = true;
    if (a[0].count) {
        const char *p[NCOL];
        int len[NCOL], fmt[NCOL] = {1, 1, 1, 1, 1};
        for (int c = 0; c < NCOL; c++)
            if (!(p[c] = pgbin_param(&a[c], &len[c])))
                ok = false;
        if (!ok) {
            snprintf(errstr, errstr_size, "out of memory staging KPI changes");
        } else {
            /* Unnested in the select list: see INSERT_STATES in kpi_appt.c. */
            PGresult *res = PQexecParams(
                store_conn(st),
                "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) "
                "SELECT u, k, date '1970-01-01' + d, n, m "
                "FROM (SELECT unnest($1::text[]) AS u, unnest($2::text[]) AS k, "
                "unnest($3::int[]) AS d, unnest($4::bigint[]) AS n, unnest($5::bigint[]) AS m) x "
                "ORDER BY u, k, d "
                "ON CONFLICT (unit_id, kpi, day) DO UPDATE "
                "SET num = kpi_bucket.num + EXCLUDED.num, den = kpi_bucket.den + EXCLUDED.den",
                NCOL, NULL, p, len, fmt, 0);
            ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok)
                *retriable = store_error(st, res, errstr, errstr_size);
            PQclear(res);
        }
    }
    for (int c = 0; c < NCOL; c++)
        pgbin_free(&a[c]);
    return ok;
}

bool kpi_staging_reserve(void *in_ptr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    void *in;
    memcpy(&in, in_ptr, sizeof(in));
    size_t c = *cap ? *cap * 2 : 1024;
    void *p = realloc(in, c * elem);
    if (!p)
        return false;
    memcpy(in_ptr, &p, sizeof(p));
    *cap = c;
    return true;
}
