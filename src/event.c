/* event: Kafka message value -> typed, pseudonymised events or rejections.
 *
 * Decisions where events.md is silent:
 *  - JSON null counts as absent, for envelope attributes and data fields
 *    alike (a required null is missing_field / not_cloudevent).
 *  - Check order, first failure wins: the CloudEvents-required attributes
 *    (specversion, id, source, type: missing or not a string ->
 *    not_cloudevent; specversion != "1.0" -> not_cloudevent), then the type
 *    (unknown -> unsupported_type, so other producers' events that omit
 *    `time` or `data`, both optional in CloudEvents, are only counted), then
 *    the values of id and source (empty, over 256 bytes or NUL ->
 *    invalid_field), `time` (missing or not a string -> not_cloudevent, bad
 *    timestamp -> invalid_field), `data` (missing or not an object ->
 *    not_cloudevent), then the data fields in the contract's table order, and
 *    type/status agreement last.
 *  - Every clear-text field (unit_id, item_type, fingerprint, source_system,
 *    action) follows the id rule: 1..256 bytes, no NUL; empty is invalid_field.
 *  - Enum values match exactly (lowercase). cancelled_by is accepted with any
 *    status. Unknown data fields (and `workstation`) are ignored unchecked.
 *  - Timestamps: see timeutil_parse_rfc3339().
 *  - An empty batch "[]" judges nothing. A batch element that is not an
 *    object is not_cloudevent; so is a message that is JSON but neither an
 *    object nor an array (index -1).
 *
 * Speed: jansson mallocs and frees every key, value and hashtable; with the
 * allocator hooks below those come from a per-decoder bump arena that is
 * reset after each message instead of walking the tree with json_decref().
 * The hooks are process-wide but fall back to malloc/free unless the calling
 * thread is inside event_decode(), and arena pointers are recognised by
 * address, so a free() of anything else still reaches libc. */
#include "gevinst/event.h"

#include "gevinst/timeutil.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)
#define ARENA_FIRST_CHUNK (64 * 1024)
/* Chunks up to this size survive a reset; bigger ones (huge messages) go back. */
#define ARENA_KEEP_MAX (1024 * 1024)
#define ARENA_ALIGN 16

/* Under AddressSanitizer the arena keeps free space and a redzone after each
 * allocation poisoned, so overruns and use after reset are still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 16
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ARENA_REDZONE 0
#endif

/* ---- arena and jansson hooks ------------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    alignas(ARENA_ALIGN) unsigned char data[];
} arena_chunk_t;

typedef struct arena {
    arena_chunk_t *chunks; /* newest (largest) first */
    bool failed;           /* an allocation failed since the last reset */
} arena_t;

static _Thread_local arena_t *tls_arena;

static void *arena_alloc(arena_t *a, size_t n)
{
    size_t want = n;
    n = ((n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1)) + ARENA_REDZONE;
    arena_chunk_t *c = a->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        while (size < n)
            size *= 2;
        arena_chunk_t *nc = malloc(sizeof(*nc) + size);
        if (!nc) {
            a->failed = true;
            return NULL;
        }
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        ASAN_POISON_MEMORY_REGION(nc->data, size);
        a->chunks = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    ASAN_UNPOISON_MEMORY_REGION(p, want);
    return p;
}

static bool arena_owns(const arena_t *a, const void *p)
{
    for (const arena_chunk_t *c = a->chunks; c; c = c->next)
        if ((const unsigned char *)p >= c->data && (const unsigned char *)p < c->data + c->size)
            return true;
    return false;
}

static void arena_reset(arena_t *a)
{
    arena_chunk_t *keep = a->chunks;
    if (keep && keep->size > ARENA_KEEP_MAX)
        keep = NULL;
    arena_chunk_t *c = a->chunks;
    while (c) {
        arena_chunk_t *next = c->next;
        if (c != keep) {
            ASAN_UNPOISON_MEMORY_REGION(c->data, c->size);
            free(c);
        }
        c = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        ASAN_POISON_MEMORY_REGION(keep->data, keep->size);
    }
    a->chunks = keep;
    a->failed = false;
}

static void *hook_malloc(size_t n)
{
    arena_t *a = tls_arena;
    return a ? arena_alloc(a, n) : malloc(n);
}

static void hook_free(void *p)
{
    arena_t *a = tls_arena;
    /* Arena memory is given back all at once by arena_reset(). */
    if (a && p && arena_owns(a, p))
        return;
    free(p);
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void hooks_install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
}

/* ---- names --------------------------------------------------------------- */

static const char *const reason_names[EVENT_REASON_COUNT] = {
    [EVENT_REASON_TOO_LARGE] = "too_large",
    [EVENT_REASON_INVALID_JSON] = "invalid_json",
    [EVENT_REASON_NOT_CLOUDEVENT] = "not_cloudevent",
    [EVENT_REASON_UNSUPPORTED_TYPE] = "unsupported_type",
    [EVENT_REASON_MISSING_FIELD] = "missing_field",
    [EVENT_REASON_INVALID_FIELD] = "invalid_field",
    [EVENT_REASON_TYPE_STATUS_MISMATCH] = "type_status_mismatch",
    [EVENT_REASON_LATE_EVENT] = "late_event",
};

const char *event_reason_name(event_reason_t reason)
{
    return (unsigned)reason < EVENT_REASON_COUNT ? reason_names[reason] : "?";
}

bool event_reason_parse(const char *name, event_reason_t *out)
{
    for (int i = 0; i < EVENT_REASON_COUNT; i++) {
        if (strcmp(name, reason_names[i]) == 0) {
            *out = (event_reason_t)i;
            return true;
        }
    }
    return false;
}

typedef struct name_len {
    const char *s;
    size_t len;
} name_len_t;

#define NL(x)                                                                                      \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }

static const struct {
    name_len_t name;
    event_kind_t kind;
    event_status_t status; /* appointments only */
} types[EVENT_TYPE_COUNT] = {
    [EVENT_APPOINTMENT_BOOKED] = {NL("appointment.booked"), EVENT_KIND_APPOINTMENT,
                                  EVENT_STATUS_BOOKED},
    [EVENT_APPOINTMENT_RESCHEDULED] = {NL("appointment.rescheduled"), EVENT_KIND_APPOINTMENT,
                                       EVENT_STATUS_BOOKED},
    [EVENT_APPOINTMENT_CANCELLED] = {NL("appointment.cancelled"), EVENT_KIND_APPOINTMENT,
                                     EVENT_STATUS_CANCELLED},
    [EVENT_APPOINTMENT_ARRIVED] = {NL("appointment.arrived"), EVENT_KIND_APPOINTMENT,
                                   EVENT_STATUS_ARRIVED},
    [EVENT_APPOINTMENT_FULFILLED] = {NL("appointment.fulfilled"), EVENT_KIND_APPOINTMENT,
                                     EVENT_STATUS_FULFILLED},
    [EVENT_APPOINTMENT_NOSHOW] = {NL("appointment.noshow"), EVENT_KIND_APPOINTMENT,
                                  EVENT_STATUS_NOSHOW},
    [EVENT_APPOINTMENT_ENTERED_IN_ERROR] = {NL("appointment.entered-in-error"),
                                            EVENT_KIND_APPOINTMENT, EVENT_STATUS_ENTERED_IN_ERROR},
    [EVENT_JOURNAL_ENTRY_RECORDED] = {NL("journal.entry-recorded"), EVENT_KIND_JOURNAL_RECORDED,
                                      EVENT_STATUS_BOOKED},
    [EVENT_JOURNAL_ENTRY_ENTERED_IN_ERROR] = {NL("journal.entry-entered-in-error"),
                                              EVENT_KIND_JOURNAL_ERROR, EVENT_STATUS_BOOKED},
    [EVENT_AUDIT_ACCESS] = {NL("audit.access"), EVENT_KIND_AUDIT, EVENT_STATUS_BOOKED},
};

static const name_len_t status_names[] = {
    [EVENT_STATUS_BOOKED] = NL("booked"),
    [EVENT_STATUS_CANCELLED] = NL("cancelled"),
    [EVENT_STATUS_ARRIVED] = NL("arrived"),
    [EVENT_STATUS_FULFILLED] = NL("fulfilled"),
    [EVENT_STATUS_NOSHOW] = NL("noshow"),
    [EVENT_STATUS_ENTERED_IN_ERROR] = NL("entered-in-error"),
};

static const name_len_t channel_names[] = {
    [EVENT_CHANNEL_PORTAL] = NL("portal"),
    [EVENT_CHANNEL_STAFF] = NL("staff"),
    [EVENT_CHANNEL_PHONE] = NL("phone"),
    [EVENT_CHANNEL_OTHER] = NL("other"),
};

/* Index 0 (NONE) is never matched: absent is handled before the lookup. */
static const name_len_t cancelled_by_names[] = {
    [EVENT_CANCELLED_BY_NONE] = NL(""),
    [EVENT_CANCELLED_BY_PATIENT] = NL("patient"),
    [EVENT_CANCELLED_BY_STAFF] = NL("staff"),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *event_type_name(event_type_t type)
{
    return (unsigned)type < EVENT_TYPE_COUNT ? types[type].name.s : "?";
}

event_kind_t event_type_kind(event_type_t type)
{
    return (unsigned)type < EVENT_TYPE_COUNT ? types[type].kind : EVENT_KIND_APPOINTMENT;
}

const char *event_status_name(event_status_t status)
{
    return (unsigned)status < COUNT(status_names) ? status_names[status].s : "?";
}

const char *event_channel_name(event_channel_t channel)
{
    return (unsigned)channel < COUNT(channel_names) ? channel_names[channel].s : "?";
}

const char *event_cancelled_by_name(event_cancelled_by_t by)
{
    return (unsigned)by < COUNT(cancelled_by_names) ? cancelled_by_names[by].s : "?";
}

/* ---- decoder --------------------------------------------------------------- */

typedef struct span {
    size_t off, len;
} span_t;

struct event_decoder {
    pseudo_t *pseudo; /* borrowed */
    size_t max_bytes;
    arena_t arena;
    arena_t *outer_arena; /* tls_arena of the caller, restored around callbacks */

    /* The message being judged. */
    const char *msg;
    size_t msg_len;
    bool is_batch;
    span_t *spans; /* raw bytes of each batch element, found on first rejection */
    size_t nspans, spans_cap;
    bool spans_done, spans_ok;

    event_t ev;
    event_reject_t rej;
};

event_decoder_t *event_decoder_new(pseudo_t *pseudo, size_t max_message_bytes, char *errstr,
                                   size_t errstr_size)
{
    if (!pseudo) {
        snprintf(errstr, errstr_size, "event decoder: no pseudonym key");
        return NULL;
    }
    if (max_message_bytes == 0)
        max_message_bytes = EVENT_DEFAULT_MAX_MESSAGE_BYTES;
    if (max_message_bytes > INT_MAX) {
        snprintf(errstr, errstr_size, "event decoder: max message size %zu is above %d",
                 max_message_bytes, INT_MAX);
        return NULL;
    }
    event_decoder_t *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "event decoder: out of memory");
        return NULL;
    }
    d->pseudo = pseudo;
    d->max_bytes = max_message_bytes;
    pthread_once(&hooks_once, hooks_install);
    return d;
}

void event_decoder_destroy(event_decoder_t *d)
{
    if (!d)
        return;
    arena_reset(&d->arena);
    if (d->arena.chunks)
        ASAN_UNPOISON_MEMORY_REGION(d->arena.chunks->data, d->arena.chunks->size);
    free(d->arena.chunks);
    free(d->spans);
    free(d);
}

/* ---- structure scans --------------------------------------------------- */

/* How many bytes of p[0..n) open an array or object. '{' (0x7b) and '['
 * (0x5b) differ only in bit 0x20, so with that bit set both are 0x7b; eight
 * bytes at a time, no branch per byte (two memchr passes that stopped at
 * every bracket cost 4 % of a decode). */
static size_t count_opens(const unsigned char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, low7 = 0x7f7f7f7f7f7f7f7fu;
    size_t k = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t y = (w | 0x20 * ones) ^ (0x7b * ones); /* 0 where a bracket is */
        uint64_t z = ~(((y & low7) + low7) | y | low7); /* 0x80 there, else 0 */
        k += (size_t)(((z >> 7) * ones) >> 56);
    }
    for (; i < n; i++)
        k += (p[i] | 0x20) == 0x7b;
    return k;
}

/* jansson only stops at depth 2048, so the contract's 64 is checked here.
 * Fast path: 64 brackets or fewer in all cannot nest 65 deep. */
static bool depth_ok(const unsigned char *p, size_t n)
{
    if (count_opens(p, n) <= EVENT_MAX_DEPTH)
        return true;

    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
        } else if (c == '[' || c == '{') {
            if (++depth > EVENT_MAX_DEPTH)
                return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

static bool spans_push(event_decoder_t *d, size_t off, size_t len)
{
    if (d->nspans == d->spans_cap) {
        size_t cap = d->spans_cap ? d->spans_cap * 2 : 64;
        span_t *s = realloc(d->spans, cap * sizeof(*s));
        if (!s)
            return false;
        d->spans = s;
        d->spans_cap = cap;
    }
    d->spans[d->nspans++] = (span_t){off, len};
    return true;
}

/* Splits a batch (already valid JSON: jansson parsed it) into the raw byte
 * range of each element, so a rejection can point at exactly its bytes. */
static bool find_spans(event_decoder_t *d)
{
    const unsigned char *p = (const unsigned char *)d->msg;
    size_t n = d->msg_len, i = 0, start = SIZE_MAX, last = 0;
    int depth = 0;

    d->nspans = 0;
    while (i < n && p[i] != '[')
        i++;
    for (i++; i < n; i++) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (depth == 0 && (c == ',' || c == ']')) {
            if (start != SIZE_MAX && !spans_push(d, start, last + 1 - start))
                return false;
            start = SIZE_MAX;
            if (c == ']')
                break;
            continue;
        }
        if (start == SIZE_MAX)
            start = i;
        if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
        }
        last = i;
    }
    return true;
}

/* ---- judging one element ---------------------------------------------- */

/* A data field: its JSON key and its name in details ("data.start"). */
typedef struct field {
    const char *key;
    size_t len;
    const char *path;
} field_t;

#define FIELD(k)                                                                                   \
    {                                                                                              \
        k, sizeof(k) - 1, "data." k                                                                \
    }

static const field_t F_APPOINTMENT_ID = FIELD("appointment_id");
static const field_t F_UNIT_ID = FIELD("unit_id");
static const field_t F_START = FIELD("start");
static const field_t F_BOOKED_AT = FIELD("booked_at");
static const field_t F_BOOKING_CHANNEL = FIELD("booking_channel");
static const field_t F_STATUS = FIELD("status");
static const field_t F_CANCELLED_BY = FIELD("cancelled_by");
static const field_t F_PATIENT_ID = FIELD("patient_id");
static const field_t F_ENTRY_ID = FIELD("entry_id");
static const field_t F_AUTHOR_ID = FIELD("author_id");
static const field_t F_ITEM_TYPE = FIELD("item_type");
static const field_t F_FINGERPRINT = FIELD("fingerprint");
static const field_t F_SOURCE_SYSTEM = FIELD("source_system");
static const field_t F_DURATION_S = FIELD("duration_s");
static const field_t F_USER_ID = FIELD("user_id");
static const field_t F_ACTION = FIELD("action");

/* Envelope attributes read as fields, with their bare names in details. */
static const field_t A_SPECVERSION = {"specversion", 11, "specversion"};
static const field_t A_ID = {"id", 2, "id"};
static const field_t A_SOURCE = {"source", 6, "source"};
static const field_t A_TYPE = {"type", 4, "type"};
static const field_t A_TIME = {"time", 4, "time"};
static const field_t A_DATA = {"data", 4, "data"};

/* A raw id to pseudonymise once the whole event has passed. */
typedef struct raw_str {
    const char *s;
    size_t len;
} raw_str_t;

static bool fail(event_decoder_t *d, event_reason_t reason, const char *path, const char *problem)
{
    d->rej.reason = reason;
    snprintf(d->rej.detail, sizeof(d->rej.detail), "%s: %s", path, problem);
    return false;
}

/* The member, or NULL when absent or JSON null (null counts as absent). */
static json_t *member(const json_t *obj, const field_t *f)
{
    json_t *v = json_object_getn(obj, f->key, f->len);
    return json_is_null(v) ? NULL : v;
}

/* 1..EVENT_STR_MAX bytes, no NUL: the rule for ids and clear-text fields. */
static const char *str_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty";
    if (len > EVENT_STR_MAX)
        return "longer than 256 bytes";
    if (memchr(s, '\0', len))
        return "contains NUL";
    return NULL;
}

static bool readable(const json_t *v)
{
    return json_is_string(v) && !str_problem(json_string_value(v), json_string_length(v));
}

static void copy_str(char *dst, const json_t *v)
{
    size_t len = json_string_length(v);
    memcpy(dst, json_string_value(v), len);
    dst[len] = '\0';
}

/* A string field: false when rejected (wrong type or, if required, absent);
 * out->s is NULL when an optional field is absent. */
static bool get_string(event_decoder_t *d, const json_t *obj, const field_t *f, bool required,
                       raw_str_t *out)
{
    json_t *v = member(obj, f);
    out->s = NULL;
    out->len = 0;
    if (!v)
        return required ? fail(d, EVENT_REASON_MISSING_FIELD, f->path, "missing") : true;
    if (!json_is_string(v))
        return fail(d, EVENT_REASON_INVALID_FIELD, f->path, "not a string");
    out->s = json_string_value(v);
    out->len = json_string_length(v);
    return true;
}

/* An id or clear-text field, checked but not yet copied or hashed. */
static bool get_id(event_decoder_t *d, const json_t *obj, const field_t *f, bool required,
                   raw_str_t *out)
{
    if (!get_string(d, obj, f, required, out))
        return false;
    const char *problem = out->s ? str_problem(out->s, out->len) : NULL;
    return problem ? fail(d, EVENT_REASON_INVALID_FIELD, f->path, problem) : true;
}

static bool get_clear(event_decoder_t *d, const json_t *obj, const field_t *f,
                      char dst[EVENT_STR_MAX + 1])
{
    raw_str_t r;
    if (!get_id(d, obj, f, true, &r))
        return false;
    memcpy(dst, r.s, r.len);
    dst[r.len] = '\0';
    return true;
}

static bool get_time(event_decoder_t *d, const json_t *obj, const field_t *f, int64_t *us)
{
    raw_str_t r;
    if (!get_string(d, obj, f, true, &r))
        return false;
    if (!timeutil_parse_rfc3339(r.s, r.len, us))
        return fail(d, EVENT_REASON_INVALID_FIELD, f->path, "not an RFC 3339 timestamp");
    return true;
}

/* An enum field; *out untouched when an optional one is absent. */
static bool get_enum(event_decoder_t *d, const json_t *obj, const field_t *f, bool required,
                     const name_len_t *names, size_t n, int *out)
{
    raw_str_t r;
    if (!get_string(d, obj, f, required, &r))
        return false;
    if (!r.s)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (names[i].len == r.len && r.len > 0 && memcmp(names[i].s, r.s, r.len) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return fail(d, EVENT_REASON_INVALID_FIELD, f->path, "unknown value");
}

static void hash(event_decoder_t *d, pseudo_kind_t kind, const raw_str_t *r, char *out)
{
    pseudo_make(d->pseudo, kind, r->s, r->len, out);
}

static bool judge_appointment(event_decoder_t *d, const json_t *data)
{
    event_appointment_t *a = &d->ev.appointment;
    raw_str_t appt, patient;
    int channel = 0, status = 0, by = EVENT_CANCELLED_BY_NONE;

    if (!get_id(d, data, &F_APPOINTMENT_ID, true, &appt) ||
        !get_clear(d, data, &F_UNIT_ID, d->ev.unit_id) ||
        !get_time(d, data, &F_START, &a->start_us) ||
        !get_time(d, data, &F_BOOKED_AT, &a->booked_at_us) ||
        !get_enum(d, data, &F_BOOKING_CHANNEL, true, channel_names, COUNT(channel_names),
                  &channel) ||
        !get_enum(d, data, &F_STATUS, true, status_names, COUNT(status_names), &status) ||
        !get_enum(d, data, &F_CANCELLED_BY, false, cancelled_by_names, COUNT(cancelled_by_names),
                  &by) ||
        !get_id(d, data, &F_PATIENT_ID, false, &patient))
        return false;
    if ((event_status_t)status != types[d->ev.type].status)
        return fail(d, EVENT_REASON_TYPE_STATUS_MISMATCH, F_STATUS.path, "does not match type");

    a->channel = (event_channel_t)channel;
    a->status = (event_status_t)status;
    a->cancelled_by = (event_cancelled_by_t)by;
    hash(d, PSEUDO_APPOINTMENT, &appt, a->appointment);
    a->has_patient = patient.s != NULL;
    if (a->has_patient)
        hash(d, PSEUDO_PATIENT, &patient, a->patient);
    return true;
}

static bool judge_journal(event_decoder_t *d, const json_t *data)
{
    event_journal_recorded_t *j = &d->ev.journal;
    raw_str_t entry, author, patient;

    if (!get_id(d, data, &F_ENTRY_ID, true, &entry) ||
        !get_clear(d, data, &F_UNIT_ID, d->ev.unit_id) ||
        !get_id(d, data, &F_AUTHOR_ID, true, &author) ||
        !get_id(d, data, &F_PATIENT_ID, true, &patient) ||
        !get_clear(d, data, &F_ITEM_TYPE, j->item_type) ||
        !get_clear(d, data, &F_FINGERPRINT, j->fingerprint) ||
        !get_clear(d, data, &F_SOURCE_SYSTEM, j->source_system))
        return false;
    json_t *dur = member(data, &F_DURATION_S);
    if (dur) {
        /* jansson refuses NaN, Infinity and overflowing literals: finite here. */
        if (!json_is_number(dur))
            return fail(d, EVENT_REASON_INVALID_FIELD, F_DURATION_S.path, "not a number");
        double v = json_number_value(dur);
        if (v < 0)
            return fail(d, EVENT_REASON_INVALID_FIELD, F_DURATION_S.path, "negative");
        j->has_duration = true;
        j->duration_s = v + 0.0; /* -0 becomes 0 */
    }
    hash(d, PSEUDO_ENTRY, &entry, j->entry);
    hash(d, PSEUDO_USER, &author, j->author);
    hash(d, PSEUDO_PATIENT, &patient, j->patient);
    return true;
}

static bool judge_journal_error(event_decoder_t *d, const json_t *data)
{
    raw_str_t entry;
    if (!get_id(d, data, &F_ENTRY_ID, true, &entry) ||
        !get_clear(d, data, &F_UNIT_ID, d->ev.unit_id))
        return false;
    hash(d, PSEUDO_ENTRY, &entry, d->ev.journal_error.entry);
    return true;
}

static bool judge_audit(event_decoder_t *d, const json_t *data)
{
    event_audit_t *a = &d->ev.audit;
    raw_str_t user, patient;
    if (!get_id(d, data, &F_USER_ID, true, &user) ||
        !get_clear(d, data, &F_UNIT_ID, d->ev.unit_id) ||
        !get_clear(d, data, &F_ACTION, a->action) ||
        !get_id(d, data, &F_PATIENT_ID, false, &patient))
        return false;
    hash(d, PSEUDO_USER, &user, a->user);
    a->has_patient = patient.s != NULL;
    if (a->has_patient)
        hash(d, PSEUDO_PATIENT, &patient, a->patient);
    return true;
}

/* An envelope attribute that must be a string (else not_cloudevent). */
static bool envelope_string(event_decoder_t *d, const json_t *obj, const field_t *f, json_t **out)
{
    *out = member(obj, f);
    if (!*out)
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, f->path, "missing");
    if (!json_is_string(*out))
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, f->path, "not a string");
    return true;
}

/* Fills d->ev (true) or d->rej (false). */
static bool judge(event_decoder_t *d, const json_t *obj)
{
    event_t *ev = &d->ev;
    json_t *spec, *id, *source, *type, *tm, *data;
    const char *problem;

    d->rej.event_id[0] = '\0';
    d->rej.type[0] = '\0';
    if (!json_is_object(obj))
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, "element", "not a JSON object");

    /* Name the event in its rejection whatever else is wrong with it. */
    id = member(obj, &A_ID);
    if (readable(id))
        copy_str(d->rej.event_id, id);
    type = member(obj, &A_TYPE);
    if (readable(type))
        copy_str(d->rej.type, type);

    if (!envelope_string(d, obj, &A_SPECVERSION, &spec))
        return false;
    if (json_string_length(spec) != 3 || memcmp(json_string_value(spec), "1.0", 3) != 0)
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, "specversion", "not \"1.0\"");
    if (!envelope_string(d, obj, &A_ID, &id) || !envelope_string(d, obj, &A_SOURCE, &source) ||
        !envelope_string(d, obj, &A_TYPE, &type))
        return false;

    const char *ts = json_string_value(type);
    size_t tlen = json_string_length(type);
    int t = 0;
    while (t < EVENT_TYPE_COUNT &&
           !(types[t].name.len == tlen && memcmp(types[t].name.s, ts, tlen) == 0))
        t++;
    if (t == EVENT_TYPE_COUNT)
        return fail(d, EVENT_REASON_UNSUPPORTED_TYPE, "type", "not a supported event type");

    if ((problem = str_problem(json_string_value(id), json_string_length(id))))
        return fail(d, EVENT_REASON_INVALID_FIELD, "id", problem);
    if ((problem = str_problem(json_string_value(source), json_string_length(source))))
        return fail(d, EVENT_REASON_INVALID_FIELD, "source", problem);
    if (!envelope_string(d, obj, &A_TIME, &tm))
        return false;
    int64_t time_us;
    if (!timeutil_parse_rfc3339(json_string_value(tm), json_string_length(tm), &time_us))
        return fail(d, EVENT_REASON_INVALID_FIELD, "time", "not an RFC 3339 timestamp");
    data = member(obj, &A_DATA);
    if (!data)
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, "data", "missing");
    if (!json_is_object(data))
        return fail(d, EVENT_REASON_NOT_CLOUDEVENT, "data", "not an object");

    /* Zeroed so that copies compare equal and unused parts hold no stale ids. */
    memset(ev, 0, sizeof(*ev));
    ev->type = (event_type_t)t;
    ev->kind = types[t].kind;
    ev->time_us = time_us;
    copy_str(ev->id, id);
    copy_str(ev->source, source);
    switch (ev->kind) {
    case EVENT_KIND_APPOINTMENT:
        return judge_appointment(d, data);
    case EVENT_KIND_JOURNAL_RECORDED:
        return judge_journal(d, data);
    case EVENT_KIND_JOURNAL_ERROR:
        return judge_journal_error(d, data);
    case EVENT_KIND_AUDIT:
        return judge_audit(d, data);
    }
    return fail(d, EVENT_REASON_UNSUPPORTED_TYPE, "type", "not a supported event type");
}

/* ---- message level ------------------------------------------------------- */

static void emit(event_decoder_t *d, bool ok, int index, const event_sink_t *sink)
{
    /* The sink may use jansson itself: not from our arena. */
    arena_t *a = tls_arena;
    tls_arena = d->outer_arena;
    if (ok) {
        if (sink && sink->on_event)
            sink->on_event(sink->opaque, &d->ev, index);
    } else if (sink && sink->on_reject) {
        d->rej.payload = d->msg;
        d->rej.payload_len = d->msg_len;
        if (d->is_batch && index >= 0) {
            if (!d->spans_done) {
                d->spans_ok = find_spans(d);
                d->spans_done = true;
            }
            if (d->spans_ok && (size_t)index < d->nspans) {
                d->rej.payload = d->msg + d->spans[index].off;
                d->rej.payload_len = d->spans[index].len;
            }
        }
        sink->on_reject(sink->opaque, &d->rej, index);
    }
    tls_arena = a;
}

/* A rejection of the message as a whole (index -1); d->rej.detail is set. */
static int reject_message(event_decoder_t *d, event_reason_t reason, const event_sink_t *sink)
{
    d->rej.reason = reason;
    d->rej.event_id[0] = '\0';
    d->rej.type[0] = '\0';
    d->is_batch = false;
    emit(d, false, -1, sink);
    return 1;
}

static int reject_json_error(event_decoder_t *d, const json_error_t *e, const event_sink_t *sink)
{
    /* jansson's text quotes the input ("near '...'"): use only code and position. */
    const char *what;
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        what = "invalid UTF-8";
        break;
    case json_error_duplicate_key:
        what = "duplicate object key";
        break;
    case json_error_numeric_overflow:
        what = "number out of range";
        break;
    case json_error_null_byte_in_key:
        what = "NUL in an object key";
        break;
    case json_error_premature_end_of_input:
        what = "JSON ends early";
        break;
    case json_error_end_of_input_expected:
        what = "trailing data after JSON";
        break;
    case json_error_stack_overflow:
        what = "nesting too deep";
        break;
    default:
        what = "not valid JSON";
        break;
    }
    snprintf(d->rej.detail, sizeof(d->rej.detail), "message: %s at byte %d", what, e->position);
    return reject_message(d, EVENT_REASON_INVALID_JSON, sink);
}

int event_decode(event_decoder_t *d, const void *buf, size_t len, const event_sink_t *sink)
{
    d->msg = buf;
    d->msg_len = buf ? len : 0;
    d->is_batch = false;
    d->spans_done = false;
    d->outer_arena = tls_arena;

    if (d->msg_len > d->max_bytes) {
        snprintf(d->rej.detail, sizeof(d->rej.detail), "message: %zu bytes, over the limit of %zu",
                 d->msg_len, d->max_bytes);
        return reject_message(d, EVENT_REASON_TOO_LARGE, sink);
    }
    if (d->msg_len == 0) {
        snprintf(d->rej.detail, sizeof(d->rej.detail), "message: empty");
        return reject_message(d, EVENT_REASON_INVALID_JSON, sink);
    }
    if (!depth_ok(buf, len)) {
        snprintf(d->rej.detail, sizeof(d->rej.detail), "message: nesting deeper than %d",
                 EVENT_MAX_DEPTH);
        return reject_message(d, EVENT_REASON_INVALID_JSON, sink);
    }

    json_error_t e;
    tls_arena = &d->arena;
    json_t *root = json_loadb(buf, len, JSON_FLAGS, &e);
    bool oom = d->arena.failed;
    int n = 0;

    if (oom) {
        n = -1; /* our failure, not the producer's: judge nothing */
    } else if (!root) {
        n = reject_json_error(d, &e, sink);
    } else if (json_is_object(root)) {
        bool ok = judge(d, root);
        emit(d, ok, 0, sink);
        n = 1;
    } else if (json_is_array(root)) {
        size_t count = json_array_size(root);
        d->is_batch = true;
        for (size_t i = 0; i < count; i++) {
            bool ok = judge(d, json_array_get(root, i));
            emit(d, ok, (int)i, sink);
        }
        n = (int)count;
    } else {
        snprintf(d->rej.detail, sizeof(d->rej.detail), "message: not a JSON object or array");
        n = reject_message(d, EVENT_REASON_NOT_CLOUDEVENT, sink);
    }
    /* No json_decref(): every node lives in the arena, dropped in one go. */
    tls_arena = d->outer_arena;
    arena_reset(&d->arena);
    return n;
}
