#ifndef GEVINST_LOG_H
#define GEVINST_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Levels follow syslog priorities so journald shows them right ("<3>" prefixes). */
typedef enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
} log_level_t;

/* Messages above this level are dropped before formatting. Default: info. */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Parses "error", "warn", "info", "debug". Returns false on anything else. */
bool log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t level);

/* Writes one line to stderr: "<prio>LEVEL message" when run under journald
 * (JOURNAL_STREAM set), else "timestamp LEVEL message". Thread-safe. */
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_enabled(lvl) ((lvl) <= log_get_level())
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_WARN))                                                           \
            log_write(LOG_LEVEL_WARN, __VA_ARGS__);                                                \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_INFO))                                                           \
            log_write(LOG_LEVEL_INFO, __VA_ARGS__);                                                \
    } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_DEBUG))                                                          \
            log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);                                               \
    } while (0)

/* librdkafka log callback (rd_kafka_conf_set_log_cb): routes its syslog-level
 * messages into this module. Declared with void * to keep rdkafka.h out. */
void log_rdkafka_cb(const void *rk, int level, const char *fac, const char *buf);

#endif
