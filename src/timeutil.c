/* timeutil: RFC 3339 parsing and local calendar days.
 *
 * Local days come from our own reading of the zone's TZif file rather than
 * from localtime_r(): localtime_r() follows the process-wide TZ, so a second
 * zone or a setenv("TZ") at run time would race with every caller, and glibc
 * takes a lock on each call. Here a zone is an immutable table of UTC
 * transition instants, extended from the file's POSIX TZ footer up to 2200
 * and evaluated from that rule on the fly beyond, so one lookup is a binary
 * search over a few hundred int64 values, lock-free and thread-safe. */
#include "gevinst/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC_PER_DAY 86400
#define SEC_PER_HOUR 3600
/* |UTC offset| never exceeds 26 h (RFC 8536 allows -89999..93599 s). */
#define MAX_OFFSET_SEC (26 * SEC_PER_HOUR)
/* The transition table is filled from the footer rule up to this year. */
#define TABLE_LAST_YEAR 2200
#define TZIF_MAX_BYTES (1024 * 1024)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int32_t timeutil_days_from_civil(int year, int month, int day)
{
    int y = year - (month <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void timeutil_civil_from_days(int32_t days, int *year, int *month, int *day)
{
    int64_t z = (int64_t)days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

int timeutil_iso_weekday(int32_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    return (int)floor_mod((int64_t)days + 3, 7) + 1;
}

/* ---- RFC 3339 ---------------------------------------------------------- */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool timeutil_parse_rfc3339(const char *s, size_t len, int64_t *utc_us)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    /* "YYYY-MM-DDTHH:MM:SSZ" is the shortest form. */
    if (!s || len < 20)
        return false;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;

    size_t p = 19;
    int64_t frac = 0;
    if (s[p] == '.') {
        size_t first = ++p;
        int64_t scale = 100000;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            /* Truncate below a microsecond; the rest of the digits only count as syntax. */
            frac += (s[p] - '0') * scale;
            scale /= 10;
            p++;
        }
        if (p == first)
            return false;
    }
    if (p >= len)
        return false;

    int sign = 0;
    if (s[p] == 'Z' || s[p] == 'z') {
        p++;
    } else if (s[p] == '+' || s[p] == '-') {
        sign = s[p] == '+' ? 1 : -1;
        if (len - p != 6 || !digits(s + p + 1, 2, &oh) || s[p + 3] != ':' ||
            !digits(s + p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        p += 6;
    } else {
        return false;
    }
    if (p != len)
        return false;

    int64_t offset = (int64_t)sign * (oh * SEC_PER_HOUR + om * 60);
    int64_t days = timeutil_days_from_civil(y, mo, d);
    int64_t t = days * SEC_PER_DAY + h * SEC_PER_HOUR + mi * 60 + (sec == 60 ? 59 : sec) - offset;
    if (sec == 60) {
        /* A leap second exists only as 23:59:60 UTC on a month's last day. */
        int64_t uday = floor_div(t, SEC_PER_DAY);
        int uy, um, ud;
        timeutil_civil_from_days((int32_t)uday, &uy, &um, &ud);
        if (t - uday * SEC_PER_DAY != SEC_PER_DAY - 1 || ud != days_in_month(uy, um))
            return false;
        frac = TIMEUTIL_US_PER_SEC - 1;
    }
    *utc_us = t * TIMEUTIL_US_PER_SEC + frac;
    return true;
}

bool timeutil_format_utc(int64_t utc_us, char out[32])
{
    int64_t sec = floor_div(utc_us, TIMEUTIL_US_PER_SEC);
    int64_t us = utc_us - sec * TIMEUTIL_US_PER_SEC;
    int64_t day = floor_div(sec, SEC_PER_DAY);
    int64_t sod = sec - day * SEC_PER_DAY;
    int y, m, d;
    out[0] = '\0';
    if (day < INT32_MIN || day > INT32_MAX)
        return false;
    timeutil_civil_from_days((int32_t)day, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), (int)us);
    return true;
}

/* ---- time zones -------------------------------------------------------- */

/* One date of a POSIX TZ rule ("M3.5.0/3", "J60", "59/-1"). */
typedef struct tz_rule_date {
    char kind; /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' (month.week.weekday) */
    int n, m, w, wd;
    int32_t time; /* seconds after local midnight, may be negative or past 24 h */
} tz_rule_date_t;

typedef struct tz_rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    tz_rule_date_t start, end;
} tz_rule_t;

struct timeutil_tz {
    char *name;
    size_t n;
    int64_t *at;   /* UTC seconds of transitions, ascending */
    int32_t *off;  /* offset in force from at[i] */
    int32_t off0;  /* offset before at[0] */
    bool has_rule; /* footer rule decides from rule_from on */
    int64_t rule_from;
    tz_rule_t rule;
};

static void set_err(char *errstr, size_t errstr_size, const char *name, const char *why)
{
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "time zone \"%s\": %s", name, why);
}

/* Local day number of a rule date in year y. */
static int64_t rule_day(const tz_rule_date_t *r, int y)
{
    int64_t jan1 = timeutil_days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'n')
        return jan1 + r->n;
    int64_t first = timeutil_days_from_civil(y, r->m, 1);
    int wd_first = (int)floor_mod(first + 4, 7); /* 0 = Sunday */
    int64_t day = first + (r->wd - wd_first + 7) % 7 + (int64_t)(r->w - 1) * 7;
    while (day >= first + days_in_month(y, r->m))
        day -= 7; /* week 5 means "last" */
    return day;
}

/* The rule's two transitions in year y, sorted by time. */
static void rule_year(const tz_rule_t *r, int y, int64_t at[2], int32_t off[2])
{
    int64_t s = rule_day(&r->start, y) * SEC_PER_DAY + r->start.time - r->std_off;
    int64_t e = rule_day(&r->end, y) * SEC_PER_DAY + r->end.time - r->dst_off;
    if (s <= e) {
        at[0] = s, off[0] = r->dst_off, at[1] = e, off[1] = r->std_off;
    } else {
        at[0] = e, off[0] = r->std_off, at[1] = s, off[1] = r->dst_off;
    }
}

static int year_of(int64_t t)
{
    int y, m, d;
    int64_t day = floor_div(t, SEC_PER_DAY);
    if (day < INT32_MIN / 2)
        day = INT32_MIN / 2;
    if (day > INT32_MAX / 2)
        day = INT32_MAX / 2;
    timeutil_civil_from_days((int32_t)day, &y, &m, &d);
    return y;
}

static int32_t rule_offset(const tz_rule_t *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int y = year_of(t);
    int32_t result = r->std_off;
    int64_t best = INT64_MIN;
    for (int yy = y - 1; yy <= y + 1; yy++) {
        int64_t at[2];
        int32_t off[2];
        rule_year(r, yy, at, off);
        for (int i = 0; i < 2; i++) {
            if (at[i] <= t && at[i] > best) {
                best = at[i];
                result = off[i];
            }
        }
    }
    return result;
}

/* First rule transition strictly after t (the rule has DST). */
static int64_t rule_next(const tz_rule_t *r, int64_t t, int32_t *off_after)
{
    int y = year_of(t);
    int64_t best = INT64_MAX;
    for (int yy = y - 1; yy <= y + 2; yy++) {
        int64_t at[2];
        int32_t off[2];
        rule_year(r, yy, at, off);
        for (int i = 0; i < 2; i++) {
            if (at[i] > t && at[i] < best) {
                best = at[i];
                *off_after = off[i];
            }
        }
    }
    return best;
}

static int32_t tz_offset_sec(const timeutil_tz_t *tz, int64_t t)
{
    if (tz->has_rule && t >= tz->rule_from)
        return rule_offset(&tz->rule, t);
    /* Upper bound: first transition after t. */
    size_t lo = 0, hi = tz->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? tz->off0 : tz->off[lo - 1];
}

/* First transition strictly after t, or false when none follows. */
static bool tz_next(const timeutil_tz_t *tz, int64_t t, int64_t *at, int32_t *off_after)
{
    if (!tz->has_rule || t < tz->rule_from) {
        size_t lo = 0, hi = tz->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->at[mid] <= t)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < tz->n && (!tz->has_rule || tz->at[lo] < tz->rule_from)) {
            *at = tz->at[lo];
            *off_after = tz->off[lo];
            return true;
        }
        if (!tz->has_rule)
            return false;
        if (tz->rule_from > t) {
            /* Where the table hands over to the rule, treat it as a transition. */
            *at = tz->rule_from;
            *off_after = rule_offset(&tz->rule, tz->rule_from);
            return true;
        }
    }
    if (!tz->rule.has_dst)
        return false;
    *at = rule_next(&tz->rule, t, off_after);
    return *at != INT64_MAX;
}

int32_t timeutil_utc_offset(const timeutil_tz_t *tz, int64_t utc_us)
{
    return tz_offset_sec(tz, floor_div(utc_us, TIMEUTIL_US_PER_SEC));
}

int32_t timeutil_local_day(const timeutil_tz_t *tz, int64_t utc_us)
{
    int64_t t = floor_div(utc_us, TIMEUTIL_US_PER_SEC);
    return (int32_t)floor_div(t + tz_offset_sec(tz, t), SEC_PER_DAY);
}

int64_t timeutil_local_day_start(const timeutil_tz_t *tz, int32_t day)
{
    /* Walk the intervals of constant offset around local midnight L and take
     * the first instant whose local time is >= L. The window is wide enough
     * for any offset; the walk is right even where the clock falls back over
     * midnight. */
    int64_t L = (int64_t)day * SEC_PER_DAY;
    int64_t t = L - MAX_OFFSET_SEC - SEC_PER_HOUR;
    int64_t end = L + MAX_OFFSET_SEC + SEC_PER_HOUR;
    int32_t o = tz_offset_sec(tz, t);
    for (;;) {
        int64_t next = end;
        int32_t o_next = o;
        bool more = tz_next(tz, t, &next, &o_next);
        int64_t b = more && next < end ? next : end;
        if (t + o >= L)
            return t * TIMEUTIL_US_PER_SEC;
        if (b + o > L)
            return (L - o) * TIMEUTIL_US_PER_SEC;
        if (b >= end)
            break;
        t = next;
        o = o_next;
    }
    return (L - o) * TIMEUTIL_US_PER_SEC;
}

const char *timeutil_tz_name(const timeutil_tz_t *tz)
{
    return tz->name;
}

void timeutil_tz_destroy(timeutil_tz_t *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->at);
    free(tz->off);
    free(tz);
}

/* ---- POSIX TZ strings (the TZif footer) --------------------------------- */

static bool posix_name(const char **pp)
{
    const char *p = *pp;
    if (*p == '<') {
        const char *q = strchr(p, '>');
        if (!q || q - p < 4)
            return false;
        *pp = q + 1;
        return true;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    if (p - *pp < 3)
        return false;
    *pp = p;
    return true;
}

/* [+-]h[h[h]][:mm[:ss]] in seconds; hours up to 167 (RFC 8536 3.3.1). */
static bool posix_time(const char **pp, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h = 0, m = 0, s = 0, nd = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (*p >= '0' && *p <= '9' && nd < 3)
        h = h * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || h > 167)
        return false;
    if (*p == ':') {
        p++;
        if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
            return false;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
                return false;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    *out = sign * (h * SEC_PER_HOUR + m * 60 + s);
    *pp = p;
    return true;
}

static bool posix_num(const char **pp, int lo, int hi, int *out)
{
    const char *p = *pp;
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4)
        v = v * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || v < lo || v > hi)
        return false;
    *out = v;
    *pp = p;
    return true;
}

static bool posix_date(const char **pp, tz_rule_date_t *d)
{
    const char *p = *pp;
    if (*p == 'J') {
        p++;
        d->kind = 'J';
        if (!posix_num(&p, 1, 365, &d->n))
            return false;
    } else if (*p == 'M') {
        p++;
        d->kind = 'M';
        if (!posix_num(&p, 1, 12, &d->m) || *p++ != '.' || !posix_num(&p, 1, 5, &d->w) ||
            *p++ != '.' || !posix_num(&p, 0, 6, &d->wd))
            return false;
    } else {
        d->kind = 'n';
        if (!posix_num(&p, 0, 365, &d->n))
            return false;
    }
    d->time = 2 * SEC_PER_HOUR;
    if (*p == '/') {
        p++;
        if (!posix_time(&p, &d->time))
            return false;
    }
    *pp = p;
    return true;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX offsets count west, ours east. */
static bool posix_parse(const char *s, tz_rule_t *r)
{
    const char *p = s;
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!posix_name(&p) || !posix_time(&p, &off))
        return false;
    r->std_off = -off;
    if (*p == '\0')
        return true;
    if (!posix_name(&p))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + SEC_PER_HOUR;
    if (*p != ',' && *p != '\0') {
        if (!posix_time(&p, &off))
            return false;
        r->dst_off = -off;
    }
    if (*p == '\0') {
        /* POSIX leaves the default rule to the implementation; glibc uses US rules. */
        r->start = (tz_rule_date_t){'M', 0, 3, 2, 0, 2 * SEC_PER_HOUR};
        r->end = (tz_rule_date_t){'M', 0, 11, 1, 0, 2 * SEC_PER_HOUR};
        return true;
    }
    if (*p++ != ',' || !posix_date(&p, &r->start) || *p++ != ',' || !posix_date(&p, &r->end))
        return false;
    return *p == '\0';
}

/* ---- TZif (RFC 8536) ------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts_t;

static bool tzif_header(const unsigned char *p, size_t len, tzif_counts_t *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= 100000 && c->chars <= 65536 &&
           c->leap <= 100000 && c->isut <= 256 && c->isstd <= 256;
}

static size_t tzif_block_size(const tzif_counts_t *c, size_t time_size)
{
    return c->time * time_size + c->time + c->type * 6 + c->chars + c->leap * (time_size + 4) +
           c->isstd + c->isut;
}

static bool tz_push(timeutil_tz_t *tz, size_t *cap, int64_t at, int32_t off)
{
    if (tz->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        int64_t *a = realloc(tz->at, ncap * sizeof(*a));
        if (!a)
            return false;
        tz->at = a;
        int32_t *o = realloc(tz->off, ncap * sizeof(*o));
        if (!o)
            return false;
        tz->off = o;
        *cap = ncap;
    }
    tz->at[tz->n] = at;
    tz->off[tz->n] = off;
    tz->n++;
    return true;
}

static bool tzif_parse(timeutil_tz_t *tz, const unsigned char *buf, size_t len, const char **why)
{
    tzif_counts_t c;
    size_t tsize = 4;
    const unsigned char *p = buf;
    size_t cap = 0;

    *why = "not a TZif file";
    if (!tzif_header(p, len, &c))
        return false;
    size_t v1 = 44 + tzif_block_size(&c, 4);
    if (v1 > len)
        return false;
    if (buf[4] >= '2') {
        /* Skip the 32-bit block: the 64-bit one that follows is complete. */
        p = buf + v1;
        if (!tzif_header(p, len - v1, &c))
            return false;
        tsize = 8;
    }
    size_t data = (size_t)(p - buf) + 44;
    if (data + tzif_block_size(&c, tsize) > len)
        return false;
    if (c.leap != 0) {
        *why = "zones with leap seconds are not supported";
        return false;
    }
    const unsigned char *times = buf + data;
    const unsigned char *idx = times + c.time * tsize;
    const unsigned char *types = idx + c.time;
    int32_t utoff[256];
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t o = (int32_t)be32(types + 6 * i);
        if (o < -MAX_OFFSET_SEC || o > MAX_OFFSET_SEC) {
            *why = "UTC offset out of range";
            return false;
        }
        utoff[i] = o;
    }
    tz->off0 = utoff[0];
    for (uint32_t i = 0; i < c.time; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= c.type || (tz->n > 0 && at <= tz->at[tz->n - 1])) {
            *why = "bad transition table";
            return false;
        }
        if (!tz_push(tz, &cap, at, utoff[idx[i]])) {
            *why = "out of memory";
            return false;
        }
    }

    /* The footer ("\nCET-1CEST,M3.5.0,M10.5.0/3\n") rules after the table. */
    const unsigned char *f = buf + data + tzif_block_size(&c, tsize);
    if (tsize == 8 && f < buf + len && *f == '\n') {
        const unsigned char *nl = memchr(f + 1, '\n', (size_t)(buf + len - f - 1));
        char footer[256];
        size_t flen = nl ? (size_t)(nl - f - 1) : 0;
        if (nl && flen > 0 && flen < sizeof(footer)) {
            memcpy(footer, f + 1, flen);
            footer[flen] = '\0';
            if (!posix_parse(footer, &tz->rule)) {
                *why = "unreadable POSIX TZ footer";
                return false;
            }
            tz->has_rule = true;
        }
    }
    if (!tz->has_rule)
        return true;

    if (!tz->rule.has_dst) {
        tz->rule_from = tz->n ? tz->at[tz->n - 1] : INT64_MIN;
        return true;
    }
    /* Precompute the rule's transitions so common lookups stay a binary search. */
    int64_t last = tz->n ? tz->at[tz->n - 1] : INT64_MIN;
    int32_t cur = tz->n ? tz->off[tz->n - 1] : tz->off0;
    int y0 = tz->n ? year_of(last) : 1900;
    for (int y = y0; y <= TABLE_LAST_YEAR; y++) {
        int64_t at[2];
        int32_t off[2];
        rule_year(&tz->rule, y, at, off);
        for (int i = 0; i < 2; i++) {
            if (at[i] <= last || off[i] == cur)
                continue;
            if (!tz_push(tz, &cap, at[i], off[i])) {
                *why = "out of memory";
                return false;
            }
            last = at[i];
            cur = off[i];
        }
    }
    tz->rule_from = (int64_t)timeutil_days_from_civil(TABLE_LAST_YEAR + 1, 1, 1) * SEC_PER_DAY;
    return true;
}

static bool tz_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 200 || name[0] == '/' || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+' || *p == '.'))
            return false;
        if (*p == '.' && p[1] == '.')
            return false;
    }
    return true;
}

timeutil_tz_t *timeutil_tz_new(const char *name, char *errstr, size_t errstr_size)
{
    if (!name || !tz_name_ok(name)) {
        set_err(errstr, errstr_size, name ? name : "(null)", "not a valid zone name");
        return NULL;
    }
    timeutil_tz_t *tz = calloc(1, sizeof(*tz));
    if (!tz || !(tz->name = strdup(name))) {
        free(tz);
        set_err(errstr, errstr_size, name, "out of memory");
        return NULL;
    }

    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
            return tz; /* no transitions, offset 0 */
        set_err(errstr, errstr_size, name, strerror(errno));
        timeutil_tz_destroy(tz);
        return NULL;
    }
    unsigned char *buf = malloc(TZIF_MAX_BYTES);
    size_t len = buf ? fread(buf, 1, TZIF_MAX_BYTES, f) : 0;
    fclose(f);
    const char *why = "out of memory";
    if (!buf || !tzif_parse(tz, buf, len, &why)) {
        set_err(errstr, errstr_size, name, why);
        free(buf);
        timeutil_tz_destroy(tz);
        return NULL;
    }
    free(buf);
    return tz;
}
