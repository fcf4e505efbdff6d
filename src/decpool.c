/* decpool: parallel decoding, in-order replay.
 *
 * Each thread has its own event decoder (and so its own jansson arena) and
 * takes the next undecoded message from a shared counter, so a slow message
 * never leaves the other threads idle. What the decoder judges is recorded
 * per thread (a copy of each event or rejection) and indexed per message;
 * replay walks one message's records. The caller's thread decodes too: with
 * two threads on two cores, one helper is enough to spread the work.
 *
 * A run is one round of a mutex and two condition variables: fine for runs
 * of hundreds of messages (a wake-up costs tens of microseconds, a message
 * about five), so small runs are decoded lazily at replay instead. */
#include "gevinst/decpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs shorter than this are decoded at replay, on the caller's thread. */
#define DECPOOL_MIN_RUN 8
/* A thread's record buffer bigger than this (a run of huge batch messages)
 * is given back before the next run rather than kept. */
#define RECS_KEEP 4096
#define DECPOOL_MAX_THREADS 64

typedef struct rec {
    int index;
    bool is_event;
    union {
        event_t ev;
        event_reject_t rej;
    };
} rec_t;

typedef struct slot {
    int rc;          /* event_decode()'s return value */
    unsigned thread; /* whose records */
    size_t first, count;
} slot_t;

typedef struct worker {
    struct decpool *dp;
    event_decoder_t *dec;
    rec_t *recs;
    size_t nrecs, cap;
    bool oom; /* a record could not be kept during this message */
    pthread_t th;
    bool started;
} worker_t;

struct decpool {
    int nthreads;
    worker_t *workers; /* [0] is the caller's */

    const decpool_msg_t *msgs;
    size_t n;
    slot_t *slots;
    size_t slots_cap;
    bool lazy; /* this run is decoded at replay */
    atomic_size_t next;

    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned round; /* bumped to start a run */
    int busy;       /* helpers still decoding this run */
    bool quit;
};

static rec_t *rec_push(worker_t *w)
{
    if (w->nrecs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        rec_t *r = realloc(w->recs, cap * sizeof(*r));
        if (!r) {
            w->oom = true;
            return NULL;
        }
        w->recs = r;
        w->cap = cap;
    }
    return &w->recs[w->nrecs++];
}

/* Bytes of an event of this kind that mean anything: only the union member
 * of the kind is filled (event.h), and the journal's is twice the
 * appointment's, so an appointment copies 0.9 of the 1.8 KB. */
static size_t event_size(event_kind_t kind)
{
    size_t head = offsetof(event_t, appointment);
    switch (kind) {
    case EVENT_KIND_APPOINTMENT:
        return head + sizeof(event_appointment_t);
    case EVENT_KIND_JOURNAL_ERROR:
        return head + sizeof(event_journal_error_t);
    case EVENT_KIND_AUDIT:
        return head + sizeof(event_audit_t);
    case EVENT_KIND_JOURNAL_RECORDED:
        break;
    }
    return sizeof(event_t);
}

static void keep_event(void *opaque, const event_t *ev, int index)
{
    rec_t *r = rec_push(opaque);
    if (r) {
        r->index = index;
        r->is_event = true;
        memcpy(&r->ev, ev, event_size(ev->kind));
    }
}

static void keep_reject(void *opaque, const event_reject_t *rej, int index)
{
    rec_t *r = rec_push(opaque);
    if (r) {
        r->index = index;
        r->is_event = false;
        r->rej = *rej;
    }
}

/* Takes messages off the shared counter until none is left. */
static void run(decpool_t *dp, worker_t *w)
{
    event_sink_t sink = {keep_event, keep_reject, w};
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&dp->next, 1, memory_order_relaxed);
        if (i >= dp->n)
            return;
        slot_t *s = &dp->slots[i];
        s->thread = (unsigned)(w - dp->workers);
        s->first = w->nrecs;
        w->oom = false;
        s->rc = event_decode(w->dec, dp->msgs[i].payload, dp->msgs[i].len, &sink);
        if (w->oom) /* as if the decoder itself had run out: judge nothing */
            s->rc = -1;
        if (s->rc < 0)
            w->nrecs = s->first;
        s->count = w->nrecs - s->first;
    }
}

static void *helper_main(void *arg)
{
    worker_t *w = arg;
    decpool_t *dp = w->dp;
    unsigned seen = 0;
    pthread_mutex_lock(&dp->mu);
    for (;;) {
        while (!dp->quit && dp->round == seen)
            pthread_cond_wait(&dp->start, &dp->mu);
        if (dp->quit)
            break;
        seen = dp->round;
        pthread_mutex_unlock(&dp->mu);
        run(dp, w);
        pthread_mutex_lock(&dp->mu);
        if (--dp->busy == 0)
            pthread_cond_signal(&dp->done);
    }
    pthread_mutex_unlock(&dp->mu);
    return NULL;
}

decpool_t *decpool_new(pseudo_t *pseudo, size_t max_message_bytes, int threads, char *errstr,
                       size_t errstr_size)
{
    if (threads < 1 || threads > DECPOOL_MAX_THREADS) {
        snprintf(errstr, errstr_size, "decoding threads: %d, not 1..%d", threads,
                 DECPOOL_MAX_THREADS);
        return NULL;
    }
    decpool_t *dp = calloc(1, sizeof(*dp));
    if (!dp || !(dp->workers = calloc((size_t)threads, sizeof(worker_t)))) {
        free(dp);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&dp->mu, NULL);
    pthread_cond_init(&dp->start, NULL);
    pthread_cond_init(&dp->done, NULL);
    dp->lazy = true;
    /* Every decoder first: the first one installs jansson's hooks, which
     * must happen before any helper runs. */
    for (int t = 0; t < threads; t++) {
        dp->workers[t].dp = dp;
        dp->workers[t].dec = event_decoder_new(pseudo, max_message_bytes, errstr, errstr_size);
        dp->nthreads = t + 1;
        if (!dp->workers[t].dec) {
            decpool_destroy(dp);
            return NULL;
        }
    }
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&dp->workers[t].th, NULL, helper_main, &dp->workers[t]) != 0) {
            snprintf(errstr, errstr_size, "cannot start decoding thread %d", t);
            decpool_destroy(dp);
            return NULL;
        }
        dp->workers[t].started = true;
    }
    return dp;
}

void decpool_destroy(decpool_t *dp)
{
    if (!dp)
        return;
    pthread_mutex_lock(&dp->mu);
    dp->quit = true;
    pthread_cond_broadcast(&dp->start);
    pthread_mutex_unlock(&dp->mu);
    for (int t = 0; t < dp->nthreads; t++) {
        worker_t *w = &dp->workers[t];
        if (w->started)
            pthread_join(w->th, NULL);
        event_decoder_destroy(w->dec);
        free(w->recs);
    }
    free(dp->workers);
    free(dp->slots);
    pthread_cond_destroy(&dp->done);
    pthread_cond_destroy(&dp->start);
    pthread_mutex_destroy(&dp->mu);
    free(dp);
}

int decpool_threads(const decpool_t *dp)
{
    return dp->nthreads;
}

void decpool_decode(decpool_t *dp, const decpool_msg_t *msgs, size_t n)
{
    dp->msgs = msgs;
    dp->n = n;
    dp->lazy = true;
    if (dp->nthreads == 1 || n < DECPOOL_MIN_RUN)
        return;
    if (n > dp->slots_cap) {
        slot_t *s = realloc(dp->slots, n * sizeof(*s));
        if (!s)
            return; /* decoded lazily: slower, never wrong */
        dp->slots = s;
        dp->slots_cap = n;
    }
    for (int t = 0; t < dp->nthreads; t++) {
        worker_t *w = &dp->workers[t];
        w->nrecs = 0;
        if (w->cap > RECS_KEEP) {
            free(w->recs);
            w->recs = NULL;
            w->cap = 0;
        }
    }
    dp->lazy = false;
    atomic_store_explicit(&dp->next, 0, memory_order_relaxed);
    pthread_mutex_lock(&dp->mu);
    dp->round++;
    dp->busy = dp->nthreads - 1;
    pthread_cond_broadcast(&dp->start);
    pthread_mutex_unlock(&dp->mu);

    run(dp, &dp->workers[0]);

    pthread_mutex_lock(&dp->mu);
    while (dp->busy > 0)
        pthread_cond_wait(&dp->done, &dp->mu);
    pthread_mutex_unlock(&dp->mu);
}

int decpool_replay(decpool_t *dp, size_t i, const event_sink_t *sink)
{
    if (dp->lazy)
        return event_decode(dp->workers[0].dec, dp->msgs[i].payload, dp->msgs[i].len, sink);
    const slot_t *s = &dp->slots[i];
    const worker_t *w = &dp->workers[s->thread];
    for (size_t k = 0; k < s->count; k++) {
        const rec_t *r = &w->recs[s->first + k];
        if (r->is_event) {
            if (sink->on_event)
                sink->on_event(sink->opaque, &r->ev, r->index);
        } else if (sink->on_reject) {
            sink->on_reject(sink->opaque, &r->rej, r->index);
        }
    }
    return s->rc;
}
