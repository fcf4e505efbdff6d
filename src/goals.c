/* goals: the goals file (goals.md), validated whole, and its registry sync. */
#include "gevinst/goals.h"

#include "gevinst/pgarray.h"
#include "gevinst/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any constant shared by every instance: two instances reloading at once
 * take turns instead of deadlocking on each other's upserts. */
#define GOALS_SYNC_LOCK_KEY "7450580227585434725"

#define GOALS_MAX_FILE_BYTES (16u << 20)
#define GOALS_MAX_CONSECUTIVE 1000

/* ---------------------------------------------------------------- parsing */

typedef struct parse_state {
    const char *path;
    char **errors;
    size_t errors_len, errors_cap;
    int error_count;
    bool oom;
    goals_t *g;
} parse_state_t;

static void add_error(parse_state_t *ps, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line: "path: who: message" (who may be NULL). */
static void add_error(parse_state_t *ps, const char *who, const char *fmt, ...)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg), "%s: %s%s", ps->path, who ? who : "", who ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(msg);
    ps->error_count++;
    if (ps->errors_len + len + 2 > ps->errors_cap) {
        size_t cap = (ps->errors_cap + len + 2) * 2;
        char *p = realloc(*ps->errors, cap);
        if (!p) {
            ps->oom = true;
            return;
        }
        *ps->errors = p;
        ps->errors_cap = cap;
    }
    memcpy(*ps->errors + ps->errors_len, msg, len);
    ps->errors_len += len;
    (*ps->errors)[ps->errors_len++] = '\n';
    (*ps->errors)[ps->errors_len] = '\0';
}

static char *dup_str(parse_state_t *ps, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        ps->oom = true;
    return d;
}

/* s in double quotes for a message, control characters escaped (one error,
 * one line) and long strings cut short. */
static const char *quote(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < size; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
        else if (*p == '"' || *p == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", *p);
        else
            buf[o++] = (char)*p;
        if (p[1] && o + 8 >= size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* A field's value, with JSON null read as "not given". */
static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Reports every key of obj not in known (NULL-terminated), with a guess at
 * the intended one: a typo must not quietly drop a setting. prefix names the
 * enclosing field ("baseline."). */
static void check_fields(parse_state_t *ps, const char *who, const char *prefix, json_t *obj,
                         const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        const char *best = NULL;
        size_t best_d = 3; /* suggest at distance 1 or 2 only */
        bool ok = false;
        for (const char *const *k = known; *k; k++) {
            if (strcmp(key, *k) == 0) {
                ok = true;
                break;
            }
            size_t d = edit_distance(key, *k);
            if (d < best_d) {
                best_d = d;
                best = *k;
            }
        }
        if (ok)
            continue;
        /* Field names as in the rest of the messages; anything odd quoted. */
        char q[160];
        if (*key &&
            strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                strlen(key) &&
            strlen(key) < 64)
            snprintf(q, sizeof(q), "%s", key);
        else
            quote(key, q, sizeof(q));
        if (best)
            add_error(ps, who, "%s%s: unknown field (did you mean \"%s%s\"?)", prefix, q, prefix,
                      best);
        else
            add_error(ps, who, "%s%s: unknown field", prefix, q);
    }
}

static bool has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* Required or optional string field. Returns the string (owned by the JSON
 * tree), NULL when absent or bad (reported). */
static const char *get_string(parse_state_t *ps, const char *who, json_t *obj, const char *key,
                              bool required)
{
    json_t *v = field(obj, key);
    if (!v) {
        if (required)
            add_error(ps, who, "%s: required", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        add_error(ps, who, "%s: must be a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
}

/* An id or a reference to one: non-empty, no control characters. */
static const char *get_id(parse_state_t *ps, const char *who, json_t *obj, const char *key,
                          bool required)
{
    const char *s = get_string(ps, who, obj, key, required);
    if (s && has_control_chars(s)) {
        add_error(ps, who, "%s: must not contain control characters", key);
        return NULL;
    }
    return s;
}

/* Finite number field; NAN when absent or bad (reported). */
static double get_number(parse_state_t *ps, const char *who, json_t *obj, const char *name,
                         const char *key, bool required, bool nonneg)
{
    json_t *v = field(obj, key);
    if (!v) {
        if (required)
            add_error(ps, who, "%s: required", name);
        return NAN;
    }
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || !isfinite(d) || (nonneg && d < 0)) {
        add_error(ps, who, "%s: must be a number%s", name, nonneg ? " >= 0" : "");
        return NAN;
    }
    return d;
}

static bool parse_date(const char *s, int32_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return false;
    *out = timeutil_days_from_civil(y, m, d);
    return true;
}

/* Date field "YYYY-MM-DD"; false when absent or bad (reported). */
static bool get_date(parse_state_t *ps, const char *who, json_t *obj, const char *name,
                     const char *key, int32_t *out)
{
    json_t *v = field(obj, key);
    if (!v) {
        add_error(ps, who, "%s: required", name);
        return false;
    }
    if (!json_is_string(v)) {
        add_error(ps, who, "%s: must be a date string \"YYYY-MM-DD\"", name);
        return false;
    }
    if (!parse_date(json_string_value(v), out)) {
        char q[160];
        add_error(ps, who, "%s: %s is not a date (YYYY-MM-DD)", name,
                  quote(json_string_value(v), q, sizeof(q)));
        return false;
    }
    return true;
}

/* Which of names (NULL-terminated) s is; -1 (reported) when none. */
static int get_enum(parse_state_t *ps, const char *who, json_t *obj, const char *name,
                    const char *key, bool required, const char *const *names)
{
    json_t *v = field(obj, key);
    if (!v) {
        if (required)
            add_error(ps, who, "%s: required", name);
        return -1;
    }
    char allowed[256] = "";
    size_t o = 0;
    for (int i = 0; names[i]; i++) {
        if (json_is_string(v) && strcmp(json_string_value(v), names[i]) == 0)
            return i;
        o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s\"%s\"",
                              i == 0 ? "" : (names[i + 1] ? ", " : " or "), names[i]);
    }
    if (json_is_string(v)) {
        char q[160];
        add_error(ps, who, "%s: %s is not %s", name, quote(json_string_value(v), q, sizeof(q)),
                  allowed);
    } else {
        add_error(ps, who, "%s: must be %s", name, allowed);
    }
    return -1;
}

/* "unit \"a\"" when the entry has a usable id, else "units[3]". */
static void label(char *out, size_t size, const char *kind, const char *array, size_t i,
                  json_t *entry)
{
    json_t *id = json_is_object(entry) ? json_object_get(entry, "id") : NULL;
    if (json_is_string(id) && json_string_length(id) > 0) {
        char q[160];
        snprintf(out, size, "%s %s", kind, quote(json_string_value(id), q, sizeof(q)));
    } else {
        snprintf(out, size, "%s[%zu]", array, i);
    }
}

/* The array under key in the root, or NULL (absent: empty; bad: reported). */
static json_t *get_array(parse_state_t *ps, json_t *root, const char *key)
{
    json_t *a = field(root, key);
    if (a && !json_is_array(a)) {
        add_error(ps, NULL, "%s: must be an array", key);
        return NULL;
    }
    return a;
}

static void parse_units(parse_state_t *ps, json_t *arr)
{
    static const char *const known[] = {"id", "name", "parent", NULL};
    goals_t *g = ps->g;
    size_t n = json_array_size(arr);
    if (n == 0)
        return;
    g->units = calloc(n, sizeof(*g->units));
    if (!g->units) {
        ps->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char who[200];
        label(who, sizeof(who), "unit", "units", i, e);
        if (!json_is_object(e)) {
            add_error(ps, who, "must be an object");
            continue;
        }
        check_fields(ps, who, "", e, known);
        const char *id = get_id(ps, who, e, "id", true);
        if (id && goals_unit_index(g, id) >= 0)
            add_error(ps, who, "id: duplicate (an earlier unit has the same id)");
        const char *name = get_string(ps, who, e, "name", true);
        const char *parent = get_id(ps, who, e, "parent", false);
        goals_unit_t *u = &g->units[g->unit_count++];
        u->id = dup_str(ps, id);
        u->name = dup_str(ps, name);
        u->parent_id = dup_str(ps, parent);
        u->parent = -1;
    }
}

/* Parents must exist and the tree must have no cycle; each cycle is reported
 * once, from the first of its units in file order. */
static void link_units(parse_state_t *ps)
{
    goals_t *g = ps->g;
    size_t n = g->unit_count;
    for (size_t i = 0; i < n; i++) {
        goals_unit_t *u = &g->units[i];
        if (!u->parent_id)
            continue;
        u->parent = goals_unit_index(g, u->parent_id);
        if (u->parent < 0 && u->id) {
            char who[200], q[160], qp[160];
            snprintf(who, sizeof(who), "unit %s", quote(u->id, q, sizeof(q)));
            add_error(ps, who, "parent: unknown unit %s", quote(u->parent_id, qp, sizeof(qp)));
        } else if (u->parent < 0) {
            char who[64], qp[160];
            snprintf(who, sizeof(who), "units[%zu]", i);
            add_error(ps, who, "parent: unknown unit %s", quote(u->parent_id, qp, sizeof(qp)));
        }
    }
    if (n == 0)
        return;
    size_t *mark = calloc(n, sizeof(*mark));
    if (!mark) {
        ps->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int j = (int)i;
        while (j >= 0 && mark[j] == 0) {
            mark[j] = i + 1;
            j = g->units[j].parent;
        }
        if (j < 0 || mark[j] != i + 1)
            continue;
        char path[900], q[160];
        size_t o = 0;
        int k = j;
        do {
            o += (size_t)snprintf(path + o, sizeof(path) - o, "%s -> ",
                                  quote(g->units[k].id, q, sizeof(q)));
            k = g->units[k].parent;
        } while (k != j && o < sizeof(path) - 200);
        if (k != j)
            o += (size_t)snprintf(path + o, sizeof(path) - o, "... -> ");
        snprintf(path + o, sizeof(path) - o, "%s", quote(g->units[j].id, q, sizeof(q)));
        add_error(ps, "units", "cycle through %s", path);
    }
    free(mark);
}

static void parse_owners(parse_state_t *ps, json_t *arr)
{
    static const char *const known[] = {"id", "name", "email", "webhook", NULL};
    goals_t *g = ps->g;
    size_t n = json_array_size(arr);
    if (n == 0)
        return;
    g->owners = calloc(n, sizeof(*g->owners));
    if (!g->owners) {
        ps->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char who[200];
        label(who, sizeof(who), "owner", "owners", i, e);
        if (!json_is_object(e)) {
            add_error(ps, who, "must be an object");
            continue;
        }
        check_fields(ps, who, "", e, known);
        const char *id = get_id(ps, who, e, "id", true);
        if (id && goals_owner_index(g, id) >= 0)
            add_error(ps, who, "id: duplicate (an earlier owner has the same id)");
        const char *name = get_string(ps, who, e, "name", true);
        const char *email = get_string(ps, who, e, "email", false);
        if (email) {
            const char *at = strchr(email, '@');
            if (!at || at == email || !at[1] || strchr(at + 1, '@') ||
                strpbrk(email, " \t\r\n<>,;")) {
                char q[160];
                add_error(ps, who, "email: %s is not an e-mail address (name@domain)",
                          quote(email, q, sizeof(q)));
                email = NULL;
            }
        }
        const char *webhook = get_string(ps, who, e, "webhook", false);
        if (webhook) {
            size_t skip = strncmp(webhook, "https://", 8) == 0  ? 8
                          : strncmp(webhook, "http://", 7) == 0 ? 7
                                                                : 0;
            if (!skip || !webhook[skip] || has_control_chars(webhook) || strchr(webhook, ' ')) {
                char q[160];
                add_error(ps, who, "webhook: %s is not an http:// or https:// URL",
                          quote(webhook, q, sizeof(q)));
                webhook = NULL;
            }
        }
        goals_owner_t *o = &g->owners[g->owner_count++];
        o->id = dup_str(ps, id);
        o->name = dup_str(ps, name);
        o->email = dup_str(ps, email);
        o->webhook = dup_str(ps, webhook);
    }
}

/* A value in KPI units: proportions must lie in [0, 1], minutes >= 0. */
static void check_kpi_value(parse_state_t *ps, const char *who, const char *name, bool kpi_ok,
                            kpi_id_t kpi, double v)
{
    if (!kpi_ok || isnan(v))
        return;
    if (goals_kpi_is_proportion(kpi) && (v < 0 || v > 1))
        add_error(ps, who, "%s: %g is outside [0, 1] for the proportion KPI \"%s\"", name, v,
                  kpi_name(kpi));
    else if (!goals_kpi_is_proportion(kpi) && v < 0)
        add_error(ps, who, "%s: %g is negative; \"%s\" counts minutes", name, v, kpi_name(kpi));
}

static void format_date(int32_t days, char out[16])
{
    int y, m, d;
    timeutil_civil_from_days(days, &y, &m, &d);
    snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

static void parse_goal(parse_state_t *ps, const char *who, json_t *e, goals_goal_t *goal)
{
    static const char *const known[] = {
        "id",     "unit",      "kpi",         "direction", "period",  "baseline",
        "target", "tolerance", "consecutive", "owner",     "benefit", NULL,
    };
    static const char *const directions[] = {"decrease", "increase", NULL};
    static const char *const periods[] = {"month", "week", NULL};
    static const char *const benefit_types[] = {"time_saved", "avoided_cost", "quality", NULL};
    goals_t *g = ps->g;
    char q[160];

    goal->baseline_value = goal->target_value = goal->tolerance = NAN;
    goal->minutes_per_unit = goal->nok_per_unit = goal->nok_per_hour = NAN;
    goal->unit = goal->owner = -1;
    goal->consecutive = 3;

    check_fields(ps, who, "", e, known);
    const char *id = get_id(ps, who, e, "id", true);
    if (id && goals_goal_index(g, id) >= 0)
        add_error(ps, who, "id: duplicate (an earlier goal has the same id)");
    goal->id = dup_str(ps, id);

    const char *unit = get_id(ps, who, e, "unit", true);
    if (unit) {
        goal->unit = goals_unit_index(g, unit);
        if (goal->unit < 0)
            add_error(ps, who, "unit: unknown unit %s", quote(unit, q, sizeof(q)));
        goal->unit_id = dup_str(ps, unit);
    }

    bool kpi_ok = false;
    json_t *k = field(e, "kpi");
    if (!k)
        add_error(ps, who, "kpi: required");
    else if (!json_is_string(k))
        add_error(ps, who, "kpi: must be a KPI name (kpis.md)");
    else if (!(kpi_ok = kpi_parse(json_string_value(k), &goal->kpi)))
        add_error(ps, who, "kpi: unknown KPI %s", quote(json_string_value(k), q, sizeof(q)));

    int dir = get_enum(ps, who, e, "direction", "direction", true, directions);
    goal->direction = dir == 1 ? GOALS_INCREASE : GOALS_DECREASE;
    int per = get_enum(ps, who, e, "period", "period", false, periods);
    goal->period = per == 1 ? GOALS_WEEK : GOALS_MONTH;

    bool to_ok = false;
    json_t *b = field(e, "baseline");
    if (!b) {
        add_error(ps, who, "baseline: required");
    } else if (!json_is_object(b)) {
        add_error(ps, who,
                  "baseline: must be an object, {\"from\", \"to\"} dates or {\"value\", \"to\"}");
    } else {
        static const char *const bknown[] = {"from", "to", "value", NULL};
        check_fields(ps, who, "baseline.", b, bknown);
        json_t *from = field(b, "from"), *value = field(b, "value");
        bool from_ok = false;
        if (from && value) {
            add_error(ps, who,
                      "baseline: give \"from\" (baseline from data) or \"value\" (a known "
                      "baseline), not both");
        } else if (!from && !value) {
            add_error(ps, who,
                      "baseline: needs \"from\" (a date: baseline from data) or \"value\" "
                      "(a known baseline)");
        } else if (from) {
            goal->baseline_from_data = true;
            from_ok = get_date(ps, who, b, "baseline.from", "from", &goal->baseline_from);
        } else {
            goal->baseline_value = get_number(ps, who, b, "baseline.value", "value", true, false);
            check_kpi_value(ps, who, "baseline.value", kpi_ok, goal->kpi, goal->baseline_value);
        }
        to_ok = get_date(ps, who, b, "baseline.to", "to", &goal->baseline_to);
        if (from_ok && to_ok && goal->baseline_from > goal->baseline_to) {
            char d1[16], d2[16];
            format_date(goal->baseline_from, d1);
            format_date(goal->baseline_to, d2);
            add_error(ps, who, "baseline.from: %s is after baseline.to %s", d1, d2);
        }
    }

    json_t *t = field(e, "target");
    if (!t) {
        add_error(ps, who, "target: required");
    } else if (!json_is_object(t)) {
        add_error(ps, who, "target: must be an object {\"value\", \"date\"}");
    } else {
        static const char *const tknown[] = {"value", "date", NULL};
        check_fields(ps, who, "target.", t, tknown);
        goal->target_value = get_number(ps, who, t, "target.value", "value", true, false);
        check_kpi_value(ps, who, "target.value", kpi_ok, goal->kpi, goal->target_value);
        if (get_date(ps, who, t, "target.date", "date", &goal->target_date) && to_ok &&
            goal->target_date <= goal->baseline_to) {
            char d1[16], d2[16];
            format_date(goal->target_date, d1);
            format_date(goal->baseline_to, d2);
            add_error(ps, who, "target.date: %s is not after baseline.to %s", d1, d2);
        }
    }

    goal->tolerance = get_number(ps, who, e, "tolerance", "tolerance", false, true);

    json_t *c = field(e, "consecutive");
    if (c) {
        json_int_t ci = json_is_integer(c) ? json_integer_value(c) : 0;
        if (ci < 1 || ci > GOALS_MAX_CONSECUTIVE)
            add_error(ps, who, "consecutive: must be an integer from 1 to %d",
                      GOALS_MAX_CONSECUTIVE);
        else
            goal->consecutive = (int)ci;
    }

    const char *owner = get_id(ps, who, e, "owner", true);
    if (owner) {
        goal->owner = goals_owner_index(g, owner);
        if (goal->owner < 0)
            add_error(ps, who, "owner: unknown owner %s", quote(owner, q, sizeof(q)));
        goal->owner_id = dup_str(ps, owner);
    }

    json_t *bf = field(e, "benefit");
    if (bf && !json_is_object(bf)) {
        add_error(ps, who,
                  "benefit: must be an object {\"type\", \"minutes_per_unit\", "
                  "\"nok_per_unit\", \"nok_per_hour\"}");
    } else if (bf) {
        static const char *const bfknown[] = {"type", "minutes_per_unit", "nok_per_unit",
                                              "nok_per_hour", NULL};
        check_fields(ps, who, "benefit.", bf, bfknown);
        int bt = get_enum(ps, who, bf, "benefit.type", "type", true, benefit_types);
        goal->benefit_type = bt < 0 ? GOALS_BENEFIT_NONE : (goals_benefit_type_t)(bt + 1);
        goal->minutes_per_unit =
            get_number(ps, who, bf, "benefit.minutes_per_unit", "minutes_per_unit", false, true);
        goal->nok_per_unit =
            get_number(ps, who, bf, "benefit.nok_per_unit", "nok_per_unit", false, true);
        goal->nok_per_hour =
            get_number(ps, who, bf, "benefit.nok_per_hour", "nok_per_hour", false, true);
    }
}

static void parse_goals(parse_state_t *ps, json_t *arr)
{
    goals_t *g = ps->g;
    size_t n = json_array_size(arr);
    if (n == 0)
        return;
    g->goals = calloc(n, sizeof(*g->goals));
    if (!g->goals) {
        ps->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char who[200];
        label(who, sizeof(who), "goal", "goals", i, e);
        if (!json_is_object(e)) {
            add_error(ps, who, "must be an object");
            continue;
        }
        parse_goal(ps, who, e, &g->goals[g->goal_count++]);
    }
}

goals_t *goals_parse(const char *path, const char *text, size_t len, char **errors,
                     int *error_count)
{
    parse_state_t ps = {.path = path, .errors = errors};
    *errors = NULL;
    *error_count = 0;

    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        add_error(&ps, NULL, "bad JSON at line %d, column %d: %s", jerr.line, jerr.column,
                  jerr.text);
        *error_count = ps.error_count;
        return NULL;
    }
    ps.g = calloc(1, sizeof(*ps.g));
    if (!ps.g || !(ps.g->path = strdup(path))) {
        ps.oom = true;
    } else if (!json_is_object(root)) {
        add_error(&ps, NULL, "must be a JSON object with \"units\", \"owners\" and \"goals\"");
    } else {
        static const char *const known[] = {"units", "owners", "goals", NULL};
        check_fields(&ps, NULL, "", root, known);
        json_t *units = get_array(&ps, root, "units");
        json_t *owners = get_array(&ps, root, "owners");
        json_t *goals = get_array(&ps, root, "goals");
        parse_units(&ps, units);
        if (!ps.oom)
            link_units(&ps);
        if (!ps.oom)
            parse_owners(&ps, owners);
        if (!ps.oom)
            parse_goals(&ps, goals);
    }
    json_decref(root);
    if (ps.oom)
        add_error(&ps, NULL, "out of memory");
    *error_count = ps.error_count;
    if (ps.error_count) {
        goals_destroy(ps.g);
        return NULL;
    }
    return ps.g;
}

goals_t *goals_load(const char *path, char **errors, int *error_count)
{
    *errors = NULL;
    *error_count = 0;
    FILE *f = fopen(path, "rb");
    char msg[1024];
    if (!f) {
        snprintf(msg, sizeof(msg), "%s: cannot read: %s\n", path, strerror(errno));
        *errors = strdup(msg);
        *error_count = 1;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    bool too_big = false;
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            if (cap >= GOALS_MAX_FILE_BYTES) {
                too_big = true;
                break;
            }
            char *p = realloc(buf, cap *= 2);
            if (!p)
                free(buf);
            buf = p;
        }
    }
    bool read_error = buf && ferror(f);
    int saved_errno = errno;
    fclose(f);
    if (!buf || too_big || read_error) {
        if (!buf)
            snprintf(msg, sizeof(msg), "%s: out of memory\n", path);
        else if (too_big)
            snprintf(msg, sizeof(msg), "%s: larger than %u MiB\n", path,
                     GOALS_MAX_FILE_BYTES >> 20);
        else
            snprintf(msg, sizeof(msg), "%s: cannot read: %s\n", path, strerror(saved_errno));
        free(buf);
        *errors = strdup(msg);
        *error_count = 1;
        return NULL;
    }
    goals_t *g = goals_parse(path, buf, len, errors, error_count);
    free(buf);
    return g;
}

void goals_destroy(goals_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->unit_count; i++) {
        free(g->units[i].id);
        free(g->units[i].name);
        free(g->units[i].parent_id);
    }
    for (size_t i = 0; i < g->owner_count; i++) {
        free(g->owners[i].id);
        free(g->owners[i].name);
        free(g->owners[i].email);
        free(g->owners[i].webhook);
    }
    for (size_t i = 0; i < g->goal_count; i++) {
        free(g->goals[i].id);
        free(g->goals[i].unit_id);
        free(g->goals[i].owner_id);
    }
    free(g->units);
    free(g->owners);
    free(g->goals);
    free(g->path);
    free(g);
}

/* ------------------------------------------------------------- accessors */

int goals_unit_index(const goals_t *g, const char *id)
{
    for (size_t i = 0; g && id && i < g->unit_count; i++)
        if (g->units[i].id && strcmp(g->units[i].id, id) == 0)
            return (int)i;
    return -1;
}

int goals_owner_index(const goals_t *g, const char *id)
{
    for (size_t i = 0; g && id && i < g->owner_count; i++)
        if (g->owners[i].id && strcmp(g->owners[i].id, id) == 0)
            return (int)i;
    return -1;
}

int goals_goal_index(const goals_t *g, const char *id)
{
    for (size_t i = 0; g && id && i < g->goal_count; i++)
        if (g->goals[i].id && strcmp(g->goals[i].id, id) == 0)
            return (int)i;
    return -1;
}

bool goals_has_owner(const goals_t *g, const char *id)
{
    return goals_owner_index(g, id) >= 0;
}

bool goals_kpi_is_proportion(kpi_id_t kpi)
{
    switch (kpi) {
    case KPI_NO_SHOW_RATE:
    case KPI_NO_SHOW_RATE_SELF_BOOKED:
    case KPI_NO_SHOW_RATE_STAFF_BOOKED:
    case KPI_SELF_BOOKING_SHARE:
    case KPI_DOUBLE_DOCUMENTATION_SHARE:
        return true;
    default:
        return false;
    }
}

double goals_tolerance(const goals_goal_t *goal, double center)
{
    if (!isnan(goal->tolerance))
        return goal->tolerance;
    return 0.1 * fabs(goal->target_value - center);
}

/* ------------------------------------------------------------------ sync */

static const char *const direction_names[] = {"decrease", "increase"};
static const char *const period_names[] = {"month", "week"};
static const char *const benefit_names[] = {NULL, "time_saved", "avoided_cost", "quality"};

static void add_date(pgarray_t *a, bool given, int32_t days)
{
    char buf[16];
    if (!given) {
        pgarray_add_text(a, NULL);
        return;
    }
    format_date(days, buf);
    pgarray_add_text(a, buf);
}

static void add_opt_double(pgarray_t *a, double v)
{
    if (isnan(v))
        pgarray_add_text(a, NULL);
    else
        pgarray_add_double(a, v);
}

/* Runs sql with n array parameters; false + errstr/retriable on failure. */
static bool exec_arrays(store_t *st, const char *sql, pgarray_t *arrays, int n, bool *retriable,
                        char *errstr, size_t errstr_size)
{
    const char *params[20];
    for (int i = 0; i < n; i++) {
        params[i] = pgarray_str(&arrays[i]);
        if (!params[i]) {
            snprintf(errstr, errstr_size, "out of memory preparing the goals registry");
            *retriable = false;
            return false;
        }
    }
    PGresult *res = PQexecParams(store_conn(st), sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        *retriable = store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return ok;
}

static bool sync_rows(const goals_t *g, store_t *st, bool *retriable, char *errstr,
                      size_t errstr_size)
{
    enum { NA = 17 };
    pgarray_t a[NA];
    bool ok;
    for (int i = 0; i < NA; i++)
        pgarray_init(&a[i]);

    /* Owners and units first, goals after, then deletions in the reverse
     * order; FKs are deferred anyway, so this is only for clarity. */
    for (size_t i = 0; i < g->owner_count; i++) {
        pgarray_add_text(&a[0], g->owners[i].id);
        pgarray_add_text(&a[1], g->owners[i].name);
        pgarray_add_text(&a[2], g->owners[i].email);
        pgarray_add_text(&a[3], g->owners[i].webhook);
    }
    ok = exec_arrays(st,
                     "INSERT INTO gevinst.owner AS o (owner_id, name, email, webhook) "
                     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
                     "ON CONFLICT (owner_id) DO UPDATE "
                     "SET name = EXCLUDED.name, email = EXCLUDED.email, webhook = EXCLUDED.webhook "
                     "WHERE (o.name, o.email, o.webhook) IS DISTINCT FROM "
                     "(EXCLUDED.name, EXCLUDED.email, EXCLUDED.webhook)",
                     a, 4, retriable, errstr, errstr_size);

    for (int i = 0; i < NA; i++)
        pgarray_reset(&a[i]);
    for (size_t i = 0; ok && i < g->unit_count; i++) {
        pgarray_add_text(&a[0], g->units[i].id);
        pgarray_add_text(&a[1], g->units[i].name);
        pgarray_add_text(&a[2], g->units[i].parent_id);
    }
    ok = ok && exec_arrays(st,
                           "INSERT INTO gevinst.unit AS u (unit_id, name, parent_id) "
                           "SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
                           "ON CONFLICT (unit_id) DO UPDATE "
                           "SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id "
                           "WHERE (u.name, u.parent_id) IS DISTINCT FROM "
                           "(EXCLUDED.name, EXCLUDED.parent_id)",
                           a, 3, retriable, errstr, errstr_size);

    for (int i = 0; i < NA; i++)
        pgarray_reset(&a[i]);
    for (size_t i = 0; ok && i < g->goal_count; i++) {
        const goals_goal_t *x = &g->goals[i];
        pgarray_add_text(&a[0], x->id);
        pgarray_add_text(&a[1], x->unit_id);
        pgarray_add_text(&a[2], kpi_name(x->kpi));
        pgarray_add_text(&a[3], direction_names[x->direction]);
        pgarray_add_text(&a[4], period_names[x->period]);
        add_date(&a[5], x->baseline_from_data, x->baseline_from);
        add_date(&a[6], true, x->baseline_to);
        add_opt_double(&a[7], x->baseline_value);
        pgarray_add_double(&a[8], x->target_value);
        add_date(&a[9], true, x->target_date);
        add_opt_double(&a[10], x->tolerance);
        pgarray_add_int(&a[11], x->consecutive);
        pgarray_add_text(&a[12], x->owner_id);
        pgarray_add_text(&a[13], benefit_names[x->benefit_type]);
        add_opt_double(&a[14], x->minutes_per_unit);
        add_opt_double(&a[15], x->nok_per_unit);
        add_opt_double(&a[16], x->nok_per_hour);
    }
    /* updated_at moves only when a definition really changed, so the SPC
     * code can tell which goals to judge afresh. */
    ok = ok &&
         exec_arrays(st,
                     "INSERT INTO gevinst.goal_def AS d (goal_id, unit_id, kpi, direction, period, "
                     "baseline_from, baseline_to, baseline_value, target_value, target_date, "
                     "tolerance, consecutive, owner_id, benefit_type, minutes_per_unit, "
                     "nok_per_unit, nok_per_hour) "
                     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                     "$5::text[], $6::date[], $7::date[], $8::float8[], $9::float8[], $10::date[], "
                     "$11::float8[], $12::int[], $13::text[], $14::text[], $15::float8[], "
                     "$16::float8[], $17::float8[]) "
                     "ON CONFLICT (goal_id) DO UPDATE SET "
                     "unit_id = EXCLUDED.unit_id, kpi = EXCLUDED.kpi, "
                     "direction = EXCLUDED.direction, period = EXCLUDED.period, "
                     "baseline_from = EXCLUDED.baseline_from, baseline_to = EXCLUDED.baseline_to, "
                     "baseline_value = EXCLUDED.baseline_value, "
                     "target_value = EXCLUDED.target_value, target_date = EXCLUDED.target_date, "
                     "tolerance = EXCLUDED.tolerance, consecutive = EXCLUDED.consecutive, "
                     "owner_id = EXCLUDED.owner_id, benefit_type = EXCLUDED.benefit_type, "
                     "minutes_per_unit = EXCLUDED.minutes_per_unit, "
                     "nok_per_unit = EXCLUDED.nok_per_unit, nok_per_hour = EXCLUDED.nok_per_hour, "
                     "updated_at = now() "
                     "WHERE (d.unit_id, d.kpi, d.direction, d.period, d.baseline_from, "
                     "d.baseline_to, d.baseline_value, d.target_value, d.target_date, "
                     "d.tolerance, d.consecutive, d.owner_id, d.benefit_type, "
                     "d.minutes_per_unit, d.nok_per_unit, d.nok_per_hour) IS DISTINCT FROM "
                     "(EXCLUDED.unit_id, EXCLUDED.kpi, EXCLUDED.direction, EXCLUDED.period, "
                     "EXCLUDED.baseline_from, EXCLUDED.baseline_to, EXCLUDED.baseline_value, "
                     "EXCLUDED.target_value, EXCLUDED.target_date, EXCLUDED.tolerance, "
                     "EXCLUDED.consecutive, EXCLUDED.owner_id, EXCLUDED.benefit_type, "
                     "EXCLUDED.minutes_per_unit, EXCLUDED.nok_per_unit, EXCLUDED.nok_per_hour)",
                     a, NA, retriable, errstr, errstr_size);

    /* Deletions: a[0] = goal ids, a[1] = owner ids, a[2] = unit ids. */
    for (int i = 0; i < NA; i++)
        pgarray_reset(&a[i]);
    for (size_t i = 0; ok && i < g->goal_count; i++)
        pgarray_add_text(&a[0], g->goals[i].id);
    for (size_t i = 0; ok && i < g->owner_count; i++)
        pgarray_add_text(&a[1], g->owners[i].id);
    for (size_t i = 0; ok && i < g->unit_count; i++)
        pgarray_add_text(&a[2], g->units[i].id);
    ok = ok && exec_arrays(st, "DELETE FROM gevinst.goal_def WHERE goal_id <> ALL ($1::text[])",
                           &a[0], 1, retriable, errstr, errstr_size);
    ok = ok && exec_arrays(st, "DELETE FROM gevinst.owner WHERE owner_id <> ALL ($1::text[])",
                           &a[1], 1, retriable, errstr, errstr_size);
    ok = ok && exec_arrays(st, "DELETE FROM gevinst.unit WHERE unit_id <> ALL ($1::text[])", &a[2],
                           1, retriable, errstr, errstr_size);

    for (int i = 0; i < NA; i++)
        pgarray_free(&a[i]);
    return ok;
}

bool goals_sync(const goals_t *g, store_t *st, bool *retriable, char *errstr, size_t errstr_size)
{
    bool dummy;
    if (!retriable)
        retriable = &dummy;
    *retriable = false;
    bool own;
    if (!store_txn_own(st, "goals sync", &own, retriable, errstr, errstr_size))
        return false;

    char err[512];
    bool ok = (!own || store_exec(st, "BEGIN", retriable, err, sizeof(err))) &&
              store_exec(st, "SELECT pg_advisory_xact_lock(" GOALS_SYNC_LOCK_KEY ")", retriable,
                         err, sizeof(err)) &&
              sync_rows(g, st, retriable, err, sizeof(err)) &&
              (!own || store_exec(st, "COMMIT", retriable, err, sizeof(err)));
    if (!ok) {
        snprintf(errstr, errstr_size, "goals sync: %s", err);
        if (own && store_connected(st))
            store_exec(st, "ROLLBACK", NULL, err, sizeof(err));
    }
    return ok;
}
