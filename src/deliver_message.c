/* deliver_message: the text, e-mail, JSON and CloudEvent of one alert revision. */
#include "gevinst/deliver_message.h"

#include "gevinst/timeutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBSP "\xc2\xa0"
#define WRAP_COLUMNS 76

/* ------------------------------------------------------------ a string builder */

typedef struct sb {
    char *p;
    size_t len, cap;
    bool oom;
} sb_t;

static void sb_addn(sb_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(sb_t *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_vaddf(sb_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void sb_vaddf(sb_t *b, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sb_addn(b, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (!big) {
            b->oom = true;
        } else {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            sb_addn(b, big, (size_t)n);
            free(big);
        }
    }
    va_end(ap2);
}

static void sb_addf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vaddf(b, fmt, ap);
    va_end(ap);
}

/* The built string (never NULL unless out of memory); the builder is spent. */
static char *sb_take(sb_t *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (!b->p)
        return strdup("");
    return b->p;
}

/* ------------------------------------------------------------- vocabulary */

void deliver_alert_init(deliver_alert_t *a)
{
    memset(a, 0, sizeof(*a));
    a->actual = NAN;
    a->expected = NAN;
    a->baseline_value = NAN;
    a->target_value = NAN;
    a->tolerance = NAN;
}

static const struct {
    const char *code, *name, *avoided;
} kpi_words[] = {
    {"no_show_rate", "andel uteblitte timer", "uteblitte timer unngått"},
    {"no_show_rate_self_booked", "andel uteblitte timer blant timer innbyggerne bestilte selv",
     "uteblitte timer unngått"},
    {"no_show_rate_staff_booked", "andel uteblitte timer blant timer bestilt av ansatte",
     "uteblitte timer unngått"},
    {"self_booking_share", "andel timer bestilt av innbyggerne selv",
     "flere timer bestilt av innbyggerne selv"},
    {"double_documentation_share", "andel dobbeltdokumentasjon i journalen",
     "dobbeltregistreringer unngått"},
    {"double_documentation_minutes", "tid brukt på dobbeltdokumentasjon", NULL},
    {"ehr_active_minutes", "aktiv tid i journalsystemet per bruker og dag", NULL},
    {"documentation_minutes", "tid brukt på dokumentasjon per bruker og dag", NULL},
};

const char *deliver_kpi_name(const char *kpi)
{
    for (size_t i = 0; kpi && i < sizeof(kpi_words) / sizeof(kpi_words[0]); i++)
        if (strcmp(kpi, kpi_words[i].code) == 0)
            return kpi_words[i].name;
    return NULL;
}

static const char *kpi_avoided_noun(const char *kpi)
{
    for (size_t i = 0; kpi && i < sizeof(kpi_words) / sizeof(kpi_words[0]); i++)
        if (strcmp(kpi, kpi_words[i].code) == 0)
            return kpi_words[i].avoided;
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Proportion KPIs are shown in percent, differences in percentage points. */
static bool kpi_is_proportion(const char *kpi)
{
    return kpi &&
           (ends_with(kpi, "_rate") || ends_with(kpi, "_share") || strstr(kpi, "_rate_") != NULL);
}

static bool kpi_is_minutes(const char *kpi)
{
    return kpi && ends_with(kpi, "_minutes");
}

static const char *role_words(const char *role)
{
    if (!role)
        return "kildesystemet";
    if (strcmp(role, "appointments") == 0)
        return "timeboken (appointments)";
    if (strcmp(role, "journal") == 0)
        return "journalen (journal)";
    if (strcmp(role, "audit") == 0)
        return "tilgangsloggen (audit)";
    return role;
}

static const char *month_names[] = {"januar",    "februar", "mars",     "april",
                                    "mai",       "juni",    "juli",     "august",
                                    "september", "oktober", "november", "desember"};

/* ------------------------------------------------------------------ numbers */

/* out = a b c, truncated to size (no snprintf: its truncation warnings do
 * not know these pieces are short). */
static void join3(char *out, size_t size, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3 && size > 0; i++)
        for (const char *p = parts[i]; p && *p && n + 1 < size; p++)
            out[n++] = *p;
    if (size > 0)
        out[n] = '\0';
}

/* v with `decimals` decimals, a decimal comma, and groups of three digits
 * (non-breaking spaces) from 10 000 up, as Norwegian writes numbers. */
static void fmt_number(char *out, size_t size, double v, int decimals)
{
    char raw[64];
    snprintf(raw, sizeof(raw), "%.*f", decimals, fabs(v));
    if (strspn(raw, "0.") == strlen(raw))
        v = 0; /* no "-0,0" */
    char *dot = strchr(raw, '.');
    size_t int_len = dot ? (size_t)(dot - raw) : strlen(raw);
    char buf[128];
    size_t n = 0;
    if (v < 0) {
        memcpy(buf, "\xe2\x88\x92", 3); /* U+2212 MINUS SIGN */
        n = 3;
    }
    for (size_t i = 0; i < int_len && n + 4 < sizeof(buf); i++) {
        if (int_len >= 5 && i > 0 && (int_len - i) % 3 == 0) {
            memcpy(buf + n, NBSP, 2);
            n += 2;
        }
        buf[n++] = raw[i];
    }
    if (dot && n + strlen(dot) < sizeof(buf)) {
        buf[n++] = ',';
        for (const char *p = dot + 1; *p; p++)
            buf[n++] = *p;
    }
    buf[n] = '\0';
    snprintf(out, size, "%s", buf);
}

/* A KPI value: "12,4 %", "8,5 minutter", or the plain number. */
static void fmt_value(char *out, size_t size, const char *kpi, double v)
{
    char num[96];
    if (isnan(v)) {
        snprintf(out, size, "ukjent");
    } else if (kpi_is_proportion(kpi)) {
        fmt_number(num, sizeof(num), v * 100, 1);
        join3(out, size, num, NBSP "%", NULL);
    } else if (kpi_is_minutes(kpi)) {
        fmt_number(num, sizeof(num), v, 1);
        join3(out, size, num, NBSP "minutter", NULL);
    } else {
        fmt_number(num, sizeof(num), v, fabs(v) < 10 ? 3 : 1);
        join3(out, size, num, NULL, NULL);
    }
}

/* The size of a difference: "4,4 prosentpoeng", "2,5 minutter". */
static void fmt_diff(char *out, size_t size, const char *kpi, double d)
{
    char num[96];
    if (kpi_is_proportion(kpi)) {
        fmt_number(num, sizeof(num), fabs(d) * 100, 1);
        join3(out, size, num, NBSP "prosentpoeng", NULL);
    } else {
        fmt_value(out, size, kpi, fabs(d));
    }
}

/* -------------------------------------------------------------------- dates */

static bool parse_date(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) < 10)
        return false;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", y, m, d, &tail) < 3)
        return false;
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

static bool date_days(const char *s, int32_t *days)
{
    int y, m, d;
    if (!parse_date(s, &y, &m, &d))
        return false;
    *days = timeutil_days_from_civil(y, m, d);
    return true;
}

/* "3. mars 2025" */
static void fmt_day(char *out, size_t size, int32_t days)
{
    int y, m, d;
    timeutil_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%d." NBSP "%s %d", d, month_names[m - 1], y);
}

static void fmt_date(char *out, size_t size, const char *date)
{
    int32_t days;
    if (date_days(date, &days))
        fmt_day(out, size, days);
    else
        snprintf(out, size, "%s", date ? date : "ukjent dato");
}

typedef enum period_shape { SHAPE_OTHER, SHAPE_DAY, SHAPE_WEEK, SHAPE_MONTH } period_shape_t;

static period_shape_t period_shape(const char *start, const char *end)
{
    int32_t s, e;
    if (!date_days(start, &s) || !date_days(end, &e))
        return SHAPE_OTHER;
    if (s == e)
        return SHAPE_DAY;
    if (e - s == 6 && timeutil_iso_weekday(s) == 1)
        return SHAPE_WEEK;
    int y, m, d, y2, m2, d2;
    timeutil_civil_from_days(s, &y, &m, &d);
    timeutil_civil_from_days(e + 1, &y2, &m2, &d2);
    if (d == 1 && d2 == 1 && (y2 * 12 + m2) - (y * 12 + m) == 1)
        return SHAPE_MONTH;
    return SHAPE_OTHER;
}

static void iso_week(int32_t days, int *week, int *year)
{
    int32_t thursday = days + (4 - timeutil_iso_weekday(days));
    int y, m, d;
    timeutil_civil_from_days(thursday, &y, &m, &d);
    *year = y;
    *week = (int)((thursday - timeutil_days_from_civil(y, 1, 1)) / 7) + 1;
}

/* The period in words: "mars 2025", "uke 12 i 2025 (17.–23. mars)", "3. mars 2025". */
static void fmt_period(char *out, size_t size, const char *start, const char *end)
{
    int32_t s, e;
    int y, m, d, y2, m2, d2;
    switch (period_shape(start, end)) {
    case SHAPE_MONTH:
        date_days(start, &s);
        timeutil_civil_from_days(s, &y, &m, &d);
        snprintf(out, size, "%s %d", month_names[m - 1], y);
        return;
    case SHAPE_WEEK: {
        date_days(start, &s);
        date_days(end, &e);
        int week, wyear;
        iso_week(s, &week, &wyear);
        timeutil_civil_from_days(s, &y, &m, &d);
        timeutil_civil_from_days(e, &y2, &m2, &d2);
        if (m == m2)
            snprintf(out, size, "uke %d i %d (%d.\xe2\x80\x93%d. %s)", week, wyear, d, d2,
                     month_names[m2 - 1]);
        else
            snprintf(out, size, "uke %d i %d (%d. %s\xe2\x80\x93%d. %s)", week, wyear, d,
                     month_names[m - 1], d2, month_names[m2 - 1]);
        return;
    }
    case SHAPE_DAY:
        fmt_date(out, size, start);
        return;
    case SHAPE_OTHER:
        break;
    }
    char a[48], b[48];
    fmt_date(a, sizeof(a), start);
    fmt_date(b, sizeof(b), end);
    join3(out, size, a, "\xe2\x80\x93", b);
}

/* The period `back` goal periods before this one, in words: where an
 * off-track run that reached its length here began. */
static void fmt_period_back(char *out, size_t size, const deliver_alert_t *a, int back)
{
    int32_t s;
    int y, m, d;
    period_shape_t shape = period_shape(a->period_start, a->period_end);
    if (!date_days(a->period_start, &s) || (shape != SHAPE_WEEK && shape != SHAPE_MONTH)) {
        fmt_period(out, size, a->period_start, a->period_end);
        return;
    }
    if (shape == SHAPE_WEEK) {
        int32_t ws = s - 7 * back;
        int week, wyear;
        iso_week(ws, &week, &wyear);
        snprintf(out, size, "uke %d i %d", week, wyear);
        return;
    }
    timeutil_civil_from_days(s, &y, &m, &d);
    int idx = y * 12 + (m - 1) - back;
    snprintf(out, size, "%s %d", month_names[idx % 12], idx / 12);
}

static const char *period_plural(const deliver_alert_t *a)
{
    switch (period_shape(a->period_start, a->period_end)) {
    case SHAPE_WEEK:
        return "uker";
    case SHAPE_MONTH:
        return "måneder";
    case SHAPE_DAY:
        return "dager";
    case SHAPE_OTHER:
        break;
    }
    return "perioder";
}

/* ------------------------------------------------------------------- detail */

/* A number from the detail object, looked for at the top level and then in a
 * nested "benefit" object; NAN when absent or not a number. */
static double detail_num(json_t *detail, const char *key)
{
    json_t *v = json_object_get(detail, key);
    if (!v) {
        json_t *benefit = json_object_get(detail, "benefit");
        v = json_is_object(benefit) ? json_object_get(benefit, key) : NULL;
    }
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *detail_str(json_t *detail, const char *key)
{
    json_t *v = json_object_get(detail, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *detail_parse(const deliver_alert_t *a)
{
    json_t *d = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
    if (!json_is_object(d)) {
        json_decref(d);
        d = json_object();
    }
    return d;
}

/* ----------------------------------------------------------------- wording */

/* s with its first letter upper-cased (ASCII and æ, ø, å), into out. */
static void capitalise(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s);
    if ((unsigned char)out[0] >= 'a' && (unsigned char)out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
    else if ((unsigned char)out[0] == 0xc3 &&
             ((unsigned char)out[1] == 0xa6 || (unsigned char)out[1] == 0xb8 ||
              (unsigned char)out[1] == 0xa5))
        out[1] = (char)(out[1] - 0x20);
}

/* ----------------------------------------------------------------- wording */

/* What the wording needs: the alert with what the goal registry lacks filled
 * in from the detail the judge wrote (a goal that left the file, a unit
 * without a name), and the names in words. */
typedef struct words {
    deliver_alert_t a;
    json_t *detail;
    const char *unit; /* the unit's name, else its id */
    const char *kpi;  /* the KPI in words */
    char kpi_full[160];
    char kpi_cap[160]; /* kpi_full starting a sentence */
    char period[96];
    period_shape_t shape;
    bool goal_kind, spc_kind, data_kind;
    bool decrease; /* which way is better */
    bool direction_known;
} words_t;

static void words_init(words_t *w, const deliver_alert_t *alert)
{
    memset(w, 0, sizeof(*w));
    w->a = *alert;
    deliver_alert_t *a = &w->a;
    w->detail = detail_parse(a);
    json_t *d = w->detail;
    if (!a->unit_name)
        a->unit_name = detail_str(d, "unit_name");
    if (!a->direction)
        a->direction = detail_str(d, "direction");
    if (!a->baseline_from)
        a->baseline_from = detail_str(d, "baseline_from");
    if (!a->baseline_to)
        a->baseline_to = detail_str(d, "baseline_to");
    if (!a->target_date)
        a->target_date = detail_str(d, "target_date");
    if (isnan(a->target_value))
        a->target_value = detail_num(d, "target_value");
    if (isnan(a->baseline_value))
        a->baseline_value = detail_num(d, "baseline_value");
    /* The tolerance in force (the file's, or the default worked out from the
     * center) is the judge's; the registry has only the file's. */
    if (!isnan(detail_num(d, "tolerance")))
        a->tolerance = detail_num(d, "tolerance");
    if (a->consecutive <= 0 && detail_num(d, "consecutive") > 0)
        a->consecutive = (int)detail_num(d, "consecutive");

    w->unit = a->unit_name && *a->unit_name ? a->unit_name : a->unit_id ? a->unit_id : "enheten";
    const char *name = deliver_kpi_name(a->kpi);
    w->kpi = name ? name : a->kpi ? a->kpi : "nøkkeltallet";
    if (name)
        snprintf(w->kpi_full, sizeof(w->kpi_full), "%s (%s)", name, a->kpi);
    else
        snprintf(w->kpi_full, sizeof(w->kpi_full), "%s", w->kpi);
    capitalise(w->kpi_cap, sizeof(w->kpi_cap), w->kpi_full);
    fmt_period(w->period, sizeof(w->period), a->period_start, a->period_end);
    w->shape = period_shape(a->period_start, a->period_end);
    const char *kind = a->kind ? a->kind : "";
    w->goal_kind = strncmp(kind, "goal.", 5) == 0;
    w->spc_kind = strncmp(kind, "kpi.", 4) == 0;
    w->data_kind = strncmp(kind, "data.", 5) == 0;
    w->direction_known = a->direction != NULL;
    w->decrease = !a->direction || strcmp(a->direction, "increase") != 0;
}

static void words_free(words_t *w)
{
    json_decref(w->detail);
}

static bool is_state(const deliver_alert_t *a, const char *state)
{
    return a->state && strcmp(a->state, state) == 0;
}

static bool is_kind(const deliver_alert_t *a, const char *kind)
{
    return a->kind && strcmp(a->kind, kind) == 0;
}

/* The period of the alert's kind that starts on `start` (a detail date), in
 * words: "januar 2025", "uke 3 i 2025"; "" when start is missing. */
static void fmt_period_starting(char *out, size_t size, const words_t *w, const char *start)
{
    int32_t s;
    int y, m, d;
    out[0] = '\0';
    if (!date_days(start, &s))
        return;
    timeutil_civil_from_days(s, &y, &m, &d);
    if (w->shape == SHAPE_MONTH) {
        snprintf(out, size, "%s %d", month_names[m - 1], y);
    } else if (w->shape == SHAPE_WEEK) {
        int week, wyear;
        iso_week(s, &week, &wyear);
        snprintf(out, size, "uke %d i %d", week, wyear);
    } else {
        fmt_day(out, size, s);
    }
}

/* The headline of the alert as first raised (firing or notice) or as it is
 * now: the subject, and what a withdrawal takes back. */
static void add_headline(sb_t *b, const words_t *w, bool as_raised)
{
    const deliver_alert_t *a = &w->a;
    bool resolved = !as_raised && is_state(a, "resolved");
    if (is_kind(a, "goal.off_track")) {
        sb_addf(b, resolved ? "Tilbake på plan: %s i %s" : "Etter plan: %s i %s (%s)", w->kpi,
                w->unit, w->period);
    } else if (is_kind(a, "goal.achieved")) {
        sb_addf(b, "Målet er nådd: %s i %s (%s)", w->kpi, w->unit, w->period);
    } else if (is_kind(a, "kpi.special_cause")) {
        sb_addf(b,
                resolved ? "Over: endringen i feil retning for %s i %s"
                         : "Tydelig endring i feil retning: %s i %s (fra %s)",
                w->kpi, w->unit, w->period);
    } else if (is_kind(a, "kpi.improvement")) {
        sb_addf(b,
                resolved ? "Forbedringen er ikke lenger tydelig: %s i %s"
                         : "Tydelig forbedring: %s i %s (fra %s)",
                w->kpi, w->unit, w->period);
    } else if (is_kind(a, "data.silence")) {
        sb_addf(b, resolved ? "Data kommer igjen fra %s for %s" : "Ingen data fra %s for %s",
                role_words(detail_str(w->detail, "role")), w->unit);
    } else if (is_kind(a, "data.rejections")) {
        const char *topic = detail_str(w->detail, "topic");
        if (!topic)
            topic = a->unit_id;
        sb_addf(b,
                resolved ? "Færre avviste hendelser på %s" : "Mange avviste hendelser på %s (%s)",
                topic ? topic : "et emne", w->period);
    } else {
        sb_addf(b, "Varsel om %s i %s (%s)", w->kpi, w->unit, w->period);
    }
}

char *deliver_message_subject(const deliver_alert_t *alert)
{
    words_t w;
    words_init(&w, alert);
    sb_t b = {0};
    sb_add(&b, "[Gevinst] ");
    if (is_state(&w.a, "withdrawn")) {
        sb_add(&b, "Trukket tilbake: «");
        add_headline(&b, &w, true);
        sb_add(&b, "»");
    } else {
        add_headline(&b, &w, false);
    }
    words_free(&w);
    return sb_take(&b);
}

/* Appends paragraph text wrapped at WRAP_COLUMNS (counted in characters,
 * breaking only at ASCII spaces), each line prefixed by indent, then a blank line. */
static void add_para(sb_t *out, const char *indent, const char *text)
{
    size_t ind = strlen(indent);
    const char *p = text;
    while (*p) {
        /* One line: words while they fit; a word longer than a line stands alone. */
        const char *line_start = p, *last_break = NULL;
        size_t cols = ind;
        const char *q = p;
        while (*q && *q != '\n') {
            if (*q == ' ')
                last_break = q;
            if (((unsigned char)*q & 0xC0) != 0x80)
                cols++;
            if (cols > WRAP_COLUMNS && last_break)
                break;
            q++;
        }
        const char *end = (*q && *q != '\n' && last_break) ? last_break : q;
        sb_add(out, indent);
        sb_addn(out, line_start, (size_t)(end - line_start));
        sb_add(out, "\n");
        p = end;
        if (*p == ' ' || *p == '\n')
            p++;
    }
    sb_add(out, "\n");
}

static void para(sb_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void para(sb_t *out, const char *fmt, ...)
{
    sb_t t = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vaddf(&t, fmt, ap);
    va_end(ap);
    if (t.oom)
        out->oom = true;
    else if (t.p)
        add_para(out, "", t.p);
    free(t.p);
}

/* Where the goal starts and ends: "skal ned fra 14,0 % (utgangsnivået, målt
 * i 2019) til 5,0 % innen 31. desember 2025". */
static void add_goal_sentence(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    if (!a->goal_id || isnan(a->target_value))
        return;
    double center = detail_num(w->detail, "center");
    if (isnan(center))
        center = a->baseline_value;
    if (isnan(center) && w->spc_kind)
        center = a->expected;
    char c[64] = "", t[64], td[48];
    if (!isnan(center))
        fmt_value(c, sizeof(c), a->kpi, center);
    fmt_value(t, sizeof(t), a->kpi, a->target_value);
    fmt_date(td, sizeof(td), a->target_date);
    /* When the baseline was measured: "målt i 2019", "målt 1. mars 2019–...", "per ...". */
    char when[128] = "";
    int y1, m1, d1, y2, m2, d2;
    if (a->baseline_from && parse_date(a->baseline_from, &y1, &m1, &d1) &&
        parse_date(a->baseline_to, &y2, &m2, &d2)) {
        if (y1 == y2 && m1 == 1 && d1 == 1 && m2 == 12 && d2 == 31) {
            snprintf(when, sizeof(when), "målt i %d", y1);
        } else {
            char f[48], to[48];
            fmt_date(f, sizeof(f), a->baseline_from);
            fmt_date(to, sizeof(to), a->baseline_to);
            snprintf(when, sizeof(when), "målt %s\xe2\x80\x93%s", f, to);
        }
    } else if (a->baseline_to) {
        char to[48];
        fmt_date(to, sizeof(to), a->baseline_to);
        snprintf(when, sizeof(when), "per %s", to);
    }
    const char *way = !w->direction_known ? "gå" : w->decrease ? "ned" : "opp";
    if (*c)
        para(out, "Målet «%s»: %s i %s skal %s fra %s (utgangsnivået%s%s) til %s innen %s.",
             a->goal_id, w->kpi_full, w->unit, way, c, *when ? ", " : "", when, t, td);
    else
        para(out, "Målet «%s»: %s i %s skal %s fra utgangsnivået%s%s%s til %s innen %s.",
             a->goal_id, w->kpi_full, w->unit, way, *when ? " (" : "", when, *when ? ")" : "", t,
             td);
}

static void add_off_track(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    char act[64], exp[64], diff[96], since[64];
    fmt_value(act, sizeof(act), a->kpi, a->actual);
    fmt_value(exp, sizeof(exp), a->kpi, a->expected);
    fmt_diff(diff, sizeof(diff), a->kpi, a->actual - a->expected);
    bool have = !isnan(a->actual) && !isnan(a->expected);
    const char *worse = w->decrease ? "høyere" : "lavere";
    int run = (int)detail_num(w->detail, "run_length");
    if (run <= 0)
        run = a->consecutive;
    fmt_period_starting(since, sizeof(since), w, detail_str(w->detail, "first_period_start"));
    if (!*since && run > 1)
        fmt_period_back(since, sizeof(since), a, run - 1);

    if (is_state(a, "resolved")) {
        para(out, "%s i %s er tilbake på plan. Perioden etter plan som startet i %s, er over.",
             w->kpi_cap, w->unit, *since ? since : w->period);
        char rp[96] = "", ra[64];
        const char *rs = detail_str(w->detail, "resolved_by_period_start");
        const char *re = detail_str(w->detail, "resolved_by_period_end");
        double rv = detail_num(w->detail, "resolved_by_actual");
        if (rs && re && !isnan(rv)) {
            fmt_period(rp, sizeof(rp), rs, re);
            fmt_value(ra, sizeof(ra), a->kpi, rv);
            para(out, "I %s var %s %s, og perioden lå ikke lenger etter planen.", rp, w->kpi, ra);
        }
        if (have)
            para(out, "Til sammenligning: i %s, da varselet ble sendt, var %s %s mot planen %s.",
                 w->period, w->kpi, act, exp);
        return;
    }
    para(out, "%s i %s ligger etter planen.", w->kpi_cap, w->unit);
    if (have)
        para(out,
             "I %s var %s %s. Planen for perioden var %s, så verdien var %s %s enn "
             "planen.",
             w->period, w->kpi, act, exp, diff, worse);
    if (run > 1 && *since)
        para(out, "Det er %d %s på rad som ligger etter planen, fra og med %s.", run,
             w->shape == SHAPE_OTHER ? "perioder" : period_plural(a), since);
    /* Later revisions of a run still going: where it stands now. */
    const char *ls = detail_str(w->detail, "last_period_start");
    const char *le = detail_str(w->detail, "last_period_end");
    double lv = detail_num(w->detail, "last_actual"), lp = detail_num(w->detail, "last_planned");
    if (ls && le && a->period_end && strcmp(le, a->period_end) != 0 && !isnan(lv)) {
        char lper[96], la[64], lpl[64];
        fmt_period(lper, sizeof(lper), ls, le);
        fmt_value(la, sizeof(la), a->kpi, lv);
        fmt_value(lpl, sizeof(lpl), a->kpi, lp);
        para(out, "Siste periode, %s: %s mot planen %s.", lper, la, lpl);
    }
}

static void add_achieved(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    char act[64], t[64];
    fmt_value(act, sizeof(act), a->kpi, a->actual);
    fmt_value(t, sizeof(t), a->kpi, a->target_value);
    para(out, "Gratulerer! %s i %s har nådd målet.", w->kpi_cap, w->unit);
    if (!isnan(a->actual) && !isnan(a->target_value))
        para(out,
             "I %s var %s %s. Denne perioden og de to før den var alle på eller %s målet "
             "på %s.",
             w->period, w->kpi, act, w->decrease ? "under" : "over", t);
    else if (!isnan(a->actual))
        para(out, "I %s var %s %s.", w->period, w->kpi, act);
}

static void add_spc(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    char act[64], exp[64], diff[96];
    fmt_value(act, sizeof(act), a->kpi, a->actual);
    fmt_value(exp, sizeof(exp), a->kpi, a->expected);
    double d = a->actual - a->expected;
    fmt_diff(diff, sizeof(diff), a->kpi, d);
    bool have = !isnan(a->actual) && !isnan(a->expected);
    const char *side = d > 0 ? "høyere" : "lavere";
    bool improvement = is_kind(a, "kpi.improvement");
    if (is_state(a, "resolved")) {
        para(out,
             "%s i %s: %s som startet i %s, er over. Den siste perioden skiller seg ikke "
             "lenger tydelig fra utgangsnivået%s%s.",
             w->kpi_cap, w->unit, improvement ? "forbedringen" : "endringen i feil retning",
             w->period, isnan(a->expected) ? "" : " på ", isnan(a->expected) ? "" : exp);
        char rp[96], ra[64];
        const char *rs = detail_str(w->detail, "resolved_by_period_start");
        const char *re = detail_str(w->detail, "resolved_by_period_end");
        double rv = detail_num(w->detail, "resolved_by_actual");
        if (rs && re && !isnan(rv)) {
            fmt_period(rp, sizeof(rp), rs, re);
            fmt_value(ra, sizeof(ra), a->kpi, rv);
            para(out, "I %s var %s %s.", rp, w->kpi, ra);
        }
        return;
    }
    if (improvement)
        para(out,
             "%s i %s har blitt bedre, og endringen er større enn de vanlige svingningene fra "
             "periode til periode.",
             w->kpi_cap, w->unit);
    else
        para(out,
             "%s i %s har endret seg i feil retning, og endringen er større enn de vanlige "
             "svingningene fra periode til periode.",
             w->kpi_cap, w->unit);
    if (have)
        para(out, "I %s var %s %s mot utgangsnivået %s, altså %s %s.", w->period, w->kpi, act, exp,
             diff, side);
    const char *ls = detail_str(w->detail, "last_period_start");
    const char *le = detail_str(w->detail, "last_period_end");
    double lv = detail_num(w->detail, "last_actual");
    if (ls && le && a->period_end && strcmp(le, a->period_end) != 0 && !isnan(lv)) {
        char lper[96], la[64];
        fmt_period(lper, sizeof(lper), ls, le);
        fmt_value(la, sizeof(la), a->kpi, lv);
        para(out, "Det gjelder fortsatt: i %s var %s %s.", lper, w->kpi, la);
    }
    if (!improvement)
        para(out, "Det kan være verdt å se på hva som endret seg i enheten rundt %s.", w->period);
}

static void add_silence(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    const char *role = role_words(detail_str(w->detail, "role"));
    char last[48] = "";
    const char *le = detail_str(w->detail, "last_event");
    if (le)
        fmt_date(last, sizeof(last), le);
    else
        fmt_date(last, sizeof(last), a->period_start);
    if (is_state(a, "resolved")) {
        const char *again = detail_str(w->detail, "events_again_time");
        char ag[48] = "";
        if (again)
            fmt_date(ag, sizeof(ag), again);
        para(out, "Det kommer igjen hendelser fra %s for %s%s%s. Stillheten varte fra %s.", role,
             w->unit, *ag ? ", fra " : "", ag, last);
        return;
    }
    para(out,
         "Det har ikke kommet hendelser fra %s for %s siden %s. Enheten hadde hendelser i "
         "ukene før, så det kan bety at en integrasjon eller en rutine har stoppet.",
         role, w->unit, last);
    para(out, "Nøkkeltallene for enheten blir ufullstendige til data kommer igjen.");
}

static void add_rejections(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    const char *topic = detail_str(w->detail, "topic");
    if (!topic)
        topic = a->unit_id;
    double rejected = detail_num(w->detail, "rejected"), total = detail_num(w->detail, "total");
    double share = detail_num(w->detail, "share");
    if (isnan(share))
        share = a->actual;
    char sh[64], r[48] = "", t[48] = "";
    fmt_value(sh, sizeof(sh), "_share", share);
    if (!isnan(rejected) && !isnan(total)) {
        fmt_number(r, sizeof(r), rejected, 0);
        fmt_number(t, sizeof(t), total, 0);
    }
    if (is_state(a, "resolved")) {
        char rd[48] = "";
        const char *by = detail_str(w->detail, "resolved_by_day");
        if (by)
            fmt_date(rd, sizeof(rd), by);
        para(out, "Andelen avviste hendelser på %s er igjen under grensen%s%s.", topic,
             *rd ? ", fra " : "", rd);
        return;
    }
    para(out, "%s av hendelsene på %s %s %s ble avvist%s%s%s%s%s.", sh, topic,
         w->shape == SHAPE_DAY ? "den" : "i", w->period, *r ? " (" : "", r, *r ? " av " : "", t,
         *r ? ")" : "");
    para(out, "Avviste hendelser telles ikke i nøkkeltallene. Årsakene per dag står i "
              "gevinst.data_quality_daily.");
}

/* The rule that raised it, in words. */
static void add_rule(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    const char *per = w->shape == SHAPE_OTHER ? "perioder" : period_plural(a);
    if (is_kind(a, "goal.off_track")) {
        char t[96] = "";
        if (!isnan(a->tolerance))
            fmt_diff(t, sizeof(t), a->kpi, a->tolerance);
        int c = a->consecutive > 0 ? a->consecutive : 3;
        para(out,
             "Slik virker varselet: planen er en rett linje fra utgangsnivået til målet. Du får "
             "varsel når verdien er mer enn %s dårligere enn planen %d %s på rad, og ett varsel "
             "til når den er tilbake på plan.",
             *t ? t : "toleransen", c, per);
    } else if (is_kind(a, "goal.achieved")) {
        para(out,
             "Slik virker varselet: målet regnes som nådd når tre %s på rad er på eller %s "
             "målverdien. Du får denne meldingen én gang.",
             per, w->decrease ? "under" : "over");
    } else if (w->spc_kind) {
        double lcl = detail_num(w->detail, "lcl"), ucl = detail_num(w->detail, "ucl");
        int limit = (int)detail_num(w->detail, "run_limit");
        char l[64], u[64], limits[160] = "", lim[96] = "mange";
        /* Every KPI is a share or a duration, never below 0: a lower limit
         * at or under 0 cannot be crossed, so only the upper one is named. */
        if (!isnan(ucl)) {
            fmt_value(u, sizeof(u), a->kpi, ucl);
            if (!isnan(lcl) && lcl > 0) {
                fmt_value(l, sizeof(l), a->kpi, lcl);
                snprintf(limits, sizeof(limits), " (under %s eller over %s)", l, u);
            } else {
                snprintf(limits, sizeof(limits), " (over %s)", u);
            }
        }
        if (limit > 0)
            snprintf(lim, sizeof(lim), "mer enn %d", limit);
        para(out,
             "Slik virker varselet (statistisk prosesskontroll): en endring regnes som reell, "
             "ikke tilfeldig, når en periode ligger utenfor kontrollgrensene%s, eller når %s %s "
             "på rad ligger på samme side av utgangsnivået. Én enkelt avvikende periode gir ikke "
             "varsel.",
             limits, lim, per);
    } else if (is_kind(a, "data.silence")) {
        double days = detail_num(w->detail, "silence_days");
        double window = detail_num(w->detail, "window_days");
        char dd[32] = "3", ww[32] = "28";
        if (!isnan(days))
            fmt_number(dd, sizeof(dd), days, 0);
        if (!isnan(window))
            fmt_number(ww, sizeof(ww), window, 0);
        para(out,
             "Slik virker varselet: det sendes når en enhet som hadde hendelser de siste %s "
             "dagene, ikke har hatt noen på %s dager, og ett varsel til når data kommer igjen.",
             ww, dd);
    } else if (is_kind(a, "data.rejections")) {
        double thr = detail_num(w->detail, "threshold");
        char t[64] = "1" NBSP "%";
        if (!isnan(thr))
            fmt_value(t, sizeof(t), "_share", thr);
        para(out,
             "Slik virker varselet: det sendes når mer enn %s av hendelsene på et emne (topic) "
             "blir avvist på en dag.",
             t);
    }
}

/* Benefit realised so far, from the detail the judge wrote. */
static void add_benefit(sb_t *out, const words_t *w)
{
    const deliver_alert_t *a = &w->a;
    double nok = detail_num(w->detail, "nok_saved_cumulative");
    double minutes = detail_num(w->detail, "minutes_saved_cumulative");
    double units = detail_num(w->detail, "avoided_units_cumulative");
    sb_t parts = {0};
    char num[64];
    if (!isnan(nok)) {
        fmt_number(num, sizeof(num), round(nok), 0);
        sb_addf(&parts, "%s" NBSP "kr", num);
    }
    if (!isnan(minutes)) {
        fmt_number(num, sizeof(num), round(minutes / 60.0), 0);
        sb_addf(&parts, "%s%s arbeidstimer", parts.len ? ", " : "", num);
    }
    const char *noun = kpi_avoided_noun(a->kpi);
    if (!isnan(units) && noun) {
        fmt_number(num, sizeof(num), round(units), 0);
        sb_addf(&parts, "%s%s %s", parts.len ? ", " : "", num, noun);
    }
    /* Benefit counts from the first period after the baseline. */
    char s[48] = "";
    int32_t bt;
    if (date_days(a->baseline_to, &bt))
        fmt_day(s, sizeof(s), bt + 1);
    if (parts.len && !parts.oom) {
        /* "a, b og c" reads better than "a, b, c". */
        char *last = strrchr(parts.p, ',');
        if (last) {
            sb_t t = {0};
            sb_addn(&t, parts.p, (size_t)(last - parts.p));
            sb_add(&t, " og");
            sb_add(&t, last + 1);
            free(parts.p);
            parts = t;
        }
        bool negative = (!isnan(nok) && nok < 0) || (!isnan(minutes) && minutes < 0) ||
                        (!isnan(units) && units < 0);
        para(out, "Gevinst realisert så langt%s%s%s: %s.%s", *s ? " (fra " : "", s, *s ? ")" : "",
             parts.p ? parts.p : "",
             negative ? " Et minustegn betyr at utviklingen samlet har gått i feil retning "
                        "sammenlignet med utgangsnivået."
                      : "");
    } else {
        para(out, "Gevinst realisert så langt: ikke beregnet for dette målet (målet har ingen "
                  "gevinstverdi i målfilen, eller ingen perioder er avsluttet ennå).");
    }
    free(parts.p);
}

char *deliver_message_text(const deliver_alert_t *alert, const char *dashboard_url)
{
    words_t w;
    words_init(&w, alert);
    const deliver_alert_t *a = &w.a;
    bool withdrawn = is_state(a, "withdrawn");
    sb_t b = {0};
    sb_add(&b, "Hei,\n\n");
    if (withdrawn) {
        sb_t h = {0};
        add_headline(&h, &w, true);
        para(&b, "Varselet vi sendte tidligere om %s i %s (%s) er trukket tilbake.", w.kpi, w.unit,
             w.period);
        para(&b, "Nyere data har endret bildet, for eksempel registreringer som kom inn sent. "
                 "Med dataene slik de er nå, er grunnlaget for varselet borte. Du trenger ikke "
                 "gjøre noe.");
        para(&b, "Det tilbakekalte varselet var: «%s».", h.p ? h.p : "");
        free(h.p);
    } else if (is_kind(a, "goal.off_track")) {
        add_off_track(&b, &w);
    } else if (is_kind(a, "goal.achieved")) {
        add_achieved(&b, &w);
    } else if (w.spc_kind) {
        add_spc(&b, &w);
    } else if (is_kind(a, "data.silence")) {
        add_silence(&b, &w);
    } else if (is_kind(a, "data.rejections")) {
        add_rejections(&b, &w);
    } else {
        char act[64], exp[64];
        fmt_value(act, sizeof(act), a->kpi, a->actual);
        fmt_value(exp, sizeof(exp), a->kpi, a->expected);
        para(&b, "I %s var %s %s (forventet %s).", w.period, w.kpi_full, act, exp);
    }
    if (a->goal_id && (w.goal_kind || w.spc_kind)) {
        add_goal_sentence(&b, &w);
        if (!withdrawn)
            add_benefit(&b, &w);
    }
    if (!withdrawn)
        add_rule(&b, &w);
    if (dashboard_url && *dashboard_url)
        para(&b, "Se tallene i oversikten: %s", dashboard_url);
    else
        para(&b, "Se tallene i gevinstoversikten (dashbordet) for detaljer.");
    sb_add(&b, "-- \n");
    para(&b,
         "Automatisk melding fra gevinstd. Referanse: varsel %lld, revisjon %d%s%s%s. Får du "
         "samme varsel og revisjon flere ganger, kan du se bort fra kopiene.",
         (long long)a->alert_id, a->revision, a->goal_id ? ", mål «" : "",
         a->goal_id ? a->goal_id : "", a->goal_id ? "»" : "");
    /* One trailing newline, not a blank line. */
    if (!b.oom && b.len >= 2 && b.p[b.len - 1] == '\n' && b.p[b.len - 2] == '\n')
        b.p[--b.len] = '\0';
    words_free(&w);
    return sb_take(&b);
}

/* ------------------------------------------------------------------- JSON */

static json_t *num_or_null(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *deliver_message_object(const deliver_alert_t *a, const char *dashboard_url)
{
    char *subject = deliver_message_subject(a);
    char *text = deliver_message_text(a, dashboard_url);
    json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
    if (!json_is_object(detail)) {
        json_decref(detail);
        detail = json_object();
    }
    const char *unit_name = a->unit_name && *a->unit_name ? a->unit_name : a->unit_id;
    json_t *o = NULL;
    if (subject && text)
        o = json_pack("{s:s, s:I, s:i, s:s?, s:s?, s:o, s:s?, s:s?, s:o, s:o, s:s?, s:s?,"
                      " s:o, s:o, s:o, s:s, s:s, s:o, s:o}",
                      "schema", "gevinst.alert/1", "alert_id", (json_int_t)a->alert_id, "revision",
                      a->revision, "kind", a->kind, "state", a->state, "goal_id",
                      str_or_null(a->goal_id), "unit_id", a->unit_id, "unit_name", unit_name, "kpi",
                      str_or_null(a->kpi), "kpi_name", str_or_null(deliver_kpi_name(a->kpi)),
                      "period_start", a->period_start, "period_end", a->period_end, "actual",
                      num_or_null(a->actual), "expected", num_or_null(a->expected), "detail",
                      detail, "subject", subject, "message", text, "dashboard_url",
                      dashboard_url && *dashboard_url ? json_string(dashboard_url) : json_null(),
                      "updated_at", str_or_null(a->updated_at));
    else
        json_decref(detail);
    free(subject);
    free(text);
    return o;
}

static void fmt_rfc3339(char *out, size_t size, time_t now)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *deliver_message_cloudevent(const deliver_alert_t *a, const char *dashboard_url, time_t now)
{
    json_t *data = deliver_message_object(a, dashboard_url);
    if (!data)
        return NULL;
    char id[64], when[32];
    snprintf(id, sizeof(id), "%lld-%d", (long long)a->alert_id, a->revision);
    /* The occurrence is the alert's change, so a resend carries the same
     * time as the first send; the clock only when that is unknown. */
    int64_t us;
    if (a->updated_at && timeutil_parse_rfc3339(a->updated_at, strlen(a->updated_at), &us))
        snprintf(when, sizeof(when), "%s", a->updated_at);
    else
        fmt_rfc3339(when, sizeof(when), now);
    const char *subject = a->goal_id ? a->goal_id : a->unit_id;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:o}", "specversion", "1.0",
                           "type", "gevinst.alert", "source", "gevinstd", "id", id, "time", when,
                           "subject", subject, "datacontenttype", "application/json", "data", data);
    if (!ev)
        return NULL;
    /* 15 significant digits: 0.08, not 0.080000000000000002. */
    char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(ev);
    return s;
}

/* ------------------------------------------------------------------ e-mail */

char *deliver_qp_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    sb_t b = {0};
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        size_t col = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            bool last = i + 1 == n;
            char enc[4];
            size_t len;
            if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
                enc[0] = (char)c;
                len = 1;
            } else {
                enc[0] = '=';
                enc[1] = hex[c >> 4];
                enc[2] = hex[c & 15];
                len = 3;
            }
            /* A soft break "=" must fit in the 76 columns too; the last
             * character of the line needs no room for one. */
            size_t room = last ? 76 : 75;
            if (col + len > room) {
                sb_add(&b, "=\r\n");
                col = 0;
            }
            sb_addn(&b, enc, len);
            col += len;
        }
        sb_add(&b, "\r\n");
        p += n;
        if (*p == '\n')
            p++;
    }
    return sb_take(&b);
}

static bool is_plain_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
            return false;
    return true;
}

char *deliver_header_encode(const char *value)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (is_plain_ascii(value))
        return strdup(value);
    sb_t b = {0};
    const unsigned char *p = (const unsigned char *)value;
    size_t left = strlen(value);
    bool first = true;
    while (left > 0) {
        /* 39 bytes make 52 base64 characters: a 64-character encoded word,
         * short enough with "Subject: " in front of the first one. */
        size_t n = left < 39 ? left : 39;
        while (n < left && n > 0 && (p[n] & 0xC0) == 0x80)
            n--; /* never split a UTF-8 sequence */
        if (n == 0)
            n = left < 39 ? left : 39;
        sb_add(&b, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
        first = false;
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)p[i] << 16;
            if (i + 1 < n)
                v |= (unsigned)p[i + 1] << 8;
            if (i + 2 < n)
                v |= p[i + 2];
            char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
                         i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
            sb_addn(&b, q, 4);
        }
        sb_add(&b, "?=");
        p += n;
        left -= n;
    }
    return sb_take(&b);
}

void deliver_address_only(const char *from, char *out, size_t out_size)
{
    const char *lt = from ? strrchr(from, '<') : NULL;
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(out, out_size, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, out_size, "%s", from ? from : "");
    /* Trim spaces around a bare address. */
    char *s = out;
    while (*s == ' ' || *s == '\t')
        s++;
    memmove(out, s, strlen(s) + 1);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
}

/* The From header's value: "Name <addr>" with the name RFC 2047-encoded when
 * it is not ASCII, or the address alone. */
static void add_from(sb_t *b, const char *from, const char *addr)
{
    const char *lt = from ? strrchr(from, '<') : NULL;
    if (!lt) {
        sb_addf(b, "%s\r\n", addr);
        return;
    }
    char name[256];
    size_t n = (size_t)(lt - from);
    while (n > 0 && (from[n - 1] == ' ' || from[n - 1] == '\t'))
        n--;
    snprintf(name, sizeof(name), "%.*s", (int)n, from);
    if (!*name) {
        sb_addf(b, "<%s>\r\n", addr);
    } else if (is_plain_ascii(name)) {
        sb_addf(b, "%s <%s>\r\n", name, addr);
    } else {
        char *enc = deliver_header_encode(name);
        if (!enc)
            b->oom = true;
        else
            sb_addf(b, "%s <%s>\r\n", enc, addr);
        free(enc);
    }
}

/* FNV-1a: a short, stable tag of the recipient for Message-IDs. */
static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void fmt_rfc5322_date(char *out, size_t size, time_t now)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *deliver_message_email(const deliver_alert_t *a, const char *dashboard_url, const char *from,
                            const char *to, time_t now)
{
    char *subject = deliver_message_subject(a);
    char *text = deliver_message_text(a, dashboard_url);
    char *subj_enc = subject ? deliver_header_encode(subject) : NULL;
    char *body = text ? deliver_qp_encode(text) : NULL;
    char addr[320], date[64];
    deliver_address_only(from, addr, sizeof(addr));
    const char *at = strrchr(addr, '@');
    const char *domain = at && at[1] ? at + 1 : "gevinstd.invalid";
    fmt_rfc5322_date(date, sizeof(date), now);
    uint32_t tag = fnv1a(to);

    sb_t b = {0};
    if (subj_enc && body) {
        sb_addf(&b, "Date: %s\r\n", date);
        sb_add(&b, "From: ");
        add_from(&b, from, addr);
        sb_addf(&b, "To: <%s>\r\n", to);
        sb_addf(&b, "Subject: %s\r\n", subj_enc);
        sb_addf(&b, "Message-ID: <gevinst.alert.%lld.%d.%08x@%s>\r\n", (long long)a->alert_id,
                a->revision, tag, domain);
        if (a->revision > 1)
            sb_addf(&b,
                    "In-Reply-To: <gevinst.alert.%lld.1.%08x@%s>\r\n"
                    "References: <gevinst.alert.%lld.1.%08x@%s>\r\n",
                    (long long)a->alert_id, tag, domain, (long long)a->alert_id, tag, domain);
        sb_add(&b, "Auto-Submitted: auto-generated\r\n");
        sb_addf(&b, "X-Gevinst-Alert-Id: %lld\r\n", (long long)a->alert_id);
        sb_addf(&b, "X-Gevinst-Revision: %d\r\n", a->revision);
        sb_add(&b, "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n"
                   "\r\n");
        sb_add(&b, body);
    } else {
        b.oom = true;
    }
    free(subject);
    free(text);
    free(subj_enc);
    free(body);
    return sb_take(&b);
}
