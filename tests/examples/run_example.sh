#!/usr/bin/env bash
# Runs one example of examples/ against a real kvcachefs mount and checks what it printed.
#
#   run_example.sh KVCACHEFS_BIN MMAP_ENTRY_BIN EXAMPLE
#
# EXAMPLE is one of: python_client, python_data_client, python_numpy, c_mmap_entry, c_kv_blocks, shell_walkthrough,
# serving_demo, serving_demo_256. Each run mounts the daemon it starts on a temporary directory
# with its own instance and shm prefix (so ctest -j is safe), and always cleans up: lazy
# unmount, wait for (then end) only the daemon it started, remove its /dev/shm segments and its
# temporary directory. Python runs as /usr/bin/python3 with Debian's python3-numpy; a missing
# dependency is a failure, never a skip.
set -uo pipefail

BIN=${1:?kvcachefs binary}
MMAP_ENTRY=${2:?mmap_entry binary}
EXAMPLE=${3:?example name}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
EX=$SRC/examples
PY=/usr/bin/python3
# The source tree's Python package and the build's libkvcachefs, before anything installed.
export PYTHONPATH=$SRC/client/python${PYTHONPATH:+:$PYTHONPATH}
export KVCACHEFS_LIB=${KVCACHEFS_LIB:-$(cd "$(dirname "$BIN")/.." && pwd)/client/libkvcachefs.so.0}
NAME_PREFIX=kvcex   # kvcachefs example test: /tmp/kvcex<pid>.*, /dev/shm/kvcex<pid>.*

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# --- leftovers of runs that were killed (ctest timeout: SIGKILL, no trap) ---------------------
# Only names with our prefix whose <pid> is no longer a process are touched.
sweep_stale() {
    local f base pid
    for f in /tmp/"$NAME_PREFIX"[0-9]*.* /dev/shm/"$NAME_PREFIX"[0-9]*.*; do
        [ -e "$f" ] || continue
        base=${f##*/}
        pid=${base#"$NAME_PREFIX"}
        pid=${pid%%.*}
        case $pid in '' | *[!0-9]*) continue ;; esac
        kill -0 "$pid" 2>/dev/null && continue
        if [ -d "$f" ]; then
            fusermount3 -u -z "$f/mnt" 2>/dev/null || umount -l "$f/mnt" 2>/dev/null
            mountpoint -q "$f/mnt" 2>/dev/null || rm -rf "$f"
        else
            rm -f "$f"
        fi
    done
}
sweep_stale

# --- mount ------------------------------------------------------------------------------------
TMP=$(mktemp -d "/tmp/$NAME_PREFIX$$.XXXXXX") || fail "mktemp"
MNT=$TMP/mnt
PREFIX=$NAME_PREFIX$$
INSTANCE=ex-$EXAMPLE
LOG=$TMP/daemon.log
DAEMON=
mkdir -p "$MNT"
: > "$TMP/empty.toml"   # an installed /etc/kvcachefs/kvcachefs.toml must not leak in
# A sanitizer build's libkvcachefs (the ASan tier) needs its runtime loaded before Python's own
# libraries: Python runs through a wrapper that preloads it (leak checks off: CPython keeps its
# objects at exit).
asan_rt=$(ldd "$KVCACHEFS_LIB" 2>/dev/null | awk '/libasan/ { print $3 }')
if [ -n "$asan_rt" ]; then
    printf '#!/bin/sh\nLD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 exec %s "$@"\n' "$asan_rt" "$PY" \
        > "$TMP/python3"
    chmod +x "$TMP/python3"
    PY=$TMP/python3
fi

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    if [ -n "$DAEMON" ]; then
        # The daemon exits by itself once its mount is gone; end it only if it does not.
        for _ in $(seq 50); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$DAEMON" 2>/dev/null; then
            echo "daemon $DAEMON still running after unmount: SIGTERM" >&2
            kill -TERM "$DAEMON" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$DAEMON" 2>/dev/null && kill -KILL "$DAEMON" 2>/dev/null
            rc=1
        fi
        wait "$DAEMON" 2>/dev/null
        local drc=$?
        if [ "$drc" != 0 ] && [ "$drc" != 127 ]; then
            echo "FAIL: the daemon exited with status $drc" >&2
            rc=1
        fi
    fi
    if [ "$rc" != 0 ] && [ -s "$LOG" ]; then
        if grep -qE "ERROR: (Address|Thread|Leak)Sanitizer|runtime error:" "$LOG"; then
            echo "--- daemon log, from the sanitizer report ---" >&2
            sed -n '/ERROR: [A-Za-z]*Sanitizer\|runtime error:/,$p' "$LOG" | head -n 200 >&2
        else
            echo "--- daemon log (last 40 lines) ---" >&2
            tail -n 40 "$LOG" >&2
        fi
    fi
    rm -f /dev/shm/"$PREFIX".* 2>/dev/null
    if mountpoint -q "$MNT" 2>/dev/null; then
        echo "warning: $MNT is still mounted; leaving $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

[ -x "$BIN" ] || fail "no daemon at $BIN"
[ -e /dev/fuse ] || fail "/dev/fuse is missing: the example tests need FUSE"
# The daemon gets SIGTERM if this script dies without its trap (SIGKILL by a ctest timeout), so
# it unmounts itself; the segments left then are removed by the next run's sweep.
setpriv --pdeathsig TERM "$BIN" "$MNT" -f \
    -o "size=256M,instance=$INSTANCE,shm_prefix=$PREFIX,config=$TMP/empty.toml" >"$LOG" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do
    mountpoint -q "$MNT" && break
    kill -0 "$DAEMON" 2>/dev/null || fail "the daemon exited before mounting"
    sleep 0.1
done
mountpoint -q "$MNT" || fail "not mounted after 10 s"
pass "mounted $MNT (daemon pid $DAEMON, shm prefix $PREFIX)"

POOL=$MNT/$EXAMPLE
mkdir "$POOL" || fail "mkdir pool"
OUT=$TMP/out.txt

# run LABEL COMMAND...: runs an example, shows its output, fails on a non-zero status.
run() {
    local label=$1 rc
    shift
    echo "--- $label: $*"
    "$@" >"$OUT" 2>&1
    rc=$?
    cat "$OUT"
    [ "$rc" = 0 ] || fail "$label exited with status $rc"
}
has() { grep -qF -- "$1" "$OUT" || fail "output lacks: $1"; }
need_numpy() {
    "$PY" -c 'import numpy' 2>/dev/null ||
        fail "$PY has no numpy: install python3-numpy (scripts/install-deps.sh does)"
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$POOL/.stats"; }

case $EXAMPLE in
python_client)
    run "client test" "$PY" "$SRC/tests/examples/client_test.py" "$POOL"
    has "client_test: OK"
    ;;

python_data_client)
    need_numpy
    run "data client test" "$PY" "$SRC/tests/examples/data_client_test.py" "$POOL"
    has "data_client_test: OK"
    has "ok   data path: load_chain loads the leading run (5, 5)"
    has "ok   file I/O: load_chain loads the leading run (5, 5)"
    [ "$(stat_of entries)" = 0 ] || fail "the test left entries behind"
    ;;

python_numpy)
    need_numpy
    run "kv_numpy" "$PY" "$EX/python/kv_numpy.py" "$POOL" --layers 3 --tokens 48
    has "kv_numpy: OK"
    has "layer02.v: memmap (48, 4, 32) float16, no copy, equals what was written"
    has "data path: 6 entries stored in one batch"
    has "data path: loaded back in one batch into a numpy view (6, 48, 4, 32) float16, equal"
    has "file I/O: loaded back in one batch into a numpy view (6, 48, 4, 32) float16, equal"
    grep -q "FAIL" "$OUT" && fail "a check failed"
    if "$PY" -c 'import torch' 2>/dev/null; then
        has "torch.from_file(..., shared=True)"
    else
        has "torch: not installed"
    fi
    [ "$(stat_of entries)" = 0 ] || fail "kv_numpy left entries behind"
    # --keep leaves the entries, readable by any other program.
    run "kv_numpy --keep" "$PY" "$EX/python/kv_numpy.py" "$POOL" --layers 1 --tokens 16 \
        --seq kept --keep
    [ "$(getfattr --only-values -n user.shape "$POOL/kept/layer00.k")" = "16,4,32" ] ||
        fail "user.shape of a kept entry"
    [ "$(stat -c %s "$POOL/kept/layer00.k")" = $((16 * 4 * 32 * 2)) ] || fail "size of a kept entry"
    ;;

c_mmap_entry)
    [ -x "$MMAP_ENTRY" ] || fail "no mmap_entry at $MMAP_ENTRY"
    # An entry with known bytes (a 100000-byte pattern: 25 blocks of 4 KiB, the last partial),
    # the kvcache attributes, a user text attribute, a binary one, and a second name.
    "$PY" - "$POOL" "$TMP/fnv.txt" <<'EOF' || fail "writing the test entries"
import os, sys
pool, fnv_file = sys.argv[1], sys.argv[2]
data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(100000))
for name in ("parent", "child"):
    with open(os.path.join(pool, name), "wb") as f:
        f.write(data)
h = 0xcbf29ce484222325
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
open(fnv_file, "w").write(f"{h:016x}\n")
EOF
    FNV=$(cat "$TMP/fnv.txt")
    setfattr -n user.kvcache.parent -v parent "$POOL/child" || fail "setfattr parent"
    setfattr -n user.kvcache.priority -v 7 "$POOL/child" || fail "setfattr priority"
    setfattr -n user.dtype -v float16 "$POOL/child" || fail "setfattr user.dtype"
    setfattr -n user.blob -v 0x00ff10 "$POOL/child" || fail "setfattr user.blob"
    ln "$POOL/child" "$POOL/child-alias" || fail "ln"
    : > "$POOL/empty"
    run "mmap_entry" "$MMAP_ENTRY" "$POOL/child-alias" "$POOL/empty"
    has "entry $POOL/child-alias"
    has "size 100000 bytes, inode $(stat -c %i "$POOL/child"), links 2, blocks $(stat -c %b "$POOL/child")"
    has "fnv1a64 $FNV"
    has "head 00 07 0e 15 1c 23 2a 31 38 3f 46 4d 54 5b 62 69"
    has 'user.kvcache.parent = "parent"'
    has 'user.kvcache.priority = "7"'
    has 'user.kvcache.committed = "1"'
    has 'user.dtype = "float16"'
    has "user.blob = 0x00ff10 (3 bytes)"
    has "entry $POOL/empty"
    has "head (empty)"
    n=$(getfattr -d -m - "$POOL/child" 2>/dev/null | grep -c '=')
    has "xattrs: $n"
    # A missing entry: a message and status 1; no argument: usage and status 2.
    "$MMAP_ENTRY" "$POOL/nope" >"$OUT" 2>&1
    [ $? = 1 ] || fail "a missing entry must give status 1"
    has "No such file or directory"
    "$MMAP_ENTRY" >"$OUT" 2>&1
    [ $? = 2 ] || fail "no argument must give status 2"
    has "usage:"
    ;;

c_kv_blocks)
    KV_BLOCKS=$(dirname "$MMAP_ENTRY")/kv_blocks
    [ -x "$KV_BLOCKS" ] || fail "no kv_blocks at $KV_BLOCKS"
    run "kv_blocks" "$KV_BLOCKS" "$POOL" 16 262144
    has "kv_blocks: OK"
    for how in "data path" "file I/O"; do
        has "ok   $how: loaded the whole chain"
        has "ok   $how: read(2) of the last block through the mount agrees"
    done
    [ "$(stat_of entries)" = 0 ] || fail "kv_blocks left entries behind"
    ;;

shell_walkthrough)
    command -v setfattr >/dev/null || fail "setfattr missing (Debian package attr)"
    run "walkthrough" bash "$EX/shell/walkthrough.sh" "$POOL"
    has "walkthrough: OK"
    for f in .stats .policy .evict .size .match .metrics; do
        grep -q "$f" "$OUT" || fail "the walkthrough never showed $f"
    done
    [ "$(stat_of entries)" = 0 ] || fail "the walkthrough left entries behind"
    [ "$(cat "$POOL/.policy")" = lru ] || fail "the walkthrough did not put the policy back"
    [ "$(cat "$POOL/.size")" = $((256 << 20)) ] || fail "the walkthrough did not put the size back"
    # It refuses a pool that holds entries.
    echo x > "$POOL/someone-elses"
    bash "$EX/shell/walkthrough.sh" "$POOL" >"$OUT" 2>&1
    [ $? = 2 ] || fail "the walkthrough must refuse a pool with entries"
    [ -e "$POOL/someone-elses" ] || fail "the refused walkthrough touched an entry"
    ;;

serving_demo | serving_demo_256)
    need_numpy
    if [ "$EXAMPLE" = serving_demo ]; then
        args=(--workers 3 --block-tokens 16 --tools 8 --ms-per-token 0.3 --readers 3
              --read-rounds 3)
    else
        args=(--workers 2 --block-tokens 256 --tools 24 --ms-per-token 0.1 --readers 2
              --read-rounds 2)
    fi
    run "serving demo" "$PY" "$EX/serving/demo.py" "$POOL" "${args[@]}"
    has "serving demo: OK"
    grep -q "FAIL" "$OUT" && fail "a check failed"
    # Hits across processes: a second-phase request reused blocks another worker wrote.
    grep -E '^ +\[w1 pid [0-9]+\] bob/turn1 .*\(([0-9]+ from w0)' "$OUT" >/dev/null ||
        fail "no cross-process hit shown for bob/turn1"
    [ "$(stat_of prefix_blocks_hit)" -gt 0 ] || fail "no prefix hit counted"
    # Every worker process is gone.
    pgrep -f "$EX/serving/demo.py $POOL" >/dev/null && fail "demo processes left running"
    # A second run on the same pool starts warm and still passes.
    run "serving demo (warm)" "$PY" "$EX/serving/demo.py" "$POOL" "${args[@]}" --clean
    has "serving demo: OK"
    has "the pool holds this workload from an earlier run"
    compgen -G "$POOL/blk-*" >/dev/null && fail "--clean left blocks behind"
    ;;

*)
    fail "unknown example $EXAMPLE"
    ;;
esac

# The daemon survived the example and still answers.
kill -0 "$DAEMON" 2>/dev/null || fail "the daemon died during the example"
cat "$MNT/.stats" >/dev/null || fail "the mount no longer answers"
pass "$EXAMPLE"
