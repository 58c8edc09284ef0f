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
BIN=${1:?kvcachefs binary}
MMAP_ENTRY=${2:?mmap_entry binary}
EXAMPLE=${3:?example name}
NAME_PREFIX=kvcex   # kvcachefs example test: /tmp/kvcex<pid>.*, /dev/shm/kvcex<pid>.*
INSTANCE=ex-$EXAMPLE
# The mount, the cleanup trap, fail/pass and $PY: shared with tests/engines.
. "$(dirname "$0")/../mount_fixture.sh"
EX=$SRC/examples
kvc_mount 256M

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

kvc_check_alive
pass "$EXAMPLE"
