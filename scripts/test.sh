#!/usr/bin/env bash
# Installs, builds and runs every test: the core unit tests, the mount tests (they mount for
# real: /dev/fuse must be usable) and the sanitizer builds. What CI runs.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the main build's tests only
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 300)

if [ $quick = 0 ]; then
  # ASan+UBSan over the whole suite; TSan over the concurrency tests.
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DKVCACHEFS_SANITIZE=address \
    -DKVCACHEFS_BENCHMARKS=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 --timeout 600)
  BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo scripts/build.sh -DKVCACHEFS_SANITIZE=thread \
    -DKVCACHEFS_BENCHMARKS=OFF
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2 --timeout 600 \
     -L concurrency)
fi
