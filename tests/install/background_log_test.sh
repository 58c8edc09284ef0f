#!/usr/bin/env bash
# A background daemon (no -f) where syslog has no socket (a container without /dev/log) logs to
# the stderr it was started with, instead of losing its lines to /dev/null.
# Usage: background_log_test.sh KVCACHEFS_BINARY
set -u
. "$(dirname "$0")/lib.sh"
BIN=$1
log=$TMP/stderr.log
KVCACHEFS_SYSLOG_SOCKET=$TMP/no-such-socket "$BIN" "$MNT" \
    -o "size=16M,instance=bglog,shm_prefix=$PREFIX,data_socket=none" 2>"$log" ||
    fail "the daemon did not start"
is_mounted "$MNT" || fail "not mounted"
mkdir "$MNT/p" || fail "mkdir of a pool"
grep -q "info: mounted kvcachefs on $MNT" "$log" || fail "no 'mounted' line on stderr: $(cat "$log")"
# Lines written after daemonizing reach it too.
for _ in $(seq 50); do grep -q "pool p: created" "$log" && break; sleep 0.1; done
grep -q "pool p: created" "$log" || fail "no line after daemonizing: $(cat "$log")"
fusermount3 -u "$MNT" || fail "unmount"
for _ in $(seq 50); do grep -q "unmounting $MNT" "$log" && break; sleep 0.1; done
grep -q "unmounting $MNT (clean)" "$log" || fail "no unmount line: $(cat "$log")"
pass "a background daemon without /dev/log logs to its stderr"
