#!/usr/bin/env bash
# The sanitizer and fuzzing tier, each in its own build directory (scripts/test.sh runs it after
# the main suite; alone it installs and builds what it needs too):
#   build-asan/  the whole suite (daemon included, mounting for real) under ASan+UBSan, except
#                the benchmark smoke runs, which only measure;
#   build-tsan/  the multi-threaded core test (readers, writers, evictors, resizes on one pool)
#                under ThreadSanitizer, three times over, the lower tiers' tests (demotion
#                worker, Redis Cluster client called from several threads against a real
#                cluster), and the daemon itself under the tiered model-checking stress test and
#                the control-file close race and the data path's tests (a report ends the
#                daemon; it is printed here);
#   build-fuzz/  libFuzzer over the parsers and the snapshot loader (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DKVCACHEFS_SANITIZE=address \
  -DKVCACHEFS_BENCHMARKS=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 --timeout 900 \
   -LE bench)

scripts/install-deps.sh
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVCACHEFS_SANITIZE=thread \
  -DKVCACHEFS_BENCHMARKS=OFF >/dev/null
cmake --build build-tsan -j"$(nproc)" --target core_pool_concurrency_test tiers_tier_chain_test \
  tiers_redis_cluster_test kvcachefs mount_tier_model_test mount_control_test \
  mount_data_path_test
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
timeout 900 build-tsan/tests/core_pool_concurrency_test --gtest_repeat=3 --gtest_brief=1
timeout 300 build-tsan/tests/tiers/tiers_tier_chain_test --gtest_brief=1
timeout 600 build-tsan/tests/tiers/tiers_redis_cluster_test --gtest_brief=1
# The daemons these tests start are the TSan build's; their reports go to files (a daemon's
# stderr is its log), and any report fails the run.
tsan_logs=$(mktemp -d /tmp/kvc-tsan-XXXXXX)
trap 'rm -rf "$tsan_logs"' EXIT
daemon_status=0
TSAN_OPTIONS="$TSAN_OPTIONS log_path=$tsan_logs/report" \
  timeout 900 build-tsan/tests/mount/mount_tier_model_test --gtest_brief=1 || daemon_status=$?
TSAN_OPTIONS="$TSAN_OPTIONS log_path=$tsan_logs/report" \
  timeout 300 build-tsan/tests/mount/mount_control_test --gtest_brief=1 \
  --gtest_filter='ControlTest.Closing*:ControlTest.Evict*' || daemon_status=$?
TSAN_OPTIONS="$TSAN_OPTIONS log_path=$tsan_logs/report" \
  timeout 300 build-tsan/tests/mount/mount_data_path_test --gtest_brief=1 || daemon_status=$?
if compgen -G "$tsan_logs/report.*" >/dev/null; then
    cat "$tsan_logs"/report.*
    echo "ThreadSanitizer reported the above" >&2
    exit 1
fi
[ "$daemon_status" = 0 ]

scripts/fuzz.sh
