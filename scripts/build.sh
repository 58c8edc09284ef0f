#!/usr/bin/env bash
# Installs the dependencies (idempotently) and builds kvcachefs into build/ (or $BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DKVCACHEFS_SANITIZE=address.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
