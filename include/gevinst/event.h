#ifndef GEVINST_EVENT_H
#define GEVINST_EVENT_H

/* event: decodes one Kafka message value (a CloudEvents 1.0 JSON event or a
 * batch array of them) into typed, owned, pseudonymised events, or into
 * rejections carrying a reason from events.md. See docs in event.c for the
 * decisions where the contract is silent. */

#include "gevinst/pseudonym.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest id, source, unit_id, item_type, fingerprint, source_system, action. */
#define EVENT_STR_MAX 256
#define EVENT_DEFAULT_MAX_MESSAGE_BYTES 1048576
/* Deepest accepted nesting of arrays and objects; deeper is invalid_json. */
#define EVENT_MAX_DEPTH 64

typedef enum event_reason {
    EVENT_REASON_TOO_LARGE,
    EVENT_REASON_INVALID_JSON,
    EVENT_REASON_NOT_CLOUDEVENT,
    EVENT_REASON_UNSUPPORTED_TYPE,
    EVENT_REASON_MISSING_FIELD,
    EVENT_REASON_INVALID_FIELD,
    EVENT_REASON_TYPE_STATUS_MISMATCH,
    EVENT_REASON_LATE_EVENT, /* never produced here: the audit KPI decides */
    EVENT_REASON_COUNT
} event_reason_t;

/* The stable strings of events.md ("too_large", ...); "?" when out of range. */
const char *event_reason_name(event_reason_t reason);
/* Inverse of event_reason_name(); false for an unknown string. */
bool event_reason_parse(const char *name, event_reason_t *out);

typedef enum event_type {
    EVENT_APPOINTMENT_BOOKED,
    EVENT_APPOINTMENT_RESCHEDULED,
    EVENT_APPOINTMENT_CANCELLED,
    EVENT_APPOINTMENT_ARRIVED,
    EVENT_APPOINTMENT_FULFILLED,
    EVENT_APPOINTMENT_NOSHOW,
    EVENT_APPOINTMENT_ENTERED_IN_ERROR,
    EVENT_JOURNAL_ENTRY_RECORDED,
    EVENT_JOURNAL_ENTRY_ENTERED_IN_ERROR,
    EVENT_AUDIT_ACCESS,
    EVENT_TYPE_COUNT
} event_type_t;

/* The CloudEvents type string ("appointment.booked"). */
const char *event_type_name(event_type_t type);

typedef enum event_kind {
    EVENT_KIND_APPOINTMENT, /* every appointment.* type */
    EVENT_KIND_JOURNAL_RECORDED,
    EVENT_KIND_JOURNAL_ERROR,
    EVENT_KIND_AUDIT,
} event_kind_t;

event_kind_t event_type_kind(event_type_t type);

typedef enum event_status {
    EVENT_STATUS_BOOKED,
    EVENT_STATUS_CANCELLED,
    EVENT_STATUS_ARRIVED,
    EVENT_STATUS_FULFILLED,
    EVENT_STATUS_NOSHOW,
    EVENT_STATUS_ENTERED_IN_ERROR,
} event_status_t;

typedef enum event_channel {
    EVENT_CHANNEL_PORTAL,
    EVENT_CHANNEL_STAFF,
    EVENT_CHANNEL_PHONE,
    EVENT_CHANNEL_OTHER,
} event_channel_t;

typedef enum event_cancelled_by {
    EVENT_CANCELLED_BY_NONE, /* absent or null */
    EVENT_CANCELLED_BY_PATIENT,
    EVENT_CANCELLED_BY_STAFF,
} event_cancelled_by_t;

/* The contract's spelling of each value ("entered-in-error", "portal", ...);
 * event_cancelled_by_name(NONE) is "". */
const char *event_status_name(event_status_t status);
const char *event_channel_name(event_channel_t channel);
const char *event_cancelled_by_name(event_cancelled_by_t by);

/* Pseudonyms are PSEUDO_HEX_LEN lowercase hex chars, NUL-terminated; an
 * absent optional one is "" (and its has_ flag false). */
typedef char event_pseudonym_t[PSEUDO_HEX_LEN + 1];

typedef struct event_appointment {
    event_status_t status;
    event_channel_t channel;
    event_cancelled_by_t cancelled_by;
    bool has_patient;
    int64_t start_us;     /* UTC microseconds */
    int64_t booked_at_us; /* UTC microseconds */
    event_pseudonym_t appointment;
    event_pseudonym_t patient;
} event_appointment_t;

typedef struct event_journal_recorded {
    event_pseudonym_t entry;
    event_pseudonym_t author; /* kind "user": an author is a user */
    event_pseudonym_t patient;
    char item_type[EVENT_STR_MAX + 1];
    char fingerprint[EVENT_STR_MAX + 1];
    char source_system[EVENT_STR_MAX + 1];
    bool has_duration;
    double duration_s; /* finite, >= 0; 0 when !has_duration */
} event_journal_recorded_t;

typedef struct event_journal_error {
    event_pseudonym_t entry;
} event_journal_error_t;

typedef struct event_audit {
    event_pseudonym_t user;
    bool has_patient;
    event_pseudonym_t patient;
    char action[EVENT_STR_MAX + 1];
} event_audit_t;

/* One accepted event. Self-contained (no pointers), so a plain struct copy
 * keeps it; clear-text strings are NUL-terminated, 1..EVENT_STR_MAX bytes and
 * contain no NUL. Only the union member of `kind` is filled. */
typedef struct event {
    event_type_t type;
    event_kind_t kind;
    int64_t time_us;                /* envelope `time`, UTC microseconds */
    char id[EVENT_STR_MAX + 1];     /* envelope `id`, in clear (not personal) */
    char source[EVENT_STR_MAX + 1]; /* envelope `source` */
    char unit_id[EVENT_STR_MAX + 1];
    union {
        event_appointment_t appointment;
        event_journal_recorded_t journal;
        event_journal_error_t journal_error;
        event_audit_t audit;
    };
} event_t;

/* One rejected element (or a whole message). Valid only during on_reject. */
typedef struct event_reject {
    event_reason_t reason;
    /* "data.start: not an RFC 3339 timestamp": names the field and the problem,
     * never a value from the message. */
    char detail[128];
    /* The CloudEvent id when it was a string of 1..256 bytes without NUL, else "". */
    char event_id[EVENT_STR_MAX + 1];
    /* The CloudEvent type under the same condition, else "" (for debug logs
     * of unsupported_type). */
    char type[EVENT_STR_MAX + 1];
    /* The raw bytes judged, for privacy.store_rejected_payload: the element's
     * exact bytes inside the message for a batch element, the whole message
     * otherwise. Points into the caller's buffer: not NUL-terminated, not
     * owned; may hold health data. */
    const char *payload;
    size_t payload_len;
} event_reject_t;

/* Receives the judged elements in message order. `index` is the element's
 * position in a batch array, 0 for a message holding one event, and -1 when
 * the message was rejected as a whole (too_large, invalid_json, or JSON that
 * is neither an object nor an array). The pointers are valid only during the
 * call; copy what you keep. Either callback may be NULL. */
typedef struct event_sink {
    void (*on_event)(void *opaque, const event_t *ev, int index);
    void (*on_reject)(void *opaque, const event_reject_t *rej, int index);
    void *opaque;
} event_sink_t;

typedef struct event_decoder event_decoder_t;

/* pseudo is borrowed and must outlive the decoder. max_message_bytes: larger
 * messages are rejected as too_large unread; 0 means
 * EVENT_DEFAULT_MAX_MESSAGE_BYTES. Returns NULL with errstr on failure.
 *
 * The first call installs jansson allocator hooks for the whole process
 * (json_set_alloc_funcs): while a decoder parses, jansson allocates from the
 * decoder's arena on that thread; everywhere else the hooks are plain
 * malloc/free, so other jansson users are unaffected. Nothing else in the
 * process may install jansson hooks, and the first decoder should be made
 * before other threads use jansson. */
event_decoder_t *event_decoder_new(pseudo_t *pseudo, size_t max_message_bytes, char *errstr,
                                   size_t errstr_size);
void event_decoder_destroy(event_decoder_t *dec);

/* Judges one message value and calls the sink once per element: on_event for
 * each accepted event, on_reject for each rejection. Returns the number of
 * calls made (elements judged): 0 only for an empty batch "[]". Returns -1,
 * having called nothing, only when memory ran out while parsing: that is our
 * failure, not the producer's, so the caller should treat it as fatal (or
 * retry) rather than commit the offset. Not thread-safe per decoder: use one
 * decoder per consumer thread. The sink must not call event_decode() on the
 * same decoder (another decoder is fine). */
int event_decode(event_decoder_t *dec, const void *buf, size_t len, const event_sink_t *sink);

#endif
