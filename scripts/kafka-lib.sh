# shellcheck shell=bash
# The mock Kafka cluster (tools/gevinst-mock-kafka) for tests and the demo; sourced, not run.
#
#   source scripts/kafka-lib.sh
#   kafka_start --brokers 3 --topic ehr.audit:2 || exit   # options as gevinst-mock-kafka;
#                                                           # returns 2 on bad options, else 1
#   kcat -b "$GEVINST_TEST_BROKERS" -L
#   kafka_stop                                                # SIGTERM, SIGKILL after 5 s
#
# Exports GEVINST_TEST_BROKERS (bootstrap list), GEVINST_TEST_KAFKA_PID, GEVINST_TEST_KAFKA_DIR
# and GEVINST_TEST_KAFKA_LOG (the mock's stderr). The binary is $GEVINST_MOCK_KAFKA, else
# $GEVINST_BUILD/tools/gevinst-mock-kafka, else build/tools/gevinst-mock-kafka in the repo.
# The cluster is started with --die-with-parent: it goes away with the shell that started it.

kafka__repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# True while pid runs; a zombie (exited, not yet reaped) counts as gone.
kafka__alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

kafka_start() {
    local mock dir pid i status
    if [ -n "${GEVINST_TEST_KAFKA_DIR:-}" ] && [ -d "$GEVINST_TEST_KAFKA_DIR" ]; then
        echo "kafka-lib: a mock cluster is already running ($GEVINST_TEST_KAFKA_DIR)" >&2
        return 1
    fi
    mock=${GEVINST_MOCK_KAFKA:-${GEVINST_BUILD:-$kafka__repo/build}/tools/gevinst-mock-kafka}
    if [ ! -x "$mock" ]; then
        echo "kafka-lib: $mock not found; build it (target gevinst-mock-kafka) or set" \
             "GEVINST_BUILD" >&2
        return 1
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/gevinst-kafka.XXXXXX") || return 1
    GEVINST_TEST_KAFKA_DIR=$dir
    GEVINST_TEST_KAFKA_LOG=$dir/mock.log
    export GEVINST_TEST_KAFKA_DIR GEVINST_TEST_KAFKA_LOG

    "$mock" --die-with-parent --bootstrap-file "$dir/bootstrap" "$@" \
        </dev/null >/dev/null 2>"$dir/mock.log" &
    pid=$!
    GEVINST_TEST_KAFKA_PID=$pid
    export GEVINST_TEST_KAFKA_PID

    # The file appears complete (rename) once every broker listens and every topic exists.
    for ((i = 0; i < 200; i++)); do
        [ -s "$dir/bootstrap" ] && break
        if ! kafka__alive "$pid"; then
            wait "$pid" 2>/dev/null
            status=$?
            echo "kafka-lib: gevinst-mock-kafka exited with status $status before it was" \
                 "ready:" >&2
            cat "$dir/mock.log" >&2
            kafka_stop
            # 2: the options were wrong (usage error); anything else: it could not start.
            [ "$status" -eq 2 ] && return 2
            return 1
        fi
        sleep 0.05
    done
    if [ ! -s "$dir/bootstrap" ]; then
        echo "kafka-lib: gevinst-mock-kafka not ready after 10 s:" >&2
        cat "$dir/mock.log" >&2
        kafka_stop
        return 1
    fi
    GEVINST_TEST_BROKERS=$(head -n 1 "$dir/bootstrap")
    export GEVINST_TEST_BROKERS
    return 0
}

# Stops the cluster (SIGTERM; SIGKILL after 5 s) and removes its directory. Idempotent.
kafka_stop() {
    local pid=${GEVINST_TEST_KAFKA_PID:-} i
    if [ -n "$pid" ] && kafka__alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kafka__alive "$pid" || break
            sleep 0.1
        done
        if kafka__alive "$pid"; then
            echo "kafka-lib: gevinst-mock-kafka ($pid) ignored SIGTERM for 5 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Reaps it when it is our child; harmless when it is not.
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    [ -z "${GEVINST_TEST_KAFKA_DIR:-}" ] || rm -rf "$GEVINST_TEST_KAFKA_DIR"
    unset GEVINST_TEST_BROKERS GEVINST_TEST_KAFKA_PID GEVINST_TEST_KAFKA_DIR GEVINST_TEST_KAFKA_LOG
    return 0
}
