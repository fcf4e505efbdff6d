/*
 * gevinst-mock-kafka: librdkafka's built-in mock cluster as a process of its own, for
 * integration tests and the local demo. Not a Kafka broker; never use it for real data.
 *
 *   gevinst-mock-kafka [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
 *                      [--die-with-parent]
 *
 * Prints the bootstrap list ("127.0.0.1:PORT,...") as one line on stdout once every broker
 * listens and every --topic exists, optionally writes it to PATH too (tmp file + rename, so a
 * reader never sees half a line), then serves until SIGTERM or SIGINT, destroys the cluster
 * and exits 0. Usage errors exit 2, start-up failures 1. Logs go to stderr. With
 * --die-with-parent it also stops when the process that started it dies (PR_SET_PDEATHSIG),
 * so a test script killed by a timeout does not leave a cluster behind.
 *
 * What the mock does and does not do (librdkafka 2.0.2, src/rdkafka_mock*.c):
 * - Unknown topics are auto-created, with 4 partitions, on the first Metadata request that
 *   names them: from a producer, and in 2.0.2 also from a consumer, even a high-level one
 *   left at allow.auto.create.topics=false (checked with kcat -C, kcat -G and a plain
 *   subscribe). So a consumer of a misspelt topic sees an empty topic, never
 *   UNKNOWN_TOPIC_OR_PART (only rd_kafka_mock_topic_set_error() fakes it). Create topics
 *   with --topic for the partition count you want; an existing topic is never re-created.
 * - Retention is by size and count, per partition, and not configurable: once a partition
 *   holds more than 5 MiB (max_size = 5 * 1024 * 1024) or more than 100000 message sets
 *   (produce batches, not messages), the oldest batches are dropped and the low watermark
 *   moves up (measured: of 16000 messages of 1 KB produced into one partition, 4300-5100
 *   were left). A test that produces more than ~5 MB into one partition before consuming it
 *   loses the start of it: spread it over partitions or consume while producing.
 *   rdkafka_mock.h has no setter for this and no property maps to it, so nothing to expose.
 * - Consumer groups work (JoinGroup, SyncGroup, offset commits), but a member that closes
 *   its consumer stays in the group until its session times out: the next consumer of that
 *   group waits up to session.timeout.ms (45 s by default) for its partitions (measured
 *   with kcat -G: 5 s, then 45 s, 46 s; 4, 6, 7 s with session.timeout.ms=6000). Tests use
 *   a short session timeout (tests/integration/lib.sh).
 * - Everything lives in memory: data and committed offsets are gone when this process ends.
 * - Replication is simulated: --topic asks for replication factor 1, yet the Metadata of
 *   librdkafka 2.0.2 lists every broker as replica and ISR; the mock picks each leader.
 * - The Admin API (CreateTopics, DeleteTopics) is not implemented by the mock.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define PROG "gevinst-mock-kafka"
#define MAX_BROKERS 32
#define MAX_PARTITIONS 1024

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]\n"
            "                          [--die-with-parent]\n"
            "  --brokers N              number of mock brokers, 1..%d (default 1)\n"
            "  --topic NAME:PARTITIONS  create a topic (replication 1); repeatable\n"
            "  --bootstrap-file PATH    also write the bootstrap list to PATH (atomically)\n"
            "  --die-with-parent        stop when the parent process dies\n"
            "Prints the bootstrap servers on stdout when ready; stops on SIGTERM/SIGINT.\n",
            MAX_BROKERS);
}

/* Parses a decimal int in [min, max]; false on anything else. */
static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* Writes line + "\n" to path through a temporary file in the same directory and rename(2),
 * so that a script polling for the file never reads a partial line. */
static bool write_file_atomic(const char *path, const char *line)
{
    char tmp[PATH_MAX];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fprintf(stderr, PROG ": %s: path too long\n", path);
        return false;
    }
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        return false;
    }
    if (fprintf(f, "%s\n", line) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return false;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

struct topic_spec {
    char name[250]; /* Kafka's limit is 249 characters */
    int partitions;
};

/* Parses "NAME:PARTITIONS" (the name may itself contain ':'; the last one separates). */
static bool topic_spec_parse(const char *spec, struct topic_spec *out)
{
    const char *colon = strrchr(spec, ':');
    size_t len;

    if (!colon || colon == spec || !parse_int(colon + 1, 1, MAX_PARTITIONS, &out->partitions)) {
        fprintf(stderr, PROG ": --topic %s: expected NAME:PARTITIONS (1..%d partitions)\n", spec,
                MAX_PARTITIONS);
        return false;
    }
    len = (size_t)(colon - spec);
    if (len >= sizeof(out->name)) {
        fprintf(stderr, PROG ": --topic %s: name longer than 249 characters\n", spec);
        return false;
    }
    memcpy(out->name, spec, len);
    out->name[len] = '\0';
    return true;
}

/* librdkafka's log lines, minus the warning that the dummy handle has no bootstrap.servers:
 * it never connects anywhere, it only hosts the mock cluster. */
static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        return;
    fprintf(stderr, PROG ": librdkafka %d %s: %s\n", level, fac, buf);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"die-with-parent", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int brokers = 1;
    const char *bootstrap_file = NULL;
    struct topic_spec *topics = calloc((size_t)argc, sizeof(*topics));
    int topic_cnt = 0;
    bool die_with_parent = false;
    int opt, rc = 0;
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    const char *bootstraps;
    struct sigaction sa;
    sigset_t stop_set, wait_set;

    if (!topics) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    while ((opt = getopt_long(argc, argv, "b:t:f:ph", opts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (!parse_int(optarg, 1, MAX_BROKERS, &brokers)) {
                fprintf(stderr, PROG ": --brokers %s: expected 1..%d\n", optarg, MAX_BROKERS);
                usage(stderr);
                free(topics);
                return 2;
            }
            break;
        case 't':
            if (!topic_spec_parse(optarg, &topics[topic_cnt++])) {
                usage(stderr);
                free(topics);
                return 2;
            }
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'p':
            die_with_parent = true;
            break;
        case 'h':
            usage(stdout);
            free(topics);
            return 0;
        default:
            usage(stderr);
            free(topics);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, PROG ": unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        free(topics);
        return 2;
    }

    /* Block the stop signals before librdkafka starts its threads, so they inherit the mask
     * and the signal is delivered to this thread only, inside sigsuspend() below. */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, &wait_set);
    sigdelset(&wait_set, SIGTERM);
    sigdelset(&wait_set, SIGINT);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (die_with_parent) {
        pid_t parent = getppid();

        /* SIGTERM lands in the handler above: the same orderly stop as a kill. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
            fprintf(stderr, PROG ": prctl(PR_SET_PDEATHSIG): %s\n", strerror(errno));
            free(topics);
            return 1;
        }
        if (getppid() != parent) /* it died before prctl() */
            stop_requested = 1;
    }
    /* A client that disconnects mid-response must not kill the cluster. */
    signal(SIGPIPE, SIG_IGN);

    /* The mock cluster needs an rd_kafka_t for bookkeeping; a producer that never produces. */
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
    if (rd_kafka_conf_set(conf, "client.id", PROG, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        free(topics);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, PROG ": rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        free(topics);
        return 1;
    }
    mcluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mcluster) {
        fprintf(stderr, PROG ": could not start a mock cluster with %d broker(s)\n", brokers);
        rd_kafka_destroy(rk);
        free(topics);
        return 1;
    }

    for (int i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, topics[i].name, topics[i].partitions, 1);
        if (err) {
            fprintf(stderr, PROG ": creating topic %s: %s\n", topics[i].name,
                    rd_kafka_err2str(err));
            rc = 1;
            goto out;
        }
        fprintf(stderr, PROG ": topic %s with %d partition(s)\n", topics[i].name,
                topics[i].partitions);
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (bootstrap_file && !write_file_atomic(bootstrap_file, bootstraps)) {
        rc = 1;
        goto out;
    }
    fprintf(stderr, PROG ": %d broker(s) ready: %s (librdkafka %s)\n", brokers, bootstraps,
            rd_kafka_version_str());
    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }

    while (!stop_requested)
        sigsuspend(&wait_set);
    fprintf(stderr, PROG ": stopping\n");

out:
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    free(topics);
    return rc;
}
