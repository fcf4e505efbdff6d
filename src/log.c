/* log: one line per message on stderr, for journald or a terminal. */
#include "gevinst/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int log_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(log_level_t level)
{
    log_level = level;
}

log_level_t log_get_level(void)
{
    return (log_level_t)log_level;
}

static const struct {
    const char *name;
    log_level_t level;
} level_names[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warn", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
};

bool log_level_parse(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level_t level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (level_names[i].level == level)
            return level_names[i].name;
    return "?";
}

void log_vwrite(log_level_t level, const char *fmt, va_list ap)
{
    static const char *tags[] = {[3] = "ERROR", [4] = "WARN", [6] = "INFO", [7] = "DEBUG"};
    char msg[2048];
    if (!log_enabled(level))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* Keep one message on one line: journald and grep both rely on it. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    pthread_mutex_lock(&log_lock);
    if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s %s\n", (int)level, tags[level], msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, tags[level], msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void log_write(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void log_rdkafka_cb(const void *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    log_level_t l = level <= 3   ? LOG_LEVEL_ERROR
                    : level == 4 ? LOG_LEVEL_WARN
                    : level <= 6 ? LOG_LEVEL_INFO
                                 : LOG_LEVEL_DEBUG;
    log_write(l, "kafka: %s: %s", fac, buf);
}
