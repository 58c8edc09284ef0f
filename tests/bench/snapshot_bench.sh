#!/bin/bash
# Snapshot and restore throughput of a pool, next to `cp -r` of the same bytes between the same
# places (pool -> a directory on disk, and back), as recorded in docs/SNAPSHOT_FORMAT.md.
#
#   tests/bench/snapshot_bench.sh BUILD/fs/kvcachefs [TOTAL_MIB] [ENTRY_KIB] [RUNS]
#
# Mounts its own instance on a temporary directory under /tmp (the disk, not tmpfs), fills a pool
# with TOTAL_MIB of random entries of ENTRY_KIB each, then times, RUNS times each (the median is
# printed, with the client's CPU time): snapshot to /tmp; cp -r to /tmp (and cp -r plus syncfs, since the snapshot fsyncs);
# restore into a new pool and restore --replace into the full one; cp -r back into a new pool.
# Then the pool is grown to 16 GiB and the daemon killed (kill -9) and started again, RUNS
# times: the time from start until the pool's entries are listed is the warm-restart reattach.
# Everything it made (mount, daemon, /dev/shm segments, files) is removed on exit.
set -euo pipefail

BIN=$(realpath "${1:?usage: snapshot_bench.sh PATH/TO/kvcachefs [TOTAL_MIB] [ENTRY_KIB] [RUNS]}")
TOTAL_MIB=${2:-1536}
ENTRY_KIB=${3:-2048}
RUNS=${4:-3}
WORK=$(mktemp -d /tmp/kvcbench.XXXXXX)
MNT=$WORK/mnt
PREFIX=kvcbench$$
DPID=

cleanup() {
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; fi
    rm -f /dev/shm/"$PREFIX".* 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir "$MNT"
: > "$WORK/empty.toml"
start_daemon() {
    "$BIN" "$MNT" -f -o "size=$((TOTAL_MIB * 2))M,instance=$PREFIX,shm_prefix=$PREFIX,config=$WORK/empty.toml" \
        2>> "$WORK/daemon.log" &
    DPID=$!
    for _ in $(seq 2000); do mountpoint -q "$MNT" && return 0; sleep 0.005; done
    cat "$WORK/daemon.log"
    exit 1
}
start_daemon

# Entries of random bytes (each different), written through the mount.
mkdir "$MNT/bench"
python3 - "$MNT/bench" "$TOTAL_MIB" "$ENTRY_KIB" <<'EOF'
import os, sys
pool, total_mib, entry_kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = entry_kib * 1024
source = os.urandom(64 << 20)
for i in range(total_mib * 1024 // entry_kib):
    at = (i * 7919 * 4096) % (len(source) - size)
    with open(f"{pool}/blk-{i:06d}", "wb") as f:
        f.write(i.to_bytes(8, "little") + source[at + 8:at + size])
EOF

# One run of "$@": "wall_seconds cpu_seconds" (CPU: user + system of the command itself, not the
# daemon's), to stdout.
seconds() {
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" > /dev/null
    awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$WORK/time"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
BYTES=$(du -sb --apparent-size "$MNT/bench" | cut -f1)
report() {  # label, "wall cpu" per run...
    local label=$1; shift
    local wall cpu
    wall=$(printf '%s\n' "$@" | cut -d' ' -f1 | median)
    cpu=$(printf '%s\n' "$@" | cut -d' ' -f2 | median)
    printf '%-44s %7.2f s %8.1f MB/s  cpu %5.2f s   (wall/cpu per run: %s)\n' "$label" "$wall" \
        "$(echo "$BYTES / $wall / 1000000" | bc -l)" "$cpu" "$(printf '%s, ' "$@")"
}

snap=() cpout=() cpsync=() rnew=() rrep=() cpin=()
for _ in $(seq "$RUNS"); do
    rm -f "$WORK/bench.kvs"
    snap+=("$(seconds "$BIN" snapshot "$MNT/bench" "$WORK/bench.kvs")")
    rm -rf "$WORK/cp"
    cpout+=("$(seconds cp -r "$MNT/bench" "$WORK/cp")")
    rm -rf "$WORK/cp"
    cpsync+=("$(seconds sh -c "cp -r '$MNT/bench' '$WORK/cp' && sync -f '$WORK/cp'")")
    rnew+=("$(seconds "$BIN" restore "$WORK/bench.kvs" "$MNT/bench2")")
    rm -rf "$MNT/bench2"
    rrep+=("$(seconds "$BIN" restore --replace "$WORK/bench.kvs" "$MNT/bench")")
    cpin+=("$(seconds cp -r "$WORK/cp" "$MNT/bench3")")
    rm -rf "$MNT/bench3"
done

echo "pool: $(ls "$MNT/bench" | wc -l) entries of $ENTRY_KIB KiB, $BYTES bytes; image $(stat -c %s "$WORK/bench.kvs") bytes"
echo "host: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
report "kvcachefs snapshot  pool -> /tmp file" "${snap[@]}"
report "cp -r               pool -> /tmp dir" "${cpout[@]}"
report "cp -r + syncfs      pool -> /tmp dir" "${cpsync[@]}"
report "kvcachefs restore   /tmp file -> new pool" "${rnew[@]}"
report "restore --replace   /tmp file -> full pool" "${rrep[@]}"
report "cp -r               /tmp dir -> new pool" "${cpin[@]}"

# Warm restart: kill -9, start again, list the pool. Reattach copies no data.
echo 16G > "$MNT/bench/.size"
ENTRIES=$(ls "$MNT/bench" | wc -l)
reattach=()
for _ in $(seq "$RUNS"); do
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null || true
    DPID=
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    t0=$(date +%s.%N)
    start_daemon
    [ "$(ls "$MNT/bench" | wc -l)" = "$ENTRIES" ] || { echo "reattach lost entries"; exit 1; }
    reattach+=("$(echo "$(date +%s.%N) - $t0" | bc -l)")
done
printf '%-44s %7.3f s   (%s GiB pool, %s entries; runs: %s)\n' \
    "kill -9, start, reattach, list the pool" "$(printf '%s\n' "${reattach[@]}" | median)" \
    "$(( $(cat "$MNT/bench/.size") >> 30 ))" "$ENTRIES" "$(printf '%s ' "${reattach[@]}")"
