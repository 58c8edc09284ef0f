#!/usr/bin/env bash
# `cmake --install` into a DESTDIR gives a tree whose daemon and helper run from there: the
# helper finds the daemon beside it (../bin), mounts, serves a pool, and unmounts.
# Usage: destdir_test.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
BUILD=$1
DEST=$TMP/dest
DESTDIR=$DEST cmake --install "$BUILD" --prefix /usr >/dev/null || fail "cmake --install"
for f in usr/bin/kvcachefs sbin/mount.fuse.kvcachefs usr/share/man/man8/kvcachefs.8 \
         etc/kvcachefs/kvcachefs.toml usr/lib/systemd/system/kvcachefs.service \
         "usr/lib/systemd/system/kvcachefs@.service" \
         usr/share/doc/kvcachefs/copyright usr/share/doc/kvcachefs/LICENSE \
         usr/share/doc/kvcachefs/README.md usr/share/doc/kvcachefs/docs/ARCHITECTURE.md \
         usr/share/doc/kvcachefs/docs/ENGINES.md \
         usr/share/doc/kvcachefs/examples/README.md usr/share/doc/kvcachefs/examples/c/kv_blocks.c; do
    [ -e "$DEST/$f" ] || fail "missing $f in the installed tree"
done
grep -q '^License: Apache-2.0$' "$DEST/usr/share/doc/kvcachefs/copyright" ||
    fail "the copyright file names no license"
pass "installed tree has daemon, helper, man page, config, units, license, docs and examples"
lib=$(find "$DEST/usr" -name libkvcachefs.so.0 | head -1)
pydir=$(find "$DEST/usr/lib" -maxdepth 3 -type d -name kvcachefs -path '*dist-packages*' | head -1)
[ -n "$lib" ] && [ -e "$DEST/usr/include/kvcachefs.h" ] && [ -n "$pydir" ] &&
    [ -e "$(dirname "$lib")/pkgconfig/kvcachefs.pc" ] ||
    fail "missing the client library, its header, pkg-config file or Python package"
pass "installed tree has libkvcachefs, kvcachefs.h, kvcachefs.pc and the Python package"
"$DEST/usr/bin/kvcachefs" --version | grep -q kvcachefs || fail "--version"
# The installed example config is valid: the daemon accepts it.
"$DEST/sbin/mount.fuse.kvcachefs" kvcachefs "$MNT" \
    -o "config=$DEST/etc/kvcachefs/kvcachefs.toml,size=8M,instance=destdir,shm_prefix=$PREFIX" \
    || fail "helper from the DESTDIR tree"
mountpoint -q "$MNT" || fail "not mounted"
mkdir "$MNT/p" && head -c 100000 /dev/urandom > "$TMP/data" && cp "$TMP/data" "$MNT/p/x" \
    && cmp "$TMP/data" "$MNT/p/x" || fail "data round trip"
# The installed Python package finds the installed library beside it and takes the data path.
# shellcheck disable=SC2046  # asan_env gives whole words
env PYTHONPATH="$(dirname "$pydir")" KVCACHEFS_LIB= $(asan_env "$lib") /usr/bin/python3 - "$MNT/p" <<'EOF' ||
import sys, kvcachefs
c = kvcachefs.Client(sys.argv[1])
assert c.fast_path, "no data path"
b = c.buffer(1 << 20)
b.memoryview()[:5] = b"hello"
assert c.store(b, [{"name": "py", "length": 5}]) == [0]
assert open(sys.argv[1] + "/py", "rb").read() == b"hello"
EOF
    fail "the installed Python client"
umount "$MNT" || fail "umount"
pass "daemon and helper from the DESTDIR tree mount, serve and unmount; the Python client stores"
echo "1 passed, 0 failed"
