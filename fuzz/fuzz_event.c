/* libFuzzer target for the decoder; built and run by scripts/fuzz.sh.
 *
 * Besides crashes, leaks and undefined behaviour it checks what the rest of
 * the daemon relies on: one callback per judged element, accepted events are
 * well-formed (ids and clear text in bounds, pseudonyms 64 lowercase hex,
 * enums in range), rejections carry a contract reason, a "field: problem"
 * detail and a payload inside the message. Timestamps get a round trip. */
#include "gevinst/event.h"
#include "gevinst/timeutil.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small, so that -max_len 4096 reaches too_large too. */
#define FUZZ_MAX_MESSAGE 2048

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct run {
    const uint8_t *buf;
    size_t len;
    int calls;
} run_t;

static void check_str(const char *s, bool may_be_empty)
{
    size_t n = strnlen(s, EVENT_STR_MAX + 1);
    CHECK(n <= EVENT_STR_MAX);
    CHECK(may_be_empty || n > 0);
}

static void check_pseudonym(const char *p, bool present)
{
    if (!present) {
        CHECK(p[0] == '\0');
        return;
    }
    for (int i = 0; i < PSEUDO_HEX_LEN; i++)
        CHECK((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'));
    CHECK(p[PSEUDO_HEX_LEN] == '\0');
}

static void on_event(void *opaque, const event_t *ev, int index)
{
    run_t *r = opaque;
    CHECK(index == r->calls);
    r->calls++;
    CHECK((unsigned)ev->type < EVENT_TYPE_COUNT);
    CHECK(ev->kind == event_type_kind(ev->type));
    check_str(ev->id, false);
    check_str(ev->source, false);
    check_str(ev->unit_id, false);
    char out[32];
    (void)timeutil_format_utc(ev->time_us, out);
    switch (ev->kind) {
    case EVENT_KIND_APPOINTMENT:
        CHECK(ev->appointment.status <= EVENT_STATUS_ENTERED_IN_ERROR);
        CHECK(ev->appointment.channel <= EVENT_CHANNEL_OTHER);
        CHECK(ev->appointment.cancelled_by <= EVENT_CANCELLED_BY_STAFF);
        check_pseudonym(ev->appointment.appointment, true);
        check_pseudonym(ev->appointment.patient, ev->appointment.has_patient);
        break;
    case EVENT_KIND_JOURNAL_RECORDED:
        check_pseudonym(ev->journal.entry, true);
        check_pseudonym(ev->journal.author, true);
        check_pseudonym(ev->journal.patient, true);
        check_str(ev->journal.item_type, false);
        check_str(ev->journal.fingerprint, false);
        check_str(ev->journal.source_system, false);
        CHECK(ev->journal.duration_s >= 0 && ev->journal.duration_s <= DBL_MAX);
        CHECK(ev->journal.has_duration || ev->journal.duration_s == 0);
        break;
    case EVENT_KIND_JOURNAL_ERROR:
        check_pseudonym(ev->journal_error.entry, true);
        break;
    case EVENT_KIND_AUDIT:
        check_pseudonym(ev->audit.user, true);
        check_pseudonym(ev->audit.patient, ev->audit.has_patient);
        check_str(ev->audit.action, false);
        break;
    }
}

static void on_reject(void *opaque, const event_reject_t *rej, int index)
{
    run_t *r = opaque;
    CHECK(index == -1 ? r->calls == 0 : index == r->calls);
    r->calls++;
    CHECK((unsigned)rej->reason < EVENT_REASON_COUNT);
    CHECK(rej->reason != EVENT_REASON_LATE_EVENT);
    CHECK(strnlen(rej->detail, sizeof(rej->detail)) < sizeof(rej->detail));
    CHECK(strstr(rej->detail, ": ") != NULL);
    check_str(rej->event_id, true);
    check_str(rej->type, true);
    CHECK(rej->payload_len <= r->len);
    CHECK(rej->payload_len == 0 ||
          ((const uint8_t *)rej->payload >= r->buf &&
           (const uint8_t *)rej->payload + rej->payload_len <= r->buf + r->len));
    CHECK((rej->reason == EVENT_REASON_TOO_LARGE) == (r->len > FUZZ_MAX_MESSAGE));
}

static void fuzz_time(const uint8_t *data, size_t size)
{
    int64_t us;
    if (!timeutil_parse_rfc3339((const char *)data, size, &us))
        return;
    CHECK(size >= 20);
    /* A parsed time formats (when its UTC year is 0..9999) and reads back. */
    char out[32];
    if (timeutil_format_utc(us, out)) {
        int64_t back;
        CHECK(timeutil_parse_rfc3339(out, strlen(out), &back));
        CHECK(back == us);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pseudo_t *pseudo;
    static event_decoder_t *dec;
    if (!dec) {
        static const unsigned char key[] = "fuzz-key-0123456789abcdef0123456789";
        char err[256];
        pseudo = pseudo_new(key, sizeof(key) - 1, err, sizeof(err));
        dec = event_decoder_new(pseudo, FUZZ_MAX_MESSAGE, err, sizeof(err));
        CHECK(dec != NULL);
    }
    /* A private copy: ASan then catches any read past the message's end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    run_t r = {copy, size, 0};
    event_sink_t sink = {on_event, on_reject, &r};
    int n = event_decode(dec, copy, size, &sink);
    CHECK(n == r.calls);
    free(copy);
    fuzz_time(data, size);
    return 0;
}
