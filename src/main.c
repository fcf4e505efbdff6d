/* gevinstd: command line, start-up checks, signals; the work is in pipeline. */
#include "gevinst/config.h"
#include "gevinst/goals.h"
#include "gevinst/http.h"
#include "gevinst/log.h"
#include "gevinst/metrics.h"
#include "gevinst/pipeline.h"
#include "gevinst/pseudonym.h"

#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2 /* also bad config or goals */

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_reload(int sig)
{
    (void)sig;
    reload_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gevinstd --config FILE [--check | --exit-on-eof]\n"
                 "       gevinstd --version\n"
                 "\n"
                 "  -c, --config FILE   configuration file (INI)\n"
                 "      --check         validate the configuration and goals file, then exit\n"
                 "      --exit-on-eof   exit 0 once every assigned partition is consumed\n"
                 "      --config-reference  print the configuration keys as Markdown\n"
                 "  -V, --version       print the version\n"
                 "  -h, --help          this help\n");
}

/* The key file is relative to $CREDENTIALS_DIRECTORY when systemd hands it over. */
static void key_path(const config_t *cfg, char *out, size_t out_size)
{
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    if (creds && *creds && cfg->pseudonym_key_file[0] != '/')
        snprintf(out, out_size, "%s/%s", creds, cfg->pseudonym_key_file);
    else
        snprintf(out, out_size, "%s", cfg->pseudonym_key_file);
}

/* Loads the goals file (when configured) and checks alerts.data_team_owner
 * against it, printing every error to stderr like config errors. Returns how
 * many there were; *out gets the goals (NULL without a file or on errors). */
static int check_goals(const config_t *cfg, goals_t **out)
{
    char *errors = NULL;
    int n = 0;
    *out = NULL;
    if (cfg->goals_file[0]) {
        *out = goals_load(cfg->goals_file, &errors, &n);
        if (!*out) {
            fputs(errors ? errors : "gevinstd: cannot load the goals file\n", stderr);
            fprintf(stderr, "gevinstd: %d error%s in %s\n", n, n == 1 ? "" : "s", cfg->goals_file);
        }
        free(errors);
    }
    if (cfg->data_team_owner[0] && !cfg->goals_file[0]) {
        fprintf(stderr, "%s: alerts.data_team_owner: \"%s\" needs goals.file (owners are there)\n",
                cfg->path, cfg->data_team_owner);
        n++;
    } else if (cfg->data_team_owner[0] && *out && !goals_has_owner(*out, cfg->data_team_owner)) {
        fprintf(stderr, "%s: alerts.data_team_owner: \"%s\" is not an owner in %s\n", cfg->path,
                cfg->data_team_owner, cfg->goals_file);
        n++;
    }
    return n;
}

/* Keeps freed memory in the process instead of handing it back to the kernel
 * and faulting it in again: librdkafka's decompression buffers and a batch's
 * arrays are freed and allocated all the time, and in a virtual machine a
 * page fault can cost 10 us or more (13-15 us measured on the benchmark's VM,
 * bench/bench_pagefault). One arena, because glibc frees the heaps of the others
 * whatever the trim threshold. Memory stays bounded: the buffers are. */
static void malloc_keep(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_EOF, OPT_REFERENCE };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"exit-on-eof", no_argument, NULL, OPT_EOF},
        {"config-reference", no_argument, NULL, OPT_REFERENCE},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool check = false, exit_on_eof = false;
    int c;

    malloc_keep();
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case OPT_EOF:
            exit_on_eof = true;
            break;
        case OPT_REFERENCE:
            config_print_reference(stdout);
            return 0;
        case 'V':
            printf("gevinstd %s\n", GEVINST_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "gevinstd: %s: %s\n",
                    optopt ? "missing or bad argument for an option" : "unknown option",
                    argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gevinstd: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!config_path) {
        fprintf(stderr, "gevinstd: --config FILE is required\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (check && exit_on_eof) {
        fprintf(stderr, "gevinstd: --check and --exit-on-eof exclude each other\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    /* Every error at once (daemon.md: --check "prints every error"): a config
     * with errors still names a goals file and a key file, and those are
     * checked too before the exit. */
    char *errors = NULL;
    int error_count = 0;
    config_t *cfg = config_load_partial(config_path, &errors, &error_count);
    if (error_count || !cfg) {
        fputs(errors ? errors : "gevinstd: cannot load configuration\n", stderr);
        fprintf(stderr, "gevinstd: %d error%s in %s\n", error_count, error_count == 1 ? "" : "s",
                config_path);
    }
    free(errors);
    if (!cfg)
        return EXIT_USAGE;
    log_set_level((log_level_t)cfg->log_level);
    goals_t *goals = NULL;
    int goals_errors = check_goals(cfg, &goals);

    /* A missing or empty key file setting is a config error already reported. */
    char errstr[512];
    pseudo_t *pseudo = NULL;
    if (cfg->pseudonym_key_file && cfg->pseudonym_key_file[0]) {
        char keyfile[PATH_MAX];
        key_path(cfg, keyfile, sizeof(keyfile));
        pseudo = pseudo_new_from_file(keyfile, errstr, sizeof(errstr));
        if (!pseudo) {
            fprintf(stderr, "%s: privacy.pseudonym_key_file: %s\n", config_path, errstr);
            fprintf(stderr, "gevinstd: refusing to start without a pseudonym key "
                            "(make one with: openssl rand -hex 32 > FILE)\n");
        }
    }
    if (error_count || goals_errors || !pseudo) {
        goals_destroy(goals);
        pseudo_destroy(pseudo);
        config_destroy(cfg);
        return EXIT_USAGE;
    }

    if (check) {
        printf("%s: configuration OK\n", config_path);
        if (goals)
            printf("%s: goals OK (%zu units, %zu owners, %zu goals)\n", goals->path,
                   goals->unit_count, goals->owner_count, goals->goal_count);
        goals_destroy(goals);
        pseudo_destroy(pseudo);
        config_destroy(cfg);
        return 0;
    }

    log_info("gevinstd %s starting", GEVINST_VERSION);
    config_log_effective(cfg);

    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* The monitoring endpoint is an aid: a port in use is logged loudly but
     * does not stop the counting (and /healthz then tells nobody anything). */
    http_t *http = NULL;
    metrics_set(M_GOALS_LOADED, 1);
    if (*cfg->http_listen) {
        http = http_start(cfg->http_listen, errstr, sizeof(errstr));
        if (http)
            log_info("http: /metrics and /healthz on %s", cfg->http_listen);
        else
            log_error("http: cannot listen on %s: %s; running without /metrics and /healthz",
                      cfg->http_listen, errstr);
    }

    int status = EXIT_RUNTIME;
    pipeline_t *pl = pipeline_new(cfg, pseudo, goals, errstr, sizeof(errstr));
    goals = NULL; /* the pipeline owns it now */
    if (!pl) {
        log_error("%s", errstr);
        status = EXIT_USAGE;
    } else {
        pipeline_flags_t flags = {&stop_flag, &reload_flag};
        status = pipeline_run(pl, &flags, exit_on_eof);
    }
    pipeline_destroy(pl);
    http_stop(http);
    pseudo_destroy(pseudo);
    log_info("gevinstd stopped (exit status %d)", status);
    config_destroy(cfg);
    return status;
}
