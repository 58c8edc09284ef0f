# Shared helpers of the install-tier tests: a temporary mountpoint and segment prefix per test,
# and a cleanup that always runs (unmount, end the daemon we started, remove our segments).
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

TMP=$(mktemp -d /tmp/kvcachefs-install-test.XXXXXX)
MNT=$TMP/mnt
mkdir -p "$MNT"
PREFIX=kvcit$$
DAEMON_PIDS=""  # daemons a test knows by pid: ended if a failure left them running
cleanup() {
    # The daemon (started by mount, so its pid is not ours to know) exits once its mount is
    # gone; nothing else is ended but what a test put in DAEMON_PIDS.
    local pid
    for pid in $DAEMON_PIDS; do kill "$pid" 2>/dev/null; done
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    rm -f /dev/shm/"$PREFIX".* 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# Waits until $1 is a mountpoint (the helper returns only then, so this is a check).
is_mounted() { mountpoint -q "$1"; }

# For env(1): what Python needs to load the libkvcachefs $1 when a sanitizer build made it (the
# ASan tier): the ASan runtime preloaded, since it must come before Python's own libraries, and
# no leak check (CPython keeps its objects at exit). Nothing for a normal build.
asan_env() {
    local rt
    rt=$(ldd "$1" 2>/dev/null | awk '/libasan/ { print $3 }')
    [ -z "$rt" ] || echo "LD_PRELOAD=$rt ASAN_OPTIONS=detect_leaks=0"
}
