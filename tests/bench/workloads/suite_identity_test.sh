#!/usr/bin/env bash
# ctest "replay.suite_identity": for each family of the workload suite, generates a small trace
# twice (the generator must give the same bytes for the same seed, and other bytes for another
# seed), then replays it through a temporary mount and in process at once
# (replay_mount_test.sh, trace_replay --inprocess --mount --check): every policy must give the
# same answers both ways, request by request, and no ratio may be out of range or above Belady.
# Usage: suite_identity_test.sh KVCACHEFS_BIN TRACE_REPLAY_BIN KV_WORKLOAD_GEN_BIN OUT_PREFIX
# Exit 77 (skipped) when /dev/fuse is unusable (replay_mount_test.sh says so).
set -uo pipefail

daemon_bin=$1
replay_bin=$2
gen_bin=$3
out=$4
here=$(dirname "$0")
mkdir -p "$(dirname "$out")"

for family in chat agent fewshot rag scan; do
  trace="$out.$family.jsonl"
  "$gen_bin" --family "$family" --requests 200 --seed 7 --out "$trace" || exit 1
  "$gen_bin" --family "$family" --requests 200 --seed 7 --out "$trace.again" || exit 1
  cmp -s "$trace" "$trace.again" || { echo "$family: the same seed gave another trace"; exit 1; }
  "$gen_bin" --family "$family" --requests 200 --seed 8 --out "$trace.again" || exit 1
  cmp -s "$trace" "$trace.again" && { echo "$family: another seed gave the same trace"; exit 1; }
  rm -f "$trace.again"
  KVC_TRACE="$trace" "$here/../replay_mount_test.sh" "$daemon_bin" "$replay_bin" "$out.$family" \
    --inprocess --label "$family" --capacities 2,10 --check \
    --policies lru,lfu,sieve,s3fifo,lru+admit,kvadapt
  rc=$?
  [ $rc -eq 0 ] || exit $rc
  # One row per back end, policy and capacity (Belady once per capacity).
  rows=$(($(wc -l <"$out.$family.csv") - 1))
  [ "$rows" -eq 26 ] || { echo "$family: expected 26 CSV rows, got $rows"; exit 1; }
done
exit 0
