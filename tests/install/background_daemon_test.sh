#!/usr/bin/env bash
# A background daemon (no -f) has every thread a foreground one has. It splits off before it
# attaches pools (fs/daemon.h): pools attached at mount keep their block warmer (mapped_bytes
# reaches used_bytes) and their tier worker (evicted entries reach the disk tier). The command
# returns only once the mount is live, and with the daemon's error when it fails.
# Usage: background_daemon_test.sh KVCACHEFS_BINARY
set -u
. "$(dirname "$0")/lib.sh"
BIN=$1
DISK=$TMP/disk
mkdir -p "$DISK"
OPTS="size=4M,instance=bgd,shm_prefix=$PREFIX,data_socket=none,disk_dir=$DISK,disk_size=16M"

stat_of() { awk -v k="$2" '$1 == k { print $2 }' "$1/.stats"; }
# Waits up to 10 s for stat $2 of pool dir $1 to reach $3.
wait_stat_at_least() {
    for _ in $(seq 100); do
        [ "$(stat_of "$1" "$2")" -ge "$3" ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
write_entries() {  # pool dir, first, last: 1 MiB each, a copy of each kept in $TMP
    for i in $(seq "$2" "$3"); do
        head -c 1M /dev/urandom >"$TMP/e$i" && cp "$TMP/e$i" "$1/e$i" || fail "write of e$i"
    done
}

"$BIN" "$MNT" -o "$OPTS" 2>"$TMP/first.err" || fail "the daemon did not start: $(cat "$TMP/first.err")"
is_mounted "$MNT" || fail "the command returned before the mount was live"
mkdir "$MNT/p" || fail "mkdir of a pool"
write_entries "$MNT/p" 1 8  # twice the pool: four go down to the disk tier
wait_stat_at_least "$MNT/p" tier.disk.demotions 4 || fail "no demotion in a pool made after mount"

# A second daemon on the same instance fails, and its command says why.
mkdir -p "$TMP/mnt2"
if "$BIN" "$TMP/mnt2" -o "$OPTS" 2>"$TMP/second.err"; then
    fusermount3 -u "$TMP/mnt2" 2>/dev/null
    fail "a second daemon on the same instance started"
fi
grep -q "already served by another" "$TMP/second.err" ||
    fail "the failed command did not print the daemon's error: $(cat "$TMP/second.err")"
mountpoint -q "$TMP/mnt2" && fail "the failed daemon left a mount"

# A stop sent to the command while the daemon is not mounted yet (here it waits in the restore
# for an image from a FIFO nobody writes) stops the daemon too: the command fails and says so,
# nothing is mounted, and the daemon's process is gone.
mkfifo "$TMP/image"
"$BIN" "$TMP/mnt2" -o "size=4M,instance=bgd2,shm_prefix=$PREFIX,data_socket=none,restore=$TMP/image" \
    2>"$TMP/stopped.err" &
cmd=$!
child=
for _ in $(seq 100); do
    child=$(pgrep -P "$cmd")
    [ -n "$child" ] && break
    sleep 0.1
done
[ -n "$child" ] || fail "the daemon did not split off"
DAEMON_PIDS=$child
sleep 0.5  # it attaches, then blocks opening the FIFO
kill -TERM "$cmd"
wait "$cmd" && fail "the stopped command exited 0"
grep -q "killed by signal" "$TMP/stopped.err" || fail "the stopped command said: $(cat "$TMP/stopped.err")"
mountpoint -q "$TMP/mnt2" && fail "a stopped daemon mounted"
for _ in $(seq 50); do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$child" 2>/dev/null && fail "the daemon still runs after its command was stopped"

fusermount3 -u "$MNT" || fail "unmount"
# The daemon ends once its mount is gone, and lets go of the instance lock.
for _ in $(seq 100); do
    "$BIN" "$MNT" -o "$OPTS" 2>"$TMP/again.err" && break
    sleep 0.1
done
is_mounted "$MNT" || fail "no remount: $(cat "$TMP/again.err")"

# The pool was attached at mount, by the daemon itself: its warmer maps what the entries hold,
# and its tier worker takes what eviction sends down.
used=$(stat_of "$MNT/p" used_bytes)
[ "$used" -gt 0 ] || fail "the reattached pool holds nothing"
wait_stat_at_least "$MNT/p" mapped_bytes "$used" ||
    fail "the warmer of a reattached pool did not map it: $(stat_of "$MNT/p" mapped_bytes) of $used bytes"
write_entries "$MNT/p" 9 12
wait_stat_at_least "$MNT/p" tier.disk.demotions 4 ||
    fail "no demotion in a pool attached at mount: $(grep tier.disk "$MNT/p/.stats")"
cmp -s "$TMP/e1" "$MNT/p/e1" || fail "e1 does not come back from the disk tier"
fusermount3 -u "$MNT" || fail "unmount"
pass "a background daemon warms and demotes in pools attached at mount"
