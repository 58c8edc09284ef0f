#!/usr/bin/env bash
# The whole suite in an ASan+UBSan build, the concurrency tests in a TSan build, and libFuzzer
# over the parsers (scripts/fuzz.sh), each in its own build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DKVCACHEFS_SANITIZE=address \
  -DKVCACHEFS_BENCHMARKS=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 --timeout 900)
BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo scripts/build.sh -DKVCACHEFS_SANITIZE=thread \
  -DKVCACHEFS_BENCHMARKS=OFF
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2 --timeout 900 \
   -L concurrency)
scripts/fuzz.sh
