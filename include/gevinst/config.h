#ifndef GEVINST_CONFIG_H
#define GEVINST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One "rdkafka.X = Y" line, passed as it is to rd_kafka_conf_set(). */
typedef struct config_kv {
    char *key; /* without the "rdkafka." prefix */
    char *value;
    int line;
} config_kv_t;

/* The effective configuration. Every field is filled from the key table in
 * config.c (defaults included); strings are owned by the struct. Read-only
 * for every module but config. */
typedef struct config {
    char *path; /* file it was read from */

    /* [kafka] */
    char *kafka_brokers;
    char *kafka_group_id;
    char *topic_appointments; /* "" = role not consumed */
    char *topic_journal;
    char *topic_audit;
    char *topic_alerts;
    int64_t max_message_bytes;
    config_kv_t *rdkafka;
    size_t rdkafka_count;

    /* [postgres] */
    char *pg_conninfo;
    char *pg_reader_role;

    /* [pipeline] */
    int64_t batch_events;
    int64_t batch_ms;
    int64_t decode_threads; /* 0: one per CPU, at most 4 */
    int64_t state_cache_entries;

    /* [kpi] */
    char *timezone;
    int64_t double_documentation_window_hours;
    double default_entry_minutes;
    int64_t audit_idle_timeout_minutes;
    int64_t audit_allowed_lateness_minutes;
    char **documentation_action_prefixes; /* NULL-terminated */
    size_t documentation_action_prefix_count;

    /* [privacy] */
    char *pseudonym_key_file;
    bool store_rejected_payload;
    int64_t min_cell_size;

    /* [goals] */
    char *goals_file; /* "" = no goals */
    int64_t grace_days;

    /* [alerts] */
    char *data_team_owner;
    char *dashboard_url;
    int64_t alerts_max_age_days;
    int64_t silence_days;       /* data.silence after this many days without events */
    double rejection_threshold; /* data.rejections above this share of a topic's day */
    char *smtp_url;
    char *smtp_from;

    /* [http] */
    char *http_listen; /* "" = off */

    /* [log] */
    int log_level; /* log_level_t */
} config_t;

/* Reads and validates FILE. Every problem is appended to *errors (one line
 * each, "path:line: reason"; caller frees) and counted; returns NULL when
 * there was any. Touches nothing outside memory. */
config_t *config_load(const char *path, char **errors, int *error_count);

/* As config_load, but a file with errors in it still gives a config: what
 * could be read, keys in error at their defaults. So a caller can go on to
 * check what the file names (the goals file, the key file) and report every
 * error at once. NULL only when the file cannot be read or memory runs out. */
config_t *config_load_partial(const char *path, char **errors, int *error_count);

/* Parses config text already in memory; `path` is only used in messages. */
config_t *config_parse(const char *path, const char *text, size_t len, char **errors,
                       int *error_count);

void config_destroy(config_t *cfg);

/* Logs the effective configuration, one key per line, secrets redacted. */
void config_log_effective(const config_t *cfg);

/* Writes conninfo with any password=... value replaced by "***" into out. */
void config_redact_conninfo(const char *conninfo, char *out, size_t out_size);

/* Prints the key table (name, type, default, reloadable, description) as Markdown. */
void config_print_reference(FILE *out);

/* Reads live->path again for a SIGHUP. Keys that cannot change at run time
 * keep live's values; their names (those that differ) go to kept, comma
 * separated. Returns the merged config (caller owns it) or NULL with errors
 * as config_load. live is not modified. */
config_t *config_reload(const config_t *live, char **errors, int *error_count, char *kept,
                        size_t kept_size);

/* Keys that differ between a and b and cannot change at run time; writes
 * their names, comma separated, into out. Returns how many. */
int config_diff_unreloadable(const config_t *a, const config_t *b, char *out, size_t out_size);

#endif
