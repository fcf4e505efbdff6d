/*
 * gevinst-gen: deterministic, realistic sample event streams for gevinstd (events v1).
 *
 * Models the health and welfare units of a municipality like Trondheim: appointments with
 * portal adoption growing over time, no-show rates that fall in some units (the benefit being
 * measured) and step up in one (a shift for the SPC rules), journal entries with double
 * documentation across systems, and EHR audit sessions. Adds what real producers do: some
 * disorder, redelivery, CloudEvents batches and a few bad messages.
 *
 * Standalone on purpose (no src/): the demo, the integration tests and the benchmark use it
 * whatever state the daemon is in. Same options and seed, same bytes out.
 *
 * Design: one pass over local days. Each day makes the appointments that start on it and the
 * journal and audit activity of the day GEN_MAX_LEAD_DAYS earlier; every event goes into a
 * bucket for the local day it is to be delivered, and each day no later step can add to is
 * sorted by delivery time, formatted by hand (no JSON library on the hot path) and written.
 * The truth file records what was intended, at the moment it is decided.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define PROG "gevinst-gen"

/* Longest booking lead; also how far journal and audit generation lags the day loop. */
#define GEN_MAX_LEAD_DAYS 120
#define GEN_DAY_S 86400
#define GEN_MSG_MAX 4096
#define GEN_BATCH_MAX 5
/* Over the contract's 1 MiB default limit, with room for the envelope. */
#define GEN_OVERSIZE_PAD (1100 * 1024)
#define GEN_OUTBUF (1 << 20)

#define GEN_APPT_BASE 100000u
#define GEN_ENTRY_BASE 5000000u
#define GEN_PATIENT_BASE 100000u
#define GEN_HOMECARE_PATIENT_BASE 900000u

static volatile sig_atomic_t gen_stop;

/* ---------------------------------------------------------------------------------------- */
/* Units                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct gen_node {
    const char *id;
    const char *name;
    const char *parent;
} gen_node_t;

/* The whole registry, inner units included; config/sample-goals.json lists the same. */
static const gen_node_t gen_tree[] = {
    {"helse-og-velferd", "Helse og velferd", NULL},
    {"psykisk-helse-og-rus", "Psykisk helse og rus", "helse-og-velferd"},
    {"phr-poliklinikk-ost", "Poliklinikk øst", "psykisk-helse-og-rus"},
    {"phr-poliklinikk-vest", "Poliklinikk vest", "psykisk-helse-og-rus"},
    {"phr-rusteam", "Rusteam", "psykisk-helse-og-rus"},
    {"hjemmetjenester", "Hjemmetjenester", "helse-og-velferd"},
    {"hjemmetj-midtbyen", "Hjemmetjenesten Midtbyen", "hjemmetjenester"},
    {"hjemmetj-heimdal", "Hjemmetjenesten Heimdal", "hjemmetjenester"},
    {"hjemmetj-lerkendal", "Hjemmetjenesten Lerkendal", "hjemmetjenester"},
    {"hjemmetj-ostbyen", "Hjemmetjenesten Østbyen", "hjemmetjenester"},
    {"helsestasjon", "Helsestasjon", "helse-og-velferd"},
    {"helsestasjon-sentrum", "Helsestasjon Sentrum", "helsestasjon"},
    {"helsestasjon-saupstad", "Helsestasjon Saupstad", "helsestasjon"},
    {"helsestasjon-byasen", "Helsestasjon Byåsen", "helsestasjon"},
    {"fysioterapi", "Fysioterapi", "helse-og-velferd"},
    {"legevakt", "Legevakt", "helse-og-velferd"},
};

typedef struct gen_unit {
    const char *id;
    double appt_w;      /* relative appointment volume */
    double noshow;      /* no-show probability of a staff-booked appointment before 2024 */
    double noshow_end;  /* factor on it reached at the end of 2025: the benefit measured */
    double portal;      /* factor on the municipality-wide portal adoption */
    bool open_weekends; /* works seven days a week */
    bool walk_in;       /* same-day bookings, long opening hours */
    bool home_care;     /* documents in Gerica as well as Helseplattformen */
    double journal_w;
    double dd_start, dd_end; /* double documentation share before 2024, end of 2025 */
    double audit_w;
    int staff;
} gen_unit_t;

static const gen_unit_t gen_units[] = {
    {"phr-poliklinikk-ost", 10, 0.16, 0.45, 1.0, false, false, false, 6, 0.04, 0.02, 8, 25},
    {"phr-poliklinikk-vest", 8, 0.14, 0.55, 0.9, false, false, false, 5, 0.04, 0.03, 7, 20},
    {"phr-rusteam", 4, 0.22, 0.75, 0.5, false, false, false, 3, 0.05, 0.04, 4, 12},
    {"hjemmetj-midtbyen", 2, 0.03, 1.0, 0.2, true, false, true, 20, 0.20, 0.04, 18, 60},
    {"hjemmetj-heimdal", 2, 0.03, 1.0, 0.2, true, false, true, 18, 0.18, 0.05, 16, 55},
    {"hjemmetj-lerkendal", 2, 0.03, 1.0, 0.2, true, false, true, 16, 0.22, 0.05, 15, 50},
    {"hjemmetj-ostbyen", 1.5, 0.03, 1.0, 0.2, true, false, true, 14, 0.16, 0.10, 13, 45},
    {"helsestasjon-sentrum", 9, 0.07, 0.85, 1.3, false, false, false, 4, 0.03, 0.02, 5, 18},
    {"helsestasjon-saupstad", 7, 0.08, 1.0, 1.1, false, false, false, 3, 0.03, 0.03, 4, 14},
    {"helsestasjon-byasen", 6, 0.06, 0.80, 1.4, false, false, false, 3, 0.03, 0.02, 4, 12},
    {"fysioterapi", 12, 0.08, 0.75, 1.5, false, false, false, 4, 0.02, 0.02, 5, 20},
    {"legevakt", 14, 0.04, 1.0, 0.05, true, true, false, 6, 0.05, 0.04, 9, 40},
};
#define GEN_NUNITS ((int)(sizeof(gen_units) / sizeof(gen_units[0])))

/* The unit whose no-show rate steps up at --shift-date (say, SMS reminders stopped). */
#define GEN_SHIFT_UNIT 8
#define GEN_SHIFT_FACTOR 2.2
/* Portal-booked patients come more often: they chose the time themselves. */
#define GEN_PORTAL_NOSHOW_FACTOR 0.6

enum gen_channel { GEN_CH_PORTAL, GEN_CH_STAFF, GEN_CH_PHONE, GEN_CH_OTHER };
static const char *const gen_channel_name[] = {"portal", "staff", "phone", "other"};

enum gen_item { GEN_ITEM_VITALS, GEN_ITEM_MEDLIST, GEN_ITEM_NOTE, GEN_ITEM_CAREPLAN, GEN_NITEMS };
static const char *const gen_item_name[] = {"vital-signs", "medication-list", "nursing-note",
                                            "care-plan"};
/* Weights for home care and for the others; seconds spent: min and max. */
static const double gen_item_w[2][GEN_NITEMS] = {{25, 20, 40, 15}, {30, 25, 35, 10}};
static const int gen_item_dur[GEN_NITEMS][2] = {{30, 240}, {60, 600}, {90, 900}, {300, 1800}};

enum gen_system { GEN_SYS_HP, GEN_SYS_GERICA, GEN_SYS_MANUAL, GEN_NSYS };
static const char *const gen_system_name[] = {"helseplattformen", "gerica", "manual-transcription"};

/* CloudEvents sources. */
enum gen_source { GEN_SRC_HP, GEN_SRC_PORTAL, GEN_SRC_GERICA, GEN_SRC_MANUAL };
static const char *const gen_source_name[] = {"helseplattformen/prod", "helsami/prod",
                                              "gerica/trondheim", "manual-transcription/trondheim"};

typedef struct gen_action {
    const char *name;
    double w_home, w_other;
    bool patient; /* done in a patient's record */
} gen_action_t;

static const gen_action_t gen_actions[] = {
    {"note.edit", 20, 18, true},      {"note.sign", 2, 5, true},
    {"flowsheet.view", 15, 12, true}, {"flowsheet.edit", 10, 3, true},
    {"journal.read", 15, 20, true},   {"careplan.edit", 6, 4, true},
    {"careplan.view", 8, 2, true},    {"medication.administer", 12, 1, true},
    {"order.sign", 1, 8, true},       {"inbasket.read", 6, 12, false},
    {"patient.search", 5, 8, false},  {"schedule.view", 3, 10, false},
};
#define GEN_NACTIONS ((int)(sizeof(gen_actions) / sizeof(gen_actions[0])))

/* ---------------------------------------------------------------------------------------- */
/* Random numbers: xoshiro256**, seeded through splitmix64; one stream per event kind so    */
/* that turning one kind off or resizing it leaves the others as they were.                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct gen_rng {
    uint64_t s[4];
} gen_rng_t;

static uint64_t gen_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void gen_rng_seed(gen_rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = gen_splitmix64(&x);
}

static inline uint64_t gen_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t gen_rng_next(gen_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = gen_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gen_rotl(s[3], 45);
    return result;
}

static inline double gen_rng_unit(gen_rng_t *r)
{
    return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

static inline bool gen_rng_chance(gen_rng_t *r, double p)
{
    return gen_rng_unit(r) < p;
}

/* Uniform in [lo, hi]; lo when the range is empty. */
static inline int64_t gen_rng_range(gen_rng_t *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(gen_rng_next(r) % (uint64_t)(hi - lo + 1));
}

static inline double gen_rng_exp(gen_rng_t *r, double mean)
{
    return -mean * log(1.0 - gen_rng_unit(r));
}

static int gen_rng_pick(gen_rng_t *r, const double *cum, int n)
{
    double x = gen_rng_unit(r) * cum[n - 1];
    for (int i = 0; i < n - 1; i++)
        if (x < cum[i])
            return i;
    return n - 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Calendar and Europe/Oslo                                                                 */
/* ---------------------------------------------------------------------------------------- */

static int64_t gen_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t gen_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void gen_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 0 = Monday; 1970-01-01 was a Thursday. */
static int gen_weekday(int64_t days)
{
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

#define GEN_YEAR0 1970
#define GEN_NYEARS 231
static int64_t gen_dst_start[GEN_NYEARS], gen_dst_end[GEN_NYEARS];

static int64_t gen_last_sunday(int y, int m)
{
    int64_t last = gen_days_from_civil(y, m + 1, 1) - 1;
    return last - (gen_weekday(last) + 1) % 7;
}

/* Europe/Oslo has kept the EU rule since 1996: CEST from 01:00 UTC on the last Sunday of March
 * to 01:00 UTC on the last Sunday of October. Computed rather than read from tzdata so the
 * output is byte-identical on every machine. */
static void gen_tz_init(void)
{
    for (int i = 0; i < GEN_NYEARS; i++) {
        gen_dst_start[i] = gen_last_sunday(GEN_YEAR0 + i, 3) * GEN_DAY_S + 3600;
        gen_dst_end[i] = gen_last_sunday(GEN_YEAR0 + i, 10) * GEN_DAY_S + 3600;
    }
}

/* UTC offset in seconds at a UTC instant. The year guess may be off by one only around New
 * Year, far from either transition, so one interval check suffices. */
static inline int gen_oslo_offset(int64_t utc_s)
{
    int64_t i = utc_s / 31556952;
    if (i < 0 || i >= GEN_NYEARS)
        return 3600;
    return (utc_s >= gen_dst_start[i] && utc_s < gen_dst_end[i]) ? 7200 : 3600;
}

/* Local wall-clock seconds to UTC; an ambiguous time takes summer time. */
static int64_t gen_oslo_to_utc(int64_t local_s)
{
    int64_t u = local_s - 7200;
    if (gen_oslo_offset(u) == 7200)
        return u;
    return local_s - 3600;
}

static int64_t gen_local_day(int64_t utc_s)
{
    return gen_floor_div(utc_s + gen_oslo_offset(utc_s), GEN_DAY_S);
}

static bool gen_parse_date(const char *s, int64_t *days)
{
    int y, m, d, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || s[10] != '\0')
        return false;
    if (y < 2000 || y > 2150 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    int64_t z = gen_days_from_civil(y, m, d);
    int yy, mm, dd;
    gen_civil_from_days(z, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return false;
    *days = z;
    return true;
}

/* How far a change has come at local day `day`: 0 before from, 1 after to, linear between. */
static double gen_progress(int64_t day, int64_t from, int64_t to)
{
    if (day <= from)
        return 0.0;
    if (day >= to)
        return 1.0;
    return (double)(day - from) / (double)(to - from);
}

/* ---------------------------------------------------------------------------------------- */
/* Hand-rolled formatting: the hot path of a million events a second.                      */
/* ---------------------------------------------------------------------------------------- */

#define GEN_PUT(p, lit) gen_put((p), (lit), sizeof(lit) - 1)

static inline char *gen_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static inline char *gen_put_str(char *p, const char *s)
{
    return gen_put(p, s, strlen(s));
}

static char *gen_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *gen_put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return gen_put_u64(p, (uint64_t)(-v));
    }
    return gen_put_u64(p, (uint64_t)v);
}

static inline char *gen_put_2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static char *gen_put_date(char *p, int64_t days)
{
    int y, m, d;
    gen_civil_from_days(days, &y, &m, &d);
    p = gen_put_2(p, y / 100);
    p = gen_put_2(p, y % 100);
    *p++ = '-';
    p = gen_put_2(p, m);
    *p++ = '-';
    return gen_put_2(p, d);
}

enum { GEN_TF_Z = 0, GEN_TF_MS = 1, GEN_TF_LOCAL = 2 };

/* RFC 3339: UTC with Z, or Oslo wall-clock time with its offset; optional milliseconds. */
static char *gen_put_time(char *p, int64_t ms, int style)
{
    int64_t s = gen_floor_div(ms, 1000);
    int frac = (int)(ms - s * 1000);
    int off = (style & GEN_TF_LOCAL) ? gen_oslo_offset(s) : 0;
    int64_t ls = s + off;
    int64_t days = gen_floor_div(ls, GEN_DAY_S);
    int sod = (int)(ls - days * GEN_DAY_S);
    p = gen_put_date(p, days);
    *p++ = 'T';
    p = gen_put_2(p, sod / 3600);
    *p++ = ':';
    p = gen_put_2(p, sod / 60 % 60);
    *p++ = ':';
    p = gen_put_2(p, sod % 60);
    if (style & GEN_TF_MS) {
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        p = gen_put_2(p, frac % 100);
    }
    if (off == 0)
        *p++ = 'Z';
    else
        p = off == 7200 ? GEN_PUT(p, "+02:00") : GEN_PUT(p, "+01:00");
    return p;
}

static const char gen_hex[] = "0123456789abcdef";

static char *gen_put_hex(char *p, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        *p++ = gen_hex[(v >> (4 * i)) & 15];
    return p;
}

/* ---------------------------------------------------------------------------------------- */
/* Events and the delivery queue                                                            */
/* ---------------------------------------------------------------------------------------- */

enum gen_topic { GEN_T_APPT, GEN_T_JOURNAL, GEN_T_AUDIT, GEN_NTOPICS };

enum gen_type {
    GEN_APPT_BOOKED,
    GEN_APPT_RESCHEDULED,
    GEN_APPT_CANCELLED,
    GEN_APPT_ARRIVED,
    GEN_APPT_FULFILLED,
    GEN_APPT_NOSHOW,
    GEN_APPT_EIE,
    GEN_JOURNAL_RECORDED,
    GEN_JOURNAL_EIE,
    GEN_AUDIT_ACCESS,
};
static const char *const gen_type_name[] = {
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.arrived",
    "appointment.fulfilled",
    "appointment.noshow",
    "appointment.entered-in-error",
    "journal.entry-recorded",
    "journal.entry-entered-in-error",
    "audit.access",
};
static const char *const gen_status_name[] = {"booked",    "booked", "cancelled",       "arrived",
                                              "fulfilled", "noshow", "entered-in-error"};

enum gen_cancel_by { GEN_CB_NONE, GEN_CB_PATIENT, GEN_CB_STAFF };

typedef struct gen_ev {
    int64_t due_ms; /* delivery order */
    uint64_t order; /* push order: ties in due_ms */
    uint64_t seq;   /* event identity: the CloudEvent id; a redelivered copy keeps it */
    int64_t t_ms;   /* event time */
    uint8_t topic, type, unit, src, tfmt;
    union {
        struct {
            uint32_t no, patient; /* patient 0: field left out */
            int64_t start_s, booked_s;
            uint8_t channel, cancelled_by;
        } a;
        struct {
            uint32_t no, author, patient;
            int32_t duration; /* < 0: field left out */
            uint64_t fp;
            uint8_t item, system;
        } j;
        struct {
            uint32_t user, patient, ws; /* 0: field left out */
            uint8_t action;
        } u;
    };
} gen_ev_t;

/* Pending events by local delivery day, in a ring: a calendar queue. A binary heap of the
 * few hundred thousand events in flight spent most of the run in cache misses; a day's
 * bucket is small enough to sort in cache. */
#define GEN_RING_DAYS 256

typedef struct gen_bucket {
    gen_ev_t *v;
    size_t n, cap;
} gen_bucket_t;

typedef struct gen_queue {
    gen_bucket_t b[GEN_RING_DAYS];
    int64_t next_day; /* first local day not yet delivered */
} gen_queue_t;

static void gen_queue_push(gen_queue_t *q, const gen_ev_t *ev)
{
    int64_t s = gen_floor_div(ev->due_ms, 1000);
    int64_t day = gen_floor_div(s + gen_oslo_offset(s), GEN_DAY_S);
    if (day < q->next_day || day >= q->next_day + GEN_RING_DAYS) {
        /* The day loop guarantees this; anything else would reorder the output. */
        fprintf(stderr, PROG ": internal error: event due outside the delivery window\n");
        abort();
    }
    gen_bucket_t *b = &q->b[day % GEN_RING_DAYS];
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        gen_ev_t *v = realloc(b->v, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, PROG ": out of memory\n");
            exit(1);
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = *ev;
}

static int gen_ev_cmp(const void *pa, const void *pb)
{
    const gen_ev_t *a = pa, *b = pb;
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static void gen_queue_free(gen_queue_t *q)
{
    for (int i = 0; i < GEN_RING_DAYS; i++)
        free(q->b[i].v);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad messages                                                                             */
/* ---------------------------------------------------------------------------------------- */

enum gen_mut {
    GEN_MUT_NONE,
    GEN_MUT_TRUNCATED,
    GEN_MUT_NOT_JSON,
    GEN_MUT_DUP_KEY,
    GEN_MUT_SPECVERSION,
    GEN_MUT_NO_ID,
    GEN_MUT_NO_FIELD,
    GEN_MUT_BAD_TIME,
    GEN_MUT_BAD_VALUE,
    GEN_MUT_MISMATCH,
    GEN_MUT_UNKNOWN_TYPE,
    GEN_MUT_OVERSIZE,
    GEN_NMUTS
};
/* The contract's rejection reason each mutation should earn. */
static const char *const gen_mut_reason[] = {
    "none",           "invalid_json",         "invalid_json",     "invalid_json",
    "not_cloudevent", "not_cloudevent",       "missing_field",    "invalid_field",
    "invalid_field",  "type_status_mismatch", "unsupported_type", "too_large",
};

/* ---------------------------------------------------------------------------------------- */
/* Generator state                                                                          */
/* ---------------------------------------------------------------------------------------- */

typedef struct gen_batch {
    char *buf;
    size_t len;
    int n, want;
    char key[32];
    size_t keylen;
    uint32_t user;
    int64_t first_due;
} gen_batch_t;

typedef struct gen_stats {
    uint64_t messages, events, bad, bytes;
    uint64_t delivered, failed;
} gen_stats_t;

typedef struct gen {
    /* options */
    uint64_t seed;
    int64_t from_day, to_day, shift_day;
    uint64_t n_appt, n_journal, n_audit;
    double bad_ratio, batch_ratio;
    bool keyed_out;
    const char *brokers;
    const char *topic[GEN_NTOPICS];
    double rate;
    const char *truth_path;
    const char *kafka_props[32];
    int n_kafka_props;

    int64_t range_start_ms, range_end_ms; /* UTC, [start, end) */
    gen_rng_t rng[GEN_NTOPICS];
    gen_rng_t rng_emit;
    uint64_t seq[GEN_NTOPICS + 1], order, id_mask, id_mix;
    gen_queue_t queue;

    /* per-day quotas: cumulative weight so far, total weight, produced so far */
    double cum_w[GEN_NTOPICS], total_w[GEN_NTOPICS];
    uint64_t made[GEN_NTOPICS];

    uint32_t appt_no, entry_no;
    uint32_t appt_patients, journal_patients;
    int staff_base[GEN_NUNITS];
    int64_t *user_free; /* audit: when each user is next free, per day */
    int n_users;

    /* output */
    char *out, *oversize;
    size_t out_len;
    FILE *truth;
    char truth_line[1024];
    gen_batch_t batch[GEN_NTOPICS];
    gen_stats_t stats[GEN_NTOPICS];
    uint64_t bad_by_mut[GEN_NMUTS];
    bool oversize_done;
    uint64_t emitted_events, next_throttle;
    struct timespec t0;

    rd_kafka_t *rk;
    uint64_t failed_total;
    bool oversize_refused;
} gen_t;

static double gen_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double gen_elapsed(const gen_t *g)
{
    return gen_now() - ((double)g->t0.tv_sec + (double)g->t0.tv_nsec * 1e-9);
}

/* ---------------------------------------------------------------------------------------- */
/* Event formatting                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* A v4-shaped UUID whose last 48 bits are a bijection of the event sequence number (odd
 * multipliers and xorshifts mod 2^48): unique within a run by construction, random-looking,
 * different between seeds. */
static char *gen_put_ceid(char *p, const gen_t *g, uint64_t seq)
{
    const uint64_t m48 = 0xffffffffffffULL;
    uint64_t x = g->id_mix ^ seq;
    uint64_t h = gen_splitmix64(&x);
    uint64_t lo = ((seq ^ g->id_mask) * 0x9e3779b97f4bULL) & m48;
    lo ^= lo >> 23;
    lo = (lo * 0xd6e8feb86659ULL) & m48;
    lo ^= lo >> 25;
    p = gen_put_hex(p, h >> 32, 8);
    *p++ = '-';
    p = gen_put_hex(p, (h >> 16) & 0xffff, 4);
    p = GEN_PUT(p, "-4");
    p = gen_put_hex(p, (h >> 4) & 0xfff, 3);
    *p++ = '-';
    *p++ = gen_hex[8 | (h & 3)];
    p = gen_put_hex(p, (h >> 52) & 0xfff, 3);
    *p++ = '-';
    return gen_put_hex(p, lo, 12);
}

static char *gen_put_key(char *p, const gen_ev_t *ev)
{
    switch (ev->topic) {
    case GEN_T_APPT:
        p = GEN_PUT(p, "A-");
        return gen_put_u64(p, GEN_APPT_BASE + ev->a.no);
    case GEN_T_JOURNAL:
        p = GEN_PUT(p, "P-");
        return gen_put_u64(p, ev->j.patient);
    default:
        p = GEN_PUT(p, "U-");
        return gen_put_u64(p, ev->u.user);
    }
}

static char *gen_put_bad_time(char *p, uint64_t seq)
{
    static const char *const bad[] = {"2024-13-01T08:00:00Z", "yesterday", "2025-02-12 08:01:07",
                                      "2025-02-30T25:61:00+01:00"};
    return gen_put_str(p, bad[seq % 4]);
}

static char *gen_put_appt_data(char *p, const gen_ev_t *ev, int mut)
{
    p = GEN_PUT(p, "{\"appointment_id\":\"A-");
    p = gen_put_u64(p, GEN_APPT_BASE + ev->a.no);
    p = GEN_PUT(p, "\",\"unit_id\":\"");
    p = gen_put_str(p, gen_units[ev->unit].id);
    if (mut != GEN_MUT_NO_FIELD) {
        p = GEN_PUT(p, "\",\"start\":\"");
        p = gen_put_time(p, ev->a.start_s * 1000, GEN_TF_LOCAL);
    }
    p = GEN_PUT(p, "\",\"booked_at\":\"");
    p = gen_put_time(p, ev->a.booked_s * 1000, GEN_TF_LOCAL);
    p = GEN_PUT(p, "\",\"booking_channel\":\"");
    p = mut == GEN_MUT_BAD_VALUE ? GEN_PUT(p, "sms")
                                 : gen_put_str(p, gen_channel_name[ev->a.channel]);
    p = GEN_PUT(p, "\",\"status\":\"");
    p = gen_put_str(p, gen_status_name[ev->type]);
    *p++ = '"';
    if (ev->a.cancelled_by != GEN_CB_NONE)
        p = ev->a.cancelled_by == GEN_CB_PATIENT ? GEN_PUT(p, ",\"cancelled_by\":\"patient\"")
                                                 : GEN_PUT(p, ",\"cancelled_by\":\"staff\"");
    if (ev->a.patient) {
        p = GEN_PUT(p, ",\"patient_id\":\"P-");
        p = gen_put_u64(p, ev->a.patient);
        *p++ = '"';
    }
    *p++ = '}';
    return p;
}

static char *gen_put_journal_data(char *p, const gen_ev_t *ev, int mut)
{
    p = GEN_PUT(p, "{\"entry_id\":\"J-");
    p = gen_put_u64(p, GEN_ENTRY_BASE + ev->j.no);
    p = GEN_PUT(p, "\",\"unit_id\":\"");
    p = gen_put_str(p, gen_units[ev->unit].id);
    *p++ = '"';
    if (ev->type == GEN_JOURNAL_EIE)
        return GEN_PUT(p, "}");
    p = GEN_PUT(p, ",\"author_id\":\"U-");
    p = gen_put_u64(p, ev->j.author);
    p = GEN_PUT(p, "\",\"patient_id\":\"P-");
    p = gen_put_u64(p, ev->j.patient);
    p = GEN_PUT(p, "\",\"item_type\":\"");
    p = gen_put_str(p, gen_item_name[ev->j.item]);
    *p++ = '"';
    if (mut != GEN_MUT_NO_FIELD) {
        p = GEN_PUT(p, ",\"fingerprint\":\"");
        p = gen_put_hex(p, ev->j.fp, 16);
        *p++ = '"';
    }
    p = GEN_PUT(p, ",\"source_system\":\"");
    p = gen_put_str(p, gen_system_name[ev->j.system]);
    *p++ = '"';
    if (mut == GEN_MUT_BAD_VALUE) {
        p = GEN_PUT(p, ",\"duration_s\":-30");
    } else if (ev->j.duration >= 0) {
        p = GEN_PUT(p, ",\"duration_s\":");
        p = gen_put_u64(p, (uint64_t)ev->j.duration);
    }
    *p++ = '}';
    return p;
}

static char *gen_put_audit_data(char *p, const gen_ev_t *ev, int mut)
{
    p = GEN_PUT(p, "{\"user_id\":\"");
    if (mut != GEN_MUT_BAD_VALUE) {
        p = GEN_PUT(p, "U-");
        p = gen_put_u64(p, ev->u.user);
    }
    p = GEN_PUT(p, "\",\"unit_id\":\"");
    p = gen_put_str(p, gen_units[ev->unit].id);
    *p++ = '"';
    if (mut != GEN_MUT_NO_FIELD) {
        p = GEN_PUT(p, ",\"action\":\"");
        p = gen_put_str(p, gen_actions[ev->u.action].name);
        *p++ = '"';
    }
    if (ev->u.patient) {
        p = GEN_PUT(p, ",\"patient_id\":\"P-");
        p = gen_put_u64(p, ev->u.patient);
        *p++ = '"';
    }
    if (ev->u.ws) {
        p = GEN_PUT(p, ",\"workstation\":\"WS-");
        p = gen_put_u64(p, ev->u.ws);
        *p++ = '"';
    }
    *p++ = '}';
    return p;
}

static const char *gen_type_for(const gen_ev_t *ev, int mut)
{
    if (mut == GEN_MUT_UNKNOWN_TYPE) {
        static const char *const unknown[] = {"appointment.waitlisted", "journal.entry-signed",
                                              "audit.login"};
        return unknown[ev->topic];
    }
    if (mut == GEN_MUT_MISMATCH)
        return ev->type == GEN_APPT_NOSHOW ? "appointment.fulfilled" : "appointment.noshow";
    return gen_type_name[ev->type];
}

/* One CloudEvent as structured-mode JSON; `mut` breaks it on purpose (GEN_MUT_NONE: valid). */
static size_t gen_format(const gen_t *g, char *buf, const gen_ev_t *ev, int mut, uint64_t id)
{
    char *p = buf;
    if (mut == GEN_MUT_NOT_JSON) {
        /* An HL7 v2 message sent to the wrong topic. */
        p = GEN_PUT(p, "MSH|^~\\&|EPIC|HELSEPLATTFORMEN|GEVINST|TRONDHEIM|");
        p = gen_put_u64(p, id);
        p = GEN_PUT(p, "||SIU^S12|");
        return (size_t)(gen_put_u64(p, ev->seq) - buf);
    }
    p = mut == GEN_MUT_SPECVERSION ? GEN_PUT(p, "{\"specversion\":\"0.3\"")
                                   : GEN_PUT(p, "{\"specversion\":\"1.0\"");
    if (mut != GEN_MUT_NO_ID) {
        p = GEN_PUT(p, ",\"id\":\"");
        p = gen_put_ceid(p, g, id);
        *p++ = '"';
    }
    p = GEN_PUT(p, ",\"source\":\"");
    p = gen_put_str(p, gen_source_name[ev->src]);
    *p++ = '"';
    if (mut == GEN_MUT_DUP_KEY) {
        p = GEN_PUT(p, ",\"source\":\"");
        p = gen_put_str(p, gen_source_name[ev->src]);
        *p++ = '"';
    }
    p = GEN_PUT(p, ",\"type\":\"");
    p = gen_put_str(p, gen_type_for(ev, mut));
    p = GEN_PUT(p, "\",\"time\":\"");
    p = mut == GEN_MUT_BAD_TIME ? gen_put_bad_time(p, id) : gen_put_time(p, ev->t_ms, ev->tfmt);
    *p++ = '"';
    if (ev->src == GEN_SRC_HP)
        p = GEN_PUT(p, ",\"datacontenttype\":\"application/json\"");
    p = GEN_PUT(p, ",\"data\":");
    if (ev->topic == GEN_T_APPT)
        p = gen_put_appt_data(p, ev, mut);
    else if (ev->topic == GEN_T_JOURNAL)
        p = gen_put_journal_data(p, ev, mut);
    else
        p = gen_put_audit_data(p, ev, mut);
    *p++ = '}';
    size_t len = (size_t)(p - buf);
    if (mut == GEN_MUT_TRUNCATED)
        len /= 2;
    return len;
}

/* ---------------------------------------------------------------------------------------- */
/* Sinks: stdout lines or librdkafka                                                        */
/* ---------------------------------------------------------------------------------------- */

static void gen_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": write: %s\n", strerror(errno));
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void gen_out_flush(gen_t *g)
{
    gen_write_all(STDOUT_FILENO, g->out, g->out_len);
    g->out_len = 0;
}

static void gen_out(gen_t *g, const char *p, size_t n)
{
    if (g->out_len + n > GEN_OUTBUF) {
        gen_out_flush(g);
        if (n > GEN_OUTBUF) {
            gen_write_all(STDOUT_FILENO, p, n);
            return;
        }
    }
    memcpy(g->out + g->out_len, p, n);
    g->out_len += n;
}

static void gen_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    gen_t *g = opaque;
    (void)rk;
    /* Per-message opaque: topic index times two, plus one for the oversized message. */
    uintptr_t tag = (uintptr_t)m->_private;
    int topic = (int)(tag >> 1);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        g->stats[topic].delivered++;
        return;
    }
    /* The oversized message exists to be rejected; a broker may refuse it already. */
    if ((tag & 1) && m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        g->oversize_refused = true;
        return;
    }
    if (g->failed_total++ < 10)
        fprintf(stderr, PROG ": delivery to %s failed: %s\n", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
    g->stats[topic].failed++;
}

static bool gen_kafka_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, PROG ": kafka property %s=%s: %s\n", k, v, err);
        return false;
    }
    return true;
}

static bool gen_kafka_open(gen_t *g)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char features[512];
    size_t flen = sizeof(features);
    bool lz4 = rd_kafka_conf_get(conf, "builtin.features", features, &flen) == RD_KAFKA_CONF_OK &&
               strstr(features, "lz4") != NULL;
    /* Idempotence: a retried batch is not written twice, so the only duplicates in the
     * topic are the ones this generator put there on purpose. */
    bool ok = gen_kafka_set(conf, "bootstrap.servers", g->brokers) &&
              gen_kafka_set(conf, "enable.idempotence", "true") &&
              gen_kafka_set(conf, "linger.ms", "50") &&
              gen_kafka_set(conf, "batch.size", "1000000") &&
              gen_kafka_set(conf, "queue.buffering.max.messages", "1000000") &&
              gen_kafka_set(conf, "message.max.bytes", "4000000") &&
              gen_kafka_set(conf, "compression.type", lz4 ? "lz4" : "none");
    for (int i = 0; ok && i < g->n_kafka_props; i++) {
        char kv[1024];
        snprintf(kv, sizeof(kv), "%s", g->kafka_props[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, PROG ": --kafka-prop %s: expected KEY=VALUE\n", kv);
            ok = false;
            break;
        }
        *eq = '\0';
        ok = gen_kafka_set(conf, kv, eq + 1);
    }
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, gen_dr_cb);
    rd_kafka_conf_set_opaque(conf, g);
    char err[512];
    g->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!g->rk) {
        fprintf(stderr, PROG ": kafka producer: %s\n", err);
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes it only on success */
        return false;
    }
    return true;
}

static void gen_kafka_produce(gen_t *g, int topic, const char *key, size_t keylen, const char *val,
                              size_t len, bool oversize)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            g->rk, RD_KAFKA_V_TOPIC(g->topic[topic]), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(((uintptr_t)topic << 1) | (oversize ? 1u : 0u))),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !gen_stop) {
            rd_kafka_poll(g->rk, 20);
            continue;
        }
        if (g->failed_total++ < 10)
            fprintf(stderr, PROG ": produce to %s failed: %s\n", g->topic[topic],
                    rd_kafka_err2str(err));
        g->stats[topic].failed++;
        break;
    }
    if ((g->stats[topic].messages & 1023) == 0)
        rd_kafka_poll(g->rk, 0);
}

/* Waits for every delivery report; false if any message is still undelivered. */
static bool gen_kafka_close(gen_t *g)
{
    double deadline = gen_now() + 120.0;
    while (rd_kafka_outq_len(g->rk) > 0 && gen_now() < deadline)
        rd_kafka_flush(g->rk, 1000);
    int left = rd_kafka_outq_len(g->rk);
    char err[512];
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(g->rk, err, sizeof(err));
    if (fatal)
        fprintf(stderr, PROG ": kafka fatal error: %s\n", err);
    if (left > 0)
        fprintf(stderr, PROG ": %d messages not delivered within 120 s\n", left);
    rd_kafka_destroy(g->rk);
    g->rk = NULL;
    return left == 0 && !fatal;
}

static void gen_throttle(gen_t *g)
{
    if (g->rate <= 0 || g->emitted_events < g->next_throttle)
        return;
    g->next_throttle = g->emitted_events + 64;
    double ahead = (double)g->emitted_events / g->rate - gen_elapsed(g);
    if (ahead <= 0)
        return;
    if (g->rk) {
        /* rd_kafka_poll() returns as soon as it served one delivery report, so
         * it cannot be the sleep: serve reports, then sleep what is left. */
        rd_kafka_poll(g->rk, 0);
        ahead = (double)g->emitted_events / g->rate - gen_elapsed(g);
        if (ahead > 0) {
            struct timespec ts = {(time_t)ahead, (long)((ahead - floor(ahead)) * 1e9)};
            nanosleep(&ts, NULL);
        }
    } else {
        gen_out_flush(g); /* steady, not bursty, for a consumer reading the pipe */
        struct timespec ts = {(time_t)ahead, (long)((ahead - floor(ahead)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void gen_sink(gen_t *g, int topic, const char *key, size_t keylen, const char *val,
                     size_t len, int events, bool oversize)
{
    gen_stats_t *st = &g->stats[topic];
    st->messages++;
    st->events += (uint64_t)events;
    st->bytes += len;
    g->emitted_events += (uint64_t)events;
    if (g->rk) {
        gen_kafka_produce(g, topic, key, keylen, val, len, oversize);
    } else {
        gen_out(g, g->topic[topic], strlen(g->topic[topic]));
        gen_out(g, "\t", 1);
        if (g->keyed_out) {
            gen_out(g, key, keylen);
            gen_out(g, "\t", 1);
        }
        gen_out(g, val, len);
        gen_out(g, "\n", 1);
    }
    gen_throttle(g);
}

/* ---------------------------------------------------------------------------------------- */
/* Emission: bad messages, batches, single events                                           */
/* ---------------------------------------------------------------------------------------- */

static void gen_emit_bad(gen_t *g, const gen_ev_t *ev)
{
    static const int muts[GEN_NTOPICS][10] = {
        {GEN_MUT_TRUNCATED, GEN_MUT_NOT_JSON, GEN_MUT_DUP_KEY, GEN_MUT_SPECVERSION, GEN_MUT_NO_ID,
         GEN_MUT_NO_FIELD, GEN_MUT_BAD_TIME, GEN_MUT_BAD_VALUE, GEN_MUT_MISMATCH,
         GEN_MUT_UNKNOWN_TYPE},
        {GEN_MUT_TRUNCATED, GEN_MUT_DUP_KEY, GEN_MUT_SPECVERSION, GEN_MUT_NO_ID, GEN_MUT_NO_FIELD,
         GEN_MUT_BAD_TIME, GEN_MUT_BAD_VALUE, GEN_MUT_UNKNOWN_TYPE, GEN_MUT_NO_FIELD,
         GEN_MUT_BAD_VALUE},
        {GEN_MUT_TRUNCATED, GEN_MUT_DUP_KEY, GEN_MUT_SPECVERSION, GEN_MUT_NO_ID, GEN_MUT_NO_FIELD,
         GEN_MUT_BAD_TIME, GEN_MUT_BAD_VALUE, GEN_MUT_UNKNOWN_TYPE, GEN_MUT_NO_FIELD,
         GEN_MUT_BAD_TIME},
    };
    int mut = muts[ev->topic][gen_rng_range(&g->rng_emit, 0, 9)];
    /* One oversized message per run is enough to show the rule, and keeps a benchmark's
     * topics within the mock cluster's few MB per partition. */
    if (!g->oversize_done && gen_rng_chance(&g->rng_emit, 0.05))
        mut = GEN_MUT_OVERSIZE;
    uint64_t id = (++g->seq[GEN_NTOPICS] << 2) | GEN_NTOPICS;
    char buf[GEN_MSG_MAX], key[32];
    size_t keylen = (size_t)(gen_put_key(key, ev) - key);
    g->stats[ev->topic].bad++;
    g->bad_by_mut[mut]++;
    if (mut == GEN_MUT_OVERSIZE) {
        g->oversize_done = true;
        size_t len = gen_format(g, buf, ev, GEN_MUT_NONE, id);
        char *p = g->oversize;
        p = GEN_PUT(p, "{\"padding\":\"");
        memset(p, 'x', GEN_OVERSIZE_PAD);
        p += GEN_OVERSIZE_PAD;
        p = GEN_PUT(p, "\",");
        p = gen_put(p, buf + 1, len - 1);
        gen_sink(g, ev->topic, key, keylen, g->oversize, (size_t)(p - g->oversize), 1, true);
        return;
    }
    size_t len = gen_format(g, buf, ev, mut, id);
    gen_sink(g, ev->topic, key, keylen, buf, len, 1, false);
}

static void gen_batch_flush(gen_t *g, int topic)
{
    gen_batch_t *b = &g->batch[topic];
    if (b->n == 0)
        return;
    if (b->n == 1) {
        /* Only one event came along: send it as what it is, a single event. */
        gen_sink(g, topic, b->key, b->keylen, b->buf + 1, b->len - 1, 1, false);
    } else {
        b->buf[b->len++] = ']';
        gen_sink(g, topic, b->key, b->keylen, b->buf, b->len, b->n, false);
    }
    b->n = 0;
    b->len = 0;
}

static void gen_emit(gen_t *g, const gen_ev_t *ev)
{
    int topic = ev->topic;
    gen_batch_t *b = &g->batch[topic];
    char buf[GEN_MSG_MAX];
    if (b->n > 0) {
        /* Audit batches hold one user's events only, so per-user order survives the
         * advised keying by user_id. */
        if (topic != GEN_T_AUDIT || ev->u.user == b->user) {
            b->buf[b->len++] = ',';
            b->len += gen_format(g, b->buf + b->len, ev, GEN_MUT_NONE, ev->seq);
            if (++b->n == b->want)
                gen_batch_flush(g, topic);
            return;
        }
        if (ev->due_ms - b->first_due > 10 * 60 * 1000)
            gen_batch_flush(g, topic);
    }
    if (g->bad_ratio > 0 && gen_rng_chance(&g->rng_emit, g->bad_ratio / (1.0 - g->bad_ratio)))
        gen_emit_bad(g, ev);
    if (b->n == 0 && g->batch_ratio > 0 && gen_rng_chance(&g->rng_emit, g->batch_ratio)) {
        b->want = (int)gen_rng_range(&g->rng_emit, 2, GEN_BATCH_MAX);
        b->keylen = (size_t)(gen_put_key(b->key, ev) - b->key);
        b->user = ev->u.user;
        b->first_due = ev->due_ms;
        b->buf[0] = '[';
        b->len = 1 + gen_format(g, b->buf + 1, ev, GEN_MUT_NONE, ev->seq);
        b->n = 1;
        return;
    }
    char key[32];
    size_t keylen = (size_t)(gen_put_key(key, ev) - key);
    size_t len = gen_format(g, buf, ev, GEN_MUT_NONE, ev->seq);
    gen_sink(g, topic, key, keylen, buf, len, 1, false);
}

/* Emits everything due on local days up to `last_day`: no later step adds to them. */
static void gen_drain(gen_t *g, int64_t last_day)
{
    gen_queue_t *q = &g->queue;
    for (; q->next_day <= last_day && !gen_stop; q->next_day++) {
        gen_bucket_t *b = &q->b[q->next_day % GEN_RING_DAYS];
        if (b->n == 0)
            continue;
        qsort(b->v, b->n, sizeof(*b->v), gen_ev_cmp);
        for (size_t i = 0; i < b->n && !gen_stop; i++)
            gen_emit(g, &b->v[i]);
        b->n = 0;
    }
}

/* Queues an event for delivery: usually at its event time, sometimes late (a later snapshot
 * may then arrive first), sometimes twice (redelivery: an identical copy, same id). */
static void gen_schedule(gen_t *g, gen_rng_t *r, gen_ev_t *ev, double p_late, int64_t late_lo_ms,
                         int64_t late_hi_ms, double p_dup, int64_t dup_hi_ms)
{
    /* Numbered per stream, so one stream's ids do not depend on the others' sizes. */
    ev->seq = (++g->seq[ev->topic] << 2) | ev->topic;
    ev->due_ms = ev->t_ms;
    if (gen_rng_chance(r, p_late))
        ev->due_ms += gen_rng_range(r, late_lo_ms, late_hi_ms);
    ev->order = ++g->order;
    gen_queue_push(&g->queue, ev);
    if (gen_rng_chance(r, p_dup)) {
        gen_ev_t copy = *ev;
        copy.due_ms += gen_rng_range(r, 0, dup_hi_ms);
        copy.order = ++g->order;
        gen_queue_push(&g->queue, &copy);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Truth file                                                                               */
/* ---------------------------------------------------------------------------------------- */

static void gen_truth_write(gen_t *g, char *end)
{
    *end++ = '\n';
    fwrite(g->truth_line, 1, (size_t)(end - g->truth_line), g->truth);
}

static void gen_truth_appt(gen_t *g, const gen_ev_t *ev, bool rescheduled, bool corrected)
{
    if (!g->truth)
        return;
    char *p = g->truth_line;
    p = GEN_PUT(p, "{\"kind\":\"appointment\",\"appointment_id\":\"A-");
    p = gen_put_u64(p, GEN_APPT_BASE + ev->a.no);
    p = GEN_PUT(p, "\",\"unit_id\":\"");
    p = gen_put_str(p, gen_units[ev->unit].id);
    p = GEN_PUT(p, "\",\"patient_id\":\"P-");
    p = gen_put_u64(p, ev->a.patient);
    p = GEN_PUT(p, "\",\"start\":\"");
    p = gen_put_time(p, ev->a.start_s * 1000, GEN_TF_LOCAL);
    p = GEN_PUT(p, "\",\"start_day\":\"");
    p = gen_put_date(p, gen_local_day(ev->a.start_s));
    p = GEN_PUT(p, "\",\"booked_at\":\"");
    p = gen_put_time(p, ev->a.booked_s * 1000, GEN_TF_LOCAL);
    p = GEN_PUT(p, "\",\"booked_day\":\"");
    p = gen_put_date(p, gen_local_day(ev->a.booked_s));
    p = GEN_PUT(p, "\",\"booking_channel\":\"");
    p = gen_put_str(p, gen_channel_name[ev->a.channel]);
    p = GEN_PUT(p, "\",\"status\":\"");
    p = gen_put_str(p, gen_status_name[ev->type]);
    p = GEN_PUT(p, "\",\"cancelled_by\":");
    if (ev->a.cancelled_by == GEN_CB_NONE)
        p = GEN_PUT(p, "null");
    else
        p = ev->a.cancelled_by == GEN_CB_PATIENT ? GEN_PUT(p, "\"patient\"")
                                                 : GEN_PUT(p, "\"staff\"");
    p = rescheduled ? GEN_PUT(p, ",\"rescheduled\":true") : GEN_PUT(p, ",\"rescheduled\":false");
    p = corrected ? GEN_PUT(p, ",\"corrected\":true}") : GEN_PUT(p, ",\"corrected\":false}");
    gen_truth_write(g, p);
}

typedef struct gen_entry {
    gen_ev_t ev; /* the final recorded version */
    bool eie, rerecorded;
    uint32_t redoc_of; /* entry whose content this one documents again, 0 if none */
    int64_t gap_ms;
} gen_entry_t;

static void gen_truth_entry(gen_t *g, const gen_entry_t *e)
{
    if (!g->truth)
        return;
    const gen_ev_t *ev = &e->ev;
    char *p = g->truth_line;
    p = GEN_PUT(p, "{\"kind\":\"journal\",\"entry_id\":\"J-");
    p = gen_put_u64(p, GEN_ENTRY_BASE + ev->j.no);
    p = GEN_PUT(p, "\",\"unit_id\":\"");
    p = gen_put_str(p, gen_units[ev->unit].id);
    p = GEN_PUT(p, "\",\"author_id\":\"U-");
    p = gen_put_u64(p, ev->j.author);
    p = GEN_PUT(p, "\",\"patient_id\":\"P-");
    p = gen_put_u64(p, ev->j.patient);
    p = GEN_PUT(p, "\",\"item_type\":\"");
    p = gen_put_str(p, gen_item_name[ev->j.item]);
    p = GEN_PUT(p, "\",\"fingerprint\":\"");
    p = gen_put_hex(p, ev->j.fp, 16);
    p = GEN_PUT(p, "\",\"source_system\":\"");
    p = gen_put_str(p, gen_system_name[ev->j.system]);
    p = GEN_PUT(p, "\",\"time\":\"");
    p = gen_put_time(p, ev->t_ms, GEN_TF_Z | GEN_TF_MS);
    p = GEN_PUT(p, "\",\"day\":\"");
    p = gen_put_date(p, gen_local_day(gen_floor_div(ev->t_ms, 1000)));
    p = GEN_PUT(p, "\",\"duration_s\":");
    p = ev->j.duration >= 0 ? gen_put_u64(p, (uint64_t)ev->j.duration) : GEN_PUT(p, "null");
    p = e->eie ? GEN_PUT(p, ",\"entered_in_error\":true")
               : GEN_PUT(p, ",\"entered_in_error\":false");
    p = e->rerecorded ? GEN_PUT(p, ",\"rerecorded\":true") : GEN_PUT(p, ",\"rerecorded\":false");
    if (e->redoc_of) {
        p = GEN_PUT(p, ",\"redocuments\":\"J-");
        p = gen_put_u64(p, GEN_ENTRY_BASE + e->redoc_of);
        p = GEN_PUT(p, "\",\"gap_s\":");
        p = gen_put_i64(p, e->gap_ms / 1000);
        p = GEN_PUT(p, "}");
    } else {
        p = GEN_PUT(p, ",\"redocuments\":null,\"gap_s\":null}");
    }
    gen_truth_write(g, p);
}

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* Less in the summer holidays and around Christmas, slowly growing over the years. */
static double gen_season(int64_t day)
{
    int y, m, d;
    gen_civil_from_days(day, &y, &m, &d);
    double f = 1.0;
    if (m == 7)
        f = 0.55;
    else if (m == 8 && d <= 10)
        f = 0.8;
    else if ((m == 12 && d >= 22) || (m == 1 && d <= 2))
        f = 0.45;
    return f * (1.0 + 0.04 * (double)(day - gen_days_from_civil(2023, 1, 1)) / 365.25);
}

static double gen_unit_weight(int ui, int topic, int64_t day)
{
    const gen_unit_t *u = &gen_units[ui];
    double w = topic == GEN_T_APPT ? u->appt_w : topic == GEN_T_JOURNAL ? u->journal_w : u->audit_w;
    if (gen_weekday(day) >= 5)
        w = u->open_weekends ? w * 0.6 : 0.0;
    return w;
}

/* Cumulative unit weights of a day for one stream; returns the day's total weight. */
static double gen_day_weights(int topic, int64_t day, double *cum)
{
    double s = 0;
    for (int i = 0; i < GEN_NUNITS; i++) {
        s += gen_unit_weight(i, topic, day);
        cum[i] = s;
    }
    return s * gen_season(day);
}

/* How many items a stream makes on `day`, so the run total is exactly what was asked. */
static uint64_t gen_day_quota(gen_t *g, int topic, uint64_t total, double day_w)
{
    if (g->total_w[topic] <= 0)
        return 0;
    uint64_t before = (uint64_t)llround((double)total * g->cum_w[topic] / g->total_w[topic]);
    g->cum_w[topic] += day_w;
    uint64_t after = (uint64_t)llround((double)total * g->cum_w[topic] / g->total_w[topic]);
    if (after > total)
        after = total;
    return after > before ? after - before : 0;
}

/* Recurring patients: a few come often, most now and then. */
static uint32_t gen_patient(gen_rng_t *r, uint32_t pool)
{
    double u = gen_rng_unit(r);
    return GEN_PATIENT_BASE + (uint32_t)((double)pool * u * u);
}

static uint32_t gen_homecare_patient(gen_rng_t *r, int ui)
{
    return GEN_HOMECARE_PATIENT_BASE + 1000u * (uint32_t)ui +
           (uint32_t)gen_rng_range(r, 0, gen_units[ui].staff * 3 - 1);
}

static uint32_t gen_staff(gen_rng_t *r, int ui)
{
    return 1000u * (uint32_t)(ui + 1) + (uint32_t)gen_rng_range(r, 1, gen_units[ui].staff);
}

static int64_t gen_benefit_from, gen_benefit_to, gen_portal_from, gen_portal_to;

static int gen_channel(gen_rng_t *r, const gen_unit_t *u, int64_t day)
{
    /* Patient portal adoption: about 10 % at the start of 2022, 45 % by mid-2025. */
    double adoption = 0.10 + 0.35 * gen_progress(day, gen_portal_from, gen_portal_to);
    double p = adoption * u->portal;
    if (p > 0.9)
        p = 0.9;
    if (gen_rng_chance(r, p))
        return GEN_CH_PORTAL;
    double x = gen_rng_unit(r);
    if (u->walk_in)
        return x < 0.75 ? GEN_CH_PHONE : x < 0.97 ? GEN_CH_STAFF : GEN_CH_OTHER;
    return x < 0.55 ? GEN_CH_STAFF : x < 0.9 ? GEN_CH_PHONE : GEN_CH_OTHER;
}

static double gen_noshow_p(const gen_t *g, int ui, int64_t day, int channel)
{
    const gen_unit_t *u = &gen_units[ui];
    double p = u->noshow *
               (1.0 + (u->noshow_end - 1.0) * gen_progress(day, gen_benefit_from, gen_benefit_to));
    if (channel == GEN_CH_PORTAL)
        p *= GEN_PORTAL_NOSHOW_FACTOR;
    if (ui == GEN_SHIFT_UNIT && day >= g->shift_day)
        p *= GEN_SHIFT_FACTOR;
    return p;
}

static void gen_push_appt(gen_t *g, gen_ev_t *ev, int type, int64_t t_ms, int src)
{
    ev->type = (uint8_t)type;
    ev->t_ms = t_ms;
    ev->src = (uint8_t)src;
    gen_rng_t *r = &g->rng[GEN_T_APPT];
    ev->tfmt = src == GEN_SRC_PORTAL ? GEN_TF_LOCAL
                                     : (gen_rng_chance(r, 0.3) ? GEN_TF_Z | GEN_TF_MS : GEN_TF_Z);
    gen_schedule(g, r, ev, 0.01, 30 * 60000LL, 3 * 86400000LL, 0.015, 6 * 3600000LL);
}

/* One appointment starting on local day `day`, its whole life, and its truth line. */
static void gen_appointment(gen_t *g, int64_t day, int ui)
{
    gen_rng_t *r = &g->rng[GEN_T_APPT];
    const gen_unit_t *u = &gen_units[ui];
    int64_t end_s = g->range_end_ms / 1000;
    gen_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.topic = GEN_T_APPT;
    ev.unit = (uint8_t)ui;
    ev.a.no = ++g->appt_no;
    ev.a.patient = u->home_care ? gen_homecare_patient(r, ui) : gen_patient(r, g->appt_patients);
    int ch = gen_channel(r, u, day);
    ev.a.channel = (uint8_t)ch;

    /* Quarter-hour slots in opening hours. */
    int64_t slot = u->walk_in ? gen_rng_range(r, 8 * 4, 22 * 4 + 3) : gen_rng_range(r, 32, 62);
    int64_t S = gen_oslo_to_utc(day * GEN_DAY_S + slot * 900);

    int64_t lead;
    if (u->walk_in)
        lead = gen_rng_chance(r, 0.8) ? 0 : 1;
    else
        lead = 1 + (int64_t)gen_rng_exp(r, ch == GEN_CH_PORTAL ? 24.0 : 17.0);
    if (lead > GEN_MAX_LEAD_DAYS)
        lead = GEN_MAX_LEAD_DAYS;
    if (day - lead < g->from_day)
        lead = gen_rng_range(r, 0, day - g->from_day);
    /* The portal is open all evening; staff book in office hours. */
    int64_t tod = ch == GEN_CH_PORTAL ? gen_rng_range(r, 6 * 3600, 23 * 3600 + 1800)
                                      : gen_rng_range(r, 8 * 3600, 15 * 3600 + 2700);
    int64_t B = gen_oslo_to_utc((day - lead) * GEN_DAY_S + tod);
    if (B > S - 1800)
        B = S - gen_rng_range(r, 1800, 4 * 3600);
    if (B * 1000 < g->range_start_ms)
        B = g->range_start_ms / 1000;
    ev.a.booked_s = B;

    /* Rescheduling: the appointment first had another start, up to three weeks away, often
     * in another month. The event comes before both the old and the new start. */
    bool resched = false;
    int64_t O = S, R = 0;
    if (!u->walk_in && gen_rng_chance(r, 0.08)) {
        int64_t delta = gen_rng_range(r, 1, 21) * (gen_rng_chance(r, 0.5) ? 1 : -1);
        O = gen_oslo_to_utc((day + delta) * GEN_DAY_S + gen_rng_range(r, 32, 62) * 900);
        int64_t lo = B + 600, hi = (O < S ? O : S) - 7200;
        if (O < end_s && O > B + GEN_DAY_S && hi > lo) {
            resched = true;
            R = gen_rng_range(r, lo, hi);
        } else {
            O = S;
        }
    }

    int src_book = ch == GEN_CH_PORTAL ? GEN_SRC_PORTAL : GEN_SRC_HP;
    ev.a.start_s = O;
    int64_t last = B * 1000 + gen_rng_range(r, 0, 999);
    gen_push_appt(g, &ev, GEN_APPT_BOOKED, last, src_book);
    if (resched) {
        ev.a.start_s = S;
        last = R * 1000 + gen_rng_range(r, 0, 999);
        gen_push_appt(g, &ev, GEN_APPT_RESCHEDULED, last, GEN_SRC_HP);
    }
    ev.a.start_s = S;
#define GEN_AFTER(t) ((t) > last + 1000 ? (t) : last + 1000)

    bool corrected = false;
    if (gen_rng_chance(r, 0.005)) {
        /* Booked on the wrong patient or by mistake: entered in error, nothing after it. */
        int64_t t = GEN_AFTER(gen_rng_range(r, last + 60000, (S + GEN_DAY_S) * 1000));
        if (t < g->range_end_ms) {
            last = t;
            gen_push_appt(g, &ev, GEN_APPT_EIE, t, GEN_SRC_HP);
        }
    } else if (gen_rng_chance(r, 0.06 + 0.002 * (double)(lead < 70 ? lead : 70))) {
        bool by_patient = gen_rng_chance(r, 0.7);
        ev.a.cancelled_by = by_patient ? GEN_CB_PATIENT : GEN_CB_STAFF;
        int64_t lo = last + 600000, hi = (S - 3600) * 1000;
        int64_t t = hi > lo ? gen_rng_range(r, lo, hi) : last + (S * 1000 - last) / 2;
        last = GEN_AFTER(t);
        int src = by_patient && ch == GEN_CH_PORTAL && gen_rng_chance(r, 0.7) ? GEN_SRC_PORTAL
                                                                              : GEN_SRC_HP;
        gen_push_appt(g, &ev, GEN_APPT_CANCELLED, last, src);
    } else if (!gen_rng_chance(r, 0.005)) { /* else: never closed, stays booked */
        bool noshow = gen_rng_chance(r, gen_noshow_p(g, ui, day, ch));
        if (noshow) {
            int64_t t = GEN_AFTER((S + gen_rng_range(r, 15 * 60, 60 * 60)) * 1000);
            if (t < g->range_end_ms) {
                last = t;
                gen_push_appt(g, &ev, GEN_APPT_NOSHOW, t, GEN_SRC_HP);
                /* The patient did come; the no-show is corrected days later. */
                int64_t tc = (S + gen_rng_range(r, GEN_DAY_S, 7 * GEN_DAY_S)) * 1000;
                if (gen_rng_chance(r, 0.05) && tc < g->range_end_ms) {
                    last = GEN_AFTER(tc);
                    gen_push_appt(g, &ev, GEN_APPT_FULFILLED, last, GEN_SRC_HP);
                    corrected = true;
                }
            }
        } else {
            int64_t t = GEN_AFTER((S + gen_rng_range(r, 20 * 60, 90 * 60)) * 1000);
            if (t < g->range_end_ms) {
                if (gen_rng_chance(r, 0.2)) {
                    last = GEN_AFTER((S - gen_rng_range(r, 0, 15 * 60)) * 1000);
                    gen_push_appt(g, &ev, GEN_APPT_ARRIVED, last, GEN_SRC_HP);
                    t = GEN_AFTER(t);
                }
                last = t;
                gen_push_appt(g, &ev, GEN_APPT_FULFILLED, t, GEN_SRC_HP);
                int64_t tc = (S + gen_rng_range(r, GEN_DAY_S, 7 * GEN_DAY_S)) * 1000;
                if (gen_rng_chance(r, 0.003) && tc < g->range_end_ms) {
                    last = GEN_AFTER(tc);
                    gen_push_appt(g, &ev, GEN_APPT_NOSHOW, last, GEN_SRC_HP);
                    corrected = true;
                }
            }
        }
    }
#undef GEN_AFTER
    gen_truth_appt(g, &ev, resched, corrected);
}

static void gen_appointments_day(gen_t *g, int64_t day)
{
    double cum[GEN_NUNITS];
    double w = gen_day_weights(GEN_T_APPT, day, cum);
    uint64_t n = gen_day_quota(g, GEN_T_APPT, g->n_appt, w);
    for (uint64_t i = 0; i < n && !gen_stop; i++)
        gen_appointment(g, day, gen_rng_pick(&g->rng[GEN_T_APPT], cum, GEN_NUNITS));
    g->made[GEN_T_APPT] += n;
}

static int gen_system_for(gen_rng_t *r, const gen_unit_t *u)
{
    double x = gen_rng_unit(r);
    if (u->home_care)
        return x < 0.6 ? GEN_SYS_GERICA : x < 0.97 ? GEN_SYS_HP : GEN_SYS_MANUAL;
    return x < 0.96 ? GEN_SYS_HP : GEN_SYS_MANUAL;
}

/* The other system a piece of information is documented in again. */
static int gen_other_system(gen_rng_t *r, const gen_unit_t *u, int sys)
{
    bool manual = gen_rng_chance(r, 0.15);
    if (sys == GEN_SYS_GERICA)
        return manual ? GEN_SYS_MANUAL : GEN_SYS_HP;
    if (sys == GEN_SYS_HP)
        return u->home_care && !manual ? GEN_SYS_GERICA : GEN_SYS_MANUAL;
    return GEN_SYS_HP;
}

static void gen_journal_version(gen_rng_t *r, gen_ev_t *ev)
{
    const int *d = gen_item_dur[ev->j.item];
    /* Gerica's adapter often lacks the time spent. */
    double p_missing = ev->j.system == GEN_SYS_GERICA ? 0.25 : 0.08;
    ev->j.duration = gen_rng_chance(r, p_missing) ? -1 : (int32_t)gen_rng_range(r, d[0], d[1]);
    static const uint8_t src[] = {GEN_SRC_HP, GEN_SRC_GERICA, GEN_SRC_MANUAL};
    ev->src = src[ev->j.system];
    ev->tfmt = ev->j.system == GEN_SYS_HP ? GEN_TF_Z | GEN_TF_MS : GEN_TF_LOCAL;
}

static void gen_push_journal(gen_t *g, gen_ev_t *ev)
{
    gen_schedule(g, &g->rng[GEN_T_JOURNAL], ev, 0.015, 3600000LL, 2 * 86400000LL, 0.01, 3600000LL);
}

/* Records an entry (maybe re-recorded, maybe entered in error) and writes its truth. */
static void gen_entry(gen_t *g, gen_entry_t *e, bool may_rerecord)
{
    gen_rng_t *r = &g->rng[GEN_T_JOURNAL];
    gen_ev_t *ev = &e->ev;
    ev->type = GEN_JOURNAL_RECORDED;
    gen_push_journal(g, ev);
    /* An amended version of the same entry: later time, maybe new content. */
    int64_t t2 = ev->t_ms + gen_rng_range(r, 120, 2400) * 1000;
    if (may_rerecord && gen_rng_chance(r, 0.02) && t2 < g->range_end_ms) {
        ev->t_ms = t2;
        if (gen_rng_chance(r, 0.5))
            ev->j.fp = gen_rng_next(r);
        gen_journal_version(r, ev);
        gen_push_journal(g, ev);
        e->rerecorded = true;
    }
    int64_t te = ev->t_ms + gen_rng_range(r, 300, 3 * GEN_DAY_S) * 1000;
    if (gen_rng_chance(r, 0.008) && te < g->range_end_ms) {
        gen_ev_t x = *ev;
        x.type = GEN_JOURNAL_EIE;
        x.t_ms = te;
        gen_push_journal(g, &x);
        e->eie = true;
    }
    gen_truth_entry(g, e);
}

/* Entries of one local day; returns how many entries were made. */
static uint64_t gen_journal_entry(gen_t *g, int64_t day, int ui)
{
    gen_rng_t *r = &g->rng[GEN_T_JOURNAL];
    const gen_unit_t *u = &gen_units[ui];
    gen_entry_t e;
    memset(&e, 0, sizeof(e));
    gen_ev_t *ev = &e.ev;
    ev->topic = GEN_T_JOURNAL;
    ev->unit = (uint8_t)ui;
    ev->j.no = ++g->entry_no;
    ev->j.author = gen_staff(r, ui);
    ev->j.patient =
        u->home_care ? gen_homecare_patient(r, ui) : gen_patient(r, g->journal_patients);
    double cum[GEN_NITEMS], s = 0;
    for (int i = 0; i < GEN_NITEMS; i++)
        cum[i] = (s += gen_item_w[u->home_care][i]);
    ev->j.item = (uint8_t)gen_rng_pick(r, cum, GEN_NITEMS);
    ev->j.fp = gen_rng_next(r);
    ev->j.system = (uint8_t)gen_system_for(r, u);
    gen_journal_version(r, ev);
    int64_t local = day * GEN_DAY_S + gen_rng_range(r, 7 * 3600, 22 * 3600);
    /* Whole seconds: a copy recorded exactly 24 h later must print exactly 24 h later in
     * every system's time format. */
    ev->t_ms = gen_oslo_to_utc(local) * 1000;

    double p_dd = u->dd_start +
                  (u->dd_end - u->dd_start) * gen_progress(day, gen_benefit_from, gen_benefit_to);
    if (!gen_rng_chance(r, p_dd)) {
        gen_entry(g, &e, true);
        return 1;
    }
    /* Double documentation: the same content for the same patient recorded again in another
     * system. Usually within the shift, sometimes the next day: exactly 24 h (the window's
     * edge, still a duplicate) or later (no longer one). */
    gen_entry_t orig = e;
    gen_entry(g, &orig, false);
    uint64_t made = 1;
    int copies = gen_rng_chance(r, 0.08) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        double x = gen_rng_unit(r);
        int64_t gap_s;
        if (c > 0)
            gap_s = gen_rng_range(r, 1800, 6 * 3600);
        else if (x < 0.10)
            gap_s = gen_rng_range(r, 20, 120);
        else if (x < 0.68)
            gap_s = gen_rng_range(r, 120, 3 * 3600);
        else if (x < 0.84)
            gap_s = gen_rng_range(r, 3 * 3600, 24 * 3600 - 1);
        else if (x < 0.91)
            gap_s = 24 * 3600;
        else
            gap_s = gen_rng_range(r, 24 * 3600 + 1, 48 * 3600);
        gen_entry_t d;
        memset(&d, 0, sizeof(d));
        d.ev = orig.ev;
        d.ev.j.no = ++g->entry_no;
        d.ev.t_ms = orig.ev.t_ms + gap_s * 1000;
        if (d.ev.t_ms >= g->range_end_ms)
            break;
        if (gen_rng_chance(r, 0.4))
            d.ev.j.author = gen_staff(r, ui);
        d.ev.j.system = (uint8_t)gen_other_system(r, u, orig.ev.j.system);
        gen_journal_version(r, &d.ev);
        d.redoc_of = orig.ev.j.no;
        d.gap_ms = gap_s * 1000;
        gen_entry(g, &d, false);
        made++;
    }
    return made;
}

static void gen_journal_day(gen_t *g, int64_t day)
{
    double cum[GEN_NUNITS];
    double w = gen_day_weights(GEN_T_JOURNAL, day, cum);
    uint64_t n = gen_day_quota(g, GEN_T_JOURNAL, g->n_journal, w);
    uint64_t made = 0;
    while (made < n && !gen_stop)
        made += gen_journal_entry(g, day, gen_rng_pick(&g->rng[GEN_T_JOURNAL], cum, GEN_NUNITS));
    g->made[GEN_T_JOURNAL] += made;
}

/* Working sessions: actions a minute or so apart, with breaks, one user at a time. */
static void gen_audit_day(gen_t *g, int64_t day)
{
    gen_rng_t *r = &g->rng[GEN_T_AUDIT];
    double cum[GEN_NUNITS];
    double w = gen_day_weights(GEN_T_AUDIT, day, cum);
    uint64_t n = gen_day_quota(g, GEN_T_AUDIT, g->n_audit, w);
    int64_t day_end_ms = gen_oslo_to_utc(day * GEN_DAY_S + 23 * 3600 + 1800) * 1000;
    if (day_end_ms > g->range_end_ms)
        day_end_ms = g->range_end_ms;
    for (int i = 0; i < g->n_users; i++)
        g->user_free[i] = 0;
    uint64_t made = 0;
    int misses = 0;
    while (made < n && !gen_stop && misses < 1000) {
        int ui = gen_rng_pick(r, cum, GEN_NUNITS);
        const gen_unit_t *u = &gen_units[ui];
        int k = (int)gen_rng_range(r, 1, u->staff);
        int uidx = g->staff_base[ui] + k - 1;
        int64_t t =
            gen_oslo_to_utc(day * GEN_DAY_S + gen_rng_range(r, 6 * 3600 + 1800, 15 * 3600)) * 1000 +
            gen_rng_range(r, 0, 999);
        if (t < g->user_free[uidx])
            t = g->user_free[uidx];
        if (t >= day_end_ms) {
            misses++;
            continue;
        }
        double cw[GEN_NACTIONS], s = 0;
        for (int a = 0; a < GEN_NACTIONS; a++)
            cw[a] = (s += u->home_care ? gen_actions[a].w_home : gen_actions[a].w_other);
        int64_t len = 5 + (int64_t)gen_rng_exp(r, 25.0);
        uint32_t patient = 0;
        gen_ev_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.topic = GEN_T_AUDIT;
        ev.type = GEN_AUDIT_ACCESS;
        ev.unit = (uint8_t)ui;
        ev.src = GEN_SRC_HP;
        ev.tfmt = GEN_TF_Z | GEN_TF_MS;
        ev.u.user = 1000u * (uint32_t)(ui + 1) + (uint32_t)k;
        uint32_t ws = gen_rng_chance(r, 0.7) ? (uint32_t)gen_rng_range(r, 1, 400) : 0;
        for (int64_t i = 0; i < len && made < n && t < day_end_ms; i++) {
            ev.u.action = (uint8_t)gen_rng_pick(r, cw, GEN_NACTIONS);
            if (patient == 0 || gen_rng_chance(r, 0.3))
                patient =
                    u->home_care ? gen_homecare_patient(r, ui) : gen_patient(r, g->appt_patients);
            ev.u.patient = gen_actions[ev.u.action].patient ? patient : 0;
            ev.u.ws = ws;
            ev.t_ms = t;
            /* A few events arrive well past the allowed lateness (10 min by default). */
            gen_schedule(g, r, &ev, 0.002, 11 * 60000LL, 60 * 60000LL, 0.003, 20000LL);
            made++;
            double x = gen_rng_unit(r);
            int64_t gap;
            if (x < 0.86)
                gap = 2000 + (int64_t)gen_rng_exp(r, 50000.0);
            else if (x < 0.97)
                gap = gen_rng_range(r, 6 * 60000, 45 * 60000); /* a break */
            else
                gap = gen_rng_range(r, 5 * 60000 + 1, 6 * 60000);
            if (gap > 45 * 60000)
                gap = 45 * 60000;
            t += gap;
        }
        g->user_free[uidx] = t + 20 * 60000;
    }
    g->made[GEN_T_AUDIT] += made;
}

/* ---------------------------------------------------------------------------------------- */
/* Driver                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void gen_run(gen_t *g)
{
    bool on[GEN_NTOPICS] = {g->n_appt > 0 && g->topic[GEN_T_APPT][0],
                            g->n_journal > 0 && g->topic[GEN_T_JOURNAL][0],
                            g->n_audit > 0 && g->topic[GEN_T_AUDIT][0]};
    double cum[GEN_NUNITS];
    for (int64_t d = g->from_day; d <= g->to_day; d++)
        for (int t = 0; t < GEN_NTOPICS; t++)
            if (on[t])
                g->total_w[t] += gen_day_weights(t, d, cum);

    /* Journal and audit days lag the appointment days by the longest booking lead, so that
     * every stream has reached the same event time when a day is delivered. */
    for (int64_t d = g->from_day; d <= g->to_day + GEN_MAX_LEAD_DAYS && !gen_stop; d++) {
        if (on[GEN_T_APPT] && d <= g->to_day)
            gen_appointments_day(g, d);
        int64_t lagged = d - GEN_MAX_LEAD_DAYS;
        if (lagged >= g->from_day && lagged <= g->to_day) {
            if (on[GEN_T_JOURNAL])
                gen_journal_day(g, lagged);
            if (on[GEN_T_AUDIT])
                gen_audit_day(g, lagged);
        }
        gen_drain(g, lagged);
    }
    gen_drain(g, g->queue.next_day + GEN_RING_DAYS - 1);
    for (int t = 0; t < GEN_NTOPICS; t++)
        gen_batch_flush(g, t);
}

static void gen_usage(FILE *out)
{
    fprintf(out, "usage: " PROG " [options]\n"
                 "Deterministic sample EHR event streams (events v1) for gevinstd.\n"
                 "\n"
                 "  --seed N                 random seed (default 1); same options, same output\n"
                 "  --from DATE, --to DATE   local event-time range, inclusive\n"
                 "                           (default 2023-01-01 .. 2025-06-30)\n"
                 "  --appointments N         appointments (default 20000; about 2.3 events each)\n"
                 "  --journal N              journal entries, duplicates included (default 10000)\n"
                 "  --audit N                audit events (default 50000); 0 turns a stream off\n"
                 "  --bad-ratio F            share of bad messages, 0..0.5 (default 0.005)\n"
                 "  --batch-ratio F          share of messages that are batches of 2-5 events\n"
                 "                           (default 0.05)\n"
                 "  --shift-date DATE        no-show step change at helsestasjon-saupstad\n"
                 "                           (default 2024-09-01)\n"
                 "  --out jsonl|keyed        stdout lines: TOPIC<TAB>JSON (jsonl, default) or\n"
                 "                           TOPIC<TAB>KEY<TAB>JSON (keyed)\n"
                 "  --brokers HOST:PORT      produce to Kafka instead of stdout\n"
                 "  --topic-appointments T, --topic-journal T, --topic-audit T\n"
                 "                           topic names (defaults ehr.appointments, ehr.journal,\n"
                 "                           ehr.audit); an empty name turns that stream off\n"
                 "  --kafka-prop KEY=VALUE   extra librdkafka producer property (repeatable)\n"
                 "  --rate N                 at most N events per second (default: unlimited)\n"
                 "  --truth FILE             write the intended final state of every appointment\n"
                 "                           and journal entry to FILE (JSON lines)\n"
                 "  --list-units             print the unit registry as JSON and exit\n"
                 "  --help\n");
}

static bool gen_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool gen_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || *s == '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static void gen_list_units(void)
{
    printf("{\"units\": [\n");
    int n = (int)(sizeof(gen_tree) / sizeof(gen_tree[0]));
    for (int i = 0; i < n; i++) {
        printf("  {\"id\": \"%s\", \"name\": \"%s\"", gen_tree[i].id, gen_tree[i].name);
        if (gen_tree[i].parent)
            printf(", \"parent\": \"%s\"", gen_tree[i].parent);
        bool leaf = false;
        for (int u = 0; u < GEN_NUNITS; u++)
            leaf |= strcmp(gen_units[u].id, gen_tree[i].id) == 0;
        printf(", \"leaf\": %s}%s\n", leaf ? "true" : "false", i + 1 < n ? "," : "");
    }
    printf("]}\n");
}

static void gen_on_signal(int sig)
{
    (void)sig;
    gen_stop = 1;
}

enum {
    OPT_SEED = 256,
    OPT_FROM,
    OPT_TO,
    OPT_APPT,
    OPT_JOURNAL,
    OPT_AUDIT,
    OPT_BAD,
    OPT_BATCH,
    OPT_SHIFT,
    OPT_OUT,
    OPT_BROKERS,
    OPT_T_APPT,
    OPT_T_JOURNAL,
    OPT_T_AUDIT,
    OPT_KPROP,
    OPT_RATE,
    OPT_TRUTH,
    OPT_LIST,
    OPT_HELP
};

static bool gen_options(gen_t *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, OPT_SEED},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"appointments", required_argument, NULL, OPT_APPT},
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"audit", required_argument, NULL, OPT_AUDIT},
        {"bad-ratio", required_argument, NULL, OPT_BAD},
        {"batch-ratio", required_argument, NULL, OPT_BATCH},
        {"shift-date", required_argument, NULL, OPT_SHIFT},
        {"out", required_argument, NULL, OPT_OUT},
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"topic-appointments", required_argument, NULL, OPT_T_APPT},
        {"topic-journal", required_argument, NULL, OPT_T_JOURNAL},
        {"topic-audit", required_argument, NULL, OPT_T_AUDIT},
        {"kafka-prop", required_argument, NULL, OPT_KPROP},
        {"rate", required_argument, NULL, OPT_RATE},
        {"truth", required_argument, NULL, OPT_TRUTH},
        {"list-units", no_argument, NULL, OPT_LIST},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_SEED:
            ok = gen_parse_u64(optarg, &g->seed);
            break;
        case OPT_FROM:
            ok = gen_parse_date(optarg, &g->from_day);
            break;
        case OPT_TO:
            ok = gen_parse_date(optarg, &g->to_day);
            break;
        case OPT_SHIFT:
            ok = gen_parse_date(optarg, &g->shift_day);
            break;
        case OPT_APPT:
            ok = gen_parse_u64(optarg, &g->n_appt) && g->n_appt < 4000000000ULL;
            break;
        case OPT_JOURNAL:
            ok = gen_parse_u64(optarg, &g->n_journal) && g->n_journal < 4000000000ULL;
            break;
        case OPT_AUDIT:
            ok = gen_parse_u64(optarg, &g->n_audit);
            break;
        case OPT_BAD:
            ok = gen_parse_double(optarg, 0.0, 0.5, &g->bad_ratio);
            break;
        case OPT_BATCH:
            ok = gen_parse_double(optarg, 0.0, 1.0, &g->batch_ratio);
            break;
        case OPT_RATE:
            ok = gen_parse_double(optarg, 0.0, 1e12, &g->rate);
            break;
        case OPT_OUT:
            ok = strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "keyed") == 0;
            g->keyed_out = strcmp(optarg, "keyed") == 0;
            break;
        case OPT_BROKERS:
            g->brokers = optarg;
            ok = *optarg != '\0';
            break;
        case OPT_T_APPT:
            g->topic[GEN_T_APPT] = optarg;
            break;
        case OPT_T_JOURNAL:
            g->topic[GEN_T_JOURNAL] = optarg;
            break;
        case OPT_T_AUDIT:
            g->topic[GEN_T_AUDIT] = optarg;
            break;
        case OPT_KPROP:
            ok = g->n_kafka_props < 32;
            if (ok)
                g->kafka_props[g->n_kafka_props++] = optarg;
            break;
        case OPT_TRUTH:
            g->truth_path = optarg;
            break;
        case OPT_LIST:
            gen_list_units();
            exit(0);
        case OPT_HELP:
            gen_usage(stdout);
            exit(0);
        default:
            gen_usage(stderr);
            return false;
        }
        if (!ok) {
            fprintf(stderr, PROG ": invalid value for --%s: '%s'\n", opts[c - OPT_SEED].name,
                    optarg);
            return false;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return false;
    }
    if (g->to_day < g->from_day) {
        fprintf(stderr, PROG ": --to is before --from\n");
        return false;
    }
    return true;
}

static void gen_report(gen_t *g)
{
    double secs = gen_elapsed(g);
    uint64_t events = 0;
    for (int t = 0; t < GEN_NTOPICS; t++) {
        const gen_stats_t *st = &g->stats[t];
        events += st->events;
        if (!g->topic[t][0] || (st->messages == 0 && g->made[t] == 0))
            continue;
        fprintf(stderr,
                PROG ": %-16s %10" PRIu64 " messages %10" PRIu64 " events %8" PRIu64
                     " bad %12" PRIu64 " bytes",
                g->topic[t], st->messages, st->events, st->bad, st->bytes);
        if (g->brokers)
            fprintf(stderr, " %10" PRIu64 " delivered %6" PRIu64 " failed", st->delivered,
                    st->failed);
        fprintf(stderr, "\n");
    }
    fprintf(stderr,
            PROG ": %" PRIu32 " appointments, %" PRIu32 " journal entries, %" PRIu64
                 " audit accesses; %" PRIu64 " events in %.2f s (%.0f events/s)\n",
            g->appt_no, g->entry_no, g->made[GEN_T_AUDIT], events, secs,
            secs > 0 ? (double)events / secs : 0.0);
    bool any = false;
    for (int m = 1; m < GEN_NMUTS; m++)
        any |= g->bad_by_mut[m] > 0;
    if (!any)
        return;
    /* Per contract reason, for comparing with the daemon's data_quality_daily. */
    static const char *const reasons[] = {
        "invalid_json",         "not_cloudevent",   "missing_field", "invalid_field",
        "type_status_mismatch", "unsupported_type", "too_large"};
    fprintf(stderr, PROG ": bad messages by reason:");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        uint64_t n = 0;
        for (int m = 1; m < GEN_NMUTS; m++)
            if (strcmp(gen_mut_reason[m], reasons[i]) == 0)
                n += g->bad_by_mut[m];
        if (n)
            fprintf(stderr, " %s %" PRIu64, reasons[i], n);
    }
    fprintf(stderr, "\n");
    if (g->oversize_refused)
        fprintf(stderr, PROG ": the broker refused the oversized test message (as intended "
                             "for the daemon; not counted as a failure)\n");
}

int main(int argc, char **argv)
{
    static gen_t gen;
    gen_t *g = &gen;
    gen_tz_init();
    g->seed = 1;
    g->from_day = gen_days_from_civil(2023, 1, 1);
    g->to_day = gen_days_from_civil(2025, 6, 30);
    g->shift_day = gen_days_from_civil(2024, 9, 1);
    g->n_appt = 20000;
    g->n_journal = 10000;
    g->n_audit = 50000;
    g->bad_ratio = 0.005;
    g->batch_ratio = 0.05;
    g->topic[GEN_T_APPT] = "ehr.appointments";
    g->topic[GEN_T_JOURNAL] = "ehr.journal";
    g->topic[GEN_T_AUDIT] = "ehr.audit";
    if (!gen_options(g, argc, argv))
        return 2;

    gen_benefit_from = gen_days_from_civil(2024, 1, 1);
    gen_benefit_to = gen_days_from_civil(2025, 12, 31);
    gen_portal_from = gen_days_from_civil(2022, 1, 1);
    gen_portal_to = gen_days_from_civil(2025, 6, 30);
    g->range_start_ms = gen_oslo_to_utc(g->from_day * GEN_DAY_S) * 1000;
    g->queue.next_day = g->from_day;
    g->range_end_ms = gen_oslo_to_utc((g->to_day + 1) * GEN_DAY_S) * 1000;
    for (int t = 0; t < GEN_NTOPICS; t++)
        gen_rng_seed(&g->rng[t], g->seed, (uint64_t)t + 1);
    gen_rng_seed(&g->rng_emit, g->seed, 99);
    uint64_t x = g->seed ^ 0x6765766e69737464ULL;
    g->id_mix = gen_splitmix64(&x);
    g->id_mask = gen_splitmix64(&x);
    g->appt_patients = (uint32_t)(g->n_appt / 3 > 500 ? g->n_appt / 3 : 500);
    g->journal_patients = (uint32_t)(g->n_journal / 4 > 300 ? g->n_journal / 4 : 300);
    for (int i = 0; i < GEN_NUNITS; i++) {
        g->staff_base[i] = g->n_users;
        g->n_users += gen_units[i].staff;
    }
    g->user_free = calloc((size_t)g->n_users, sizeof(*g->user_free));
    g->out = malloc(GEN_OUTBUF);
    for (int t = 0; t < GEN_NTOPICS; t++)
        g->batch[t].buf = malloc(GEN_BATCH_MAX * GEN_MSG_MAX + 4);
    g->oversize = malloc(GEN_OVERSIZE_PAD + GEN_MSG_MAX + 64);
    if (!g->user_free || !g->out || !g->oversize || !g->batch[0].buf || !g->batch[1].buf ||
        !g->batch[2].buf) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    if (g->truth_path) {
        g->truth = fopen(g->truth_path, "w");
        if (!g->truth) {
            fprintf(stderr, PROG ": %s: %s\n", g->truth_path, strerror(errno));
            return 1;
        }
        setvbuf(g->truth, NULL, _IOFBF, 1 << 20);
    }
    if (g->brokers && !gen_kafka_open(g))
        return 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = gen_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    clock_gettime(CLOCK_MONOTONIC, &g->t0);
    gen_run(g);

    int rc = 0;
    if (g->rk) {
        if (!gen_kafka_close(g))
            rc = 1;
    } else {
        gen_out_flush(g);
    }
    if (g->truth && fclose(g->truth) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", g->truth_path, strerror(errno));
        rc = 1;
    }
    gen_report(g);
    if (g->failed_total > 0)
        rc = 1;
    if (gen_stop) {
        fprintf(stderr, PROG ": interrupted; the output is incomplete\n");
        rc = 1;
    }
    gen_queue_free(&g->queue);
    free(g->user_free);
    free(g->out);
    free(g->oversize);
    for (int t = 0; t < GEN_NTOPICS; t++)
        free(g->batch[t].buf);
    return rc;
}
