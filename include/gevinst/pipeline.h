#ifndef GEVINST_PIPELINE_H
#define GEVINST_PIPELINE_H

#include "gevinst/config.h"
#include "gevinst/goals.h"
#include "gevinst/pseudonym.h"

#include <signal.h>
#include <stdbool.h>

/* pipeline: Kafka in, PostgreSQL out, exactly once. Polls the consumer,
 * decodes and checks each message, applies accepted events to the KPI state,
 * and commits results and partition offsets in one transaction per batch. */
typedef struct pipeline pipeline_t;

/* Flags the main loop watches; set by signal handlers only. */
typedef struct pipeline_flags {
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t *reload;
} pipeline_flags_t;

/* Borrows cfg and pseudo for its lifetime; takes ownership of goals (may be
 * NULL: no goals file), also on failure. Creates the consumer (does not
 * connect yet). NULL + errstr on a configuration librdkafka refuses. */
pipeline_t *pipeline_new(const config_t *cfg, pseudo_t *pseudo, goals_t *goals, char *errstr,
                         size_t errstr_size);

/* Runs until *flags.stop, or with exit_on_eof until every assigned partition
 * has reached its end and all is committed. Connects to PostgreSQL (retrying
 * with backoff), applies migrations, starts the alert deliverer, subscribes. Returns the process
 * exit status: 0 clean stop, 1 runtime failure. */
int pipeline_run(pipeline_t *pl, const pipeline_flags_t *flags, bool exit_on_eof);

/* Stops consuming, closes the consumer; destroy accepts NULL. */
void pipeline_destroy(pipeline_t *pl);

#endif
