#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as errors,
# and runs every test (unit, integration, fuzz, format) through ctest.
#   scripts/test.sh [extra ctest args, e.g. -R unit]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${GEVINST_BUILD_DIR:-build}
cmake -S . -B "$build" -DGEVINST_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
