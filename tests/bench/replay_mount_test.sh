#!/usr/bin/env bash
# ctest "replay.mount_slice": mounts kvcachefs on a temporary directory, replays the first
# requests of the Mooncake conversation trace through a pool with trace_replay --check (hit
# ratios within [0,1], the pool's own .stats agree with the replay, no policy above Belady), and
# always cleans up: lazy unmount, the daemon it started (by pid), its /dev/shm segments.
# Usage: replay_mount_test.sh KVCACHEFS_BIN TRACE_REPLAY_BIN OUT_PREFIX [TRACE_REPLAY_ARGS...]
# With no TRACE_REPLAY_ARGS it runs the CI check: the first 400 requests, five policies, 5% and
# 25%, through the mount and in process (--inprocess: the answers must be identical), --check,
# and checks the CSV. KVC_TRACE replays another trace; KVC_REPLAY_DAEMON_ARGS adds daemon
# arguments (e.g. -s, single-threaded). With arguments (e.g. "--policies lru,kvadapt") it replays
# the whole trace with them, for the published numbers.
# Exit 77 (skipped) when /dev/fuse is unusable or the trace is missing.
set -uo pipefail

daemon_bin=$1
replay_bin=$2
out=$3
shift 3
trace=${KVC_TRACE:-/work/shared/traces/mooncake-conversation.jsonl}

[ -r "$trace" ] || { echo "SKIP: no trace at $trace"; exit 77; }
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || { echo "SKIP: /dev/fuse unusable"; exit 77; }
command -v fusermount3 >/dev/null || { echo "SKIP: no fusermount3"; exit 77; }

tag="replay$$x$RANDOM"
mnt=$(mktemp -d /tmp/kvc-replay.XXXXXX)
daemon_pid=""

cleanup() {
  fusermount3 -u -z "$mnt" 2>/dev/null
  if [ -n "$daemon_pid" ]; then
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$daemon_pid" 2>/dev/null && kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  rm -f /dev/shm/"$tag".*
  rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# KVC_REPLAY_MOUNT_OPTS adds mount options, e.g. a disk tier: disk_dir=/var/tmp/x,disk_size=143M
"$daemon_bin" "$mnt" -f ${KVC_REPLAY_DAEMON_ARGS:-} \
  -o size=64M,block_size=4K,policy=lru,instance="$tag",shm_prefix="$tag"${KVC_REPLAY_MOUNT_OPTS:+,$KVC_REPLAY_MOUNT_OPTS} \
  2>"$out.daemon.log" &
daemon_pid=$!

for _ in $(seq 300); do  # up to 30 s: the machine may be loaded
  grep -q " $mnt " /proc/mounts && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "daemon exited:"; cat "$out.daemon.log"; exit 1; }
  sleep 0.1
done
grep -q " $mnt " /proc/mounts || { echo "mount did not appear"; exit 1; }

mkdir "$mnt/pool" || exit 1
if [ $# -gt 0 ]; then
  "$replay_bin" --trace "$trace" --mount "$mnt/pool" --csv "$out.csv" --png "$out.png" "$@"
  exit $?
fi
"$replay_bin" --trace "$trace" --slice 400 --mount "$mnt/pool" \
  --policies lru,s3fifo,lru+admit,kvadapt,kvadapt@hint --capacities 5,25 --inprocess \
  --csv "$out.csv" --png "$out.png" --check
rc=$?
[ $rc -eq 0 ] || exit $rc

# The CSV has one row per (back end, policy, capacity), Belady once per capacity, with ratios in
# [0,1]; --check has compared the two back ends' answers.
rows=$(($(wc -l <"$out.csv") - 1))
[ "$rows" -eq 22 ] || { echo "expected 22 CSV rows, got $rows"; exit 1; }
awk -F, 'NR > 1 && ($6 < 0 || $6 > 1 || $9 != 0) { bad = 1 } END { exit bad }' "$out.csv" \
  || { echo "a ratio is out of range or a write failed"; exit 1; }
exit 0
