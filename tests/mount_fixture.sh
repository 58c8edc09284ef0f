# A kvcachefs mount of its own for a test script, and a cleanup that always runs. Sourced by
# tests/examples/run_example.sh and tests/engines/run_engine_test.sh:
#
#   BIN=path/to/kvcachefs NAME_PREFIX=kvcex INSTANCE=ex-NAME; . tests/mount_fixture.sh
#   kvc_mount 256M            # mounts $MNT (a temporary directory) in the foreground daemon
#
# Each run has its own instance and shm prefix (NAME_PREFIX + the script's pid), so ctest -j is
# safe. The cleanup (an EXIT trap) lazily unmounts, waits for the daemon this script started (and
# ends only that one, by its pid, if it lingers), removes the /dev/shm segments of its prefix and
# its temporary directory. Leftovers of runs killed without their trap (a ctest timeout's SIGKILL)
# are removed by the next run: only names with NAME_PREFIX whose pid is no longer a process.
# Python runs as /usr/bin/python3 (through a wrapper that preloads the ASan runtime when the
# build's libkvcachefs is a sanitizer build); the source tree's package comes first on its path.
set -uo pipefail

: "${BIN:?BIN: the kvcachefs binary}" "${NAME_PREFIX:?}" "${INSTANCE:?}"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
export PYTHONPATH=$SRC/client/python${PYTHONPATH:+:$PYTHONPATH}
export KVCACHEFS_LIB=${KVCACHEFS_LIB:-$(cd "$(dirname "$BIN")/.." && pwd)/client/libkvcachefs.so.0}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

kvc_sweep_stale() {
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
kvc_sweep_stale

TMP=$(mktemp -d "/tmp/$NAME_PREFIX$$.XXXXXX") || fail "mktemp"
MNT=$TMP/mnt
PREFIX=$NAME_PREFIX$$
LOG=$TMP/daemon.log
DAEMON=
mkdir -p "$MNT"
: > "$TMP/empty.toml"   # an installed /etc/kvcachefs/kvcachefs.toml must not leak in
asan_rt=$(ldd "$KVCACHEFS_LIB" 2>/dev/null | awk '/libasan/ { print $3 }')
if [ -n "$asan_rt" ]; then
    printf '#!/bin/sh\nLD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 exec %s "$@"\n' "$asan_rt" "$PY" \
        > "$TMP/python3"
    chmod +x "$TMP/python3"
    PY=$TMP/python3
fi

kvc_cleanup() {
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
trap kvc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# kvc_mount SIZE [MORE_OPTIONS]: starts the daemon in the foreground on $MNT with pools of SIZE.
kvc_mount() {
    local opts="size=$1,instance=$INSTANCE,shm_prefix=$PREFIX,config=$TMP/empty.toml${2:+,$2}"
    [ -x "$BIN" ] || fail "no daemon at $BIN"
    [ -e /dev/fuse ] || fail "/dev/fuse is missing: these tests need FUSE"
    # The daemon gets SIGTERM if this script dies without its trap (SIGKILL by a ctest timeout),
    # so it unmounts itself; the segments left then are removed by the next run's sweep.
    setpriv --pdeathsig TERM "$BIN" "$MNT" -f -o "$opts" >"$LOG" 2>&1 &
    DAEMON=$!
    for _ in $(seq 100); do
        mountpoint -q "$MNT" && break
        kill -0 "$DAEMON" 2>/dev/null || fail "the daemon exited before mounting"
        sleep 0.1
    done
    mountpoint -q "$MNT" || fail "not mounted after 10 s"
    pass "mounted $MNT (daemon pid $DAEMON, shm prefix $PREFIX)"
}

# The daemon survived the test and still answers.
kvc_check_alive() {
    kill -0 "$DAEMON" 2>/dev/null || fail "the daemon died during the test"
    cat "$MNT/.stats" >/dev/null || fail "the mount no longer answers"
}
