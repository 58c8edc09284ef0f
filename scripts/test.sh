#!/usr/bin/env bash
# Installs, builds and runs every test: the format check (scripts/check-format.sh), the core
# unit tests, the mount tests (they mount for real: /dev/fuse must be usable), the install-tier
# tests, the example, snapshot, replay and benchmark smoke tests; then the sanitizer and fuzzing
# tier (scripts/test-sanitizers.sh: the suite under ASan+UBSan, the concurrency test under TSan,
# libFuzzer). What CI runs.
# KVC_SANITIZERS=0 skips the second tier (a quicker local run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
scripts/check-format.sh
(cd build && ctest --output-on-failure -j2 --timeout 600)
if [ "${KVC_SANITIZERS:-1}" != 0 ]; then
    scripts/test-sanitizers.sh
fi
