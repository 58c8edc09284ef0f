#!/usr/bin/env bash
# The Debian package: cpack builds it (and its -dbgsym .ddeb), apt-get installs it, its binary is
# stripped with the debug information in the .ddeb, the man page names every policy, systemd
# accepts its units, `mount -t fuse.kvcachefs`, an fstab line (mount --fstab) and the template
# unit's commands work with what it installed (the template's also after the daemon died), an
# entry round-trips, `kvcachefs status` reads the mount, then the package is removed. Skipped (exit 77) when kvcachefs is already installed by hand or by package, so a
# developer's installation is never replaced.
# Usage: deb_roundtrip_test.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
BUILD=$1
if dpkg-query -W -f='${Status}' kvcachefs 2>/dev/null | grep -q 'ok installed' || \
   [ -e /sbin/mount.fuse.kvcachefs ] || \
   [ -e /usr/bin/kvcachefs ]; then
    echo "kvcachefs is already installed on this machine: not replacing it"; exit 77
fi
(cd "$BUILD" && cpack -G DEB -B "$TMP/pkg" >/dev/null) || fail "cpack"
deb=$(ls "$TMP"/pkg/kvcachefs_*.deb) || fail "no .deb built"
removed=0
remove_pkg() { [ $removed = 1 ] || apt-get purge -y -qq kvcachefs >/dev/null 2>&1; removed=1; }
trap 'remove_pkg; cleanup' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null || fail "apt-get install $deb"
pass "package installs"
grep -q '^License: Apache-2.0$' /usr/share/doc/kvcachefs/copyright 2>/dev/null &&
    [ -e /usr/share/doc/kvcachefs/README.md ] ||
    fail "the package lacks its copyright file or its docs"
pass "package has its copyright file (Apache-2.0) and docs"
[ -e /usr/include/kvcachefs.h ] && pkg-config --exists kvcachefs 2>/dev/null ||
    [ -e /usr/lib/pkgconfig/kvcachefs.pc ] || fail "the package lacks kvcachefs.h or kvcachefs.pc"
lib=$(dpkg -L kvcachefs | grep '/libkvcachefs\.so\.0$' | head -1)
# shellcheck disable=SC2046  # asan_env gives whole words
env -u PYTHONPATH -u KVCACHEFS_LIB $(asan_env "$lib") /usr/bin/python3 -c \
    'import kvcachefs; kvcachefs.Client' ||
    fail "the package's Python client does not import"
pass "package has the client library, its header and the Python package"

# Stripped, with the debug information in kvcachefs-dbgsym, under the binary's build id.
readelf -S /usr/bin/kvcachefs | grep -q '\.debug_info' && fail "/usr/bin/kvcachefs is not stripped"
build_id=$(readelf -n /usr/bin/kvcachefs | awk '/Build ID:/ { print $3 }')
[ -n "$build_id" ] || fail "/usr/bin/kvcachefs has no build id"
ddeb=$(ls "$TMP"/pkg/kvcachefs-dbgsym_*.ddeb 2>/dev/null) || fail "no kvcachefs-dbgsym .ddeb built"
dpkg-deb -c "$ddeb" | grep -q "usr/lib/debug/\.build-id/${build_id:0:2}/${build_id:2}\.debug" ||
    fail "the .ddeb lacks the debug information of build id $build_id"
pass "binary stripped ($(stat -c %s /usr/bin/kvcachefs) bytes), debug information in $(basename "$ddeb")"

# The man page names every policy the daemon has, and the status and policies commands.
man=$(dpkg -L kvcachefs | grep '/man8/kvcachefs\.8' | head -1)
[ -n "$man" ] || fail "no man page"
page=$(zcat -f "$man")
policies=$(kvcachefs policies | awk '{ print $1 }')
[ "$(echo "$policies" | wc -l)" -ge 8 ] || fail "kvcachefs policies lists: $policies"
for p in $policies status policies; do
    grep -qF -- "$p" <<<"$page" || fail "the man page does not name $p"
done
pass "man page names every policy ($(echo $policies)) and the commands"

# systemd reads both units without a complaint (the template as an instance of it).
units=$(dirname "$(dpkg -L kvcachefs | grep '/systemd/system/kvcachefs\.service$' | head -1)")
cp "$units/kvcachefs@.service" "$TMP/kvcachefs@mnt-kv\\x2dcache.service" || fail "no template unit"
out=$(systemd-analyze verify --man=no "$units/kvcachefs.service" \
      "$TMP/kvcachefs@mnt-kv\\x2dcache.service" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
pass "systemd-analyze verify accepts kvcachefs.service and kvcachefs@.service"
opts="size=16M,policy=lru,instance=deb,shm_prefix=$PREFIX"
mount -t fuse.kvcachefs kvcachefs "$MNT" -o "$opts" || fail "mount -t fuse.kvcachefs"
mkdir "$MNT/llama" && echo "kv block" > "$MNT/llama/blk-0" || fail "write"
[ "$(cat "$MNT/llama/blk-0")" = "kv block" ] || fail "read"
umount "$MNT" || fail "umount"
pass "mount -t fuse.kvcachefs, write, read, umount"
echo "kvcachefs $MNT fuse.kvcachefs $opts,nofail 0 0" > "$TMP/fstab"
mount --fstab "$TMP/fstab" "$MNT" || fail "mount --fstab"
[ "$(cat "$MNT/llama/blk-0")" = "kv block" ] || fail "read after fstab mount"
umount "$MNT" || fail "umount after fstab mount"
pass "fstab line mounts and reattaches"
# `kvcachefs status` on what the package mounted.
mount -t fuse.kvcachefs kvcachefs "$MNT" -o "$opts" || fail "mount for status"
status=$(kvcachefs status "$MNT") || fail "kvcachefs status: $status"
grep -q '^llama  lru ' <<<"$status" || fail "kvcachefs status shows no pool llama: $status"
umount "$MNT" || fail "umount after status"
pass "kvcachefs status reads the mount"

# The template unit's commands as systemd runs them for the instance of $MNT (specifiers and $$
# expanded), with a config of this test's own (its segment prefix): they mount; after the daemon
# is killed, its dead mount is detached and the next start mounts again with the entry.
instance=$(systemd-escape --path "$MNT")
printf '[defaults]\nshm_prefix = "%s"\npool_size = "16M"\n' "$PREFIX" > "$TMP/unit.toml"
unit_cmd() {  # the command lines of key $1, expanded (a specifier is one word, as systemd has it)
    local f i
    f=$(printf %q "$MNT")
    i=$(printf %q "$instance")
    grep "^$1=" "$units/kvcachefs@.service" | cut -d= -f2- | while IFS= read -r line; do
        line=${line//%%/$'\x01'}
        line=${line//%f/"$f"}
        line=${line//%i/"$i"}
        line=${line//$'\x01'/%}
        line=${line//\$\$/\$}
        echo "${line//\/etc\/kvcachefs\/kvcachefs.toml/$TMP/unit.toml}"
    done
}
start_unit() {
    while IFS= read -r c; do eval "$c" || return 1; done < <(unit_cmd ExecStartPre; unit_cmd ExecStart)
}
start_unit || fail "the template's start commands"
mountpoint -q "$MNT" || fail "the template's commands mounted nothing"
safe=$(printf %s "$instance" | tr -c 'A-Za-z0-9_-' _)
lock=/dev/shm/$PREFIX.$safe..lock
[ -e "$lock" ] || fail "no instance $safe (lock $lock)"
mkdir "$MNT/llama" && echo "kv block" > "$MNT/llama/blk-0" || fail "write through the template's mount"
pid=$(sed -n 's/^pid \([0-9]*\),.*/\1/p' "$lock")
[ -n "$pid" ] && kill -0 "$pid" || fail "no daemon pid in $lock"
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
stat -t "$MNT" >/dev/null 2>&1 && fail "the mount is not dead after kill -9"
start_unit || fail "the template's start commands over a dead mount"
[ "$(cat "$MNT/llama/blk-0")" = "kv block" ] || fail "the entry after the restart"
eval "$(unit_cmd ExecStop)" || fail "the template's stop command"
mountpoint -q "$MNT" && fail "still mounted after the stop command"
pass "template unit mounts $MNT as instance $safe, clears its dead mount, reattaches"
remove_pkg
[ -e /usr/bin/kvcachefs ] && fail "package removal left /usr/bin/kvcachefs"
pass "package removes"
echo "1 passed, 0 failed"
