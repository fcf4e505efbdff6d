/* config: the key table, and the reading, checking and logging it drives. */
#include "gevinst/config.h"

#include "gevinst/ini.h"
#include "gevinst/log.h"
#include "gevinst/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef enum ckey_type {
    CK_STRING,
    CK_INT,
    CK_DOUBLE,
    CK_BOOL,
    CK_LIST,  /* comma separated strings */
    CK_LEVEL, /* log level name */
} ckey_type_t;

/* Secrets are redacted in the effective-config log: conninfo passwords,
 * userinfo in URLs. */
typedef enum ckey_secret {
    CS_NONE,
    CS_CONNINFO,
    CS_URL,
} ckey_secret_t;

typedef struct ckey {
    const char *name; /* "section.key" */
    ckey_type_t type;
    size_t offset;
    const char *def; /* NULL: required */
    double min, max; /* for CK_INT and CK_DOUBLE */
    bool reloadable;
    ckey_secret_t secret;
    const char *description;
} ckey_t;

#define OFF(f) offsetof(config_t, f)

/* CK_LIST stores its item count in the size_t right after the list pointer. */
_Static_assert(offsetof(config_t, documentation_action_prefix_count) ==
                   offsetof(config_t, documentation_action_prefixes) + sizeof(char **),
               "list count must follow the list");
#define NOLIM 0, 0

/* The one table. Alphabetical by section then key, as in daemon.md. */
static const ckey_t ckeys[] = {
    {"alerts.dashboard_url", CK_STRING, OFF(dashboard_url), "", NOLIM, true, CS_URL,
     "Link put in alert messages (a dashboard showing the goal)"},
    {"alerts.data_team_owner", CK_STRING, OFF(data_team_owner), "", NOLIM, true, CS_NONE,
     "Owner id (goals file) who receives data.silence and data.rejections alerts"},
    {"alerts.max_age_days", CK_INT, OFF(alerts_max_age_days), "14", 0, 3650, true, CS_NONE,
     "Alerts whose period ended longer ago are recorded as suppressed, not sent"},
    {"alerts.rejection_threshold", CK_DOUBLE, OFF(rejection_threshold), "0.01", 0, 1, true, CS_NONE,
     "data.rejections when more than this share of a topic's events on a day is rejected"},
    {"alerts.silence_days", CK_INT, OFF(silence_days), "3", 1, 365, true, CS_NONE,
     "data.silence when a unit active in the last 28 days has had no events for this many days"},
    {"alerts.smtp_from", CK_STRING, OFF(smtp_from), "", NOLIM, true, CS_NONE,
     "Sender address of alert e-mails"},
    {"alerts.smtp_url", CK_STRING, OFF(smtp_url), "", NOLIM, true, CS_URL,
     "SMTP relay, e.g. smtp://relay.example.org:25; empty: no e-mail"},
    {"goals.file", CK_STRING, OFF(goals_file), "", NOLIM, true, CS_NONE,
     "Goals file (JSON, goals.md); empty: no goal judgement"},
    {"goals.grace_days", CK_INT, OFF(grace_days), "2", 0, 365, true, CS_NONE,
     "Days past a period's end before the period is closed and judged"},
    {"http.listen", CK_STRING, OFF(http_listen), "127.0.0.1:9187", NOLIM, false, CS_NONE,
     "host:port for /metrics and /healthz; empty: off"},
    {"kafka.brokers", CK_STRING, OFF(kafka_brokers), NULL, NOLIM, false, CS_NONE,
     "Bootstrap brokers, host:port[,host:port...]"},
    {"kafka.group_id", CK_STRING, OFF(kafka_group_id), "gevinstd", NOLIM, false, CS_NONE,
     "Consumer group shared by all instances"},
    {"kafka.max_message_bytes", CK_INT, OFF(max_message_bytes), "1048576", 1024, 100000000, false,
     CS_NONE, "Larger messages are rejected as too_large without being parsed"},
    {"kafka.topic.alerts", CK_STRING, OFF(topic_alerts), "gevinst.alerts", NOLIM, false, CS_NONE,
     "Topic alerts are produced to; empty: none"},
    {"kafka.topic.appointments", CK_STRING, OFF(topic_appointments), "ehr.appointments", NOLIM,
     false, CS_NONE, "Topic of the appointments role; empty: not consumed"},
    {"kafka.topic.audit", CK_STRING, OFF(topic_audit), "ehr.audit", NOLIM, false, CS_NONE,
     "Topic of the audit role; empty: not consumed"},
    {"kafka.topic.journal", CK_STRING, OFF(topic_journal), "ehr.journal", NOLIM, false, CS_NONE,
     "Topic of the journal role; empty: not consumed"},
    {"kpi.audit_allowed_lateness_minutes", CK_INT, OFF(audit_allowed_lateness_minutes), "10", 0,
     1440, false, CS_NONE, "Audit events older than a user's latest minus this are late_event"},
    {"kpi.audit_idle_timeout_minutes", CK_INT, OFF(audit_idle_timeout_minutes), "5", 1, 1440, false,
     CS_NONE, "Longest gap between audit events that counts as active time"},
    {"kpi.default_entry_minutes", CK_DOUBLE, OFF(default_entry_minutes), "5", 0, 1440, false,
     CS_NONE, "Minutes per duplicate entry without duration_s"},
    {"kpi.documentation_action_prefixes", CK_LIST, OFF(documentation_action_prefixes),
     "note., flowsheet., journal., careplan.", NOLIM, false, CS_NONE,
     "Audit actions starting with one of these are documentation"},
    {"kpi.double_documentation_window_hours", CK_INT, OFF(double_documentation_window_hours), "24",
     1, 8760, false, CS_NONE, "An entry is a duplicate of one at most this long before it"},
    {"kpi.timezone", CK_STRING, OFF(timezone), "Europe/Oslo", NOLIM, false, CS_NONE,
     "IANA time zone of KPI days, weeks and months"},
    {"log.level", CK_LEVEL, OFF(log_level), "info", NOLIM, true, CS_NONE,
     "error, warn, info or debug"},
    /* 20,000: with the commit overlapping the next batch's decoding, bigger
     * batches amortise the per-cell KPI upserts (bench/README.md). */
    {"pipeline.batch_events", CK_INT, OFF(batch_events), "20000", 1, 1000000, true, CS_NONE,
     "Commit a transaction after this many messages (a message may carry several events)"},
    {"pipeline.batch_ms", CK_INT, OFF(batch_ms), "500", 10, 60000, true, CS_NONE,
     "Commit a transaction at least this often while events arrive"},
    {"pipeline.decode_threads", CK_INT, OFF(decode_threads), "0", 0, 64, false, CS_NONE,
     "Threads decoding messages (JSON, checks, pseudonyms); 0: one per CPU, at most 4"},
    {"pipeline.state_cache_entries", CK_INT, OFF(state_cache_entries), "250000", 1024, 100000000,
     false, CS_NONE,
     "States cached in memory per kind (appointments: 210-420 bytes each; audit users)"},
    {"postgres.conninfo", CK_STRING, OFF(pg_conninfo), NULL, NOLIM, false, CS_CONNINFO,
     "libpq connection string"},
    {"postgres.reader_role", CK_STRING, OFF(pg_reader_role), "gevinst_reader", NOLIM, false,
     CS_NONE, "Read-only role granted schema gevinst_dash; empty: none"},
    {"privacy.min_cell_size", CK_INT, OFF(min_cell_size), "5", 1, 1000000, true, CS_NONE,
     "gevinst_dash rows with a smaller denominator show null numerator and value"},
    {"privacy.pseudonym_key_file", CK_STRING, OFF(pseudonym_key_file), NULL, NOLIM, false, CS_NONE,
     "HMAC key for pseudonyms (>= 32 bytes); relative to $CREDENTIALS_DIRECTORY if set"},
    {"privacy.store_rejected_payload", CK_BOOL, OFF(store_rejected_payload), "false", NOLIM, true,
     CS_NONE, "Keep raw payloads of rejected events (they may hold health data)"},
};
#define CKEY_COUNT (sizeof(ckeys) / sizeof(ckeys[0]))

/* rdkafka properties gevinstd sets itself; overriding them would break
 * exactly-once offsets or the config's own keys. */
static const char *rdkafka_managed[] = {
    "bootstrap.servers",    "metadata.broker.list",     "group.id",
    "enable.auto.commit",   "enable.auto.offset.store", "auto.offset.reset",
    "enable.partition.eof", /* --exit-on-eof depends on it */
};

typedef struct parse_state {
    const char *path;
    config_t *cfg;
    int line_of[CKEY_COUNT]; /* 0: not set in the file */
    char **errors;
    size_t errors_len, errors_cap;
    int error_count;
    rd_kafka_conf_t *rdconf;
    int last_line;
    struct {
        char name[64];
        int line;
    } sections[32];
    int section_count;
} parse_state_t;

static void add_error(parse_state_t *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(parse_state_t *ps, int line, const char *fmt, ...)
{
    char msg[1024];
    int n;
    va_list ap;
    if (line > 0)
        n = snprintf(msg, sizeof(msg), "%s:%d: ", ps->path, line);
    else
        n = snprintf(msg, sizeof(msg), "%s: ", ps->path);
    /* A path longer than msg would put the reason past its end. */
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(msg);
    if (ps->errors_len + len + 2 > ps->errors_cap) {
        size_t cap = (ps->errors_cap + len + 2) * 2;
        char *p = realloc(*ps->errors, cap);
        if (!p)
            return;
        *ps->errors = p;
        ps->errors_cap = cap;
    }
    memcpy(*ps->errors + ps->errors_len, msg, len);
    ps->errors_len += len;
    (*ps->errors)[ps->errors_len++] = '\n';
    (*ps->errors)[ps->errors_len] = '\0';
    ps->error_count++;
}

static const ckey_t *ckey_find(const char *name)
{
    for (size_t i = 0; i < CKEY_COUNT; i++)
        if (strcmp(ckeys[i].name, name) == 0)
            return &ckeys[i];
    return NULL;
}

static void free_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* Splits "a, b ,c" into a NULL-terminated array of trimmed, non-empty items. */
static char **split_list(const char *s, size_t *count)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **out = calloc(cap + 1, sizeof(char *));
    size_t n = 0;
    const char *p = s;
    while (out) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len)
            out[n++] = strndup(p, len);
        if (!end)
            break;
        p = end + 1;
    }
    *count = n;
    return out;
}

/* Stores a value into the config field of k. Returns NULL or a reason. */
static const char *ckey_set(config_t *cfg, const ckey_t *k, const char *value, char *why,
                            size_t why_size)
{
    void *field = (char *)cfg + k->offset;
    char *end;
    switch (k->type) {
    case CK_STRING:
        free(*(char **)field);
        *(char **)field = strdup(value);
        return NULL;
    case CK_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno)
            return "not an integer";
        if ((double)v < k->min || (double)v > k->max) {
            snprintf(why, why_size, "%lld is out of range [%.0f, %.0f]", v, k->min, k->max);
            return why;
        }
        *(int64_t *)field = v;
        return NULL;
    }
    case CK_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno || !isfinite(v))
            return "not a number";
        if (v < k->min || v > k->max) {
            snprintf(why, why_size, "%g is out of range [%g, %g]", v, k->min, k->max);
            return why;
        }
        *(double *)field = v;
        return NULL;
    }
    case CK_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0) {
                *(bool *)field = true;
                return NULL;
            }
            if (strcasecmp(value, no[i]) == 0) {
                *(bool *)field = false;
                return NULL;
            }
        }
        return "not a boolean (true or false)";
    }
    case CK_LIST: {
        size_t n;
        char **list = split_list(value, &n);
        if (!list)
            return "out of memory";
        free_list(*(char ***)field);
        *(char ***)field = list;
        /* The count sits right after the list pointer in config_t. */
        *(size_t *)((char *)field + sizeof(char **)) = n;
        return NULL;
    }
    case CK_LEVEL: {
        log_level_t lvl;
        if (!log_level_parse(value, &lvl))
            return "not a log level (error, warn, info, debug)";
        *(int *)field = (int)lvl;
        return NULL;
    }
    }
    return "bad key type";
}

static void on_section(void *opaque, const char *section, int line)
{
    parse_state_t *ps = opaque;
    static const char *known[] = {"alerts", "goals",    "http",     "kafka",  "kpi",
                                  "log",    "pipeline", "postgres", "privacy"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= strcmp(section, known[i]) == 0;
    if (!ok)
        add_error(ps, line, "unknown section [%s]", section);
    if (ps->section_count < 32 && strlen(section) < 64) {
        strcpy(ps->sections[ps->section_count].name, section);
        ps->sections[ps->section_count++].line = line;
    }
}

static void on_rdkafka_key(parse_state_t *ps, const char *prop, const char *value, int line)
{
    char errstr[512];
    for (size_t i = 0; i < sizeof(rdkafka_managed) / sizeof(rdkafka_managed[0]); i++) {
        if (strcmp(prop, rdkafka_managed[i]) == 0) {
            add_error(ps, line, "rdkafka.%s is managed by gevinstd and cannot be set", prop);
            return;
        }
    }
    for (size_t i = 0; i < ps->cfg->rdkafka_count; i++) {
        if (strcmp(ps->cfg->rdkafka[i].key, prop) == 0) {
            add_error(ps, line, "duplicate key 'rdkafka.%s' (first set at line %d)", prop,
                      ps->cfg->rdkafka[i].line);
            return;
        }
    }
    if (rd_kafka_conf_set(ps->rdconf, prop, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        /* Some of librdkafka's messages end in a newline: one error, one line. */
        errstr[strcspn(errstr, "\r\n")] = '\0';
        add_error(ps, line, "rdkafka.%s: %s", prop, errstr);
        return;
    }
    config_t *cfg = ps->cfg;
    config_kv_t *kv = realloc(cfg->rdkafka, (cfg->rdkafka_count + 1) * sizeof(*kv));
    if (!kv)
        return;
    cfg->rdkafka = kv;
    kv[cfg->rdkafka_count].key = strdup(prop);
    kv[cfg->rdkafka_count].value = strdup(value);
    kv[cfg->rdkafka_count].line = line;
    cfg->rdkafka_count++;
}

static bool on_key(void *opaque, const char *section, int section_line, const char *key,
                   const char *value, int line)
{
    parse_state_t *ps = opaque;
    char name[512], why[256];
    (void)section_line;
    ps->last_line = line;
    if (*section == '\0') {
        add_error(ps, line, "key '%s' outside any [section]", key);
        return true;
    }
    if (strcmp(section, "kafka") == 0 && strncmp(key, "rdkafka.", 8) == 0 && key[8]) {
        on_rdkafka_key(ps, key + 8, value, line);
        return true;
    }
    snprintf(name, sizeof(name), "%s.%s", section, key);
    const ckey_t *k = ckey_find(name);
    if (!k) {
        add_error(ps, line, "unknown key '%s' in [%s]", key, section);
        return true;
    }
    size_t idx = (size_t)(k - ckeys);
    if (ps->line_of[idx]) {
        add_error(ps, line, "duplicate key '%s' (first set at line %d)", key, ps->line_of[idx]);
        return true;
    }
    ps->line_of[idx] = line;
    const char *err = ckey_set(ps->cfg, k, value, why, sizeof(why));
    if (err)
        add_error(ps, line, "%s: %s", name, err);
    return true;
}

static void on_ini_error(void *opaque, int line, const char *reason)
{
    add_error(opaque, line, "%s", reason);
}

static int section_line(const parse_state_t *ps, const char *key_name)
{
    const char *dot = strchr(key_name, '.');
    for (int i = 0; i < ps->section_count; i++)
        if (strlen(ps->sections[i].name) == (size_t)(dot - key_name) &&
            strncmp(ps->sections[i].name, key_name, (size_t)(dot - key_name)) == 0)
            return ps->sections[i].line;
    return 0;
}

/* Loading it is the only check that agrees with what the daemon will do. */
static bool timezone_exists(const char *tz)
{
    char why[256];
    timeutil_tz_t *z = timeutil_tz_new(tz, why, sizeof(why));
    timeutil_tz_destroy(z);
    return z != NULL;
}

/* Rules that span keys, or need more than a type and bounds. */
static void config_finalize(parse_state_t *ps)
{
    config_t *cfg = ps->cfg;
    for (size_t i = 0; i < CKEY_COUNT; i++) {
        const ckey_t *k = &ckeys[i];
        if (k->def || ps->line_of[i])
            continue;
        int line = section_line(ps, k->name);
        add_error(ps, line, "missing required key '%s'", k->name);
    }
#define LINE(name) (ps->line_of[ckey_find(name) - ckeys])
    if (cfg->kafka_brokers && LINE("kafka.brokers") && *cfg->kafka_brokers == '\0')
        add_error(ps, LINE("kafka.brokers"), "kafka.brokers: must not be empty");
    if (cfg->pg_conninfo && LINE("postgres.conninfo") && *cfg->pg_conninfo == '\0')
        add_error(ps, LINE("postgres.conninfo"), "postgres.conninfo: must not be empty");
    if (cfg->pseudonym_key_file && LINE("privacy.pseudonym_key_file") &&
        *cfg->pseudonym_key_file == '\0')
        add_error(ps, LINE("privacy.pseudonym_key_file"),
                  "privacy.pseudonym_key_file: must not be empty");
    if (*cfg->kafka_group_id == '\0')
        add_error(ps, LINE("kafka.group_id"), "kafka.group_id: must not be empty");
    if (!*cfg->topic_appointments && !*cfg->topic_journal && !*cfg->topic_audit)
        add_error(ps, LINE("kafka.topic.appointments"),
                  "no role to consume: kafka.topic.appointments, .journal and .audit are all "
                  "empty");
    if (!timezone_exists(cfg->timezone))
        add_error(ps, LINE("kpi.timezone"), "kpi.timezone: unknown time zone '%s'", cfg->timezone);
    if (cfg->documentation_action_prefix_count == 0)
        add_error(ps, LINE("kpi.documentation_action_prefixes"),
                  "kpi.documentation_action_prefixes: needs at least one prefix");
    if (*cfg->http_listen) {
        const char *colon = strrchr(cfg->http_listen, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == cfg->http_listen || *end != '\0' || port < 1 || port > 65535)
            add_error(ps, LINE("http.listen"), "http.listen: expected host:port (port 1-65535)");
    }
    if (*cfg->smtp_url && !*cfg->smtp_from)
        add_error(ps, LINE("alerts.smtp_url"), "alerts.smtp_from is required with alerts.smtp_url");
    if (*cfg->pg_reader_role) {
        for (const char *p = cfg->pg_reader_role; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
                add_error(ps, LINE("postgres.reader_role"),
                          "postgres.reader_role: use lowercase letters, digits and _");
                break;
            }
    }
#undef LINE
}

/* keep: return the config even when the text has errors (config_load_partial). */
static config_t *parse(const char *path, const char *text, size_t len, char **errors,
                       int *error_count, bool keep)
{
    char why[256];
    parse_state_t *ps = calloc(1, sizeof(*ps));
    config_t *cfg = calloc(1, sizeof(*cfg));
    *errors = NULL;
    *error_count = 0;
    if (!ps || !cfg) {
        free(ps);
        free(cfg);
        return NULL;
    }
    ps->path = path;
    ps->cfg = cfg;
    ps->errors = errors;
    ps->rdconf = rd_kafka_conf_new();
    cfg->path = strdup(path);

    for (size_t i = 0; i < CKEY_COUNT; i++)
        if (ckeys[i].def && ckey_set(cfg, &ckeys[i], ckeys[i].def, why, sizeof(why)))
            add_error(ps, 0, "internal: bad default for %s", ckeys[i].name);

    ini_parse(text, len, on_section, on_key, on_ini_error, ps);
    config_finalize(ps);

    rd_kafka_conf_destroy(ps->rdconf);
    *error_count = ps->error_count;
    if (ps->error_count && !keep) {
        config_destroy(cfg);
        cfg = NULL;
    }
    free(ps);
    return cfg;
}

config_t *config_parse(const char *path, const char *text, size_t len, char **errors,
                       int *error_count)
{
    return parse(path, text, len, errors, error_count, false);
}

static config_t *load(const char *path, char **errors, int *error_count, bool keep)
{
    FILE *f = fopen(path, "rb");
    *errors = NULL;
    *error_count = 0;
    if (!f) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: cannot read: %s\n", path, strerror(errno));
        *errors = strdup(msg);
        *error_count = 1;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    bool too_large = false;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap && len < (16u << 20)) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
            }
            buf = p;
        } else if (len == cap) {
            too_large = fgetc(f) != EOF;
            break;
        }
    }
    /* A directory opens fine and fails on read: say so, rather than parse
     * what was read (nothing, or the first 16 MiB) as the whole file. */
    bool read_failed = ferror(f);
    int read_errno = errno;
    fclose(f);
    if (!buf) {
        *errors = strdup("out of memory\n");
        *error_count = 1;
        return NULL;
    }
    if (read_failed || too_large) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: cannot read: %s\n", path,
                 too_large ? "larger than 16 MiB" : strerror(read_errno));
        free(buf);
        *errors = strdup(msg);
        *error_count = 1;
        return NULL;
    }
    config_t *cfg = parse(path, buf, len, errors, error_count, keep);
    free(buf);
    return cfg;
}

config_t *config_load(const char *path, char **errors, int *error_count)
{
    return load(path, errors, error_count, false);
}

config_t *config_load_partial(const char *path, char **errors, int *error_count)
{
    return load(path, errors, error_count, true);
}

void config_destroy(config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CKEY_COUNT; i++) {
        void *field = (char *)cfg + ckeys[i].offset;
        if (ckeys[i].type == CK_STRING)
            free(*(char **)field);
        else if (ckeys[i].type == CK_LIST)
            free_list(*(char ***)field);
    }
    for (size_t i = 0; i < cfg->rdkafka_count; i++) {
        free(cfg->rdkafka[i].key);
        free(cfg->rdkafka[i].value);
    }
    free(cfg->rdkafka);
    free(cfg->path);
    free(cfg);
}

void config_redact_conninfo(const char *conninfo, char *out, size_t out_size)
{
    /* Redact password=... (and sslpassword=...) in key/value form, user:pass@
     * and ?password=... in URI form, parsed the way libpq parses them. */
    size_t o = 0;
    const char *p = conninfo;
    if (out_size == 0)
        return;
    if (strncmp(p, "postgres://", 11) == 0 || strncmp(p, "postgresql://", 13) == 0) {
        const char *scheme_end = strstr(p, "://") + 3;
        /* libpq looks for the '@' of user info before the first '/' only. */
        size_t authority = strcspn(scheme_end, "/");
        const char *at = memchr(scheme_end, '@', authority);
        const char *colon = at ? memchr(scheme_end, ':', (size_t)(at - scheme_end)) : NULL;
        if (colon) {
            snprintf(out, out_size, "%.*s:***%s", (int)(colon - p), p, at);
        } else {
            snprintf(out, out_size, "%s", p);
        }
        /* Every password= parameter, keeping the ones after it. */
        for (char *q = out; (q = strstr(q, "password=")) != NULL;) {
            q += 9;
            char *value_end = q + strcspn(q, "&");
            size_t rest = strlen(value_end);
            size_t room = out_size - 1 - (size_t)(q - out);
            if (room < 3) {
                memcpy(q, "***", room);
                q[room] = '\0';
                break;
            }
            if (rest > room - 3)
                rest = room - 3;
            memmove(q + 3, value_end, rest);
            memcpy(q, "***", 3);
            q[3 + rest] = '\0';
            q += 3;
        }
        return;
    }
    while (*p && o + 1 < out_size) {
        size_t kw = strncmp(p, "sslpassword", 11) == 0 ? 11
                    : strncmp(p, "password", 8) == 0   ? 8
                                                       : 0;
        if (kw && (p == conninfo || isspace((unsigned char)p[-1]))) {
            const char *v = p + kw;
            while (isspace((unsigned char)*v))
                v++;
            if (*v == '=') {
                v++;
                while (isspace((unsigned char)*v))
                    v++;
                /* Skip a quoted or plain value; a backslash escapes in both. */
                if (*v == '\'') {
                    v++;
                    while (*v && *v != '\'')
                        v += (*v == '\\' && v[1]) ? 2 : 1;
                    if (*v)
                        v++;
                } else {
                    while (*v && !isspace((unsigned char)*v))
                        v += (*v == '\\' && v[1]) ? 2 : 1;
                }
                o += (size_t)snprintf(out + o, out_size - o, "%.*s=***", (int)kw, p);
                if (o >= out_size)
                    o = out_size - 1;
                p = v;
                continue;
            }
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

static void redact_url(const char *url, char *out, size_t out_size)
{
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *slash = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    if (at && (!slash || at < slash))
        snprintf(out, out_size, "%.*s***%s", (int)(scheme_end + 3 - url), url, at);
    else
        snprintf(out, out_size, "%s", url);
}

/* Formats a key's value as the config file would write it (redacted). */
static void ckey_format(const config_t *cfg, const ckey_t *k, char *out, size_t out_size)
{
    const void *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case CK_STRING: {
        const char *s = *(char *const *)field ? *(char *const *)field : "";
        if (k->secret == CS_CONNINFO)
            config_redact_conninfo(s, out, out_size);
        else if (k->secret == CS_URL)
            redact_url(s, out, out_size);
        else
            snprintf(out, out_size, "%s", s);
        break;
    }
    case CK_INT:
        snprintf(out, out_size, "%lld", (long long)*(const int64_t *)field);
        break;
    case CK_DOUBLE:
        snprintf(out, out_size, "%g", *(const double *)field);
        break;
    case CK_BOOL:
        snprintf(out, out_size, "%s", *(const bool *)field ? "true" : "false");
        break;
    case CK_LIST: {
        size_t o = 0;
        out[0] = '\0';
        for (char *const *p = *(char **const *)field; p && *p && o < out_size; p++)
            o += (size_t)snprintf(out + o, out_size - o, "%s%s", o ? ", " : "", *p);
        break;
    }
    case CK_LEVEL:
        snprintf(out, out_size, "%s", log_level_name((log_level_t) * (const int *)field));
        break;
    }
}

static bool rdkafka_prop_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, ".pem") ||
           strstr(key, "key") || strstr(key, "jaas") || strstr(key, "oauthbearer.config");
}

void config_log_effective(const config_t *cfg)
{
    char value[1024];
    log_info("config: effective configuration from %s", cfg->path);
    for (size_t i = 0; i < CKEY_COUNT; i++) {
        ckey_format(cfg, &ckeys[i], value, sizeof(value));
        log_info("config: %s = %s", ckeys[i].name, value);
    }
    for (size_t i = 0; i < cfg->rdkafka_count; i++)
        log_info("config: kafka.rdkafka.%s = %s", cfg->rdkafka[i].key,
                 rdkafka_prop_secret(cfg->rdkafka[i].key) ? "***" : cfg->rdkafka[i].value);
}

void config_print_reference(FILE *out)
{
    static const char *type_names[] = {"string", "integer", "number", "boolean", "list", "level"};
    fprintf(out, "| key | type | default | reloadable | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < CKEY_COUNT; i++) {
        const ckey_t *k = &ckeys[i];
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", k->name, type_names[k->type],
                k->def ? "`" : "", k->def ? k->def : "required", k->def ? "`" : "",
                k->reloadable ? "yes" : "no", k->description);
    }
    fprintf(out, "| `kafka.rdkafka.*` | string | | no | passed to librdkafka as it is |\n");
}

int config_diff_unreloadable(const config_t *a, const config_t *b, char *out, size_t out_size)
{
    char va[1024], vb[1024];
    int n = 0;
    size_t o = 0;
    if (out_size)
        out[0] = '\0';
    for (size_t i = 0; i < CKEY_COUNT; i++) {
        if (ckeys[i].reloadable)
            continue;
        ckey_format(a, &ckeys[i], va, sizeof(va));
        ckey_format(b, &ckeys[i], vb, sizeof(vb));
        /* Redaction could hide a password change: compare raw strings too. */
        bool differ = strcmp(va, vb) != 0;
        if (ckeys[i].type == CK_STRING) {
            const char *ra = *(char *const *)((const char *)a + ckeys[i].offset);
            const char *rb = *(char *const *)((const char *)b + ckeys[i].offset);
            differ = strcmp(ra ? ra : "", rb ? rb : "") != 0;
        } else if (ckeys[i].type == CK_DOUBLE) {
            /* %g shows six digits: 1439.99 and 1439.991 look alike. */
            differ = *(const double *)((const char *)a + ckeys[i].offset) !=
                     *(const double *)((const char *)b + ckeys[i].offset);
        }
        if (differ) {
            n++;
            if (o < out_size)
                o += (size_t)snprintf(out + o, out_size - o, "%s%s", o ? ", " : "", ckeys[i].name);
        }
    }
    bool rd_differ = a->rdkafka_count != b->rdkafka_count;
    for (size_t i = 0; !rd_differ && i < a->rdkafka_count; i++)
        rd_differ = strcmp(a->rdkafka[i].key, b->rdkafka[i].key) ||
                    strcmp(a->rdkafka[i].value, b->rdkafka[i].value);
    if (rd_differ) {
        n++;
        if (o < out_size)
            snprintf(out + o, out_size - o, "%skafka.rdkafka.*", o ? ", " : "");
    }
    return n;
}

/* Copies one key's value from src into dst (dst's old value freed). */
static void ckey_copy(config_t *dst, const config_t *src, const ckey_t *k)
{
    void *d = (char *)dst + k->offset;
    const void *sv = (const char *)src + k->offset;
    switch (k->type) {
    case CK_STRING:
        free(*(char **)d);
        *(char **)d = strdup(*(char *const *)sv ? *(char *const *)sv : "");
        break;
    case CK_LIST: {
        size_t n = *(const size_t *)((const char *)sv + sizeof(char **));
        char **list = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; list && i < n; i++)
            list[i] = strdup((*(char **const *)sv)[i]);
        free_list(*(char ***)d);
        *(char ***)d = list;
        *(size_t *)((char *)d + sizeof(char **)) = list ? n : 0;
        break;
    }
    case CK_INT:
        *(int64_t *)d = *(const int64_t *)sv;
        break;
    case CK_DOUBLE:
        *(double *)d = *(const double *)sv;
        break;
    case CK_BOOL:
        *(bool *)d = *(const bool *)sv;
        break;
    case CK_LEVEL:
        *(int *)d = *(const int *)sv;
        break;
    }
}

config_t *config_reload(const config_t *live, char **errors, int *error_count, char *kept,
                        size_t kept_size)
{
    config_t *fresh = config_load(live->path, errors, error_count);
    if (!fresh)
        return NULL;
    config_diff_unreloadable(live, fresh, kept, kept_size);
    for (size_t i = 0; i < CKEY_COUNT; i++)
        if (!ckeys[i].reloadable)
            ckey_copy(fresh, live, &ckeys[i]);
    for (size_t i = 0; i < fresh->rdkafka_count; i++) {
        free(fresh->rdkafka[i].key);
        free(fresh->rdkafka[i].value);
    }
    free(fresh->rdkafka);
    fresh->rdkafka = calloc(live->rdkafka_count + 1, sizeof(config_kv_t));
    fresh->rdkafka_count = fresh->rdkafka ? live->rdkafka_count : 0;
    for (size_t i = 0; i < fresh->rdkafka_count; i++)
        fresh->rdkafka[i] = (config_kv_t){strdup(live->rdkafka[i].key),
                                          strdup(live->rdkafka[i].value), live->rdkafka[i].line};
    return fresh;
}
