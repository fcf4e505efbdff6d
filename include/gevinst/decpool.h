#ifndef GEVINST_DECPOOL_H
#define GEVINST_DECPOOL_H

/* decpool: decodes a run of Kafka message values on several threads at once
 * and hands each message's judgement back, in message order, to the one
 * thread that applies them. Decoding (JSON, checks, pseudonyms) is most of a
 * message's cost and depends on nothing but the message, so it parallelises;
 * applying stays single-threaded and in order, so results are the same for
 * any number of threads. */

#include "gevinst/event.h"
#include "gevinst/pseudonym.h"

#include <stddef.h>

typedef struct decpool decpool_t;

typedef struct decpool_msg {
    const void *payload; /* NULL with len 0: not decoded (a Kafka error event) */
    size_t len;
} decpool_msg_t;

/* threads: decoding threads including the caller's (1: no helper threads,
 * each message is decoded when it is replayed). pseudo is borrowed and must
 * outlive the pool; max_message_bytes as for event_decoder_new(). Returns
 * NULL with errstr on failure. */
decpool_t *decpool_new(pseudo_t *pseudo, size_t max_message_bytes, int threads, char *errstr,
                       size_t errstr_size);
void decpool_destroy(decpool_t *dp);

int decpool_threads(const decpool_t *dp);

/* Decodes msgs[0..n) on every thread of the pool and returns when all are
 * done; the caller's thread takes part. The payloads are borrowed until the
 * next decpool_decode() or decpool_destroy(), and must stay unchanged: the
 * replayed rejections point into them. A small run, or a pool of one thread,
 * is left to decpool_replay(). */
void decpool_decode(decpool_t *dp, const decpool_msg_t *msgs, size_t n);

/* Message i of the last decpool_decode() to sink, as event_decode() would
 * have given it (same calls, same order, same return value: -1, having
 * called nothing, when memory ran out). Each message once, any order. */
int decpool_replay(decpool_t *dp, size_t i, const event_sink_t *sink);

#endif
