#!/usr/bin/env bash
# Runs one engine recipe or adapter test (tests/engines/TEST.py) against a real kvcachefs mount.
#
#   run_engine_test.sh KVCACHEFS_BIN TEST [MOUNT_OPTIONS]
#
# The mount (its own instance and shm prefix, on a temporary directory) and the cleanup that
# always runs are tests/mount_fixture.sh's. The test gets a fresh pool of 64 MiB; it passes when
# its last line is "TEST: OK", no line says FAIL, and the daemon is still serving afterwards.
BIN=${1:?kvcachefs binary}
TEST=${2:?test name}
MOUNT_OPTIONS=${3:-}   # e.g. direct_io
NAME_PREFIX=kvceng   # /tmp/kvceng<pid>.*, /dev/shm/kvceng<pid>.*
INSTANCE=eng-$TEST${MOUNT_OPTIONS:+-${MOUNT_OPTIONS//[^a-z0-9]/_}}
. "$(dirname "$0")/../mount_fixture.sh"
[ -f "$SRC/tests/engines/$TEST.py" ] || fail "unknown test $TEST"
"$PY" -c 'import numpy' 2>/dev/null ||
    fail "$PY has no numpy: install python3-numpy (scripts/install-deps.sh does)"
if [ "$TEST" = sglang_adapter ]; then   # SGLang's interface passes torch tensors
    "$PY" -c 'import torch' 2>/dev/null ||
        fail "$PY has no torch: install python3-torch (scripts/install-deps.sh does)"
fi
# The data socket lives in the test's temporary directory (not /run/kvcachefs, which another
# run of the same test, in another tree, could share), unless the options say otherwise.
case $MOUNT_OPTIONS in
*data_socket=*) ;;
*) MOUNT_OPTIONS=${MOUNT_OPTIONS:+$MOUNT_OPTIONS,}data_socket=$TMP/data.sock ;;
esac
kvc_mount 64M "$MOUNT_OPTIONS"

POOL=$MNT/$TEST
mkdir "$POOL" || fail "mkdir pool"
OUT=$TMP/out.txt
"$PY" "$SRC/tests/engines/$TEST.py" "$POOL" 2>&1 | tee "$OUT"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "$TEST exited with status $rc"
grep -q '^FAIL' "$OUT" && fail "a check failed"
[ "$(tail -n 1 "$OUT")" = "$TEST: OK" ] || fail "the last line is not '$TEST: OK'"
kvc_check_alive
pass "$TEST"
