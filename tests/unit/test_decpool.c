/* Tests for decpool: a run decoded on several threads replays exactly what
 * event_decode() gives one message at a time, whatever the thread count and
 * run length. Messages: the contract's examples, every rejection fixture,
 * batch arrays mixing both, an empty and a too-large message, and a NULL
 * payload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/decpool.h"
#include "gevinst/event.h"
#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES GEVINST_SOURCE_DIR "/tests/fixtures/events"
#define MAX_BYTES 8192 /* small, so one message below is too_large */

static const char test_key[] = "gevinst-test-key-0123456789abcdef";

typedef struct msgs {
    char **buf;
    size_t *len;
    size_t n, cap;
} msgs_t;

static void msgs_add(msgs_t *m, char *buf, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->buf = realloc(m->buf, m->cap * sizeof(*m->buf));
        m->len = realloc(m->len, m->cap * sizeof(*m->len));
        assert_non_null(m->buf);
        assert_non_null(m->len);
    }
    m->buf[m->n] = buf;
    m->len[m->n] = len;
    m->n++;
}

static void msgs_add_str(msgs_t *m, const char *s)
{
    msgs_add(m, strdup(s), strlen(s));
}

/* A trace of every sink call, as text: every field that the event or the
 * rejection carries, and where the rejection's payload lies in the message. */
typedef struct trace {
    char *s;
    size_t len, cap;
    const char *msg; /* the message being judged */
} trace_t;

static void trace_add(trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_add(trace_t *t, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(line));
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    memcpy(t->s + t->len, line, (size_t)n + 1);
    t->len += (size_t)n;
}

static void on_event(void *opaque, const event_t *ev, int index)
{
    trace_t *t = opaque;
    trace_add(t, "event %d %d %d %" PRId64 " [%s] [%s] [%s]", index, (int)ev->type, (int)ev->kind,
              ev->time_us, ev->id, ev->source, ev->unit_id);
    switch (ev->kind) {
    case EVENT_KIND_APPOINTMENT: {
        const event_appointment_t *a = &ev->appointment;
        trace_add(t, " %d %d %d %d %" PRId64 " %" PRId64 " %s %s\n", (int)a->status,
                  (int)a->channel, (int)a->cancelled_by, a->has_patient, a->start_us,
                  a->booked_at_us, a->appointment, a->patient);
        break;
    }
    case EVENT_KIND_JOURNAL_RECORDED: {
        const event_journal_recorded_t *j = &ev->journal;
        trace_add(t, " %s %s %s [%s] [%s] [%s] %d %.17g\n", j->entry, j->author, j->patient,
                  j->item_type, j->fingerprint, j->source_system, j->has_duration, j->duration_s);
        break;
    }
    case EVENT_KIND_JOURNAL_ERROR:
        trace_add(t, " %s\n", ev->journal_error.entry);
        break;
    case EVENT_KIND_AUDIT:
        trace_add(t, " %s %d %s [%s]\n", ev->audit.user, ev->audit.has_patient, ev->audit.patient,
                  ev->audit.action);
        break;
    }
}

static void on_reject(void *opaque, const event_reject_t *rej, int index)
{
    trace_t *t = opaque;
    /* The payload must point into the message itself, not into a copy. */
    ptrdiff_t at = rej->payload ? rej->payload - t->msg : -1;
    trace_add(t, "reject %d %s [%s] [%s] [%s] @%td+%zu\n", index, event_reason_name(rej->reason),
              rej->detail, rej->event_id, rej->type, at, rej->payload_len);
}

typedef struct fixture {
    pseudo_t *pseudo;
    msgs_t m;
    char **want; /* the trace of each message decoded alone */
    int *want_rc;
} fixture_t;

static void load_messages(msgs_t *m)
{
    /* The contract's examples, one per line. */
    size_t len;
    char *all = test_read_file(FIXTURES "/valid.jsonl", &len);
    char *save = NULL;
    char *batch = calloc(1, len + 16);
    size_t blen = 0;
    batch[blen++] = '[';
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        msgs_add_str(m, line);
        if (blen > 1)
            batch[blen++] = ',';
        memcpy(batch + blen, line, strlen(line));
        blen += strlen(line);
    }
    batch[blen++] = ']';
    free(all);
    /* Every rejection fixture, and each also as an element between valid ones. */
    DIR *d = opendir(FIXTURES "/reject");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), FIXTURES "/reject/%s", de->d_name);
        size_t flen;
        char *buf = test_read_file(path, &flen);
        msgs_add(m, buf, flen);
        size_t first = strcspn(m->buf[0], "\n");
        char *mix = malloc(2 * first + flen + 8);
        int n = sprintf(mix, "[%.*s,", (int)first, m->buf[0]);
        memcpy(mix + n, buf, flen);
        n += (int)flen;
        n += sprintf(mix + n, ",%.*s]", (int)first, m->buf[0]);
        msgs_add(m, mix, (size_t)n);
    }
    closedir(d);
    msgs_add(m, batch, blen);
    msgs_add_str(m, "[]");
    msgs_add_str(m, "");
    msgs_add(m, NULL, 0);
    /* Over MAX_BYTES: too_large, unread. */
    char *big = malloc(MAX_BYTES + 100);
    memset(big, ' ', MAX_BYTES + 100);
    msgs_add(m, big, MAX_BYTES + 100);
}

static char *trace_one(event_decoder_t *dec, const char *buf, size_t len, int *rc)
{
    trace_t t = {NULL, 0, 0, buf};
    trace_add(&t, "%s", "");
    event_sink_t sink = {on_event, on_reject, &t};
    *rc = event_decode(dec, buf, len, &sink);
    return t.s;
}

static int setup(void **state)
{
    char err[256];
    fixture_t *f = calloc(1, sizeof(*f));
    f->pseudo = pseudo_new((const unsigned char *)test_key, strlen(test_key), err, sizeof(err));
    assert_non_null(f->pseudo);
    load_messages(&f->m);
    assert_true(f->m.n > 200);
    event_decoder_t *dec = event_decoder_new(f->pseudo, MAX_BYTES, err, sizeof(err));
    assert_non_null(dec);
    f->want = calloc(f->m.n, sizeof(*f->want));
    f->want_rc = calloc(f->m.n, sizeof(*f->want_rc));
    for (size_t i = 0; i < f->m.n; i++)
        f->want[i] = trace_one(dec, f->m.buf[i], f->m.len[i], &f->want_rc[i]);
    event_decoder_destroy(dec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < f->m.n; i++) {
        free(f->m.buf[i]);
        free(f->want[i]);
    }
    free(f->m.buf);
    free(f->m.len);
    free(f->want);
    free(f->want_rc);
    pseudo_destroy(f->pseudo);
    free(f);
    return 0;
}

/* Decodes msgs[first, first + n) as one run, replays every message and
 * compares with the message decoded alone. */
static void check_run(fixture_t *f, decpool_t *dp, size_t first, size_t n)
{
    decpool_msg_t *run = calloc(n ? n : 1, sizeof(*run));
    for (size_t i = 0; i < n; i++)
        run[i] = (decpool_msg_t){f->m.buf[first + i], f->m.len[first + i]};
    decpool_decode(dp, run, n);
    /* Replayed in reverse: the order of replay must not matter. */
    for (size_t k = n; k-- > 0;) {
        trace_t t = {NULL, 0, 0, f->m.buf[first + k]};
        trace_add(&t, "%s", "");
        event_sink_t sink = {on_event, on_reject, &t};
        int rc = decpool_replay(dp, k, &sink);
        assert_int_equal(rc, f->want_rc[first + k]);
        assert_string_equal(t.s, f->want[first + k]);
        free(t.s);
    }
    free(run);
}

static void check_threads(fixture_t *f, int threads)
{
    char err[256];
    decpool_t *dp = decpool_new(f->pseudo, MAX_BYTES, threads, err, sizeof(err));
    assert_non_null(dp);
    assert_int_equal(decpool_threads(dp), threads);
    /* Whole, then runs of every length from 1 to 40 (short runs are decoded
     * at replay, longer ones by the threads), then the whole again. */
    check_run(f, dp, 0, f->m.n);
    for (size_t len = 1, at = 0; len <= 40; len++) {
        if (at + len > f->m.n)
            at = 0;
        check_run(f, dp, at, len);
        at += len;
    }
    check_run(f, dp, 0, 0);
    check_run(f, dp, 0, f->m.n);
    decpool_destroy(dp);
}

static void test_one_thread(void **state)
{
    check_threads(*state, 1);
}

static void test_two_threads(void **state)
{
    check_threads(*state, 2);
}

static void test_four_threads(void **state)
{
    check_threads(*state, 4);
}

/* Many runs back to back: the helpers start and finish every round. */
static void test_many_rounds(void **state)
{
    fixture_t *f = *state;
    char err[256];
    decpool_t *dp = decpool_new(f->pseudo, MAX_BYTES, 3, err, sizeof(err));
    assert_non_null(dp);
    for (int r = 0; r < 300; r++)
        check_run(f, dp, (size_t)r % 50, 64);
    decpool_destroy(dp);
}

static void test_bad_thread_count(void **state)
{
    fixture_t *f = *state;
    char err[256] = "";
    assert_null(decpool_new(f->pseudo, MAX_BYTES, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "decoding threads: 0"));
    assert_null(decpool_new(f->pseudo, MAX_BYTES, 65, err, sizeof(err)));
    assert_non_null(strstr(err, "decoding threads: 65"));
    decpool_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_four_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_thread_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
