#!/usr/bin/env bash
# Builds fuzz/fuzz_event.c with clang (libFuzzer + ASan + UBSan) straight from
# the sources, independent of the CMake build, seeds it from the test
# fixtures and runs it for a bounded time.
#
# Usage: scripts/fuzz.sh [SECONDS]     (default 60)
# Env:   GEVINST_FUZZ_DIR  build, corpus and crash dir (default <repo>/build-fuzz)
#        FUZZ_CC           compiler (default clang)
#        FUZZ_JOBS         parallel fuzzing processes (default 1)
# Exit:  0 no finding; 1 crash, leak, UB or timeout (libFuzzer's own codes,
#        77 and 70, are mapped to 1 so 77 can mean skipped; reproducer in
#        $GEVINST_FUZZ_DIR/artifacts); 77 clang/libFuzzer not available.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
out=${GEVINST_FUZZ_DIR:-$root/build-fuzz}
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-1}

case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

mkdir -p "$out/corpus" "$out/artifacts"

# Can this compiler make a libFuzzer binary at all? If not, skip (77), since
# that is a missing tool, not a finding.
probe="$out/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! command -v "$cc" >/dev/null 2>&1 ||
    ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" 2>/dev/null; then
    echo "fuzz.sh: $cc cannot build libFuzzer targets here; skipped" >&2
    exit 77
fi

# The decoder's own sources: keep this list in step with fuzz_event.c's needs.
srcs=(src/event.c src/pseudonym.c src/timeutil.c src/log.c)
# shellcheck disable=SC2207
libs=($(pkg-config --cflags --libs jansson libcrypto))
"$cc" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Werror -I"$root/include" \
    "$root/fuzz/fuzz_event.c" "${srcs[@]/#/$root/}" "${libs[@]}" -lpthread \
    -o "$out/fuzz_event"

# Seeds: every fixture file and every line of the contract examples, fresh
# each run so that edits to the fixtures are picked up.
seed="$out/seed"
rm -rf "$seed"
mkdir -p "$seed"
find "$root/tests/fixtures/events" -type f -name '*.json' -print0 |
    while IFS= read -r -d '' f; do cp "$f" "$seed/$(basename "$(dirname "$f")")-$(basename "$f")"; done
n=0
while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    printf '%s' "$line" >"$seed/valid-jsonl-$n.json"
done <"$root/tests/fixtures/events/valid.jsonl"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# New inputs go to the first directory (kept between runs); seeds are read-only.
args=(-max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048
    -error_exitcode=1 -timeout_exitcode=1
    -dict="$root/fuzz/event.dict" -artifact_prefix="$out/artifacts/"
    -print_final_stats=1 "$out/corpus" "$seed")
if [ "$jobs" -gt 1 ]; then
    args=(-jobs="$jobs" -workers="$jobs" "${args[@]}")
fi
cd "$out"
echo "fuzz.sh: running fuzz_event for ${secs}s (corpus $out/corpus)"
"$out/fuzz_event" "${args[@]}"
