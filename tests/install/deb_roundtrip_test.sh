#!/usr/bin/env bash
# The Debian package: cpack builds it, apt-get installs it, `mount -t fuse.kvcachefs` and an
# fstab line (mount --fstab) work with what it installed, an entry round-trips, then the package
# is removed. Skipped (exit 77) when kvcachefs is already installed by hand or by package, so a
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
remove_pkg
[ -e /usr/bin/kvcachefs ] && fail "package removal left /usr/bin/kvcachefs"
pass "package removes"
echo "1 passed, 0 failed"
