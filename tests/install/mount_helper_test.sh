#!/usr/bin/env bash
# mount.fuse.kvcachefs: good options mount and umount cleanly; fstab-only options are dropped;
# bad options, values and mountpoints fail with a message naming the problem and mount nothing;
# an fstab line works through `mount --fstab`.
# Usage: mount_helper_test.sh HELPER DAEMON
set -u
. "$(dirname "$0")/lib.sh"
HELPER=$1
export KVCACHEFS_DAEMON=$2

opts="size=16M,instance=helper,shm_prefix=$PREFIX"

"$HELPER" kvcachefs "$MNT" -o "$opts,nofail,noauto,_netdev,defaults,x-systemd.automount" \
    || fail "mount with fstab-only options"
is_mounted "$MNT" || fail "helper returned before the mount was ready"
mkdir "$MNT/p" && echo hello > "$MNT/p/e" && [ "$(cat "$MNT/p/e")" = hello ] || fail "write/read"
umount "$MNT" || fail "umount"
is_mounted "$MNT" && fail "still mounted after umount"
pass "helper mounts, drops fstab options, umount unmounts"

check_refused() {  # expected-message-part, helper args...
    local want=$1; shift
    local out rc
    out=$("$HELPER" "$@" 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "accepted: $*"
    grep -q -- "$want" <<<"$out" || fail "message for '$*' does not name '$want': $out"
    is_mounted "$MNT" && fail "mounted despite: $*"
    pass "refused ($want)"
}
check_refused "bogus" kvcachefs "$MNT" -o "$opts,bogus=1"
check_refused "size" kvcachefs "$MNT" -o "$opts,size=12X"
check_refused "policy" kvcachefs "$MNT" -o "$opts,policy=nope"
check_refused "block_size" kvcachefs "$MNT" -o "$opts,block_size=3000"
check_refused "/nonexistent" kvcachefs /nonexistent/mnt -o "$opts"
KVCACHEFS_DAEMON=/nonexistent check_refused "daemon" kvcachefs "$MNT" -o "$opts"

# The options of an fstab line, as mount(8) hands them to the helper (the fstab path through
# mount(8) itself is tested with the installed package: deb_roundtrip_test.sh).
"$HELPER" kvcachefs "$MNT" -o "$opts,nofail" -n || fail "fstab-style call"
is_mounted "$MNT" || fail "fstab-style mount"
[ "$(cat "$MNT/p/e")" = hello ] || fail "pool not reattached by the second mount"
umount "$MNT" || fail "umount after the second mount"
pass "a second mount of the instance reattaches its pools"
echo "1 passed, 0 failed"
