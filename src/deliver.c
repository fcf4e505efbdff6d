/* deliver: the outbox sender thread (see deliver.h for the protocol). */
#include "gevinst/deliver.h"

#include "gevinst/deliver_message.h"
#include "gevinst/log.h"
#include "gevinst/metrics.h"
#include "gevinst/store.h"
#include "gevinst/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GEVINST_VERSION
#define GEVINST_VERSION "dev"
#endif

#define STATS_REFRESH_MS 10000

static const char *kind_names[DELIVER_KIND_COUNT] = {
    "goal.off_track",  "goal.achieved", "kpi.special_cause",
    "kpi.improvement", "data.silence",  "data.rejections",
};
static const char *status_names[DELIVER_STATUS_COUNT] = {"pending", "delivered", "failed",
                                                         "suppressed"};

const char *deliver_status_name(deliver_status_t s)
{
    return (unsigned)s < DELIVER_STATUS_COUNT ? status_names[s] : "unknown";
}

const char *deliver_kind_name(int kind)
{
    return kind >= 0 && kind < DELIVER_KIND_COUNT ? kind_names[kind] : "unknown";
}

void deliver_conf_default(deliver_conf_t *dc)
{
    *dc = (deliver_conf_t){
        .base_delay_ms = 30000,
        .max_delay_ms = 3600000,
        .give_up_ms = 24 * 3600000LL,
        .min_attempts = 3,
        .permanent_attempts = 3,
        .lease_ms = 300000,
        .poll_ms = 30000,
        .batch = 50,
        .connect_timeout_ms = 5000,
        .webhook_timeout_ms = 15000,
        .smtp_timeout_ms = 30000,
        .kafka_timeout_ms = 15000,
        .jitter = true,
    };
}

/* What the thread reads of the configuration, copied so that it need not
 * share config_t with the main thread. */
typedef struct settings {
    char *conninfo;
    char *smtp_url;
    char *smtp_from;
    char *dashboard_url;
    int64_t max_age_days;
    char *brokers;
    config_kv_t *rdkafka;
    size_t rdkafka_count;
    char *config_path;
} settings_t;

struct deliver {
    settings_t set;
    deliver_conf_t dc;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool kicked;           /* under mu */
    pthread_cond_t idle;   /* signalled after every round that found nothing due */
    uint64_t round_seq;    /* under mu: rounds started */
    uint64_t idle_seq;     /* under mu: the last round that found nothing due */
    atomic_bool stop;      /* read by curl and the Kafka wait without the lock */
    deliver_stats_t stats; /* under mu */

    settings_t *next; /* under mu: reloaded settings, taken at the next round */

    /* Thread-only from here on. */
    store_t *st;
    rd_kafka_t *rk;
    uint64_t kafka_seq;
    struct {
        uint64_t seq;
        bool done;
        rd_kafka_resp_err_t err;
    } kres;
    int64_t last_refresh_ms;
    unsigned rand_state;
    bool warned_schema;
};

typedef enum send_result { SEND_OK, SEND_TRANSIENT, SEND_PERMANENT, SEND_ABORTED } send_result_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static void settings_free(settings_t *s)
{
    free(s->conninfo);
    free(s->smtp_url);
    free(s->smtp_from);
    free(s->dashboard_url);
    free(s->brokers);
    for (size_t i = 0; i < s->rdkafka_count; i++) {
        free(s->rdkafka[i].key);
        free(s->rdkafka[i].value);
    }
    free(s->rdkafka);
    free(s->config_path);
    memset(s, 0, sizeof(*s));
}

static bool settings_copy(settings_t *s, const config_t *cfg)
{
    memset(s, 0, sizeof(*s));
    s->conninfo = dup_or_empty(cfg->pg_conninfo);
    s->smtp_url = dup_or_empty(cfg->smtp_url);
    s->smtp_from = dup_or_empty(cfg->smtp_from);
    s->dashboard_url = dup_or_empty(cfg->dashboard_url);
    s->max_age_days = cfg->alerts_max_age_days;
    s->brokers = dup_or_empty(cfg->kafka_brokers);
    s->config_path = dup_or_empty(cfg->path);
    bool ok = s->conninfo && s->smtp_url && s->smtp_from && s->dashboard_url && s->brokers &&
              s->config_path;
    if (ok && cfg->rdkafka_count) {
        s->rdkafka = calloc(cfg->rdkafka_count, sizeof(*s->rdkafka));
        ok = s->rdkafka != NULL;
        for (size_t i = 0; ok && i < cfg->rdkafka_count; i++) {
            s->rdkafka[i].key = strdup(cfg->rdkafka[i].key);
            s->rdkafka[i].value = strdup(cfg->rdkafka[i].value);
            s->rdkafka[i].line = cfg->rdkafka[i].line;
            s->rdkafka_count++;
            ok = s->rdkafka[i].key && s->rdkafka[i].value;
        }
    }
    if (!ok)
        settings_free(s);
    return ok;
}

/* ------------------------------------------------------------- waiting */

static bool stopping(deliver_t *d)
{
    return atomic_load(&d->stop);
}

/* Sleeps up to ms, returning early on a kick or a stop. */
static void wait_ms(deliver_t *d, int64_t ms)
{
    pthread_mutex_lock(&d->mu);
    if (!d->kicked && !stopping(d) && ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!d->kicked && !stopping(d))
            if (pthread_cond_timedwait(&d->cond, &d->mu, &ts) == ETIMEDOUT)
                break;
    }
    d->kicked = false;
    pthread_mutex_unlock(&d->mu);
}

/* ------------------------------------------------------------- redaction */

/* scheme://host of a URL, for logs and errors: webhook URLs often carry a
 * secret token in their path or query. */
static void url_origin(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    if (!p) {
        snprintf(out, size, "(not a URL)");
        return;
    }
    const char *host = p + 3;
    const char *at = NULL;
    size_t hl = strcspn(host, "/?#");
    for (size_t i = 0; i < hl; i++)
        if (host[i] == '@')
            at = host + i;
    if (at) {
        hl -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(out, size, "%.*s%.*s", (int)(p + 3 - url), url, (int)hl, host);
}

/* Keeps what a server said printable and one line. */
static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 32 || *p == 127)
            *p = ' ';
}

/* ------------------------------------------------------------- curl */

static int xfer_cb(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopping(opaque) ? 1 : 0;
}

typedef struct upload {
    const char *data;
    size_t len, pos;
} upload_t;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *opaque)
{
    upload_t *u = opaque;
    size_t n = size * nitems;
    if (n > u->len - u->pos)
        n = u->len - u->pos;
    memcpy(buf, u->data + u->pos, n);
    u->pos += n;
    return n;
}

typedef struct capture {
    char buf[256];
    size_t len;
} capture_t;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *opaque)
{
    capture_t *c = opaque;
    size_t n = size * nmemb;
    size_t room = sizeof(c->buf) - 1 - c->len;
    size_t take = n < room ? n : room;
    memcpy(c->buf + c->len, data, take);
    c->len += take;
    c->buf[c->len] = '\0';
    return n;
}

static void curl_common(deliver_t *d, CURL *c, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)d->dc.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
}

/* A curl failure: which, and whether a retry can help. */
static send_result_t curl_failure(CURLcode rc, const char *what, const char *errbuf, char *err,
                                  size_t err_size)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(err, err_size, "%s: cut short by shutdown", what);
        return SEND_ABORTED;
    }
    snprintf(err, err_size, "%s: %s", what, *errbuf ? errbuf : curl_easy_strerror(rc));
    one_line(err);
    switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_LOGIN_DENIED:
        return SEND_PERMANENT;
    default:
        return SEND_TRANSIENT;
    }
}

static bool plausible_address(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 32 || *p == '<' || *p == '>' || *p == 127)
            return false;
    return strlen(s) < 320;
}

static send_result_t send_email(deliver_t *d, const settings_t *set, const deliver_alert_t *a,
                                const char *to, char *err, size_t err_size)
{
    if (!*set->smtp_url) {
        snprintf(err, err_size, "e-mail: no SMTP relay configured (alerts.smtp_url)");
        return SEND_PERMANENT;
    }
    if (!*set->smtp_from) {
        snprintf(err, err_size, "e-mail: no sender configured (alerts.smtp_from)");
        return SEND_PERMANENT;
    }
    if (!plausible_address(to)) {
        snprintf(err, err_size, "e-mail: target is not an e-mail address");
        return SEND_PERMANENT;
    }
    char *msg = deliver_message_email(a, set->dashboard_url, set->smtp_from, to, time(NULL));
    CURL *c = curl_easy_init();
    if (!msg || !c) {
        free(msg);
        if (c)
            curl_easy_cleanup(c);
        snprintf(err, err_size, "e-mail: out of memory");
        return SEND_TRANSIENT;
    }
    char from_addr[320], mail_from[330], rcpt[330], errbuf[CURL_ERROR_SIZE] = "";
    deliver_address_only(set->smtp_from, from_addr, sizeof(from_addr));
    snprintf(mail_from, sizeof(mail_from), "<%s>", from_addr);
    snprintf(rcpt, sizeof(rcpt), "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    upload_t up = {.data = msg, .len = strlen(msg)};

    curl_common(d, c, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, set->smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->dc.smtp_timeout_ms);

    CURLcode rc = curl_easy_perform(c);
    send_result_t r = SEND_OK;
    if (rc != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        r = curl_failure(rc, "SMTP", errbuf, err, err_size);
        char code_s[16];
        snprintf(code_s, sizeof(code_s), "%ld", code);
        if (code >= 400 && !strstr(err, code_s)) {
            size_t n = strlen(err);
            snprintf(err + n, err_size - n, " (reply %ld)", code);
        }
        /* 5xx: the relay refuses for good (unknown mailbox, policy). */
        if (r == SEND_TRANSIENT && code >= 500 && code < 600)
            r = SEND_PERMANENT;
    }
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c);
    free(msg);
    return r;
}

static send_result_t send_webhook(deliver_t *d, const settings_t *set, const deliver_alert_t *a,
                                  const char *url, char *err, size_t err_size)
{
    char origin[256];
    url_origin(url, origin, sizeof(origin));
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, err_size, "webhook: target is not an http(s) URL");
        return SEND_PERMANENT;
    }
    json_t *o = deliver_message_object(a, set->dashboard_url);
    /* 15 significant digits: 0.08, not 0.080000000000000002. */
    char *body = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    CURL *c = curl_easy_init();
    if (!body || !c) {
        free(body);
        if (c)
            curl_easy_cleanup(c);
        snprintf(err, err_size, "webhook: out of memory");
        return SEND_TRANSIENT;
    }
    char h_id[64], h_rev[64], h_key[80], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(h_id, sizeof(h_id), "X-Gevinst-Alert-Id: %lld", (long long)a->alert_id);
    snprintf(h_rev, sizeof(h_rev), "X-Gevinst-Revision: %d", a->revision);
    snprintf(h_key, sizeof(h_key), "Idempotency-Key: gevinst-alert-%lld-%d", (long long)a->alert_id,
             a->revision);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, h_id);
    h = curl_slist_append(h, h_rev);
    h = curl_slist_append(h, h_key);
    capture_t cap = {.len = 0};

    curl_common(d, c, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gevinstd/" GEVINST_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &cap);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->dc.webhook_timeout_ms);

    CURLcode rc = curl_easy_perform(c);
    send_result_t r;
    if (rc != CURLE_OK) {
        char what[300];
        snprintf(what, sizeof(what), "webhook %s", origin);
        r = curl_failure(rc, what, errbuf, err, err_size);
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300) {
            r = SEND_OK;
        } else {
            one_line(cap.buf);
            snprintf(err, err_size, "webhook %s: HTTP %ld%s%.200s", origin, code,
                     cap.len ? ": " : "", cap.buf);
            /* 408, 429 and 5xx may pass; other answers will not change by themselves. */
            r = code == 408 || code == 429 || code >= 500 ? SEND_TRANSIENT : SEND_PERMANENT;
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    return r;
}

/* ------------------------------------------------------------- Kafka */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_rdkafka_cb(rk, level, fac, buf);
}

static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    log_warn("deliver: kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    deliver_t *d = opaque;
    /* Only the report of the message being waited for counts; one of a
     * message given up on earlier (stop, timeout) is stale. */
    if ((uint64_t)(uintptr_t)m->_private == d->kres.seq) {
        d->kres.done = true;
        d->kres.err = m->err;
    }
}

static bool kafka_producer(deliver_t *d, const settings_t *set, char *err, size_t err_size)
{
    if (d->rk)
        return true;
    if (!*set->brokers) {
        snprintf(err, err_size, "kafka: no brokers configured (kafka.brokers)");
        return false;
    }
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%lld", (long long)d->dc.kafka_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct {
        const char *k, *v;
    } base[] = {
        {"bootstrap.servers", set->brokers}, {"client.id", "gevinstd-alerts"},
        {"enable.idempotence", "true"},      {"acks", "all"},
        {"message.timeout.ms", timeout},     {"linger.ms", "5"},
    };
    char why[256];
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        if (rd_kafka_conf_set(conf, base[i].k, base[i].v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, err_size, "kafka: %s: %s", base[i].k, why);
            rd_kafka_conf_destroy(conf);
            return false;
        }
    }
    /* The same passthrough keys as the consumer (security, SASL, TLS);
     * consumer-only ones are ignored by a producer with a log line. */
    for (size_t i = 0; i < set->rdkafka_count; i++) {
        if (rd_kafka_conf_set(conf, set->rdkafka[i].key, set->rdkafka[i].value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, err_size, "kafka: %s:%d: rdkafka.%s: %s", set->config_path,
                     set->rdkafka[i].line, set->rdkafka[i].key, why);
            rd_kafka_conf_destroy(conf);
            return false;
        }
    }
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr);
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!d->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, err_size, "kafka: cannot create the producer: %s", why);
        return false;
    }
    return true;
}

static void kafka_close(deliver_t *d)
{
    if (!d->rk)
        return;
    rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(d->rk, 1000);
    rd_kafka_destroy(d->rk);
    d->rk = NULL;
}

static bool valid_topic(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static send_result_t send_kafka(deliver_t *d, const settings_t *set, const deliver_alert_t *a,
                                const char *topic, char *err, size_t err_size)
{
    if (!valid_topic(topic)) {
        snprintf(err, err_size, "kafka: target is not a valid topic name");
        return SEND_PERMANENT;
    }
    if (!kafka_producer(d, set, err, err_size))
        return SEND_PERMANENT;
    char *ev = deliver_message_cloudevent(a, set->dashboard_url, time(NULL));
    if (!ev) {
        snprintf(err, err_size, "kafka: out of memory");
        return SEND_TRANSIENT;
    }
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)a->alert_id);
    d->kres.seq = ++d->kafka_seq;
    d->kres.done = false;
    d->kres.err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t perr = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(ev, strlen(ev)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("content-type", "application/cloudevents+json; charset=UTF-8", -1),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)d->kres.seq), RD_KAFKA_V_END);
    free(ev);
    if (perr) {
        snprintf(err, err_size, "kafka %s: produce: %s", topic, rd_kafka_err2str(perr));
        return perr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? SEND_PERMANENT : SEND_TRANSIENT;
    }
    /* message.timeout.ms bounds the wait: the report comes, failed, by then. */
    int64_t deadline = mono_ms() + d->dc.kafka_timeout_ms + 5000;
    while (!d->kres.done && !stopping(d) && mono_ms() < deadline)
        rd_kafka_poll(d->rk, 100);
    if (!d->kres.done) {
        bool stop = stopping(d);
        snprintf(err, err_size, "kafka %s: %s", topic,
                 stop ? "cut short by shutdown" : "no delivery report in time");
        /* Drop it from the queue so it cannot be delivered behind our back
         * after the row was released or rescheduled. In flight it may still
         * arrive: at least once. */
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE);
        return stop ? SEND_ABORTED : SEND_TRANSIENT;
    }
    if (d->kres.err) {
        snprintf(err, err_size, "kafka %s: %s", topic, rd_kafka_err2str(d->kres.err));
        char fatal[256];
        if (rd_kafka_fatal_error(d->rk, fatal, sizeof(fatal))) {
            /* An idempotent producer's fatal error: start a new one next time. */
            log_warn("deliver: kafka producer failed for good (%s); making a new one", fatal);
            kafka_close(d);
        }
        switch (d->kres.err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
            return SEND_PERMANENT;
        default:
            return SEND_TRANSIENT;
        }
    }
    return SEND_OK;
}

/* ------------------------------------------------------------- the outbox */

/* Claims due rows (see deliver.h, step 1) and returns each with the alert,
 * its unit and goal as they are now. A row waits while an earlier revision
 * for the same channel and target is pending. */
static const char *claim_sql =
    "WITH due AS ("
    "  SELECT o.alert_id, o.revision, o.channel, o.target,"
    "         EXISTS (SELECT 1 FROM gevinst.alert_outbox p"
    "                 WHERE p.alert_id = o.alert_id AND p.channel = o.channel"
    "                   AND p.target = o.target AND p.revision < o.revision"
    "                   AND p.status = 'delivered') AS followup"
    "  FROM gevinst.alert_outbox o"
    "  WHERE o.status = 'pending' AND o.next_attempt_at <= now()"
    "    AND NOT EXISTS (SELECT 1 FROM gevinst.alert_outbox p"
    "                    WHERE p.alert_id = o.alert_id AND p.channel = o.channel"
    "                      AND p.target = o.target AND p.revision < o.revision"
    "                      AND p.status = 'pending')"
    "  ORDER BY o.next_attempt_at, o.alert_id, o.revision"
    "  LIMIT $1"
    "  FOR UPDATE OF o SKIP LOCKED)"
    " UPDATE gevinst.alert_outbox o"
    " SET next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
    " FROM due JOIN gevinst.alert_state a ON a.alert_id = due.alert_id"
    "      LEFT JOIN gevinst.unit u ON u.unit_id = a.unit_id"
    "      LEFT JOIN gevinst.goal_def g ON g.goal_id = a.goal_id"
    " WHERE o.alert_id = due.alert_id AND o.revision = due.revision"
    "   AND o.channel = due.channel AND o.target = due.target"
    " RETURNING o.alert_id, o.revision, o.channel, o.target, o.attempts,"
    "   o.next_attempt_at::text,"
    "   (extract(epoch FROM now() - o.created_at) * 1000)::bigint,"
    "   due.followup, a.revision, a.kind, a.state, a.goal_id, a.unit_id, u.name, a.kpi,"
    "   a.period_start::text, a.period_end::text, a.actual, a.expected, a.detail::text,"
    "   to_char(a.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "   g.direction, g.baseline_from::text, g.baseline_to::text, g.baseline_value,"
    "   g.target_value, g.target_date::text, g.tolerance, g.consecutive,"
    "   current_date::text";

enum {
    C_ALERT_ID,
    C_REVISION,
    C_CHANNEL,
    C_TARGET,
    C_ATTEMPTS,
    C_LEASE,
    C_AGE_MS,
    C_FOLLOWUP,
    C_CUR_REVISION,
    C_KIND,
    C_STATE,
    C_GOAL_ID,
    C_UNIT_ID,
    C_UNIT_NAME,
    C_KPI,
    C_PERIOD_START,
    C_PERIOD_END,
    C_ACTUAL,
    C_EXPECTED,
    C_DETAIL,
    C_UPDATED_AT,
    C_DIRECTION,
    C_BASELINE_FROM,
    C_BASELINE_TO,
    C_BASELINE_VALUE,
    C_TARGET_VALUE,
    C_TARGET_DATE,
    C_TOLERANCE,
    C_CONSECUTIVE,
    C_TODAY,
};

/* Rows that could become due: pending and not waiting behind an earlier revision. */
static const char *next_due_sql =
    "SELECT (extract(epoch FROM min(o.next_attempt_at) - now()) * 1000)::bigint"
    " FROM gevinst.alert_outbox o"
    " WHERE o.status = 'pending'"
    "   AND NOT EXISTS (SELECT 1 FROM gevinst.alert_outbox p"
    "                   WHERE p.alert_id = o.alert_id AND p.channel = o.channel"
    "                     AND p.target = o.target AND p.revision < o.revision"
    "                     AND p.status = 'pending')";

static const char *stats_sql = "SELECT a.kind, o.status, count(*)"
                               " FROM gevinst.alert_outbox o"
                               " JOIN gevinst.alert_state a ON a.alert_id = o.alert_id"
                               " GROUP BY 1, 2";

typedef enum outcome {
    OUT_DELIVERED,
    OUT_RETRY,
    OUT_FAILED,
    OUT_SUPPRESSED,
    OUT_RELEASE
} outcome_t;

/* Records what became of a claimed row, if the lease is still ours. */
static bool record(deliver_t *d, PGresult *rows, int r, outcome_t out, const char *err,
                   int64_t delay_ms)
{
    static const char *sql[] = {
        [OUT_DELIVERED] = "UPDATE gevinst.alert_outbox SET status = 'delivered',"
                          " delivered_at = now(), attempts = attempts + 1",
        [OUT_RETRY] = "UPDATE gevinst.alert_outbox SET attempts = attempts + 1,"
                      " last_error = $6, next_attempt_at = now() + $7::bigint * interval "
                      "'1 millisecond'",
        [OUT_FAILED] = "UPDATE gevinst.alert_outbox SET status = 'failed',"
                       " attempts = attempts + 1, last_error = $6",
        [OUT_SUPPRESSED] = "UPDATE gevinst.alert_outbox SET status = 'suppressed',"
                           " last_error = $6",
        [OUT_RELEASE] = "UPDATE gevinst.alert_outbox SET next_attempt_at = now()",
    };
    static const char *where = " WHERE alert_id = $1 AND revision = $2 AND channel = $3"
                               " AND target = $4 AND status = 'pending'"
                               " AND next_attempt_at = $5::timestamptz";
    /* A delivery is recorded even when the judge suppressed the row while it
     * was in flight (it withdrew the alert and suppressed what was pending):
     * the truth is that it was sent. And what was sent must be withdrawn: if
     * the alert is withdrawn now, its withdrawal is queued for this target
     * unless the judge queued it already. */
    static const char *delivered_sql =
        "WITH up AS (UPDATE gevinst.alert_outbox SET status = 'delivered', delivered_at = now(),"
        "    attempts = attempts + 1,"
        "    last_error = CASE WHEN status = 'suppressed' THEN NULL ELSE last_error END"
        "  WHERE alert_id = $1 AND revision = $2 AND channel = $3 AND target = $4"
        "    AND status IN ('pending', 'suppressed') AND next_attempt_at = $5::timestamptz"
        "  RETURNING alert_id),"
        " wd AS (INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status)"
        "  SELECT a.alert_id, a.revision, $3, $4, 'pending'"
        "  FROM gevinst.alert_state a JOIN up ON up.alert_id = a.alert_id"
        "  WHERE a.state = 'withdrawn' AND a.revision > $2::integer"
        "  ON CONFLICT DO NOTHING RETURNING revision)"
        " SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM wd)";
    char q[1024], delay[32];
    snprintf(q, sizeof(q), "%s%s", sql[out], where);
    if (out == OUT_DELIVERED)
        snprintf(q, sizeof(q), "%s", delivered_sql);
    snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
    const char *params[7] = {PQgetvalue(rows, r, C_ALERT_ID),
                             PQgetvalue(rows, r, C_REVISION),
                             PQgetvalue(rows, r, C_CHANNEL),
                             PQgetvalue(rows, r, C_TARGET),
                             PQgetvalue(rows, r, C_LEASE),
                             err,
                             delay};
    /* Unused trailing parameters would fail type inference: pass only those used. */
    int n = out == OUT_RETRY ? 7 : (out == OUT_FAILED || out == OUT_SUPPRESSED) ? 6 : 5;
    PGconn *conn = store_conn(d->st);
    if (!conn)
        return false;
    PGresult *res = PQexecParams(conn, q, n, NULL, params, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(res);
    bool ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
    const char *changed = rs == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : PQcmdTuples(res);
    char errstr[512];
    if (!ok) {
        store_error(d->st, res, errstr, sizeof(errstr));
        log_warn("deliver: alert %s revision %s (%s): cannot record the outcome: %s", params[0],
                 params[1], params[2], errstr);
    } else if (strcmp(changed, "1") != 0) {
        /* The lease ran out and someone else took the row over, or the alert
         * moved on (withdrawn) meanwhile: at least once still holds. */
        log_warn("deliver: alert %s revision %s (%s): the row changed before the outcome was "
                 "recorded (lease ran out, or the alert moved on)",
                 params[0], params[1], params[2]);
        ok = false;
    } else if (rs == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 1), "0") != 0) {
        log_info("deliver: alert %s was withdrawn while revision %s was being sent (%s); "
                 "its withdrawal is queued",
                 params[0], params[1], params[2]);
    }
    PQclear(res);
    return ok;
}

static const char *val(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

static double num(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NAN : strtod(PQgetvalue(res, r, c), NULL);
}

static void alert_from_row(deliver_alert_t *a, PGresult *res, int r)
{
    deliver_alert_init(a);
    a->alert_id = strtoll(PQgetvalue(res, r, C_ALERT_ID), NULL, 10);
    a->revision = atoi(PQgetvalue(res, r, C_REVISION));
    a->kind = val(res, r, C_KIND);
    a->state = val(res, r, C_STATE);
    a->goal_id = val(res, r, C_GOAL_ID);
    a->unit_id = val(res, r, C_UNIT_ID);
    a->unit_name = val(res, r, C_UNIT_NAME);
    a->kpi = val(res, r, C_KPI);
    a->period_start = val(res, r, C_PERIOD_START);
    a->period_end = val(res, r, C_PERIOD_END);
    a->actual = num(res, r, C_ACTUAL);
    a->expected = num(res, r, C_EXPECTED);
    a->detail = val(res, r, C_DETAIL);
    a->updated_at = val(res, r, C_UPDATED_AT);
    a->direction = val(res, r, C_DIRECTION);
    a->baseline_from = val(res, r, C_BASELINE_FROM);
    a->baseline_to = val(res, r, C_BASELINE_TO);
    a->baseline_value = num(res, r, C_BASELINE_VALUE);
    a->target_value = num(res, r, C_TARGET_VALUE);
    a->target_date = val(res, r, C_TARGET_DATE);
    a->tolerance = num(res, r, C_TOLERANCE);
    a->consecutive =
        PQgetisnull(res, r, C_CONSECUTIVE) ? 0 : atoi(PQgetvalue(res, r, C_CONSECUTIVE));
}

static int32_t day_number(const char *date)
{
    int y, m, dd;
    if (!date || sscanf(date, "%4d-%2d-%2d", &y, &m, &dd) != 3)
        return INT32_MIN;
    return timeutil_days_from_civil(y, m, dd);
}

/* The last day the alert speaks of: its period, or a later point of its
 * episode when the judge recorded one in detail. */
static int32_t alert_last_day(const deliver_alert_t *a)
{
    int32_t last = day_number(a->period_end);
    json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
    /* As src/judge.c writes them: the episode's latest point, the point that
     * resolved it (goal and SPC alerts), the last day over the threshold and
     * the day it fell back (data.rejections), when events came again
     * (data.silence, a timestamp whose date part counts). */
    static const char *keys[] = {"last_period_end", "resolved_by_period_end", "last_day",
                                 "resolved_by_day", "events_again_time"};
    for (size_t i = 0; json_is_object(detail) && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(detail, keys[i]);
        int32_t dn = json_is_string(v) ? day_number(json_string_value(v)) : INT32_MIN;
        if (dn != INT32_MIN && dn > last)
            last = dn;
    }
    json_decref(detail);
    return last;
}

/* Step 2 of deliver.h: why this row is not to be sent, or NULL. */
static const char *suppress_reason(const deliver_alert_t *a, PGresult *rows, int r,
                                   int64_t max_age_days, char *buf, size_t size)
{
    int cur = atoi(PQgetvalue(rows, r, C_CUR_REVISION));
    bool followup_of_delivered = strcmp(PQgetvalue(rows, r, C_FOLLOWUP), "t") == 0;
    bool followup_state =
        a->state && (strcmp(a->state, "resolved") == 0 || strcmp(a->state, "withdrawn") == 0);
    if (cur > a->revision) {
        snprintf(buf, size, "superseded by revision %d before it was sent", cur);
        return buf;
    }
    int32_t today = day_number(PQgetvalue(rows, r, C_TODAY));
    int32_t last = alert_last_day(a);
    if (last != INT32_MIN && today != INT32_MIN && today - last > max_age_days &&
        !followup_of_delivered) {
        snprintf(buf, size, "period ended %d days ago, more than alerts.max_age_days (%lld)",
                 (int)(today - last), (long long)max_age_days);
        return buf;
    }
    if (followup_state && !followup_of_delivered) {
        snprintf(buf, size, "nothing was delivered earlier to this target to %s",
                 strcmp(a->state, "resolved") == 0 ? "resolve" : "withdraw");
        return buf;
    }
    return NULL;
}

static int64_t retry_delay_ms(deliver_t *d, int attempts_made)
{
    double ms = (double)d->dc.base_delay_ms;
    for (int i = 1; i < attempts_made && ms < (double)d->dc.max_delay_ms; i++)
        ms *= 2;
    if (ms > (double)d->dc.max_delay_ms)
        ms = (double)d->dc.max_delay_ms;
    if (d->dc.jitter)
        ms *= 0.8 + 0.4 * ((double)rand_r(&d->rand_state) / RAND_MAX);
    return (int64_t)ms;
}

static void count(deliver_t *d, uint64_t *field)
{
    pthread_mutex_lock(&d->mu);
    (*field)++;
    pthread_mutex_unlock(&d->mu);
}

/* Sends one claimed row and records the outcome. */
static void process_row(deliver_t *d, const settings_t *set, PGresult *rows, int r)
{
    deliver_alert_t a;
    alert_from_row(&a, rows, r);
    const char *channel = PQgetvalue(rows, r, C_CHANNEL);
    const char *target = PQgetvalue(rows, r, C_TARGET);
    int attempts_made = atoi(PQgetvalue(rows, r, C_ATTEMPTS)) + 1;
    int64_t age_ms = strtoll(PQgetvalue(rows, r, C_AGE_MS), NULL, 10);
    char why[256], err[768] = "";

    const char *reason = suppress_reason(&a, rows, r, set->max_age_days, why, sizeof(why));
    if (reason) {
        if (record(d, rows, r, OUT_SUPPRESSED, reason, 0))
            count(d, &d->stats.suppressed);
        log_info("deliver: alert %lld revision %d (%s): suppressed: %s", (long long)a.alert_id,
                 a.revision, channel, reason);
        return;
    }

    send_result_t sr;
    if (strcmp(channel, "email") == 0)
        sr = send_email(d, set, &a, target, err, sizeof(err));
    else if (strcmp(channel, "webhook") == 0)
        sr = send_webhook(d, set, &a, target, err, sizeof(err));
    else if (strcmp(channel, "kafka") == 0)
        sr = send_kafka(d, set, &a, target, err, sizeof(err));
    else {
        snprintf(err, sizeof(err), "unknown channel");
        sr = SEND_PERMANENT;
    }

    switch (sr) {
    case SEND_OK:
        if (record(d, rows, r, OUT_DELIVERED, NULL, 0))
            count(d, &d->stats.sent);
        log_info("deliver: alert %lld revision %d (%s, %s): delivered", (long long)a.alert_id,
                 a.revision, a.kind ? a.kind : "?", channel);
        return;
    case SEND_ABORTED:
        if (record(d, rows, r, OUT_RELEASE, NULL, 0))
            count(d, &d->stats.released);
        return;
    case SEND_TRANSIENT:
    case SEND_PERMANENT:
        break;
    }
    count(d, &d->stats.failures);
    bool give_up = sr == SEND_PERMANENT
                       ? attempts_made >= d->dc.permanent_attempts
                       : age_ms >= d->dc.give_up_ms && attempts_made >= d->dc.min_attempts;
    if (give_up) {
        if (record(d, rows, r, OUT_FAILED, err, 0))
            count(d, &d->stats.gave_up);
        log_error("deliver: alert %lld revision %d (%s): gave up after %d attempts: %s",
                  (long long)a.alert_id, a.revision, channel, attempts_made, err);
    } else {
        int64_t delay = retry_delay_ms(d, attempts_made);
        record(d, rows, r, OUT_RETRY, err, delay);
        log_warn("deliver: alert %lld revision %d (%s): attempt %d failed, next in %.1f s: %s",
                 (long long)a.alert_id, a.revision, channel, attempts_made, (double)delay / 1000.0,
                 err);
    }
}

/* One claim and its sends. Returns the rows claimed, or -1 on a database error. */
static int round_once(deliver_t *d, const settings_t *set)
{
    char batch[16], lease[32], errstr[512];
    snprintf(batch, sizeof(batch), "%d", d->dc.batch);
    snprintf(lease, sizeof(lease), "%lld", (long long)d->dc.lease_ms);
    const char *params[2] = {batch, lease};
    int64_t claimed_at = mono_ms();
    PGresult *rows = PQexecParams(store_conn(d->st), claim_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
        bool conn_lost = store_error(d->st, rows, errstr, sizeof(errstr));
        PQclear(rows);
        if (conn_lost)
            store_disconnect(d->st);
        if (!d->warned_schema || conn_lost)
            log_warn("deliver: cannot claim outbox rows: %s", errstr);
        d->warned_schema = !conn_lost;
        return -1;
    }
    d->warned_schema = false;
    int n = PQntuples(rows);
    for (int r = 0; r < n; r++) {
        /* Past half the lease, or stopping: hand the rest back, due at once,
         * rather than risk sending a row another instance may take over. */
        if (stopping(d) || mono_ms() - claimed_at > d->dc.lease_ms / 2) {
            for (; r < n; r++)
                record(d, rows, r, OUT_RELEASE, NULL, 0);
            break;
        }
        process_row(d, set, rows, r);
        if (!store_connected(d->st))
            break; /* the rest stay leased and come back when the lease ends */
    }
    PQclear(rows);
    return n;
}

/* Milliseconds until the next row is due (poll_ms when none, or on error). */
static int64_t next_due_ms(deliver_t *d)
{
    int64_t ms = d->dc.poll_ms;
    PGresult *res = PQexec(store_conn(d->st), next_due_sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        int64_t due = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (due < ms)
            ms = due < 0 ? 0 : due;
    }
    PQclear(res);
    return ms;
}

static void refresh_stats(deliver_t *d)
{
    int64_t now = mono_ms();
    if (d->last_refresh_ms && now - d->last_refresh_ms < STATS_REFRESH_MS)
        return;
    PGresult *res = PQexec(store_conn(d->st), stats_sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        int64_t table[DELIVER_KIND_COUNT][DELIVER_STATUS_COUNT] = {{0}};
        for (int r = 0; r < PQntuples(res); r++) {
            for (int k = 0; k < DELIVER_KIND_COUNT; k++) {
                if (strcmp(PQgetvalue(res, r, 0), kind_names[k]) != 0)
                    continue;
                for (int s = 0; s < DELIVER_STATUS_COUNT; s++)
                    if (strcmp(PQgetvalue(res, r, 1), status_names[s]) == 0)
                        table[k][s] = strtoll(PQgetvalue(res, r, 2), NULL, 10);
            }
        }
        pthread_mutex_lock(&d->mu);
        memcpy(d->stats.outbox, table, sizeof(table));
        pthread_mutex_unlock(&d->mu);
        /* gevinst_alerts{kind, status}: every cell, zeros included, so a
         * status that empties shows 0 rather than its last count. */
        for (int k = 0; k < DELIVER_KIND_COUNT; k++)
            for (int s = 0; s < DELIVER_STATUS_COUNT; s++)
                metrics_alerts(kind_names[k], status_names[s], table[k][s]);
        d->last_refresh_ms = now;
    }
    PQclear(res);
}

static void set_connected(deliver_t *d, bool up)
{
    pthread_mutex_lock(&d->mu);
    d->stats.pg_connected = up;
    pthread_mutex_unlock(&d->mu);
}

/* Takes settings handed over by deliver_reconfigure(); the Kafka and
 * PostgreSQL ones are not reloadable and stay as they were. */
static void take_reload(deliver_t *d)
{
    pthread_mutex_lock(&d->mu);
    settings_t *next = d->next;
    d->next = NULL;
    pthread_mutex_unlock(&d->mu);
    if (!next)
        return;
    char *tmp;
#define SWAP(f) (tmp = d->set.f, d->set.f = next->f, next->f = tmp)
    SWAP(smtp_url);
    SWAP(smtp_from);
    SWAP(dashboard_url);
#undef SWAP
    d->set.max_age_days = next->max_age_days;
    settings_free(next);
    free(next);
}

static void *deliver_main(void *opaque)
{
    deliver_t *d = opaque;
    char errstr[512];
    bool was_up = false;
    while (!stopping(d)) {
        if (!store_connect(d->st, errstr, sizeof(errstr))) {
            if (was_up)
                log_warn("deliver: PostgreSQL unreachable: %s", errstr);
            was_up = false;
            set_connected(d, false);
            wait_ms(d, store_backoff_ms(d->st));
            continue;
        }
        if (!was_up)
            set_connected(d, true);
        was_up = true;
        take_reload(d);
        pthread_mutex_lock(&d->mu);
        uint64_t seq = ++d->round_seq;
        pthread_mutex_unlock(&d->mu);
        int n = round_once(d, &d->set);
        if (n == 0) {
            pthread_mutex_lock(&d->mu);
            d->idle_seq = seq;
            pthread_cond_broadcast(&d->idle);
            pthread_mutex_unlock(&d->mu);
        }
        if (!store_connected(d->st))
            continue;
        refresh_stats(d);
        if (n < 0) {
            wait_ms(d, d->dc.poll_ms < 5000 ? d->dc.poll_ms : 5000);
            continue;
        }
        if (n > 0)
            continue; /* more may be due; a round that finds nothing ends the burst */
        int64_t ms = next_due_ms(d);
        if (ms > 0)
            wait_ms(d, ms);
    }
    kafka_close(d);
    store_destroy(d->st);
    d->st = NULL;
    return NULL;
}

/* ------------------------------------------------------------- lifecycle */

deliver_t *deliver_start(const config_t *cfg, char *errstr, size_t errstr_size)
{
    deliver_conf_t dc;
    deliver_conf_default(&dc);
    return deliver_start_conf(cfg, &dc, errstr, errstr_size);
}

deliver_t *deliver_start_conf(const config_t *cfg, const deliver_conf_t *dc, char *errstr,
                              size_t errstr_size)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errstr, errstr_size, "deliver: libcurl does not initialise");
        return NULL;
    }
    deliver_t *d = calloc(1, sizeof(*d));
    if (!d || !settings_copy(&d->set, cfg)) {
        free(d);
        curl_global_cleanup();
        snprintf(errstr, errstr_size, "deliver: out of memory");
        return NULL;
    }
    d->dc = *dc;
    if (d->dc.batch < 1)
        d->dc.batch = 1;
    d->rand_state = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)d;
    for (int k = 0; k < DELIVER_KIND_COUNT; k++)
        for (int s = 0; s < DELIVER_STATUS_COUNT; s++)
            d->stats.outbox[k][s] = -1;
    atomic_init(&d->stop, false);
    d->st = store_new(d->set.conninfo);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, &ca);
    pthread_cond_init(&d->idle, &ca);
    pthread_condattr_destroy(&ca);
    int rc = d->st ? pthread_create(&d->thread, NULL, deliver_main, d) : ENOMEM;
    if (rc != 0) {
        snprintf(errstr, errstr_size, "deliver: cannot start the thread: %s", strerror(rc));
        store_destroy(d->st);
        pthread_cond_destroy(&d->cond);
        pthread_cond_destroy(&d->idle);
        pthread_mutex_destroy(&d->mu);
        settings_free(&d->set);
        free(d);
        curl_global_cleanup();
        return NULL;
    }
    log_info("deliver: started (smtp %s, dashboard %s, max age %lld days)",
             *d->set.smtp_url ? "configured" : "off", *d->set.dashboard_url ? "set" : "none",
             (long long)d->set.max_age_days);
    return d;
}

bool deliver_reconfigure(deliver_t *d, const config_t *cfg)
{
    settings_t *next = malloc(sizeof(*next));
    if (!next || !settings_copy(next, cfg)) {
        free(next);
        return false;
    }
    pthread_mutex_lock(&d->mu);
    settings_t *old = d->next;
    d->next = next;
    d->kicked = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    if (old) {
        settings_free(old);
        free(old);
    }
    return true;
}

void deliver_kick(deliver_t *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->kicked = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
}

bool deliver_flush(deliver_t *d, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&d->mu);
    /* Only a round that starts after this call can say nothing is due. */
    uint64_t target = d->round_seq + 1;
    d->kicked = true;
    pthread_cond_signal(&d->cond);
    while (d->idle_seq < target && !stopping(d))
        if (pthread_cond_timedwait(&d->idle, &d->mu, &ts) == ETIMEDOUT)
            break;
    bool idle = d->idle_seq >= target;
    pthread_mutex_unlock(&d->mu);
    return idle;
}

void deliver_stop(deliver_t *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    atomic_store(&d->stop, true);
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    log_info("deliver: stopped (%llu delivered, %llu failed attempts, %llu suppressed)",
             (unsigned long long)d->stats.sent, (unsigned long long)d->stats.failures,
             (unsigned long long)d->stats.suppressed);
    pthread_cond_destroy(&d->cond);
    pthread_cond_destroy(&d->idle);
    pthread_mutex_destroy(&d->mu);
    if (d->next) {
        settings_free(d->next);
        free(d->next);
    }
    settings_free(&d->set);
    free(d);
    curl_global_cleanup();
}

void deliver_get_stats(deliver_t *d, deliver_stats_t *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->stats;
    pthread_mutex_unlock(&d->mu);
}
