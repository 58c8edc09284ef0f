#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) into build-fuzz/ and runs each for a
# bounded time (FUZZ_SECONDS, default 20) from the seed corpus in tests/fuzz/corpus/. New inputs
# go to a temporary directory, crash reproducers to build-fuzz/crashes/ (add them to the corpus
# as regression tests once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKVCACHEFS_FUZZ=ON -DKVCACHEFS_SANITIZE=address -DKVCACHEFS_BENCHMARKS=OFF >/dev/null
targets=$(sed -n 's/^set(KVC_FUZZ_TARGETS \(.*\))/\1/p' tests/fuzz/CMakeLists.txt)
[ -f tests/fuzz/fuzz_snapshot.cpp ] && targets="$targets snapshot"
cmake --build build-fuzz -j"$(nproc)" --target $(for t in $targets; do echo fuzz_$t; done)
mkdir -p build-fuzz/crashes
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $targets; do
    mkdir -p "$work/$t"
    echo "fuzz_$t: ${seconds}s"
    build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -print_final_stats=0 \
        -artifact_prefix=build-fuzz/crashes/$t- "$work/$t" "tests/fuzz/corpus/$t" 2>&1 | tail -2
done
(cd build-fuzz && ctest -L fuzz --output-on-failure)
