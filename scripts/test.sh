#!/usr/bin/env bash
# Installs, builds and runs every test: the core unit tests, the mount tests (they mount for
# real: /dev/fuse must be usable), the install-tier tests and the example and benchmark smoke
# tests. What CI runs. The sanitizer and fuzzing builds are scripts/test-sanitizers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600
