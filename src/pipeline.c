/* pipeline: poll, decode, validate, apply, stage, commit — exactly once.
 *
 * PostgreSQL is the source of truth for consumer positions: every batch
 * commits its results and the next offset of each partition it touched in
 * one transaction, advancing each offset only if it still holds the value
 * this instance read (fencing a zombie that lost the partition). Anything not
 * committed can always be thrown away and consumed again: after any failure
 * the pipeline "resyncs", re-reading the stored offsets and re-assigning the
 * partitions at them. All Kafka calls and the rebalance callback run in the
 * one polling thread (librdkafka 2.0.x has races otherwise).
 *
 * Batches are committed in a second thread, so the polling thread decodes
 * batch N+1 while PostgreSQL works on batch N. At most one batch is in
 * flight; it owns the store connection, the KPI caches and the back stage
 * until commit_join() has collected it. Anything else that needs those (a
 * resync, a rebalance, judging, a reload, a discard) joins first. */
#include "gevinst/pipeline.h"

#include "gevinst/dash.h"
#include "gevinst/decpool.h"
#include "gevinst/deliver.h"
#include "gevinst/event.h"
#include "gevinst/kpi.h"
#include "gevinst/goals.h"
#include "gevinst/judge.h"
#include "gevinst/kpi_appt.h"
#include "gevinst/kpi_audit.h"
#include "gevinst/kpi_journal.h"
#include "gevinst/log.h"
#include "gevinst/metrics.h"
#include "gevinst/notify.h"
#include "gevinst/migrate.h"
#include "gevinst/stage.h"
#include "gevinst/store.h"
#include "gevinst/strpool.h"
#include "gevinst/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100
/* A run of messages polled together and decoded in parallel: at most this
 * many, and no more once their payloads reach RUN_BYTES (the records of a
 * decoded event take ~1.8 KB, so a run of big batch messages stays bounded). */
#define RUN_MSGS 256
#define RUN_BYTES (256 * 1024)
#define REJECT_LOG_LINES 10 /* per batch; the rest are only counted */
#define STATS_INTERVAL_MS 30000
#define JUDGE_INTERVAL_MS 5000
#define JUDGE_BACKLOG_INTERVAL_MS 300000
#define DELIVER_FLUSH_MS 60000

typedef enum commit_result {
    COMMIT_OK,
    COMMIT_FENCED, /* another instance moved an offset: our batch is stale */
    COMMIT_FAILED, /* database error or outage */
} commit_result_t;

typedef struct part {
    char *topic;
    int32_t partition;
    int64_t stored; /* next_offset in PostgreSQL as read; -1: no row */
    int64_t next;   /* next offset to consume; -1: not known yet */
    bool eof;
} part_t;

struct pipeline {
    const config_t *cfg; /* in force; main's at start, then reloaded ones */
    /* Configs made by reloads. Superseded ones stay alive until destroy:
     * modules may hold pointers into the config they were made with. */
    config_t **reloaded;
    size_t nreloaded;
    pseudo_t *pseudo;
    rd_kafka_t *rk;
    store_t *store;
    stage_t *stage;
    decpool_t *dp;
    timeutil_tz_t *tz;
    strpool_t *pool;
    kpi_delta_t *delta;
    kpi_appt_t *appt;
    kpi_journal_t *journal;
    kpi_audit_t *audit;
    goals_t *goals;        /* NULL: no goals file */
    uint64_t goals_errors; /* failed reloads */

    rd_kafka_topic_partition_list_t *assignment; /* what the group gave us */
    part_t *parts;                               /* positions, when in sync */
    size_t nparts;
    bool assigned_once;
    bool giving_up; /* start-up failed after subscribing: assign nothing, close */
    bool need_resync;
    const pipeline_flags_t *flags; /* while running: the stop flag */
    unsigned rebalances;           /* bumped by every rebalance callback */
    bool rejoin_pending;           /* left and rejoined the group to resync (see rejoin) */

    int64_t batch_events;
    int64_t batch_start_ms;
    int batch_reject_logged;

    /* The run of messages polled and decoded together. */
    rd_kafka_message_t *run[RUN_MSGS];
    decpool_msg_t run_msgs[RUN_MSGS];
    size_t nrun;

    /* Context of the message being decoded, for the sink callbacks. */
    const rd_kafka_message_t *cur_msg;
    const char *cur_topic;
    int64_t now_us;
    bool add_failed; /* a KPI module could not stage an event (out of memory) */

    /* This batch's tallies, published to metrics when it commits. */
    metrics_batch_t mb;

    /* The batch in flight (see the top of the file). The commit thread
     * reads and writes only these, the store, the KPI modules' flush side
     * and kpi_delta while cstate is C_BUSY. */
    pthread_t committer;
    bool committer_started;
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    enum { C_IDLE, C_BUSY, C_DONE, C_QUIT } cstate;
    bool inflight;           /* handed over and not yet joined */
    stage_t *back;           /* its stage */
    metrics_batch_t back_mb; /* its tallies */
    int64_t back_events;     /* its messages */
    int64_t *back_next;      /* next offset per parts[i] when handed over; -1: none */
    size_t back_next_cap;
    commit_result_t back_r; /* result, set by the commit thread */
    char back_err[512];
    size_t back_cells, back_rows;
    int64_t back_ms;
    size_t cache_size; /* appointment cache size at the last commit, for stats */
    /* Totals for the stats log line (committed work only). */
    uint64_t consumed, accepted, rejected, batches, rows;
    uint64_t last_hits, last_misses;
    int64_t commit_ms_sum, commit_count; /* since the last stats line */
    bool ready_sent;
    deliver_t *deliver; /* NULL: could not start; alerts are recorded, not sent */
    bool judge_due;     /* something committed or reloaded since the last run */
    int64_t last_judge_ms;
};

/* The clocks below are read several times per message for batch ages,
 * intervals and received-at times, none of which needs more than the kernel
 * tick (1-4 ms): the coarse clocks read the tick without reading the TSC,
 * which is slow in some virtual machines. Latencies use the precise one. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t precise_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void parts_clear(pipeline_t *pl)
{
    for (size_t i = 0; i < pl->nparts; i++)
        free(pl->parts[i].topic);
    free(pl->parts);
    pl->parts = NULL;
    pl->nparts = 0;
}

static part_t *part_find(pipeline_t *pl, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->parts[i].partition == partition && strcmp(pl->parts[i].topic, topic) == 0)
            return &pl->parts[i];
    return NULL;
}

/* Forgets the batch being added (the front one). kpi_delta belongs to the
 * commit thread and is cleared there. */
static void batch_reset(pipeline_t *pl)
{
    stage_clear(pl->stage);
    memset(&pl->mb, 0, sizeof(pl->mb));
    pl->batch_events = 0;
    pl->batch_reject_logged = 0;
}

static bool commit_join(pipeline_t *pl);

/* Throws away everything not committed, caches included (they may hold
 * state the database never got); the next resync re-reads it. */
static void batch_discard(pipeline_t *pl)
{
    commit_join(pl);
    batch_reset(pl);
    kpi_delta_clear(pl->delta);
    kpi_appt_discard(pl->appt);
    kpi_journal_discard(pl->journal);
    kpi_audit_discard(pl->audit);
}

static void rollback(pipeline_t *pl)
{
    PGconn *c = store_conn(pl->store);
    if (c)
        PQclear(PQexec(c, "ROLLBACK"));
}

/* ---- exactly-once commit ---------------------------------------------- */

/* Advances one partition's stored offset from p->stored to next. */
static commit_result_t advance_offset(pipeline_t *pl, const part_t *p, int64_t next, char *errstr,
                                      size_t errstr_size)
{
    char part[16], nexts[24], stored[24];
    const char *params[4] = {p->topic, part, nexts, stored};
    snprintf(part, sizeof(part), "%" PRId32, p->partition);
    snprintf(nexts, sizeof(nexts), "%" PRId64, next);
    snprintf(stored, sizeof(stored), "%" PRId64, p->stored);
    PGresult *res;
    if (p->stored < 0)
        res = PQexecParams(store_conn(pl->store),
                           "INSERT INTO gevinst.consumer_offset (topic, partition, next_offset) "
                           "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           3, NULL, params, NULL, NULL, 0);
    else
        res =
            PQexecParams(store_conn(pl->store),
                         "UPDATE gevinst.consumer_offset SET next_offset = $3, updated_at = now() "
                         "WHERE topic = $1 AND partition = $2 AND next_offset = $4",
                         4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_error(pl->store, res, errstr, errstr_size);
        PQclear(res);
        return COMMIT_FAILED;
    }
    bool moved = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!moved) {
        snprintf(errstr, errstr_size,
                 "offset of %s [%" PRId32 "] was moved by another instance (expected %" PRId64 ")",
                 p->topic, p->partition, p->stored);
        return COMMIT_FENCED;
    }
    return COMMIT_OK;
}

/* Tells Kafka too, for lag monitoring tools only; correctness never reads it. */
static void commit_to_kafka(pipeline_t *pl)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)pl->nparts);
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->parts[i].stored >= 0)
            rd_kafka_topic_partition_list_add(offs, pl->parts[i].topic, pl->parts[i].partition)
                ->offset = pl->parts[i].stored;
    if (offs->cnt)
        rd_kafka_commit(pl->rk, offs, 1);
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Consumed past the stored offsets. Only meaningful with no batch in flight. */
static bool positions_dirty(const pipeline_t *pl)
{
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->parts[i].next >= 0 && pl->parts[i].next != pl->parts[i].stored)
            return true;
    return false;
}

/* Counts a committed batch in the metrics and the totals. */
static void publish_batch(pipeline_t *pl)
{
    uint64_t rejected = 0;
    for (int i = 0; i < EVENT_REASON_COUNT; i++)
        rejected += pl->back_mb.rejected[i];
    pl->accepted += (uint64_t)pl->back_mb.accepted;
    pl->rejected += rejected;
    pl->consumed += (uint64_t)pl->back_events;
    pl->batches++;
    pl->back_mb.rows = pl->back_cells + pl->back_rows;
    pl->rows += pl->back_mb.rows;
    metrics_batch_publish(&pl->back_mb);
    metrics_add(M_MESSAGES_CONSUMED, (uint64_t)pl->back_events);
    metrics_add(M_BATCHES_COMMITTED, 1);
    metrics_commit_latency((double)pl->back_ms / 1000.0);
    metrics_set(M_LAST_COMMIT_UNIX, wall_us() / 1000000);
    uint64_t hits = kpi_appt_cache_hits(pl->appt), misses = kpi_appt_cache_misses(pl->appt);
    metrics_add(M_CACHE_HITS, hits - pl->last_hits);
    metrics_add(M_CACHE_MISSES, misses - pl->last_misses);
    pl->last_hits = hits;
    pl->last_misses = misses;
    pl->cache_size = kpi_appt_cache_size(pl->appt);
    metrics_set(M_STATE_CACHE_ENTRIES, (int64_t)pl->cache_size);
    pl->commit_ms_sum += pl->back_ms;
    pl->commit_count++;
}

/* An audit event found late while flushing: it is a rejection, not an accept.
 * Called in the commit thread: it changes the batch in flight. */
static void on_late(void *opaque, const kpi_audit_late_t *late)
{
    pipeline_t *pl = opaque;
    char detail[128];
    snprintf(detail, sizeof(detail),
             "time: %" PRId64 " s before the user's latest event minus the "
             "allowed lateness",
             late->late_by_us / 1000000);
    stage_count(pl->back, late->topic, "accepted", -1);
    stage_reject(pl->back, late->topic, late->partition, late->offset, late->index, "late_event",
                 detail, late->event_id[0] ? late->event_id : NULL, NULL, 0);
    pl->back_mb.accepted--;
    pl->back_mb.rejected[EVENT_REASON_LATE_EVENT]++;
}

/* The commit thread's work: writes the batch in flight and its offsets in one
 * transaction. On failure it rolls back; the polling thread then discards. */
static void commit_run(pipeline_t *pl)
{
    char *errstr = pl->back_err;
    size_t errstr_size = sizeof(pl->back_err);
    bool retriable = false;
    commit_result_t r = COMMIT_OK;
    int64_t t0 = precise_ms();
    errstr[0] = '\0';
    if (!store_exec(pl->store, "BEGIN", &retriable, errstr, errstr_size))
        r = COMMIT_FAILED;
    /* KPI state first: the audit flush may turn accepted events into
     * late_event rejections, which the stage then writes. */
    if (r == COMMIT_OK) {
        kpi_flush_result_t kr = kpi_appt_flush(pl->appt, pl->store, pl->delta, errstr, errstr_size);
        r = kr == KPI_FLUSH_OK ? COMMIT_OK : kr == KPI_FLUSH_FENCED ? COMMIT_FENCED : COMMIT_FAILED;
    }
    if (r == COMMIT_OK &&
        !kpi_journal_flush(pl->journal, pl->store, pl->delta, errstr, errstr_size))
        r = COMMIT_FAILED;
    if (r == COMMIT_OK) {
        kpi_audit_result_t ar =
            kpi_audit_flush(pl->audit, pl->store, pl->delta, on_late, pl, errstr, errstr_size);
        r = ar == KPI_AUDIT_OK ? COMMIT_OK : ar == KPI_AUDIT_FENCED ? COMMIT_FENCED : COMMIT_FAILED;
    }
    pl->back_cells = kpi_delta_cells(pl->delta);
    pl->back_rows = stage_rows(pl->back);
    if (r == COMMIT_OK && !kpi_delta_flush(pl->delta, pl->store, &retriable, errstr, errstr_size))
        r = COMMIT_FAILED;
    if (r == COMMIT_OK &&
        !stage_flush(pl->back, pl->store, pl->cfg->timezone, &retriable, errstr, errstr_size))
        r = COMMIT_FAILED;
    for (size_t i = 0; r == COMMIT_OK && i < pl->nparts; i++) {
        const part_t *p = &pl->parts[i];
        if (pl->back_next[i] >= 0 && pl->back_next[i] != p->stored)
            r = advance_offset(pl, p, pl->back_next[i], errstr, errstr_size);
    }
    if (r == COMMIT_OK && !store_exec(pl->store, "COMMIT", &retriable, errstr, errstr_size))
        r = COMMIT_FAILED;
    kpi_delta_clear(pl->delta);
    if (r == COMMIT_OK) {
        kpi_appt_committed(pl->appt);
        kpi_audit_committed(pl->audit);
    } else {
        rollback(pl);
        if (!store_connected(pl->store)) {
            store_disconnect(pl->store);
            metrics_set(M_PG_CONNECTED, 0);
        }
    }
    pl->back_ms = precise_ms() - t0;
    pl->back_r = r;
}

static void *committer_main(void *arg)
{
    pipeline_t *pl = arg;
    pthread_mutex_lock(&pl->cmu);
    for (;;) {
        while (pl->cstate != C_BUSY && pl->cstate != C_QUIT)
            pthread_cond_wait(&pl->ccv, &pl->cmu);
        if (pl->cstate == C_QUIT)
            break;
        pthread_mutex_unlock(&pl->cmu);
        commit_run(pl);
        pthread_mutex_lock(&pl->cmu);
        pl->cstate = C_DONE;
        pthread_cond_broadcast(&pl->ccv);
    }
    pthread_mutex_unlock(&pl->cmu);
    return NULL;
}

/* Waits for the batch in flight, if any, and takes in its result: on success
 * the stored positions move and the batch is counted; on failure a resync is
 * scheduled (the caller, or commit_wait, discards what was consumed since).
 * True when nothing was in flight or it committed. */
static bool commit_join(pipeline_t *pl)
{
    if (!pl->inflight)
        return true;
    pthread_mutex_lock(&pl->cmu);
    while (pl->cstate != C_DONE)
        pthread_cond_wait(&pl->ccv, &pl->cmu);
    pl->cstate = C_IDLE;
    pthread_mutex_unlock(&pl->cmu);
    pl->inflight = false;
    stage_clear(pl->back);

    if (pl->back_r != COMMIT_OK) {
        if (pl->back_r == COMMIT_FENCED)
            log_warn("pipeline: %s; dropping the batch and re-reading positions", pl->back_err);
        else
            log_error("pipeline: commit failed, batch of %" PRId64
                      " events will be consumed again: %s",
                      pl->back_events, pl->back_err);
        metrics_add(M_BATCHES_FAILED, 1);
        metrics_set(M_CONSUMING, 0);
        memset(&pl->back_mb, 0, sizeof(pl->back_mb));
        pl->need_resync = true;
        return false;
    }
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->back_next[i] >= 0)
            pl->parts[i].stored = pl->back_next[i];
    log_debug("pipeline: committed %" PRId64 " events, %zu staged rows, %zu KPI cells in %" PRId64
              " ms",
              pl->back_events, pl->back_rows, pl->back_cells, pl->back_ms);
    publish_batch(pl);
    pl->judge_due = true;
    commit_to_kafka(pl);
    return true;
}

/* Joins the batch in flight; if it failed, what was consumed since is thrown
 * away too (it was decoded against state that never committed). */
static bool commit_wait(pipeline_t *pl)
{
    if (commit_join(pl))
        return true;
    batch_discard(pl);
    return false;
}

/* Hands the batch consumed so far to the commit thread; returns at once.
 * Needs nothing in flight (commit_wait first). */
static bool commit_start(pipeline_t *pl)
{
    if (!positions_dirty(pl) && pl->batch_events == 0)
        return true;
    if (pl->back_next_cap < pl->nparts) {
        int64_t *p = realloc(pl->back_next, pl->nparts * sizeof(*p));
        if (!p) {
            log_error("pipeline: out of memory committing; the batch will be consumed again");
            batch_discard(pl);
            pl->need_resync = true;
            metrics_set(M_CONSUMING, 0);
            return false;
        }
        pl->back_next = p;
        pl->back_next_cap = pl->nparts;
    }
    for (size_t i = 0; i < pl->nparts; i++)
        pl->back_next[i] = pl->parts[i].next;
    stage_t *s = pl->back;
    pl->back = pl->stage;
    pl->stage = s;
    pl->back_mb = pl->mb;
    pl->back_events = pl->batch_events;
    kpi_appt_detach(pl->appt);
    kpi_journal_detach(pl->journal);
    kpi_audit_detach(pl->audit);
    batch_reset(pl);

    pl->inflight = true;
    pthread_mutex_lock(&pl->cmu);
    pl->cstate = C_BUSY;
    pthread_cond_broadcast(&pl->ccv);
    pthread_mutex_unlock(&pl->cmu);
    return true;
}

/* Commits what was consumed and waits for it. On any failure the batch is
 * discarded and a resync scheduled, so the events are consumed again from
 * the stored offsets. */
static bool batch_commit(pipeline_t *pl)
{
    if (!commit_wait(pl))
        return false;
    return commit_start(pl) && commit_wait(pl);
}

/* ---- positions -------------------------------------------------------- */

/* Records offsets Kafka deleted before we read them, and moves the stored
 * position past them, in one transaction. */
static bool record_gap(pipeline_t *pl, const char *topic, int32_t partition, int64_t from,
                       int64_t to_excl)
{
    char errstr[512], part[16], first[24], last[24];
    bool retriable;
    snprintf(part, sizeof(part), "%" PRId32, partition);
    snprintf(first, sizeof(first), "%" PRId64, from);
    snprintf(last, sizeof(last), "%" PRId64, to_excl - 1);
    const char *params[4] = {topic, part, first, last};
    metrics_add(M_OFFSETS_LOST, (uint64_t)(to_excl - from));
    log_error("pipeline: data lost: %s [%" PRId32 "] offsets %" PRId64 "..%" PRId64
              " were deleted by Kafka before they were consumed",
              topic, partition, from, to_excl - 1);
    if (!store_exec(pl->store, "BEGIN", &retriable, errstr, sizeof(errstr)))
        return false;
    PGresult *res = PQexecParams(
        store_conn(pl->store),
        "WITH g AS (INSERT INTO gevinst.offset_gap (topic, partition, first_offset, last_offset) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING) "
        "UPDATE gevinst.consumer_offset SET next_offset = $4::bigint + 1, updated_at = now() "
        "WHERE topic = $1 AND partition = $2 AND next_offset = $3",
        4, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        store_error(pl->store, res, errstr, sizeof(errstr));
    PQclear(res);
    if (ok && !store_exec(pl->store, "COMMIT", &retriable, errstr, sizeof(errstr)))
        ok = false;
    if (!ok) {
        log_error("pipeline: recording the gap failed: %s", errstr);
        rollback(pl);
    }
    return ok;
}

/* Reads the stored offsets of the current assignment and assigns the
 * partitions at them. Needs PostgreSQL; false when it is not there. */
static bool resync(pipeline_t *pl)
{
    char errstr[512];
    if (!pl->assignment)
        return true;
    if (!store_conn(pl->store))
        return false;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_copy(pl->assignment);
    parts_clear(pl);
    pl->parts = calloc((size_t)list->cnt + 1, sizeof(part_t));
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        char part[16];
        const char *params[2] = {tp->topic, part};
        snprintf(part, sizeof(part), "%" PRId32, tp->partition);
        PGresult *res = PQexecParams(store_conn(pl->store),
                                     "SELECT next_offset FROM gevinst.consumer_offset "
                                     "WHERE topic = $1 AND partition = $2",
                                     2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            store_error(pl->store, res, errstr, sizeof(errstr));
            PQclear(res);
            log_error("pipeline: reading stored offsets failed: %s", errstr);
            rd_kafka_topic_partition_list_destroy(list);
            parts_clear(pl);
            return false;
        }
        int64_t stored = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
        PQclear(res);

        /* Retention may have deleted what we have not read yet. The query
         * can block for seconds per partition: keep the watchdog fed. */
        notify_watchdog();
        int64_t lo = -1, hi = -1;
        bool known = rd_kafka_query_watermark_offsets(pl->rk, tp->topic, tp->partition, &lo, &hi,
                                                      5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (stored >= 0 && known && lo > stored) {
            if (!record_gap(pl, tp->topic, tp->partition, stored, lo)) {
                rd_kafka_topic_partition_list_destroy(list);
                parts_clear(pl);
                return false;
            }
            stored = lo;
        }
        /* Without a stored position, the low watermark just read rather than
         * OFFSET_BEGINNING: librdkafka 2.0.2 resolves a logical offset with
         * a ListOffsets request that often waits 500 ms after the assignment
         * (measured: fetching began 0.50 s after the assign, against 11 ms
         * with the absolute offset). Same start, unless retention moves it
         * in between: then auto.offset.reset=error resyncs as for any reset. */
        tp->offset = stored >= 0 ? stored : known && lo >= 0 ? lo : RD_KAFKA_OFFSET_BEGINNING;
        part_t *p = &pl->parts[pl->nparts++];
        p->topic = strdup(tp->topic);
        p->partition = tp->partition;
        p->stored = stored;
        p->next = stored;
        p->eof = false;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(pl->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        log_error("pipeline: assign failed: %s", rd_kafka_err2str(err));
        parts_clear(pl);
        return false;
    }
    batch_discard(pl);
    pl->need_resync = false;
    metrics_set(M_ASSIGNED_PARTITIONS, (int64_t)pl->nparts);
    metrics_set(M_CONSUMING, 1);
    if (!pl->ready_sent) {
        notify_ready();
        pl->ready_sent = true;
    }
    log_info("pipeline: consuming %zu partition%s from stored positions", pl->nparts,
             pl->nparts == 1 ? "" : "s");
    return true;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    pipeline_t *pl = opaque;
    pl->rebalances++;
    /* Positions and the store are the batch in flight's until it is in. */
    commit_wait(pl);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("pipeline: assigned %d partition%s", partitions->cnt,
                 partitions->cnt == 1 ? "" : "s");
        if (pl->assignment)
            rd_kafka_topic_partition_list_destroy(pl->assignment);
        pl->assignment = rd_kafka_topic_partition_list_copy(partitions);
        pl->assigned_once = true;
        pl->need_resync = true;
        pl->rejoin_pending = false;
        /* Positions come from PostgreSQL only: wait here until they can be
         * read. An empty local assignment instead would leave the group
         * thinking we consume, and rd_kafka_assign() outside this callback
         * races with rebalances in librdkafka 2.0.2. */
        while (!resync(pl)) {
            char errstr[512];
            if ((pl->flags && *pl->flags->stop) || pl->giving_up) {
                rd_kafka_assign(rk, NULL);
                parts_clear(pl);
                return;
            }
            notify_watchdog();
            int wait = store_backoff_ms(pl->store);
            for (int waited = 0; waited < wait && !(pl->flags && *pl->flags->stop); waited += 50)
                nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
            if (!store_connected(pl->store) && store_connect(pl->store, errstr, sizeof(errstr)))
                log_info("store: reconnected to PostgreSQL");
            else if (!store_connected(pl->store))
                log_error("store: PostgreSQL unavailable, partitions wait: %s", errstr);
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        if (rd_kafka_assignment_lost(rk)) {
            log_warn("pipeline: partitions lost; discarding uncommitted work");
            batch_discard(pl);
        } else if (!pl->need_resync) {
            batch_commit(pl);
        }
        log_info("pipeline: revoked %d partition%s", partitions->cnt,
                 partitions->cnt == 1 ? "" : "s");
        for (int i = 0; i < partitions->cnt; i++)
            metrics_lag(partitions->elems[i].topic, partitions->elems[i].partition, -1);
        metrics_set(M_ASSIGNED_PARTITIONS, 0);
        metrics_set(M_CONSUMING, 0);
        rd_kafka_assign(rk, NULL);
        if (pl->assignment)
            rd_kafka_topic_partition_list_destroy(pl->assignment);
        pl->assignment = NULL;
        parts_clear(pl);
        batch_discard(pl);
        pl->need_resync = false;
        /* Until the next assignment: --exit-on-eof must not take "no
         * partitions" for "every partition at its end". */
        pl->assigned_once = false;
        return;
    }
    log_error("pipeline: rebalance error: %s", rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
}

/* ---- decoding --------------------------------------------------------- */

static void on_event(void *opaque, const event_t *ev, int index)
{
    pipeline_t *pl = opaque;
    pl->mb.accepted++;
    stage_count(pl->stage, pl->cur_topic, "accepted", 1);
    static const stage_role_t roles[] = {
        [EVENT_KIND_APPOINTMENT] = STAGE_ROLE_APPOINTMENTS,
        [EVENT_KIND_JOURNAL_RECORDED] = STAGE_ROLE_JOURNAL,
        [EVENT_KIND_JOURNAL_ERROR] = STAGE_ROLE_JOURNAL,
        [EVENT_KIND_AUDIT] = STAGE_ROLE_AUDIT,
    };
    stage_unit(pl->stage, ev->unit_id, strlen(ev->unit_id), pl->now_us, roles[ev->kind],
               ev->time_us);
    bool ok = true;
    switch (ev->kind) {
    case EVENT_KIND_APPOINTMENT:
        ok = kpi_appt_add(pl->appt, ev, pl->cur_msg->offset, index);
        break;
    case EVENT_KIND_JOURNAL_RECORDED:
    case EVENT_KIND_JOURNAL_ERROR:
        ok = kpi_journal_add(pl->journal, ev, pl->cur_msg->offset, index);
        break;
    case EVENT_KIND_AUDIT:
        ok = kpi_audit_add(pl->audit, ev, pl->cur_topic, pl->cur_msg->partition,
                           pl->cur_msg->offset, index);
        break;
    }
    if (!ok)
        pl->add_failed = true;
}

static void on_reject(void *opaque, const event_reject_t *rej, int index)
{
    pipeline_t *pl = opaque;
    const rd_kafka_message_t *m = pl->cur_msg;
    const char *reason = event_reason_name(rej->reason);
    pl->mb.rejected[rej->reason]++;
    stage_reject(pl->stage, pl->cur_topic, m->partition, m->offset, index, reason, rej->detail,
                 rej->event_id[0] ? rej->event_id : NULL,
                 pl->cfg->store_rejected_payload ? rej->payload : NULL,
                 pl->cfg->store_rejected_payload ? rej->payload_len : 0);
    if (rej->reason == EVENT_REASON_UNSUPPORTED_TYPE) {
        log_debug("pipeline: skipped %s [%" PRId32 "] @%" PRId64 "#%d: %s", pl->cur_topic,
                  m->partition, m->offset, index, rej->detail);
    } else if (pl->batch_reject_logged++ < REJECT_LOG_LINES) {
        log_warn("pipeline: rejected %s [%" PRId32 "] @%" PRId64 "#%d: %s: %s", pl->cur_topic,
                 m->partition, m->offset, index, reason, rej->detail);
    }
}

static void handle_message(pipeline_t *pl, const rd_kafka_message_t *m, size_t run_index)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    part_t *p = part_find(pl, topic, m->partition);
    if (!p || pl->need_resync)
        return; /* stale: consumed again after the resync */
    if (p->next >= 0 && m->offset < p->next)
        return; /* already processed in this assignment */
    if (p->next >= 0 && m->offset > p->next)
        log_debug("pipeline: %s [%" PRId32 "] offsets %" PRId64 "..%" PRId64
                  " skipped by Kafka (transaction markers or compaction)",
                  topic, m->partition, p->next, m->offset - 1);

    if (pl->batch_events == 0)
        pl->batch_start_ms = now_ms();
    pl->cur_msg = m;
    /* Interned: staged rows refer to it until the batch commits. */
    pl->cur_topic = strpool_intern(pl->pool, topic, strlen(topic));
    pl->now_us = wall_us();
    event_sink_t sink = {on_event, on_reject, pl};
    pl->add_failed = false;
    if (decpool_replay(pl->dp, run_index, &sink) < 0 || pl->add_failed) {
        /* Our failure, not the producer's: never move past an unjudged
         * message. Drop the batch and read it again from the stored offsets. */
        log_error("pipeline: out of memory decoding %s [%" PRId32 "] @%" PRId64
                  "; the batch will be consumed again",
                  topic, m->partition, m->offset);
        batch_discard(pl);
        pl->need_resync = true;
        metrics_set(M_CONSUMING, 0);
        return;
    }
    pl->batch_events++;
    p->next = m->offset + 1;
    p->eof = false;
}

static void handle_error(pipeline_t *pl, const rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    part_t *p = topic ? part_find(pl, topic, m->partition) : NULL;
    switch (m->err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        if (p && !pl->need_resync) {
            p->eof = true;
            if (p->next < 0)
                p->next = m->offset;
        }
        return;
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE: {
        /* auto.offset.reset=error: our position no longer exists. */
        int64_t lo = -1, hi = -1;
        if (p && p->next >= 0 &&
            rd_kafka_query_watermark_offsets(pl->rk, topic, m->partition, &lo, &hi, 5000) == 0 &&
            lo > p->next) {
            batch_commit(pl); /* so the stored offset is where we stopped */
            if (!pl->need_resync)
                record_gap(pl, topic, m->partition, p->next, lo);
        } else {
            log_error("pipeline: %s [%" PRId32 "]: %s", topic ? topic : "?", m->partition,
                      rd_kafka_message_errstr(m));
        }
        pl->need_resync = true;
        return;
    }
    default:
        log_warn("pipeline: kafka: %s%s%s", topic ? topic : "", topic ? ": " : "",
                 rd_kafka_message_errstr(m));
    }
}

/* Starts committing the batch when it is big or old enough, or, when the
 * stream is idle, whatever is pending. */
static void commit_if_due(pipeline_t *pl, bool idle)
{
    if (!pl->need_resync &&
        (pl->batch_events >= pl->cfg->batch_events ||
         (pl->batch_events && now_ms() - pl->batch_start_ms >= pl->cfg->batch_ms) ||
         (idle && (pl->inflight || pl->batch_events || positions_dirty(pl))))) {
        /* The previous batch first: one in flight at a time, in order. */
        if (commit_wait(pl))
            commit_start(pl);
    }
}

static void run_drop(pipeline_t *pl)
{
    for (size_t i = 0; i < pl->nrun; i++)
        rd_kafka_message_destroy(pl->run[i]);
    pl->nrun = 0;
}

/* Polls a run of messages into pl->run: waits up to POLL_MS for the first,
 * then takes what is already there. A rebalance callback may run inside any
 * poll; what was polled before it belongs to the old assignment (every
 * assignment restarts from the stored positions, which Kafka then delivers
 * again), so it is dropped unapplied, as librdkafka drops what it had
 * fetched. Returns false when nothing came within POLL_MS. */
static bool poll_run(pipeline_t *pl)
{
    size_t bytes = 0;
    unsigned rebalances = pl->rebalances;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(pl->rk, POLL_MS);
    if (!m)
        return false;
    for (;;) {
        if (pl->rebalances != rebalances) {
            run_drop(pl);
            bytes = 0;
            rebalances = pl->rebalances;
        }
        if (!m)
            break;
        pl->run[pl->nrun] = m;
        /* Kafka errors are not decoded; a NULL payload is judged in a moment. */
        pl->run_msgs[pl->nrun] =
            m->err ? (decpool_msg_t){NULL, 0} : (decpool_msg_t){m->payload, m->len};
        pl->nrun++;
        bytes += m->len;
        if (pl->nrun == RUN_MSGS || bytes >= RUN_BYTES || *pl->flags->stop)
            break;
        m = rd_kafka_consumer_poll(pl->rk, 0);
    }
    return true;
}

/* ---- set-up and the loop ---------------------------------------------- */

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("kafka: fatal: %s", buf);
        return;
    }
    log_warn("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int on_kafka_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)opaque;
    metrics_kafka_stats(json, len);
    return 0; /* librdkafka frees json */
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_rdkafka_cb(rk, level, fac, buf);
}

/* pipeline.decode_threads, 0 resolved: one per online CPU, at most 4 (the
 * polling thread applies what they decode; more rarely pays). */
static int decode_threads(const config_t *cfg)
{
    if (cfg->decode_threads > 0)
        return (int)cfg->decode_threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
}

pipeline_t *pipeline_new(const config_t *cfg, pseudo_t *pseudo, goals_t *goals, char *errstr,
                         size_t errstr_size)
{
    pipeline_t *pl = calloc(1, sizeof(*pl));
    if (!pl) {
        goals_destroy(goals);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    errstr[0] = '\0';
    pl->goals = goals;
    pl->cfg = cfg;
    pl->pseudo = pseudo;
    pl->store = store_new(cfg->pg_conninfo);
    pl->stage = stage_new();
    pl->back = stage_new();
    pthread_mutex_init(&pl->cmu, NULL);
    pthread_cond_init(&pl->ccv, NULL);
    pl->dp = decpool_new(pseudo, (size_t)cfg->max_message_bytes, decode_threads(cfg), errstr,
                         errstr_size);
    pl->tz = pl->dp ? timeutil_tz_new(cfg->timezone, errstr, errstr_size) : NULL;
    pl->pool = strpool_new();
    pl->delta = kpi_delta_new();
    pl->appt = pl->tz && pl->pool ? kpi_appt_new(pl->tz, pl->pool, (size_t)cfg->state_cache_entries)
                                  : NULL;
    pl->journal = pl->tz && pl->pool
                      ? kpi_journal_new(pl->tz, pl->pool,
                                        cfg->double_documentation_window_hours * 3600 * 1000000,
                                        (int64_t)(cfg->default_entry_minutes * 60e6 + 0.5))
                      : NULL;
    kpi_audit_conf_t aconf = {
        .idle_us = cfg->audit_idle_timeout_minutes * 60 * 1000000,
        .lateness_us = cfg->audit_allowed_lateness_minutes * 60 * 1000000,
        .doc_prefixes = cfg->documentation_action_prefixes,
        .cache_max = (size_t)cfg->state_cache_entries,
    };
    pl->audit = pl->tz && pl->pool ? kpi_audit_new(pl->tz, pl->pool, &aconf) : NULL;
    if (!pl->store || !pl->stage || !pl->back || !pl->dp || !pl->tz || !pl->pool || !pl->delta ||
        !pl->appt || !pl->journal || !pl->audit) {
        if (!*errstr)
            snprintf(errstr, errstr_size, "out of memory");
        pipeline_destroy(pl);
        return NULL;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct {
        const char *k, *v;
    } base[] = {
        {"bootstrap.servers", cfg->kafka_brokers},
        {"group.id", cfg->kafka_group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "true"},
        {"client.id", "gevinstd"},
        /* Bound what librdkafka buffers per partition (no unbounded queue). */
        {"queued.max.messages.kbytes", "65536"},
        /* Broker state for /healthz and gevinst_kafka_up. */
        {"statistics.interval.ms", "5000"},
    };
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        if (rd_kafka_conf_set(conf, base[i].k, base[i].v, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            pipeline_destroy(pl);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->rdkafka_count; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%s:%d: rdkafka.%s: %s", cfg->path, cfg->rdkafka[i].line,
                     cfg->rdkafka[i].key, why);
            rd_kafka_conf_destroy(conf);
            pipeline_destroy(pl);
            return NULL;
        }
    }
    rd_kafka_conf_set_opaque(conf, pl);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_stats_cb(conf, on_kafka_stats);
    pl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!pl->rk) {
        rd_kafka_conf_destroy(conf);
        pipeline_destroy(pl);
        return NULL;
    }
    rd_kafka_poll_set_consumer(pl->rk);
    if (pthread_create(&pl->committer, NULL, committer_main, pl) != 0) {
        snprintf(errstr, errstr_size, "cannot start the commit thread");
        pipeline_destroy(pl);
        return NULL;
    }
    pl->committer_started = true;
    return pl;
}

static bool subscribe(pipeline_t *pl);

/* Connects and migrates, retrying transient failures until stopped. Joins
 * the consumer group once PostgreSQL first answers, before the schema work:
 * the join takes seconds (group.initial.rebalance.delay.ms, 3 s by default)
 * and needs nothing from the database until the partitions are assigned, in
 * the first poll, after this returns; the migrations of a new database
 * (0.2 s) run meanwhile. A daemon that cannot reach PostgreSQL at all never
 * joins, so it holds no partitions. *subscribed tells whether it joined. */
static bool prepare_database(pipeline_t *pl, const pipeline_flags_t *flags, bool *subscribed)
{
    char errstr[512];
    while (!*flags->stop) {
        if (store_connect(pl->store, errstr, sizeof(errstr))) {
            if (!*subscribed) {
                if (!subscribe(pl))
                    return false;
                *subscribed = true;
            }
            int applied = 0;
            bool retriable = false;
            if (migrate_run(store_conn(pl->store), &applied, &retriable, errstr, sizeof(errstr)) &&
                dash_setup(pl->store, pl->cfg, &retriable, errstr, sizeof(errstr)) &&
                (!pl->goals ||
                 goals_sync(pl->goals, pl->store, &retriable, errstr, sizeof(errstr)))) {
                metrics_set(M_PG_CONNECTED, 1);
                log_info("store: connected to PostgreSQL; schema at version %d (%d migration%s "
                         "applied now)",
                         migrate_latest_version(), applied, applied == 1 ? "" : "s");
                return true;
            }
            if (!retriable) {
                log_error("store: %s", errstr);
                return false;
            }
            store_disconnect(pl->store);
        }
        int wait = store_backoff_ms(pl->store);
        log_error("store: PostgreSQL unavailable (retrying in %d ms): %s", wait, errstr);
        /* Still starting: keep systemd from killing a start that waits. */
        notify_extend_timeout((uint64_t)(wait + 30000) * 1000);
        for (int waited = 0; waited < wait && !*flags->stop; waited += 50)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    return false;
}

/* SIGHUP: reloadable keys take effect; the others are reported and kept. */
static void reload_config(pipeline_t *pl)
{
    char *errors = NULL, kept[512], errstr[512];
    int n = 0;
    bool retriable;
    config_t *c = config_reload(pl->cfg, &errors, &n, kept, sizeof(kept));
    if (!c) {
        log_error("reload: %d error%s in %s; the configuration in force is kept", n,
                  n == 1 ? "" : "s", pl->cfg->path);
        for (char *line = errors ? strtok(errors, "\n") : NULL; line; line = strtok(NULL, "\n"))
            log_error("reload: %s", line);
        free(errors);
        return;
    }
    config_t **list = realloc(pl->reloaded, (pl->nreloaded + 1) * sizeof(*list));
    if (!list) {
        config_destroy(c);
        log_error("reload: out of memory; the configuration in force is kept");
        return;
    }
    pl->reloaded = list;
    pl->reloaded[pl->nreloaded++] = c;
    if (*kept)
        log_warn("reload: %s cannot change while running; the running values are kept until a "
                 "restart",
                 kept);
    pl->cfg = c;
    log_set_level((log_level_t)c->log_level);
    if (pl->deliver && !deliver_reconfigure(pl->deliver, c))
        log_error("reload: the alert deliverer keeps its settings (out of memory)");
    if (store_connected(pl->store) && !dash_setup(pl->store, c, &retriable, errstr, sizeof(errstr)))
        log_error("reload: applying privacy.min_cell_size failed: %s", errstr);
    log_info("reload: configuration %s in force", c->path);
}

static void goals_reload_failed(pipeline_t *pl)
{
    pl->goals_errors++;
    metrics_add(M_GOALS_FILE_ERRORS, 1);
    metrics_set(M_GOALS_LOADED, 0);
}

/* SIGHUP: a new goals file replaces the one in force only when it loads and
 * syncs whole; otherwise the old one stays and the errors are logged. */
static void reload_goals(pipeline_t *pl)
{
    const config_t *cfg = pl->cfg;
    char *errors = NULL, errstr[512];
    int n = 0;
    bool retriable;
    if (!*cfg->goals_file) {
        log_info("reload: no goals file configured");
        return;
    }
    goals_t *g = goals_load(cfg->goals_file, &errors, &n);
    if (!g) {
        log_error("reload: %d error%s in %s; the goals in force are kept", n, n == 1 ? "" : "s",
                  cfg->goals_file);
        for (char *line = errors ? strtok(errors, "\n") : NULL; line; line = strtok(NULL, "\n"))
            log_error("reload: %s", line);
        free(errors);
        goals_reload_failed(pl);
        return;
    }
    if (*cfg->data_team_owner && !goals_has_owner(g, cfg->data_team_owner)) {
        log_error("reload: alerts.data_team_owner \"%s\" is not an owner in %s; the goals in "
                  "force are kept",
                  cfg->data_team_owner, cfg->goals_file);
        goals_destroy(g);
        goals_reload_failed(pl);
        return;
    }
    if (!store_connected(pl->store) ||
        !goals_sync(g, pl->store, &retriable, errstr, sizeof(errstr))) {
        log_error(
            "reload: writing the goals to PostgreSQL failed (%s); the goals in force are kept",
            store_connected(pl->store) ? errstr : "not connected");
        goals_destroy(g);
        goals_reload_failed(pl);
        return;
    }
    goals_destroy(pl->goals);
    pl->goals = g;
    metrics_set(M_GOALS_LOADED, 1);
    pl->judge_due = true;
    log_info("reload: goals file %s in force (%zu units, %zu owners, %zu goals)", cfg->goals_file,
             g->unit_count, g->owner_count, g->goal_count);
}

static bool subscribe(pipeline_t *pl)
{
    const char *topics[] = {pl->cfg->topic_appointments, pl->cfg->topic_journal,
                            pl->cfg->topic_audit};
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(3);
    for (size_t i = 0; i < 3; i++)
        if (*topics[i])
            rd_kafka_topic_partition_list_add(sub, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pl->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        log_error("pipeline: subscribe failed: %s", rd_kafka_err2str(err));
        return false;
    }
    return true;
}

/* Every assigned partition has reached its end since it was last assigned. */
static bool caught_up(const pipeline_t *pl)
{
    for (size_t i = 0; i < pl->nparts; i++)
        if (!pl->parts[i].eof)
            return false;
    return true;
}

static bool all_eof(const pipeline_t *pl)
{
    if (!pl->assigned_once || pl->need_resync || pl->batch_events || pl->inflight)
        return false;
    for (size_t i = 0; i < pl->nparts; i++)
        if (!pl->parts[i].eof || pl->parts[i].next != pl->parts[i].stored)
            return false;
    return true;
}

/* Resync outside the rebalance callback: librdkafka 2.0.2 can abort
 * (rd_kafka_assignment_partition_stopped) when an rd_kafka_assign() from the
 * poll loop meets a revoke, so positions are only ever set in the callback:
 * leave the group and join again, and the assign callback re-reads the
 * stored offsets. Failures are rare (outages, fencing); a rebalance is cheap
 * next to counting anything twice. */
static void rejoin(pipeline_t *pl)
{
    log_info("pipeline: rejoining the group to resume from the stored positions");
    pl->rejoin_pending = true;
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(pl->rk);
    if (err)
        log_warn("pipeline: unsubscribe: %s", rd_kafka_err2str(err));
    if (!subscribe(pl))
        pl->rejoin_pending = false; /* try again on the next turn */
}

/* Judges goals and data alerts on the data as it stands; writes alerts and
 * their outbox rows in one transaction. Outside any batch transaction. A
 * failure is logged and tried again at the next run. */
static void judge(pipeline_t *pl)
{
    judge_conf_t jc;
    judge_stats_t js;
    char errstr[512];
    bool retriable;
    if (!commit_wait(pl))
        return;
    pl->judge_due = false;
    pl->last_judge_ms = now_ms();
    if (!store_connected(pl->store))
        return;
    judge_conf_from_config(&jc, pl->cfg);
    jc.tz = pl->tz;
    if (!judge_run(pl->store, pl->goals, &jc, wall_us(), &js, &retriable, errstr, sizeof(errstr))) {
        log_error("judge: %s (trying again later)", errstr);
        if (retriable)
            store_disconnect(pl->store);
        pl->judge_due = true;
        return;
    }
    if (js.outbox_pending)
        deliver_kick(pl->deliver);
    if (js.alerts_new || js.alerts_changed)
        log_info("judge: %zu goals, %zu closed points; %zu new alerts, %zu changed (%zu "
                 "withdrawn), %zu firing; %zu to send, %zu suppressed (%.0f ms)",
                 js.goals, js.points, js.alerts_new, js.alerts_changed, js.alerts_withdrawn,
                 js.alerts_firing, js.outbox_pending, js.outbox_suppressed, js.duration_ms);
    else
        log_debug("judge: %zu goals, %zu closed points, nothing changed (%.0f ms)", js.goals,
                  js.points, js.duration_ms);
}

/* Consumer lag per partition from librdkafka's cached watermarks. */
static void update_lag(pipeline_t *pl)
{
    for (size_t i = 0; i < pl->nparts; i++) {
        int64_t lo, hi;
        part_t *p = &pl->parts[i];
        if (p->next < 0 ||
            rd_kafka_get_watermark_offsets(pl->rk, p->topic, p->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        metrics_lag(p->topic, p->partition, hi > p->next ? hi - p->next : 0);
    }
}

/* The periodic one-line stats log (events/s, rows written, lag, commit latency). */
static void stats_line(pipeline_t *pl, int64_t elapsed_ms, uint64_t *last_events,
                       uint64_t *last_rows)
{
    int64_t lag = 0;
    for (size_t i = 0; i < pl->nparts; i++) {
        int64_t lo, hi;
        if (pl->parts[i].next >= 0 &&
            rd_kafka_get_watermark_offsets(pl->rk, pl->parts[i].topic, pl->parts[i].partition, &lo,
                                           &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > pl->parts[i].next)
            lag += hi - pl->parts[i].next;
    }
    uint64_t events = pl->accepted + pl->rejected;
    double secs = elapsed_ms > 0 ? (double)elapsed_ms / 1000.0 : 1.0;
    log_info("stats: %.0f events/s, %.0f rows/s written, %" PRIu64 " events and %" PRIu64
             " batches in all, lag %" PRId64
             " messages, commit %.1f ms on average, %zu partitions, "
             "state cache %zu",
             (double)(events - *last_events) / secs, (double)(pl->rows - *last_rows) / secs, events,
             pl->batches, lag,
             pl->commit_count ? (double)pl->commit_ms_sum / (double)pl->commit_count : 0.0,
             pl->nparts, pl->cache_size);
    notify_status("%.0f events/s, lag %" PRId64, (double)(events - *last_events) / secs, lag);
    *last_events = events;
    *last_rows = pl->rows;
    pl->commit_ms_sum = pl->commit_count = 0;
}

int pipeline_run(pipeline_t *pl, const pipeline_flags_t *flags, bool exit_on_eof)
{
    char errstr[512];
    pl->flags = flags;
    bool subscribed = false;
    if (!prepare_database(pl, flags, &subscribed)) {
        if (subscribed) {
            /* Leave the group in order; a partition assignment served by the
             * close must not wait for a schema that is not coming. */
            pl->giving_up = true;
            rd_kafka_consumer_close(pl->rk);
        }
        return *flags->stop ? 0 : 1;
    }
    /* Once the schema is there. Its own thread and connection: a slow SMTP
     * relay never stalls consumption. (The decoder, made in pipeline_new,
     * has installed jansson's allocator hooks before this thread starts.) */
    pl->deliver = deliver_start(pl->cfg, errstr, sizeof(errstr));
    if (!pl->deliver)
        log_error("deliver: %s; alerts are recorded but not sent", errstr);
    /* The group join takes seconds (group.initial.rebalance.delay.ms, 3 s
     * by default) with both cores idle: fault the cache table in now
     * rather than in the first commit. */
    if (*pl->cfg->topic_appointments) {
        int64_t t = precise_ms();
        kpi_appt_prefault(pl->appt);
        log_debug("pipeline: appointment cache faulted in (%" PRId64 " ms)", precise_ms() - t);
    }

    int64_t next_connect_ms = 0;
    int64_t watchdog_ms = (int64_t)(notify_watchdog_interval_us() / 1000);
    pl->last_judge_ms = now_ms();
    int64_t last_watchdog = now_ms(), last_stats = now_ms(), last_lag = now_ms();
    uint64_t stats_events = 0, stats_rows = 0;
    while (!*flags->stop) {
        int64_t t = now_ms();
        if (watchdog_ms && t - last_watchdog >= watchdog_ms) {
            notify_watchdog();
            last_watchdog = t;
        }
        if (t - last_lag >= 5000) {
            update_lag(pl);
            /* An idle stream runs no query: probe, so /healthz sees an outage. */
            if (!pl->inflight && store_connected(pl->store) && pl->batch_events == 0) {
                bool retriable;
                if (!store_exec(pl->store, "SELECT 1", &retriable, errstr, sizeof(errstr)) &&
                    retriable) {
                    log_error("store: PostgreSQL connection lost: %s", errstr);
                    store_disconnect(pl->store);
                    pl->need_resync = true;
                    metrics_set(M_CONSUMING, 0);
                }
            }
            metrics_set(M_PG_CONNECTED, store_connected(pl->store));
            if (!pl->ready_sent)
                notify_extend_timeout(30000000);
            last_lag = t;
        }
        if (t - last_stats >= STATS_INTERVAL_MS) {
            stats_line(pl, t - last_stats, &stats_events, &stats_rows);
            last_stats = t;
        }
        if (*flags->reload) {
            *flags->reload = 0;
            commit_wait(pl); /* the reload may use the store */
            notify_reloading();
            reload_config(pl);
            reload_goals(pl);
            notify_ready();
        }
        if (pl->need_resync) {
            commit_wait(pl);
            if (!store_connected(pl->store) && now_ms() >= next_connect_ms) {
                if (store_connect(pl->store, errstr, sizeof(errstr))) {
                    metrics_set(M_PG_CONNECTED, 1);
                    log_info("store: reconnected to PostgreSQL");
                } else {
                    int wait = store_backoff_ms(pl->store);
                    next_connect_ms = now_ms() + wait;
                    log_error("store: PostgreSQL unavailable (retrying in %d ms): %s", wait,
                              errstr);
                }
            }
            if (store_connected(pl->store) && !pl->rejoin_pending)
                rejoin(pl);
        }

        bool idle = !poll_run(pl);
        decpool_decode(pl->dp, pl->run_msgs, pl->nrun);
        for (size_t i = 0; i < pl->nrun; i++) {
            rd_kafka_message_t *m = pl->run[i];
            if (m->err)
                handle_error(pl, m);
            else
                handle_message(pl, m, i);
            rd_kafka_message_destroy(m);
            commit_if_due(pl, false);
        }
        pl->nrun = 0;
        if (idle)
            commit_if_due(pl, true);
        /* Judging reads the whole KPI history: not after every batch, and
         * while a backlog is consumed only now and then, since partitions
         * read at different speeds make a half-read history (whose alerts
         * the rest of the backlog would withdraw again). */
        if (pl->judge_due && pl->batch_events == 0 && !pl->need_resync &&
            now_ms() - pl->last_judge_ms >=
                (caught_up(pl) ? JUDGE_INTERVAL_MS : JUDGE_BACKLOG_INTERVAL_MS))
            judge(pl);
        if (exit_on_eof && all_eof(pl)) {
            log_info("pipeline: every assigned partition is at its end; judging and exiting");
            judge(pl);
            if (pl->deliver && !deliver_flush(pl->deliver, DELIVER_FLUSH_MS))
                log_warn("pipeline: alerts still being delivered after %d s; the rest stay "
                         "pending for the next run",
                         DELIVER_FLUSH_MS / 1000);
            break;
        }
    }

    /* Ordered shutdown: commit what was consumed, then leave the group. */
    notify_stopping();
    commit_wait(pl);
    if (!pl->need_resync)
        batch_commit(pl);
    log_info("pipeline: stopping: %" PRIu64 " messages consumed, %" PRIu64
             " events accepted, %" PRIu64 " rejected, %" PRIu64 " batches committed",
             pl->consumed, pl->accepted, pl->rejected, pl->batches);
    rd_kafka_consumer_close(pl->rk);
    deliver_stop(pl->deliver);
    pl->deliver = NULL;
    return 0;
}

void pipeline_destroy(pipeline_t *pl)
{
    if (!pl)
        return;
    deliver_stop(pl->deliver);
    if (pl->committer_started) {
        pthread_mutex_lock(&pl->cmu);
        while (pl->cstate == C_BUSY) /* never left in flight by pipeline_run; be safe */
            pthread_cond_wait(&pl->ccv, &pl->cmu);
        pl->cstate = C_QUIT;
        pthread_cond_broadcast(&pl->ccv);
        pthread_mutex_unlock(&pl->cmu);
        pthread_join(pl->committer, NULL);
    }
    pthread_cond_destroy(&pl->ccv);
    pthread_mutex_destroy(&pl->cmu);
    free(pl->back_next);
    stage_destroy(pl->back);
    if (pl->rk)
        rd_kafka_destroy(pl->rk);
    if (pl->assignment)
        rd_kafka_topic_partition_list_destroy(pl->assignment);
    parts_clear(pl);
    for (size_t i = 0; i < pl->nreloaded; i++)
        config_destroy(pl->reloaded[i]);
    free(pl->reloaded);
    kpi_appt_destroy(pl->appt);
    kpi_journal_destroy(pl->journal);
    kpi_audit_destroy(pl->audit);
    goals_destroy(pl->goals);
    kpi_delta_destroy(pl->delta);
    strpool_destroy(pl->pool);
    timeutil_tz_destroy(pl->tz);
    decpool_destroy(pl->dp);
    stage_destroy(pl->stage);
    store_destroy(pl->store);
    free(pl);
}
