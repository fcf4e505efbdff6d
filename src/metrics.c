/* metrics: process-wide counters, gauges and a histogram, rendered in the
 * Prometheus text exposition format 0.0.4.
 *
 * The pipeline thread writes, the HTTP thread reads. Plain counters and gauges
 * are relaxed atomics: a scrape needs no ordering between two series. The
 * labelled series (lag per partition, alerts by kind and status) and the
 * histogram share one mutex, the histogram so that a scrape never sees a
 * bucket ahead of _count. Labels only ever carry topic names, reason names
 * and alert kinds: nothing here may take a patient, user or unit id. */
#include "gevinst/metrics.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GEVINST_VERSION
#define GEVINST_VERSION "unknown"
#endif

/* Upper bounds in seconds; +Inf is implied. A commit of a batch normally takes
 * milliseconds; ten seconds or more means PostgreSQL is in trouble. */
static const double commit_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1.0,  2.5,   5.0,  10.0};
#define NBUCKETS (sizeof(commit_buckets) / sizeof(commit_buckets[0]))

typedef struct lag_series {
    char *topic;
    int32_t partition;
    int64_t lag;
} lag_series_t;

typedef struct alert_series {
    char *kind;
    char *status;
    int64_t count;
} alert_series_t;

static _Atomic uint64_t counters[M_COUNTER_COUNT];
static _Atomic int64_t gauges[M_GAUGE_COUNT];
static _Atomic uint64_t rejected[EVENT_REASON_COUNT];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Under lock: */
static uint64_t hist_buckets[NBUCKETS]; /* not cumulative; render sums them */
static uint64_t hist_count;
static double hist_sum;
static lag_series_t *lags;
static size_t nlags, caplags;
static alert_series_t *alerts;
static size_t nalerts, capalerts;

/* ---- updates ------------------------------------------------------------ */

void metrics_add(metric_counter_t c, uint64_t n)
{
    if ((unsigned)c < M_COUNTER_COUNT)
        atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void metrics_set(metric_gauge_t g, int64_t v)
{
    if ((unsigned)g < M_GAUGE_COUNT)
        atomic_store_explicit(&gauges[g], v, memory_order_relaxed);
}

uint64_t metrics_counter(metric_counter_t c)
{
    return (unsigned)c < M_COUNTER_COUNT ? atomic_load_explicit(&counters[c], memory_order_relaxed)
                                         : 0;
}

int64_t metrics_gauge(metric_gauge_t g)
{
    return (unsigned)g < M_GAUGE_COUNT ? atomic_load_explicit(&gauges[g], memory_order_relaxed) : 0;
}

/* Counts one rejection by reason and in the M_EVENTS_REJECTED total, so the
 * caller makes one call, never two. */
void metrics_reject(event_reason_t reason)
{
    if ((unsigned)reason >= EVENT_REASON_COUNT)
        return;
    atomic_fetch_add_explicit(&rejected[reason], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&counters[M_EVENTS_REJECTED], 1, memory_order_relaxed);
}

uint64_t metrics_rejected(event_reason_t reason)
{
    return (unsigned)reason < EVENT_REASON_COUNT
               ? atomic_load_explicit(&rejected[reason], memory_order_relaxed)
               : 0;
}

void metrics_batch_publish(metrics_batch_t *b)
{
    if (b->accepted > 0)
        metrics_add(M_EVENTS_ACCEPTED, (uint64_t)b->accepted);
    for (int r = 0; r < EVENT_REASON_COUNT; r++) {
        if (b->rejected[r]) {
            atomic_fetch_add_explicit(&rejected[r], b->rejected[r], memory_order_relaxed);
            metrics_add(M_EVENTS_REJECTED, b->rejected[r]);
        }
    }
    metrics_add(M_ROWS_WRITTEN, b->rows);
    memset(b, 0, sizeof(*b));
}

void metrics_commit_latency(double seconds)
{
    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (seconds <= commit_buckets[i]) {
            hist_buckets[i]++;
            break;
        }
    }
    hist_count++;
    hist_sum += seconds;
    pthread_mutex_unlock(&lock);
}

/* Grows *arr to hold one more element of size sz. */
static bool grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * sz);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

void metrics_lag(const char *topic, int32_t partition, int64_t lag)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nlags && !(lags[i].partition == partition && strcmp(lags[i].topic, topic) == 0))
        i++;
    if (lag < 0) {
        if (i < nlags) {
            free(lags[i].topic);
            lags[i] = lags[--nlags];
        }
    } else if (i < nlags) {
        lags[i].lag = lag;
    } else {
        char *t = strdup(topic);
        if (t && grow((void **)&lags, &caplags, nlags, sizeof(*lags)))
            lags[nlags++] = (lag_series_t){t, partition, lag};
        else
            free(t); /* out of memory: the series is missing, nothing worse */
    }
    pthread_mutex_unlock(&lock);
}

void metrics_alerts(const char *kind, const char *status, int64_t count)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nalerts &&
           !(strcmp(alerts[i].kind, kind) == 0 && strcmp(alerts[i].status, status) == 0))
        i++;
    if (i < nalerts) {
        alerts[i].count = count;
    } else {
        char *k = strdup(kind), *s = strdup(status);
        if (k && s && grow((void **)&alerts, &capalerts, nalerts, sizeof(*alerts))) {
            alerts[nalerts++] = (alert_series_t){k, s, count};
        } else {
            free(k);
            free(s);
        }
    }
    pthread_mutex_unlock(&lock);
}

void metrics_kafka_stats(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers");
    if (!json_is_object(brokers)) {
        json_decref(root);
        return;
    }
    int up = 0;
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && strcmp(state, "UP") == 0)
            up = 1;
    }
    metrics_set(M_KAFKA_CONNECTED, up);
    json_decref(root);
}

const char *metrics_health(void)
{
    if (metrics_gauge(M_PG_CONNECTED) != 1)
        return "postgres unreachable";
    if (metrics_gauge(M_KAFKA_CONNECTED) != 1)
        return "kafka unreachable";
    if (metrics_gauge(M_GOALS_LOADED) != 1)
        return "goals file failed to load";
    if (metrics_gauge(M_CONSUMING) != 1)
        return "not consuming yet";
    return NULL;
}

void metrics_reset(void)
{
    for (int i = 0; i < M_COUNTER_COUNT; i++)
        atomic_store(&counters[i], 0);
    for (int i = 0; i < M_GAUGE_COUNT; i++)
        atomic_store(&gauges[i], 0);
    for (int i = 0; i < EVENT_REASON_COUNT; i++)
        atomic_store(&rejected[i], 0);
    pthread_mutex_lock(&lock);
    memset(hist_buckets, 0, sizeof(hist_buckets));
    hist_count = 0;
    hist_sum = 0;
    for (size_t i = 0; i < nlags; i++)
        free(lags[i].topic);
    free(lags);
    lags = NULL;
    nlags = caplags = 0;
    for (size_t i = 0; i < nalerts; i++) {
        free(alerts[i].kind);
        free(alerts[i].status);
    }
    free(alerts);
    alerts = NULL;
    nalerts = capalerts = 0;
    pthread_mutex_unlock(&lock);
}

/* ---- rendering ---------------------------------------------------------- */

/* A label value as the text format wants it: backslash, double quote and
 * line feed escaped; everything else, UTF-8 included, as it is. */
static void put_label_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            fputs("\\\\", f);
            break;
        case '"':
            fputs("\\\"", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void put_header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_counter(FILE *f, const char *name, const char *help, metric_counter_t c)
{
    put_header(f, name, "counter", help);
    fprintf(f, "%s %" PRIu64 "\n", name, metrics_counter(c));
}

static void put_gauge(FILE *f, const char *name, const char *help, metric_gauge_t g)
{
    put_header(f, name, "gauge", help);
    fprintf(f, "%s %" PRId64 "\n", name, metrics_gauge(g));
}

/* Shortest form that reads back as the same double ("0.005", not
 * "0.0050000000000000001"); the format takes Go's ParseFloat syntax. */
static void put_double(FILE *f, double v)
{
    char buf[32];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

static void put_histogram(FILE *f)
{
    static const char *name = "gevinst_commit_duration_seconds";
    uint64_t b[NBUCKETS], count;
    double sum;
    pthread_mutex_lock(&lock);
    memcpy(b, hist_buckets, sizeof(b));
    count = hist_count;
    sum = hist_sum;
    pthread_mutex_unlock(&lock);

    put_header(f, name, "histogram",
               "Time to commit one batch (results and offsets) to PostgreSQL.");
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += b[i];
        fprintf(f, "%s_bucket{le=\"", name);
        put_double(f, commit_buckets[i]);
        fprintf(f, "\"} %" PRIu64 "\n", cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
    fprintf(f, "%s_sum ", name);
    put_double(f, sum);
    fprintf(f, "\n%s_count %" PRIu64 "\n", name, count);
}

static int lag_cmp(const void *a, const void *b)
{
    const lag_series_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int alert_cmp(const void *a, const void *b)
{
    const alert_series_t *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->status, y->status);
}

/* Labelled series are sorted under the lock so that scrapes are stable;
 * the arrays are small (partitions, alert kinds x statuses). */
static void put_labelled(FILE *f)
{
    pthread_mutex_lock(&lock);
    put_header(f, "gevinst_consumer_lag", "gauge",
               "Messages in the partition not yet consumed (high watermark - next offset).");
    if (nlags) /* qsort(NULL, 0, ...) is undefined */
        qsort(lags, nlags, sizeof(*lags), lag_cmp);
    for (size_t i = 0; i < nlags; i++) {
        fputs("gevinst_consumer_lag{topic=\"", f);
        put_label_value(f, lags[i].topic);
        fprintf(f, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", lags[i].partition, lags[i].lag);
    }
    put_header(f, "gevinst_alerts", "gauge", "Alerts in the outbox by kind and delivery status.");
    if (nalerts)
        qsort(alerts, nalerts, sizeof(*alerts), alert_cmp);
    for (size_t i = 0; i < nalerts; i++) {
        fputs("gevinst_alerts{kind=\"", f);
        put_label_value(f, alerts[i].kind);
        fputs("\",status=\"", f);
        put_label_value(f, alerts[i].status);
        fprintf(f, "\"} %" PRId64 "\n", alerts[i].count);
    }
    pthread_mutex_unlock(&lock);
}

char *metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;

    put_counter(f, "gevinst_messages_consumed_total", "Kafka messages read.", M_MESSAGES_CONSUMED);
    put_counter(f, "gevinst_events_accepted_total", "Events accepted and committed.",
                M_EVENTS_ACCEPTED);
    put_header(f, "gevinst_events_rejected_total", "counter",
               "Events rejected, by events.md reason.");
    for (int r = 0; r < EVENT_REASON_COUNT; r++) {
        fputs("gevinst_events_rejected_total{reason=\"", f);
        put_label_value(f, event_reason_name((event_reason_t)r));
        fprintf(f, "\"} %" PRIu64 "\n", metrics_rejected((event_reason_t)r));
    }
    put_counter(f, "gevinst_batches_committed_total",
                "Batches committed to PostgreSQL with their offsets.", M_BATCHES_COMMITTED);
    put_counter(f, "gevinst_batches_failed_total",
                "Batches rolled back (outage or fencing); their events are consumed again.",
                M_BATCHES_FAILED);
    put_counter(f, "gevinst_rows_written_total",
                "Rows written: KPI cells, state rows and rejections.", M_ROWS_WRITTEN);
    put_counter(f, "gevinst_state_cache_hits_total", "KPI state lookups served from memory.",
                M_CACHE_HITS);
    put_counter(f, "gevinst_state_cache_misses_total", "KPI state lookups that read PostgreSQL.",
                M_CACHE_MISSES);
    put_gauge(f, "gevinst_state_cache_entries", "KPI state entries held in memory.",
              M_STATE_CACHE_ENTRIES);
    put_counter(f, "gevinst_offsets_lost_total",
                "Messages Kafka deleted (retention) before they were consumed.", M_OFFSETS_LOST);
    put_histogram(f);
    put_labelled(f);
    put_counter(f, "gevinst_goals_file_errors_total",
                "Goals file loads that failed (the goals in force were kept).",
                M_GOALS_FILE_ERRORS);
    put_gauge(f, "gevinst_goals_loaded",
              "1 when the goals file in force loaded fine (also without a goals file).",
              M_GOALS_LOADED);
    put_gauge(f, "gevinst_assigned_partitions", "Partitions assigned to this instance.",
              M_ASSIGNED_PARTITIONS);
    put_gauge(f, "gevinst_consuming", "1 when partitions are assigned and being polled.",
              M_CONSUMING);
    put_gauge(f, "gevinst_postgres_up", "1 when connected to PostgreSQL.", M_PG_CONNECTED);
    put_gauge(f, "gevinst_kafka_up", "1 when at least one Kafka broker is up.", M_KAFKA_CONNECTED);
    put_gauge(f, "gevinst_last_commit_timestamp_seconds",
              "Unix time of the last successful commit.", M_LAST_COMMIT_UNIX);
    put_header(f, "gevinst_build_info", "gauge", "Build information; the value is always 1.");
    fputs("gevinst_build_info{version=\"", f);
    put_label_value(f, GEVINST_VERSION);
    fputs("\"} 1\n", f);

    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    if (len)
        *len = size;
    return buf;
}
