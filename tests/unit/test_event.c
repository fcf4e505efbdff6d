/* Tests for event: the decoder against the contract (events.md).
 *
 * Rejection fixtures live in tests/fixtures/events/reject, one message per
 * file named REASON__FIELD__DESCRIPTION.json: the test decodes each and
 * expects exactly that reason and a detail starting with "FIELD: ". Valid
 * edge cases live in tests/fixtures/events/valid; the contract's examples in
 * tests/fixtures/events/valid.jsonl (a copy of shared/contract/examples). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/event.h"
#include "gevinst/timeutil.h"
#include "test_util.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES GEVINST_SOURCE_DIR "/tests/fixtures/events"
#define SHARED_VALID GEVINST_SOURCE_DIR "/../shared/contract/examples/valid.jsonl"

static const char test_key[] = "gevinst-test-key-0123456789abcdef";

/* Everything the sink saw, copied out (the pointers die after the call). */
#define MAX_SEEN 64
typedef struct seen {
    int n;
    struct {
        bool ok;
        int index;
        event_t ev;
        event_reject_t rej;
        char payload[4096];
    } item[MAX_SEEN];
} seen_t;

static void on_event(void *opaque, const event_t *ev, int index)
{
    seen_t *s = opaque;
    assert_true(s->n < MAX_SEEN);
    s->item[s->n].ok = true;
    s->item[s->n].index = index;
    s->item[s->n].ev = *ev;
    s->n++;
}

static void on_reject(void *opaque, const event_reject_t *rej, int index)
{
    seen_t *s = opaque;
    assert_true(s->n < MAX_SEEN);
    s->item[s->n].ok = false;
    s->item[s->n].index = index;
    s->item[s->n].rej = *rej;
    size_t n = rej->payload_len < sizeof(s->item[0].payload) - 1 ? rej->payload_len
                                                                 : sizeof(s->item[0].payload) - 1;
    if (n)
        memcpy(s->item[s->n].payload, rej->payload, n);
    s->item[s->n].payload[n] = '\0';
    s->item[s->n].rej.payload = NULL; /* points into the caller's buffer only during the call */
    s->n++;
}

typedef struct fixture {
    pseudo_t *pseudo;
    event_decoder_t *dec;
    seen_t seen;
} fixture_t;

static int setup(void **state)
{
    char err[256];
    fixture_t *f = calloc(1, sizeof(*f));
    f->pseudo = pseudo_new((const unsigned char *)test_key, strlen(test_key), err, sizeof(err));
    assert_non_null(f->pseudo);
    f->dec = event_decoder_new(f->pseudo, 0, err, sizeof(err));
    assert_non_null(f->dec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    event_decoder_destroy(f->dec);
    pseudo_destroy(f->pseudo);
    free(f);
    return 0;
}

static int decode(fixture_t *f, const char *buf, size_t len)
{
    event_sink_t sink = {on_event, on_reject, &f->seen};
    memset(&f->seen, 0, sizeof(f->seen));
    int n = event_decode(f->dec, buf, len, &sink);
    assert_int_equal(n, f->seen.n);
    return n;
}

static int decode_str(fixture_t *f, const char *s)
{
    return decode(f, s, strlen(s));
}

/* One element judged, accepted; returns it. */
static const event_t *accept_one(fixture_t *f, const char *s, size_t len)
{
    assert_int_equal(decode(f, s, len), 1);
    if (!f->seen.item[0].ok)
        fail_msg("rejected: %s: %s", event_reason_name(f->seen.item[0].rej.reason),
                 f->seen.item[0].rej.detail);
    return &f->seen.item[0].ev;
}

/* One element judged, rejected with `reason`; returns the rejection. */
static const event_reject_t *reject_one(fixture_t *f, const char *s, size_t len,
                                        event_reason_t reason)
{
    assert_int_equal(decode(f, s, len), 1);
    if (f->seen.item[0].ok)
        fail_msg("accepted, expected %s", event_reason_name(reason));
    if (f->seen.item[0].rej.reason != reason)
        fail_msg("got %s (%s), expected %s", event_reason_name(f->seen.item[0].rej.reason),
                 f->seen.item[0].rej.detail, event_reason_name(reason));
    return &f->seen.item[0].rej;
}

static void expect_pseudonym(const char *got, const char *kind_id)
{
    /* Expected values from `printf %s KIND:ID | openssl dgst -sha256 -hmac KEY`. */
    static const struct {
        const char *in, *hex;
    } known[] = {
        {"appointment:A-100234",
         "f0c45cf42f1b398278f842bc8d9a7101d11e252496f4ef1e530a9baeeeb4aee0"},
        {"patient:P-77812", "be8b5def0a67d4fb752f2b4025576e73164164619599a0953ab2e121bf40579e"},
        {"appointment:A-100301",
         "539779aabec7aa32d6b02999a8435b57407454882638eb3aa732d14636f4e6bb"},
        {"entry:J-5550001", "9e09d21aef7a6416f3fdbae8a22b16c1d614a2940539861c77614c61f8ee05fa"},
        {"user:U-2044", "6bab25f5463bc8450816b3be435ec656ccf80faef5f6a802a37ffd0f790530dc"},
        {"patient:P-12001", "7e348da285e8df973c4b16e246df89e796bb1ec6bfabc2068aeff6ab8fb73046"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i].in, kind_id) == 0) {
            assert_string_equal(got, known[i].hex);
            return;
        }
    }
    fail_msg("no expected pseudonym for %s", kind_id);
}

static int64_t ts(const char *s)
{
    int64_t us = 0;
    assert_true(timeutil_parse_rfc3339(s, strlen(s), &us));
    return us;
}

/* ---- the contract's examples, every field ------------------------------ */

static void check_contract_line(fixture_t *f, int line, const char *text, size_t len)
{
    const event_t *ev;
    switch (line) {
    case 1:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_APPOINTMENT_BOOKED);
        assert_int_equal(ev->kind, EVENT_KIND_APPOINTMENT);
        assert_string_equal(ev->id, "5c0e6a1e-1d0b-4f8e-9a3c-0d2f1b7e4a10");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-03T08:12:44Z"));
        assert_string_equal(ev->unit_id, "phr-poliklinikk-ost");
        assert_true(ev->appointment.start_us == ts("2025-02-20T08:30:00Z"));
        assert_true(ev->appointment.booked_at_us == ts("2025-02-03T08:12:44Z"));
        assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_PORTAL);
        assert_int_equal(ev->appointment.status, EVENT_STATUS_BOOKED);
        assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_NONE);
        expect_pseudonym(ev->appointment.appointment, "appointment:A-100234");
        assert_true(ev->appointment.has_patient);
        expect_pseudonym(ev->appointment.patient, "patient:P-77812");
        break;
    case 2:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_APPOINTMENT_RESCHEDULED);
        assert_int_equal(ev->kind, EVENT_KIND_APPOINTMENT);
        assert_string_equal(ev->id, "8f3a1c55-52b1-4d0e-8b7e-1f4c9e2a6b21");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-10T14:01:02.250Z"));
        assert_true(ev->time_us % 1000000 == 250000);
        assert_string_equal(ev->unit_id, "phr-poliklinikk-ost");
        assert_true(ev->appointment.start_us == ts("2025-02-27T09:00:00Z"));
        assert_true(ev->appointment.booked_at_us == ts("2025-02-03T08:12:44Z"));
        assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_PORTAL);
        assert_int_equal(ev->appointment.status, EVENT_STATUS_BOOKED);
        assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_NONE);
        expect_pseudonym(ev->appointment.appointment, "appointment:A-100234");
        assert_false(ev->appointment.has_patient);
        assert_string_equal(ev->appointment.patient, "");
        break;
    case 3:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_APPOINTMENT_NOSHOW);
        assert_string_equal(ev->id, "0b9d2e7c-3f61-4a58-9c44-7e1a5d3b8c32");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-27T09:40:00Z"));
        assert_string_equal(ev->unit_id, "phr-poliklinikk-ost");
        assert_true(ev->appointment.start_us == ts("2025-02-27T09:00:00Z"));
        assert_true(ev->appointment.booked_at_us == ts("2025-02-03T08:12:44Z"));
        assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_PORTAL);
        assert_int_equal(ev->appointment.status, EVENT_STATUS_NOSHOW);
        assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_NONE);
        expect_pseudonym(ev->appointment.appointment, "appointment:A-100234");
        assert_false(ev->appointment.has_patient);
        break;
    case 4:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_APPOINTMENT_CANCELLED);
        assert_string_equal(ev->id, "c4e8f0a2-9b13-4c7d-a6e5-2d8b0f1c9e43");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-11T06:00:00Z"));
        assert_string_equal(ev->unit_id, "fysioterapi");
        assert_true(ev->appointment.start_us == ts("2025-02-12T12:00:00Z"));
        assert_true(ev->appointment.booked_at_us == ts("2025-01-20T09:00:00Z"));
        assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_PHONE);
        assert_int_equal(ev->appointment.status, EVENT_STATUS_CANCELLED);
        assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_PATIENT);
        expect_pseudonym(ev->appointment.appointment, "appointment:A-100301");
        assert_false(ev->appointment.has_patient);
        break;
    case 5:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_JOURNAL_ENTRY_RECORDED);
        assert_int_equal(ev->kind, EVENT_KIND_JOURNAL_RECORDED);
        assert_string_equal(ev->id, "e1f7b3d9-6a24-4e8b-b5f6-3c9d1e2a0f54");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-12T09:15:30Z"));
        assert_string_equal(ev->unit_id, "hjemmetj-midtbyen");
        expect_pseudonym(ev->journal.entry, "entry:J-5550001");
        expect_pseudonym(ev->journal.author, "user:U-2044");
        expect_pseudonym(ev->journal.patient, "patient:P-12001");
        assert_string_equal(ev->journal.item_type, "medication-list");
        assert_string_equal(ev->journal.fingerprint, "9f2c4e1ab07d3c55");
        assert_string_equal(ev->journal.source_system, "gerica");
        assert_true(ev->journal.has_duration);
        assert_true(ev->journal.duration_s == 240.0);
        break;
    case 6:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_JOURNAL_ENTRY_ENTERED_IN_ERROR);
        assert_int_equal(ev->kind, EVENT_KIND_JOURNAL_ERROR);
        assert_string_equal(ev->id, "a2b4c6d8-0e1f-4a3b-8c5d-6e7f8091a2b3");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-12T10:00:00Z"));
        assert_string_equal(ev->unit_id, "hjemmetj-midtbyen");
        expect_pseudonym(ev->journal_error.entry, "entry:J-5550001");
        break;
    case 7:
        ev = accept_one(f, text, len);
        assert_int_equal(ev->type, EVENT_AUDIT_ACCESS);
        assert_int_equal(ev->kind, EVENT_KIND_AUDIT);
        assert_string_equal(ev->id, "f0e1d2c3-b4a5-4968-8776-655443322110");
        assert_string_equal(ev->source, "helseplattformen/prod");
        assert_true(ev->time_us == ts("2025-02-12T07:01:07Z"));
        assert_string_equal(ev->unit_id, "hjemmetj-midtbyen");
        expect_pseudonym(ev->audit.user, "user:U-2044");
        assert_string_equal(ev->audit.action, "note.edit");
        assert_true(ev->audit.has_patient);
        expect_pseudonym(ev->audit.patient, "patient:P-12001");
        break;
    case 8:
        assert_int_equal(decode(f, text, len), 2);
        for (int i = 0; i < 2; i++) {
            assert_true(f->seen.item[i].ok);
            assert_int_equal(f->seen.item[i].index, i);
            ev = &f->seen.item[i].ev;
            assert_int_equal(ev->type, EVENT_AUDIT_ACCESS);
            assert_string_equal(ev->source, "helseplattformen/prod");
            assert_string_equal(ev->unit_id, "hjemmetj-midtbyen");
            expect_pseudonym(ev->audit.user, "user:U-2044");
            assert_false(ev->audit.has_patient);
            assert_string_equal(ev->audit.patient, "");
        }
        assert_string_equal(f->seen.item[0].ev.id, "11111111-2222-4333-8444-555555555555");
        assert_string_equal(f->seen.item[1].ev.id, "11111111-2222-4333-8444-555555555556");
        assert_true(f->seen.item[0].ev.time_us == ts("2025-02-12T07:03:00Z"));
        assert_true(f->seen.item[1].ev.time_us == ts("2025-02-12T07:04:30Z"));
        assert_string_equal(f->seen.item[0].ev.audit.action, "flowsheet.view");
        assert_string_equal(f->seen.item[1].ev.audit.action, "inbasket.read");
        break;
    default:
        fail_msg("valid.jsonl has a line %d this test does not know: extend it", line);
    }
}

static void test_contract_examples(void **state)
{
    fixture_t *f = *state;
    size_t len;
    char *text = test_read_file(FIXTURES "/valid.jsonl", &len);

    /* The copy is primary; when the shared contract sits beside the repo,
     * it must not have drifted from the copy. */
    FILE *shared = fopen(SHARED_VALID, "rb");
    if (shared) {
        fclose(shared);
        size_t slen;
        char *s = test_read_file(SHARED_VALID, &slen);
        assert_int_equal(slen, len);
        assert_memory_equal(s, text, len);
        free(s);
    }

    int line = 0;
    for (char *p = text, *nl; p < text + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl)
            nl = text + len;
        if (nl == p)
            continue;
        check_contract_line(f, ++line, p, (size_t)(nl - p));
    }
    assert_int_equal(line, 8);
    free(text);
}

/* Every appointment type with its status, every field checked. */
static void test_every_appointment_type(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *type, *status;
        event_type_t t;
        event_status_t st;
    } cases[] = {
        {"appointment.booked", "booked", EVENT_APPOINTMENT_BOOKED, EVENT_STATUS_BOOKED},
        {"appointment.rescheduled", "booked", EVENT_APPOINTMENT_RESCHEDULED, EVENT_STATUS_BOOKED},
        {"appointment.cancelled", "cancelled", EVENT_APPOINTMENT_CANCELLED, EVENT_STATUS_CANCELLED},
        {"appointment.arrived", "arrived", EVENT_APPOINTMENT_ARRIVED, EVENT_STATUS_ARRIVED},
        {"appointment.fulfilled", "fulfilled", EVENT_APPOINTMENT_FULFILLED, EVENT_STATUS_FULFILLED},
        {"appointment.noshow", "noshow", EVENT_APPOINTMENT_NOSHOW, EVENT_STATUS_NOSHOW},
        {"appointment.entered-in-error", "entered-in-error", EVENT_APPOINTMENT_ENTERED_IN_ERROR,
         EVENT_STATUS_ENTERED_IN_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "{\"specversion\":\"1.0\",\"id\":\"ev-%zu\",\"source\":\"src/x\",\"type\":\"%s\","
                 "\"time\":\"2025-02-03T08:12:44Z\",\"data\":{\"appointment_id\":\"A-100234\","
                 "\"unit_id\":\"fysioterapi\",\"start\":\"2025-02-20T09:30:00+01:00\","
                 "\"booked_at\":\"2025-02-03T09:12:44.5+01:00\",\"booking_channel\":\"staff\","
                 "\"status\":\"%s\",\"cancelled_by\":\"staff\",\"patient_id\":\"P-77812\"}}",
                 i, cases[i].type, cases[i].status);
        const event_t *ev = accept_one(f, msg, strlen(msg));
        char id[16];
        snprintf(id, sizeof(id), "ev-%zu", i);
        assert_int_equal(ev->type, cases[i].t);
        assert_string_equal(event_type_name(ev->type), cases[i].type);
        assert_int_equal(ev->kind, EVENT_KIND_APPOINTMENT);
        assert_string_equal(ev->id, id);
        assert_string_equal(ev->source, "src/x");
        assert_true(ev->time_us == ts("2025-02-03T08:12:44Z"));
        assert_string_equal(ev->unit_id, "fysioterapi");
        assert_int_equal(ev->appointment.status, cases[i].st);
        assert_string_equal(event_status_name(ev->appointment.status), cases[i].status);
        assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_STAFF);
        assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_STAFF);
        assert_true(ev->appointment.start_us == ts("2025-02-20T08:30:00Z"));
        assert_true(ev->appointment.booked_at_us == ts("2025-02-03T08:12:44.5Z"));
        expect_pseudonym(ev->appointment.appointment, "appointment:A-100234");
        assert_true(ev->appointment.has_patient);
        expect_pseudonym(ev->appointment.patient, "patient:P-77812");
    }
}

/* ---- rejection fixtures ---------------------------------------------- */

/* Proves the detail quotes nothing from the message (parsed independently of
 * the decoder): no identifier value anywhere in it, and no string value of 4+
 * bytes in its problem part (after the field name, which may contain a word
 * such as "cancelled" by coincidence). */
static void assert_no_value_in(const json_t *j, const char *key, const char *detail)
{
    if (json_is_string(j)) {
        const char *v = json_string_value(j);
        size_t klen = key ? strlen(key) : 0;
        bool is_id =
            key && (strcmp(key, "id") == 0 || (klen > 3 && strcmp(key + klen - 3, "_id") == 0));
        const char *problem = strstr(detail, ": ");
        if (json_string_length(j) >= 1 && is_id && strstr(detail, v))
            fail_msg("detail \"%s\" quotes the identifier %s", detail, key);
        if (json_string_length(j) >= 4 && problem && strstr(problem, v))
            fail_msg("detail \"%s\" quotes a value from the message", detail);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) assert_no_value_in(v, k, detail);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) assert_no_value_in(v, key, detail);
    }
}

static void test_reject_fixtures(void **state)
{
    fixture_t *f = *state;
    int per_reason[EVENT_REASON_COUNT] = {0};
    DIR *dir = opendir(FIXTURES "/reject");
    assert_non_null(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dir))) {
        char name[512], path[1024];
        if (de->d_name[0] == '.')
            continue;
        snprintf(name, sizeof(name), "%s", de->d_name);
        char *sep1 = strstr(name, "__");
        char *sep2 = sep1 ? strstr(sep1 + 2, "__") : NULL;
        if (!sep2)
            fail_msg("fixture name %s is not REASON__FIELD__DESC.json", de->d_name);
        *sep1 = '\0';
        *sep2 = '\0';
        event_reason_t reason;
        if (!event_reason_parse(name, &reason))
            fail_msg("fixture %s: unknown reason %s", de->d_name, name);
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s: ", sep1 + 2);

        snprintf(path, sizeof(path), FIXTURES "/reject/%s", de->d_name);
        size_t len;
        char *buf = test_read_file(path, &len);
        assert_int_equal(decode(f, buf, len), 1);
        const event_reject_t *rej = &f->seen.item[0].rej;
        if (f->seen.item[0].ok || rej->reason != reason)
            fail_msg("%s: got %s (%s)", de->d_name,
                     f->seen.item[0].ok ? "accepted" : event_reason_name(rej->reason),
                     f->seen.item[0].ok ? "" : rej->detail);
        if (strncmp(rej->detail, prefix, strlen(prefix)) != 0)
            fail_msg("%s: detail \"%s\" does not start with \"%s\"", de->d_name, rej->detail,
                     prefix);
        json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (j)
            assert_no_value_in(j, NULL, rej->detail);
        json_decref(j);
        per_reason[reason]++;
        files++;
        free(buf);
    }
    closedir(dir);
    assert_true(files > 100);
    for (int r = 0; r < EVENT_REASON_COUNT; r++) {
        if (r == EVENT_REASON_TOO_LARGE || r == EVENT_REASON_LATE_EVENT)
            continue; /* too_large needs a limit: test_too_large; late_event is the KPI's */
        if (per_reason[r] < 3)
            fail_msg("only %d fixtures for %s", per_reason[r], event_reason_name(r));
    }
}

static void test_valid_fixtures(void **state)
{
    fixture_t *f = *state;
    DIR *dir = opendir(FIXTURES "/valid");
    assert_non_null(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dir))) {
        char path[1024];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), FIXTURES "/valid/%s", de->d_name);
        size_t len;
        char *buf = test_read_file(path, &len);
        assert_int_equal(decode(f, buf, len), 1);
        if (!f->seen.item[0].ok)
            fail_msg("%s: rejected %s: %s", de->d_name,
                     event_reason_name(f->seen.item[0].rej.reason), f->seen.item[0].rej.detail);
        const event_t *ev = &f->seen.item[0].ev;
        assert_true(strlen(ev->unit_id) > 0);
        free(buf);
        files++;
    }
    closedir(dir);
    assert_true(files > 30);
}

/* ---- envelope and fields, one by one --------------------------------------- */

#define AUDIT_PRE                                                                                  \
    "{\"specversion\":\"1.0\",\"id\":\"ev-1\",\"source\":\"src\",\"type\":\"audit.access\","
#define AUDIT_DATA "\"data\":{\"user_id\":\"U-1\",\"unit_id\":\"unit\",\"action\":\"note.edit\"}}"

static void test_timestamps(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *time;
        const char *utc; /* NULL: invalid_field */
    } cases[] = {
        {"2025-03-04T10:11:12Z", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04T15:41:12+05:30", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04T10:11:12-00:00", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04T10:11:12+00:00", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04T00:30:00-05:00", "2025-03-04T05:30:00.000000Z"},
        {"2025-03-05T10:10:12+23:59", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04t10:11:12z", "2025-03-04T10:11:12.000000Z"},
        {"2025-03-04T10:11:12.1Z", "2025-03-04T10:11:12.100000Z"},
        {"2025-03-04T10:11:12.12Z", "2025-03-04T10:11:12.120000Z"},
        {"2025-03-04T10:11:12.123Z", "2025-03-04T10:11:12.123000Z"},
        {"2025-03-04T10:11:12.1234Z", "2025-03-04T10:11:12.123400Z"},
        {"2025-03-04T10:11:12.12345Z", "2025-03-04T10:11:12.123450Z"},
        {"2025-03-04T10:11:12.123456Z", "2025-03-04T10:11:12.123456Z"},
        {"2025-03-04T10:11:12.1234567Z", "2025-03-04T10:11:12.123456Z"},
        {"2025-03-04T10:11:12.12345678Z", "2025-03-04T10:11:12.123456Z"},
        {"2025-03-04T10:11:12.123456789Z", "2025-03-04T10:11:12.123456Z"},
        {"2025-03-04T10:11:12.999999999+01:00", "2025-03-04T09:11:12.999999Z"},
        {"2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000000Z"},
        {"2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000000Z"},
        {"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"},
        {"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"},
        {"2023-02-29T12:00:00Z", NULL},
        {"1900-02-29T12:00:00Z", NULL},
        {"2024-02-30T12:00:00Z", NULL},
        {"2025-04-31T12:00:00Z", NULL},
        {"2025-03-04T24:00:00Z", NULL},
        {"2025-03-04T10:11:12+24:00", NULL},
        {"2025-03-04T10:11:12-24:00", NULL},
        {"2025-03-04T10:11:12+01:60", NULL},
        {"2025-03-04T10:11:12", NULL},
        {"2025-03-04 10:11:12Z", NULL},
        {"2025-03-04T10:11:12.Z", NULL},
        {"2025-03-04T10:11:12+0100", NULL},
        {"2025-03-04T10:11:12+01", NULL},
        {"2025-03-04T10:11:12Z ", NULL},
        {" 2025-03-04T10:11:12Z", NULL},
        {"2025-03-04T10:11Z", NULL},
        {"+2025-03-04T10:11:12Z", NULL},
        {"2025-3-4T10:11:12Z", NULL},
        {"2025-03-04T10:11:12UTC", NULL},
        {"2025-03-04T10:11:12,5Z", NULL},
        {"2016-12-31T12:00:60Z", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512];
        snprintf(msg, sizeof(msg), AUDIT_PRE "\"time\":\"%s\"," AUDIT_DATA, cases[i].time);
        if (cases[i].utc) {
            char out[32];
            const event_t *ev = accept_one(f, msg, strlen(msg));
            assert_true(timeutil_format_utc(ev->time_us, out));
            assert_string_equal(out, cases[i].utc);
        } else {
            const event_reject_t *rej = reject_one(f, msg, strlen(msg), EVENT_REASON_INVALID_FIELD);
            assert_string_equal(rej->detail, "time: not an RFC 3339 timestamp");
            assert_string_equal(rej->event_id, "ev-1");
        }
    }
}

static void count_reason(void *opaque, const event_reject_t *rej, int index)
{
    (void)index;
    ((int *)opaque)[rej->reason]++;
}

static void test_nesting(void **state)
{
    fixture_t *f = *state;
    char msg[4096];
    /* Envelope is depth 1, data 2, so "x" holds 62 more levels: 64 in all. */
    for (int extra = 62; extra <= 63; extra++) {
        int n =
            snprintf(msg, sizeof(msg),
                     AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"user_id\":\"U-1\","
                               "\"unit_id\":\"unit\",\"action\":\"note.edit\",\"x\":");
        for (int i = 0; i < extra; i++)
            msg[n++] = '[';
        for (int i = 0; i < extra; i++)
            msg[n++] = ']';
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "}}");
        if (extra == 62) {
            accept_one(f, msg, (size_t)n);
        } else {
            const event_reject_t *rej = reject_one(f, msg, (size_t)n, EVENT_REASON_INVALID_JSON);
            assert_string_equal(rej->detail, "message: nesting deeper than 64");
        }
    }
    /* Bare arrays: 64 deep is valid JSON (a batch of one non-event), 65 is not. */
    for (int depth = 64; depth <= 65; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++)
            msg[n++] = '[';
        for (int i = 0; i < depth; i++)
            msg[n++] = ']';
        reject_one(f, msg, (size_t)n,
                   depth == 64 ? EVENT_REASON_NOT_CLOUDEVENT : EVENT_REASON_INVALID_JSON);
    }
    /* Objects count too, and mixed; beyond jansson's own 2048 as well. */
    static char deep[3 * 5000];
    int n = 0;
    for (int i = 0; i < 5000; i++)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "[");
    reject_one(f, deep, (size_t)n, EVENT_REASON_INVALID_JSON);
    n = 0;
    for (int i = 0; i < 65; i++)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"a\":");
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "1");
    for (int i = 0; i < 65; i++)
        deep[n++] = '}';
    reject_one(f, deep, (size_t)n, EVENT_REASON_INVALID_JSON);
    /* Many brackets side by side are not deep. */
    n = snprintf(deep, sizeof(deep), "[");
    for (int i = 0; i < 1000; i++)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "%s[{}]", i ? "," : "");
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "]");
    int by_reason[EVENT_REASON_COUNT] = {0};
    event_sink_t sink = {NULL, count_reason, by_reason};
    assert_int_equal(event_decode(f->dec, deep, (size_t)n, &sink), 1000);
    assert_int_equal(by_reason[EVENT_REASON_NOT_CLOUDEVENT], 1000);
}

static void test_too_large(void **state)
{
    fixture_t *f = *state;
    char err[256];
    const char *good = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA;
    size_t len = strlen(good);

    event_decoder_t *d = event_decoder_new(f->pseudo, len, err, sizeof(err));
    assert_non_null(d);
    event_decoder_t *saved = f->dec;
    f->dec = d;

    /* Exactly the limit: decoded. */
    accept_one(f, good, len);

    /* One byte over, valid JSON (a trailing space): too_large, unread. */
    char *buf = malloc(len + 2);
    memcpy(buf, good, len);
    buf[len] = ' ';
    const event_reject_t *rej = reject_one(f, buf, len + 1, EVENT_REASON_TOO_LARGE);
    assert_int_equal(f->seen.item[0].index, -1);
    assert_string_equal(rej->event_id, "");
    assert_true(strncmp(rej->detail, "message: ", 9) == 0);

    /* Over the limit and garbage: still too_large, not invalid_json. */
    memset(buf, 'x', len + 1);
    reject_one(f, buf, len + 1, EVENT_REASON_TOO_LARGE);

    /* A batch over the limit is one rejection, not one per element. */
    free(buf);
    buf = malloc(2 * len + 4);
    int n = snprintf(buf, 2 * len + 4, "[%s,%s]", good, good);
    reject_one(f, buf, (size_t)n, EVENT_REASON_TOO_LARGE);
    free(buf);

    f->dec = saved;
    event_decoder_destroy(d);

    /* The default limit is 1 MiB: a message of exactly 1 MiB is parsed. */
    buf = malloc(EVENT_DEFAULT_MAX_MESSAGE_BYTES + 1);
    memcpy(buf, good, len);
    memset(buf + len, ' ', EVENT_DEFAULT_MAX_MESSAGE_BYTES + 1 - len);
    accept_one(f, buf, EVENT_DEFAULT_MAX_MESSAGE_BYTES);
    reject_one(f, buf, EVENT_DEFAULT_MAX_MESSAGE_BYTES + 1, EVENT_REASON_TOO_LARGE);
    free(buf);
}

static void test_batch_mixed(void **state)
{
    fixture_t *f = *state;
    const char *msg =
        "[ " AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA " ,\n"
        "  {\"specversion\":\"1.0\",\"id\":\"ev-2\",\"source\":\"src\",\"type\":\"audit.access\","
        "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"unit_id\":\"u\",\"action\":\"a\"}} ,\n"
        "  5 ,\t\"str, with ] and [\" ,"
        "  {\"specversion\":\"1.0\",\"id\":\"ev-3\",\"source\":\"src\",\"type\":\"lab.result\"},"
        "  {\"specversion\":\"1.0\",\"id\":\"ev-4\",\"source\":\"src\",\"type\":\"audit.access\","
        "\"time\":\"2025-03-04T10:11:13Z\",\"data\":{\"user_id\":\"U-2\",\"unit_id\":\"u\","
        "\"action\":\"a\",\"patient_id\":\"P-1\"}}\n]";
    assert_int_equal(decode_str(f, msg), 6);
    seen_t *s = &f->seen;
    for (int i = 0; i < 6; i++)
        assert_int_equal(s->item[i].index, i);
    assert_true(s->item[0].ok);
    assert_string_equal(s->item[0].ev.id, "ev-1");
    assert_false(s->item[1].ok);
    assert_int_equal(s->item[1].rej.reason, EVENT_REASON_MISSING_FIELD);
    assert_string_equal(s->item[1].rej.detail, "data.user_id: missing");
    assert_string_equal(s->item[1].rej.event_id, "ev-2");
    assert_string_equal(s->item[1].payload,
                        "{\"specversion\":\"1.0\",\"id\":\"ev-2\",\"source\":\"src\",\"type\":"
                        "\"audit.access\",\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"unit_id\":"
                        "\"u\",\"action\":\"a\"}}");
    assert_false(s->item[2].ok);
    assert_int_equal(s->item[2].rej.reason, EVENT_REASON_NOT_CLOUDEVENT);
    assert_string_equal(s->item[2].rej.detail, "element: not a JSON object");
    assert_string_equal(s->item[2].payload, "5");
    assert_false(s->item[3].ok);
    assert_string_equal(s->item[3].payload, "\"str, with ] and [\"");
    assert_false(s->item[4].ok);
    assert_int_equal(s->item[4].rej.reason, EVENT_REASON_UNSUPPORTED_TYPE);
    assert_string_equal(s->item[4].rej.type, "lab.result");
    assert_string_equal(s->item[4].rej.event_id, "ev-3");
    assert_true(s->item[5].ok);
    assert_string_equal(s->item[5].ev.id, "ev-4");
    assert_true(s->item[5].ev.audit.has_patient);

    /* An empty batch judges nothing; whitespace around it is fine. */
    assert_int_equal(decode_str(f, " [ ] "), 0);

    /* A single event's payload is the whole message; its index is 0. */
    const char *bad = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{}} ";
    reject_one(f, bad, strlen(bad), EVENT_REASON_MISSING_FIELD);
    assert_int_equal(f->seen.item[0].index, 0);
    assert_string_equal(f->seen.item[0].payload, bad);

    /* Invalid JSON rejects the whole batch once, index -1. */
    const char *broken = "[" AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA ",{]";
    reject_one(f, broken, strlen(broken), EVENT_REASON_INVALID_JSON);
    assert_int_equal(f->seen.item[0].index, -1);
    assert_string_equal(f->seen.item[0].payload, broken);
}

static void test_event_id_in_rejection(void **state)
{
    fixture_t *f = *state;
    const event_reject_t *rej;
    /* Readable id: carried even when the envelope is otherwise wrong. */
    const char *m1 = "{\"specversion\":\"0.3\",\"id\":\"ev-9\",\"type\":\"audit.access\"}";
    rej = reject_one(f, m1, strlen(m1), EVENT_REASON_NOT_CLOUDEVENT);
    assert_string_equal(rej->event_id, "ev-9");
    assert_string_equal(rej->type, "audit.access");
    /* Unreadable ids are left out: not a string, empty, too long, NUL. */
    const char *unreadable[] = {
        "{\"specversion\":\"0.3\",\"id\":7}",
        "{\"specversion\":\"0.3\",\"id\":\"\"}",
        "{\"specversion\":\"0.3\",\"id\":\"a\\u0000b\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        rej = reject_one(f, unreadable[i], strlen(unreadable[i]), EVENT_REASON_NOT_CLOUDEVENT);
        assert_string_equal(rej->event_id, "");
    }
    char big[600];
    int n = snprintf(big, sizeof(big), "{\"specversion\":\"0.3\",\"id\":\"");
    memset(big + n, 'i', 257);
    n += 257;
    n += snprintf(big + n, sizeof(big) - (size_t)n, "\"}");
    rej = reject_one(f, big, (size_t)n, EVENT_REASON_NOT_CLOUDEVENT);
    assert_string_equal(rej->event_id, "");
    /* 256 bytes is still readable. */
    n = snprintf(big, sizeof(big), "{\"specversion\":\"0.3\",\"id\":\"");
    memset(big + n, 'i', 256);
    n += 256;
    n += snprintf(big + n, sizeof(big) - (size_t)n, "\"}");
    rej = reject_one(f, big, (size_t)n, EVENT_REASON_NOT_CLOUDEVENT);
    assert_int_equal(strlen(rej->event_id), 256);
}

static void test_numbers(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *dur;
        event_reason_t reason; /* EVENT_REASON_COUNT: accepted */
        double value;
    } cases[] = {
        {"240", EVENT_REASON_COUNT, 240},
        {"0", EVENT_REASON_COUNT, 0},
        {"-0", EVENT_REASON_COUNT, 0},
        {"-0.0", EVENT_REASON_COUNT, 0},
        {"0.5", EVENT_REASON_COUNT, 0.5},
        {"1e3", EVENT_REASON_COUNT, 1000},
        {"1.7976931348623157e308", EVENT_REASON_COUNT, 1.7976931348623157e308},
        {"null", EVENT_REASON_COUNT, 0},
        {"-1", EVENT_REASON_INVALID_FIELD, 0},
        {"-1e-300", EVENT_REASON_INVALID_FIELD, 0},
        {"\"240\"", EVENT_REASON_INVALID_FIELD, 0},
        {"true", EVENT_REASON_INVALID_FIELD, 0},
        {"[240]", EVENT_REASON_INVALID_FIELD, 0},
        {"NaN", EVENT_REASON_INVALID_JSON, 0},
        {"Infinity", EVENT_REASON_INVALID_JSON, 0},
        {"-Infinity", EVENT_REASON_INVALID_JSON, 0},
        {"1e400", EVENT_REASON_INVALID_JSON, 0},
        {"-1e400", EVENT_REASON_INVALID_JSON, 0},
        {"99999999999999999999", EVENT_REASON_INVALID_JSON, 0},
        {"0x10", EVENT_REASON_INVALID_JSON, 0},
        {"01", EVENT_REASON_INVALID_JSON, 0},
        {"+1", EVENT_REASON_INVALID_JSON, 0},
        {".5", EVENT_REASON_INVALID_JSON, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "{\"specversion\":\"1.0\",\"id\":\"ev\",\"source\":\"s\",\"type\":\"journal.entry-"
                 "recorded\",\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"entry_id\":\"J-1\","
                 "\"unit_id\":\"u\",\"author_id\":\"U-1\",\"patient_id\":\"P-1\",\"item_type\":"
                 "\"care-plan\",\"fingerprint\":\"f\",\"source_system\":\"s\",\"duration_s\":%s}}",
                 cases[i].dur);
        if (cases[i].reason == EVENT_REASON_COUNT) {
            const event_t *ev = accept_one(f, msg, strlen(msg));
            assert_int_equal(ev->journal.has_duration, strcmp(cases[i].dur, "null") != 0);
            assert_true(ev->journal.duration_s == cases[i].value);
            assert_false(signbit(ev->journal.duration_s));
        } else {
            const event_reject_t *rej = reject_one(f, msg, strlen(msg), cases[i].reason);
            if (cases[i].reason == EVENT_REASON_INVALID_FIELD)
                assert_true(strncmp(rej->detail, "data.duration_s: ", 17) == 0);
            else
                assert_true(strncmp(rej->detail, "message: ", 9) == 0);
        }
    }
}

static void test_strings(void **state)
{
    fixture_t *f = *state;
    char msg[2048], big[300];
    const event_reject_t *rej;

    /* NUL anywhere in an id or clear-text field: invalid_field, named. */
    static const char *const fields[] = {"user_id", "unit_id", "action", "patient_id"};
    for (size_t i = 0; i < 4; i++) {
        char data[512];
        snprintf(data, sizeof(data), "{\"user_id\":\"U-1\",\"unit_id\":\"u\",\"action\":\"a\",%s}",
                 "\"patient_id\":\"P-1\"");
        char *p = strstr(data, fields[i]);
        p = strchr(p + strlen(fields[i]) + 2, '"') + 1; /* first byte of the value */
        char fixed[600];
        snprintf(fixed, sizeof(fixed), "%.*s\\u0000%s", (int)(p - data), data, p);
        snprintf(msg, sizeof(msg), AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":%s}",
                 fixed);
        rej = reject_one(f, msg, strlen(msg), EVENT_REASON_INVALID_FIELD);
        char expect[64];
        snprintf(expect, sizeof(expect), "data.%s: contains NUL", fields[i]);
        assert_string_equal(rej->detail, expect);
    }

    /* 256 bytes is the longest id or clear text; 257 is invalid_field. */
    for (int len = 256; len <= 257; len++) {
        memset(big, 'x', (size_t)len);
        big[len] = '\0';
        for (size_t i = 0; i < 4; i++) {
            snprintf(msg, sizeof(msg),
                     AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"user_id\":\"%s\","
                               "\"unit_id\":\"%s\",\"action\":\"%s\",\"patient_id\":\"%s\"}}",
                     i == 0 ? big : "U", i == 1 ? big : "u", i == 2 ? big : "a",
                     i == 3 ? big : "P");
            if (len == 256) {
                const event_t *ev = accept_one(f, msg, strlen(msg));
                if (i == 1)
                    assert_int_equal(strlen(ev->unit_id), 256);
                if (i == 2)
                    assert_int_equal(strlen(ev->audit.action), 256);
            } else {
                rej = reject_one(f, msg, strlen(msg), EVENT_REASON_INVALID_FIELD);
                char expect[64];
                snprintf(expect, sizeof(expect), "data.%s: longer than 256 bytes", fields[i]);
                assert_string_equal(rej->detail, expect);
            }
        }
    }

    /* Multi-byte UTF-8 is fine and kept byte for byte. */
    const char *utf = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"user_id\":\"U\","
                                "\"unit_id\":\"hjemmetjenesten-troms\xc3\xb8\",\"action\":\"a\"}}";
    assert_string_equal(accept_one(f, utf, strlen(utf))->unit_id, "hjemmetjenesten-troms\xc3\xb8");
    /* Escapes are decoded before the checks. */
    const char *esc = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"user_id\":\"U\","
                                "\"unit_id\":\"a\\/b\\u00e6\",\"action\":\"a\"}}";
    assert_string_equal(accept_one(f, esc, strlen(esc))->unit_id, "a/b\xc3\xa6");
}

static void test_nulls_and_optionals(void **state)
{
    fixture_t *f = *state;
    const char *m =
        "{\"specversion\":\"1.0\",\"id\":\"e\",\"source\":\"s\",\"type\":\"appointment."
        "cancelled\",\"time\":\"2025-03-04T10:11:12Z\",\"subject\":null,\"data\":{"
        "\"appointment_id\":\"A-1\",\"unit_id\":\"u\",\"start\":\"2025-03-05T10:00:00Z\","
        "\"booked_at\":\"2025-03-01T10:00:00Z\",\"booking_channel\":\"other\","
        "\"status\":\"cancelled\",\"cancelled_by\":null,\"patient_id\":null}}";
    const event_t *ev = accept_one(f, m, strlen(m));
    assert_int_equal(ev->appointment.cancelled_by, EVENT_CANCELLED_BY_NONE);
    assert_false(ev->appointment.has_patient);
    assert_int_equal(ev->appointment.channel, EVENT_CHANNEL_OTHER);

    const char *m2 =
        "{\"specversion\":\"1.0\",\"id\":null,\"source\":\"s\",\"type\":\"audit.access\"}";
    const event_reject_t *rej = reject_one(f, m2, strlen(m2), EVENT_REASON_NOT_CLOUDEVENT);
    assert_string_equal(rej->detail, "id: missing");
}

static void test_pseudonyms_differ_by_kind(void **state)
{
    fixture_t *f = *state;
    const char *m =
        "{\"specversion\":\"1.0\",\"id\":\"e\",\"source\":\"s\",\"type\":\"journal.entry-"
        "recorded\",\"time\":\"2025-03-04T10:11:12Z\",\"data\":{\"entry_id\":\"X-1\","
        "\"unit_id\":\"u\",\"author_id\":\"X-1\",\"patient_id\":\"X-1\",\"item_type\":"
        "\"t\",\"fingerprint\":\"f\",\"source_system\":\"s\"}}";
    const event_t *ev = accept_one(f, m, strlen(m));
    assert_int_equal(strlen(ev->journal.entry), PSEUDO_HEX_LEN);
    assert_string_not_equal(ev->journal.entry, ev->journal.author);
    assert_string_not_equal(ev->journal.entry, ev->journal.patient);
    assert_string_not_equal(ev->journal.author, ev->journal.patient);
    for (int i = 0; i < PSEUDO_HEX_LEN; i++)
        assert_non_null(strchr("0123456789abcdef", ev->journal.patient[i]));
    assert_false(ev->journal.has_duration);
    /* No raw id anywhere in the event. */
    assert_null(memmem(ev, sizeof(*ev), "X-1", 3));
}

static void test_names(void **state)
{
    (void)state;
    static const char *const expect[] = {
        "too_large",     "invalid_json",  "not_cloudevent",       "unsupported_type",
        "missing_field", "invalid_field", "type_status_mismatch", "late_event"};
    assert_int_equal(EVENT_REASON_COUNT, 8);
    for (int r = 0; r < EVENT_REASON_COUNT; r++) {
        event_reason_t back;
        assert_string_equal(event_reason_name((event_reason_t)r), expect[r]);
        assert_true(event_reason_parse(expect[r], &back));
        assert_int_equal(back, r);
    }
    assert_string_equal(event_reason_name(EVENT_REASON_COUNT), "?");
    event_reason_t dummy;
    assert_false(event_reason_parse("unknown_unit", &dummy));

    assert_string_equal(event_type_name(EVENT_APPOINTMENT_ENTERED_IN_ERROR),
                        "appointment.entered-in-error");
    assert_string_equal(event_type_name(EVENT_JOURNAL_ENTRY_ENTERED_IN_ERROR),
                        "journal.entry-entered-in-error");
    assert_int_equal(event_type_kind(EVENT_APPOINTMENT_NOSHOW), EVENT_KIND_APPOINTMENT);
    assert_int_equal(event_type_kind(EVENT_AUDIT_ACCESS), EVENT_KIND_AUDIT);
    assert_string_equal(event_status_name(EVENT_STATUS_ENTERED_IN_ERROR), "entered-in-error");
    assert_string_equal(event_channel_name(EVENT_CHANNEL_PORTAL), "portal");
    assert_string_equal(event_cancelled_by_name(EVENT_CANCELLED_BY_NONE), "");
    assert_string_equal(event_cancelled_by_name(EVENT_CANCELLED_BY_STAFF), "staff");
}

static void test_decoder_new_errors(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(event_decoder_new(NULL, 0, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    event_decoder_destroy(NULL);
}

/* ---- jansson hooks: other users and threads ------------------------------ */

static void on_event_uses_jansson(void *opaque, const event_t *ev, int index)
{
    json_t **keep = opaque;
    (void)index;
    /* Allocated inside a callback, freed after event_decode returned (or in
     * the next callback, while the decoder's arena is in use). */
    json_decref(*keep);
    *keep = json_pack("{s:s}", "unit", ev->unit_id);
}

static void test_other_jansson_users(void **state)
{
    fixture_t *f = *state;
    json_t *before = json_loads("{\"a\":[1,2,3]}", 0, NULL);
    assert_non_null(before);
    json_t *kept = NULL;
    event_sink_t sink = {on_event_uses_jansson, NULL, &kept};
    const char *m = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA;
    assert_int_equal(event_decode(f->dec, m, strlen(m), &sink), 1);
    assert_non_null(kept);
    /* Decode again so the arena is reused before `kept` is read and freed. */
    assert_int_equal(event_decode(f->dec, m, strlen(m), &sink), 1);
    char *s = json_dumps(kept, JSON_COMPACT);
    assert_string_equal(s, "{\"unit\":\"unit\"}");
    free(s);
    json_decref(kept);
    json_decref(before);
}

typedef struct thread_arg {
    pseudo_t *pseudo;
    int ok;
} thread_arg_t;

static void count_ok(void *opaque, const event_t *ev, int index)
{
    (void)index;
    if (strcmp(ev->unit_id, "unit") == 0)
        ((thread_arg_t *)opaque)->ok++;
}

static void *decode_thread(void *p)
{
    thread_arg_t *a = p;
    char err[256];
    event_decoder_t *d = event_decoder_new(a->pseudo, 0, err, sizeof(err));
    event_sink_t sink = {count_ok, NULL, a};
    const char *m = "[" AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA "," AUDIT_PRE
                    "\"time\":\"2025-03-04T10:11:13Z\"," AUDIT_DATA "]";
    for (int i = 0; i < 2000; i++)
        event_decode(d, m, strlen(m), &sink);
    event_decoder_destroy(d);
    return NULL;
}

static void test_threads(void **state)
{
    fixture_t *f = *state;
    pthread_t t[3];
    thread_arg_t a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (thread_arg_t){f->pseudo, 0};
        assert_int_equal(pthread_create(&t[i], NULL, decode_thread, &a[i]), 0);
    }
    /* Meanwhile jansson on this thread, outside any decoder. */
    for (int i = 0; i < 2000; i++) {
        json_t *j = json_loads("{\"x\":[\"y\",{\"z\":1}]}", 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 4000);
    }
}

typedef struct nested {
    fixture_t *f;
    event_decoder_t *inner;
    int inner_events;
} nested_t;

static void inner_event(void *opaque, const event_t *ev, int index)
{
    (void)ev;
    (void)index;
    ((nested_t *)opaque)->inner_events++;
}

static void outer_event(void *opaque, const event_t *ev, int index)
{
    nested_t *n = opaque;
    (void)ev;
    (void)index;
    const char *m = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA;
    event_sink_t sink = {inner_event, NULL, n};
    event_decode(n->inner, m, strlen(m), &sink);
}

static void test_nested_decoders(void **state)
{
    fixture_t *f = *state;
    char err[256];
    nested_t n = {f, event_decoder_new(f->pseudo, 0, err, sizeof(err)), 0};
    event_sink_t sink = {outer_event, NULL, &n};
    const char *m = "[" AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA "," AUDIT_PRE
                    "\"time\":\"2025-03-04T10:11:13Z\"," AUDIT_DATA "]";
    assert_int_equal(event_decode(f->dec, m, strlen(m), &sink), 2);
    assert_int_equal(n.inner_events, 2);
    event_decoder_destroy(n.inner);
}

static void test_big_batch(void **state)
{
    fixture_t *f = *state;
    /* ~1 MiB of events in one batch: the arena grows past its first chunk and
     * shrinks back; every element is judged. */
    const char *one = AUDIT_PRE "\"time\":\"2025-03-04T10:11:12Z\"," AUDIT_DATA;
    size_t len = strlen(one), cap = EVENT_DEFAULT_MAX_MESSAGE_BYTES;
    char *buf = malloc(cap);
    size_t n = 0;
    int count = 0;
    buf[n++] = '[';
    while (n + len + 2 < cap) {
        if (count)
            buf[n++] = ',';
        memcpy(buf + n, one, len);
        n += len;
        count++;
    }
    buf[n++] = ']';
    int judged = 0;
    thread_arg_t a = {f->pseudo, 0};
    event_sink_t sink = {count_ok, NULL, &a};
    judged = event_decode(f->dec, buf, n, &sink);
    assert_int_equal(judged, count);
    assert_int_equal(a.ok, count);
    free(buf);
    /* And small messages still work afterwards. */
    accept_one(f, one, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contract_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_appointment_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_id_in_rejection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nulls_and_optionals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonyms_differ_by_kind, setup, teardown),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_decoder_new_errors),
        cmocka_unit_test_setup_teardown(test_other_jansson_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_decoders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
