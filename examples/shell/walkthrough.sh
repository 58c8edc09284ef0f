#!/usr/bin/env bash
# A walkthrough of kvcachefs from the shell: every control file and every extended attribute,
# with nothing but cat, echo, ls, stat, dd and getfattr/setfattr (Debian package: attr).
#
#   examples/shell/walkthrough.sh /kvcache/scratch
#
# $1 is a pool directory (make one with `mkdir /kvcache/scratch`). The script writes entries
# named walk-*, and it evicts, switches the policy and resizes the pool, so give it a pool of its
# own: it refuses a pool that already holds entries (set KVC_WALKTHROUGH_FORCE=1 to go on
# anyway). At the end it removes its entries and puts the policy and the size back.
#
# Each step prints the command ("$ ...", with P standing for the pool directory) and what it
# gave. The script checks what it shows and exits non-zero if kvcachefs did not do what the
# comment says; the last line is "walkthrough: OK".
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 POOL_DIR   (a pool of a kvcachefs mount, e.g. /kvcache/scratch)" >&2
    exit 2
fi
P=$(cd "$1" && pwd)
ROOT=$(dirname "$P")
POOL=$(basename "$P")
export P ROOT

step() { printf '\n== %s\n' "$*"; }
# run 'COMMAND': shows it, then runs it (in this shell, so $P and redirections work).
run() { printf '$ %s\n' "$1"; eval "$1"; }
# fails 'COMMAND' ERRNO-TEXT: shows it, runs it, and checks that it fails with that error.
fails() {
    printf '$ %s\n' "$1"
    local err
    if err=$(eval "$1" 2>&1); then echo "FAIL: that should have failed with: $2" >&2; exit 1; fi
    printf '%s\n' "$err"
    case "$err" in *"$2"*) ;; *) echo "FAIL: expected \"$2\"" >&2; exit 1 ;; esac
}
expect() { # expect 'DESCRIPTION' TEST...
    local what=$1; shift
    if "$@"; then printf '   ok: %s\n' "$what"; else echo "FAIL: $what" >&2; exit 1; fi
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$P/.stats"; }  # one field of .stats

if [ -z "${KVC_WALKTHROUGH_FORCE:-}" ] && [ "$(stat_of entries)" != 0 ]; then
    echo "$P holds $(stat_of entries) entries: this walkthrough evicts, resizes and switches" >&2
    echo "policies, so give it an empty pool (mkdir $ROOT/scratch), or set KVC_WALKTHROUGH_FORCE=1" >&2
    exit 2
fi

# Put back what we change, whatever happens.
ORIG_POLICY=$(cat "$P/.policy")
ORIG_SIZE=$(cat "$P/.size")
cleanup() {
    for f in "$P"/walk-*; do
        [ -e "$f" ] || continue
        setfattr -n user.kvcache.pinned -v 0 "$f" 2>/dev/null || true
    done
    rm -f "$P"/walk-*
    echo "$ORIG_POLICY" > "$P/.policy" 2>/dev/null || true
    echo "$ORIG_SIZE" > "$P/.size" 2>/dev/null || true
}
trap cleanup EXIT

echo "P=$P  (pool \"$POOL\" of the mount at $ROOT)"

# ---------------------------------------------------------------------------------------------
step "Control files are not listed, but they are there"
# readdir shows entries only, so `cp -r`, `tar` and `rsync` never copy a control file; opening
# one by name always works, and every open gives fresh content (never a stale page cache).
run 'ls -A "$P"'
expect "ls shows no control file" test -z "$(ls -A "$P")"
run 'ls -l "$P/.stats" "$P/.policy" "$P/.evict" "$P/.size" "$P/.match"'
run 'ls -l "$ROOT/.stats" "$ROOT/.metrics"'

# ---------------------------------------------------------------------------------------------
step "Entries: eight 64 KiB blocks of one prefix chain, and four unrelated entries"
# An entry is a regular file. Writes go into the pool's shared-memory segment; the entry is
# complete (user.kvcache.committed = 1, durable across a daemon crash) at its last close.
for i in 0 1 2 3 4 5 6 7; do
    dd if=/dev/urandom of="$P/walk-blk-$i" bs=64K count=1 status=none
done
for i in a b c d; do
    dd if=/dev/urandom of="$P/walk-solo-$i" bs=16K count=1 status=none
done
run 'ls -l "$P"'
expect "12 entries" test "$(stat_of entries)" = 12

# ---------------------------------------------------------------------------------------------
step "Extended attributes: entry metadata in user.kvcache.*"
# user.kvcache.parent names the previous block of a chain (a path in the pool). A parent is never
# evicted while a cached child names it: eviction takes chains from the leaves.
for i in 1 2 3 4 5 6 7; do
    setfattr -n user.kvcache.parent -v "walk-blk-$((i - 1))" "$P/walk-blk-$i"
done
run 'getfattr -n user.kvcache.parent "$P/walk-blk-3"'
# A chain that loops is refused.
fails 'setfattr -n user.kvcache.parent -v walk-blk-7 "$P/walk-blk-0"' "Invalid argument"
# priority: the `priority` policy evicts the lowest first (32-bit integer).
run 'setfattr -n user.kvcache.priority -v 10 "$P/walk-solo-a"'
# pinned: never evicted (EDQUOT beyond the pool's pin_budget). pin_ttl pins for N seconds.
run 'setfattr -n user.kvcache.pinned -v 1 "$P/walk-solo-b"'
run 'setfattr -n user.kvcache.pin_ttl -v 600 "$P/walk-solo-c"'
# layer and seq_len are stored for the engine; other user.* names are stored verbatim.
run 'setfattr -n user.kvcache.layer -v 0 "$P/walk-blk-0"'
run 'setfattr -n user.kvcache.seq_len -v 1024 "$P/walk-blk-0"'
run 'setfattr -n user.model -v llama-3-8b "$P/walk-blk-0"'
run 'getfattr -d -m - "$P/walk-blk-0"'
# Read-only attributes: access_count, created, last_access, committed. A write is EPERM.
fails 'setfattr -n user.kvcache.access_count -v 99 "$P/walk-blk-0"' "Operation not permitted"
# A bad value is EINVAL and changes nothing.
fails 'setfattr -n user.kvcache.priority -v high "$P/walk-solo-a"' "Invalid argument"
expect "priority still 10" test "$(getfattr --only-values -n user.kvcache.priority "$P/walk-solo-a")" = 10
# Namespaces other than user.* are not supported.
fails 'setfattr -n trusted.note -v x "$P/walk-blk-0"' "Operation not supported"
expect "pin_ttl counts down from 600" \
    test "$(getfattr --only-values -n user.kvcache.pin_ttl "$P/walk-solo-c")" -le 600

# ---------------------------------------------------------------------------------------------
step ".stats: the pool's state and counters, one 'name value' per line"
run 'cat "$P/.stats"'
expect "used_bytes counts whole blocks (8 x 64K + 4 x 16K)" \
    test "$(stat_of used_bytes)" -ge $((8 * 65536 + 4 * 16384))
expect "pinned_bytes counts walk-solo-b and walk-solo-c" test "$(stat_of pinned_bytes)" -ge 32768

# ---------------------------------------------------------------------------------------------
step ".match: how many leading blocks of a chain are cached, in one round trip"
# Write the chain's names (one write), then read on the same descriptor: the count of leading
# cached names, then one 0/1 per name. Here blocks 0-3 exist, "walk-blk-x" does not.
# The request must be ONE write(2): bash's builtin printf and echo write line by line (each line
# would be a request of its own, and the answer would be for the last line only), so use
# /usr/bin/printf, or `cat chain.txt >&3`, which write everything at once.
run 'exec 3<>"$P/.match"'
run '/usr/bin/printf "walk-blk-0\nwalk-blk-1\nwalk-blk-2\nwalk-blk-3\nwalk-blk-x\nwalk-blk-5\n" >&3'
answer=
run 'answer=$(cat <&3); echo "$answer"'
run 'exec 3>&-'
expect "4 leading blocks cached; the 6th is cached after a gap" test "$answer" = "$(printf '4\n111101')"
# Every name asked counts in .stats: hits/misses and the prefix counters.
run 'grep -E "^(match_requests|blocks_requested|blocks_hit|prefix_blocks_hit|prefix_hit_ratio) " "$P/.stats"'
# A malformed request (an empty line) is EINVAL.
fails '/usr/bin/printf "walk-blk-0\n\nwalk-blk-1\n" > "$P/.match"' "Invalid argument"

# ---------------------------------------------------------------------------------------------
step ".policy: read or switch the eviction policy (no entry is lost)"
run 'cat "$P/.policy"'
run 'echo lfu > "$P/.policy"; cat "$P/.policy"'
expect "policy is lfu" test "$(cat "$P/.policy")" = lfu
fails 'echo clairvoyant > "$P/.policy"' "Invalid argument"
expect "an unknown policy changed nothing" test "$(cat "$P/.policy")" = lfu
run 'echo priority > "$P/.policy"'   # lowest user.kvcache.priority first, then LRU
expect "12 entries after switching twice" test "$(stat_of entries)" = 12

# ---------------------------------------------------------------------------------------------
step ".evict: evict a percentage of the entries, or until some bytes are free"
# Writing is a command; reading gives the last eviction. Pinned entries (solo-b, solo-c) and
# entries open for writing are never chosen, and a chain parent only once its children are gone:
# a chain is evicted from its tail (blk-7, then blk-6, ...), never cut in the middle. Eviction
# is unlink: the names disappear at once.
run 'echo 25 > "$P/.evict"; cat "$P/.evict"'
expect "25% of 12 entries: 3 evicted" test "$(awk '$1 == "evicted_entries" { print $2 }' "$P/.evict")" = 3
run 'ls "$P"'
expect "pinned entries stay" test -e "$P/walk-solo-b" -a -e "$P/walk-solo-c"
chain_intact() { # every remaining walk-blk-N still has its parent walk-blk-(N-1)
    local i
    for i in 1 2 3 4 5 6 7; do
        [ ! -e "$P/walk-blk-$i" ] || [ -e "$P/walk-blk-$((i - 1))" ] || return 1
    done
}
expect "what is left of the chain is a prefix of it" chain_intact
# Ask for bytes instead: the policy evicts until that much is free.
FREE_WANTED=$(( $(stat_of free_bytes) + 65536 ))
run "echo ${FREE_WANTED}B > \"\$P/.evict\"; cat \"\$P/.evict\""
expect "at least ${FREE_WANTED} bytes free" test "$(stat_of free_bytes)" -ge "$FREE_WANTED"
expect "the chain is still a prefix" chain_intact
fails 'echo lots > "$P/.evict"' "Invalid argument"

# ---------------------------------------------------------------------------------------------
step ".size: the capacity in bytes; write a size to grow or shrink the pool"
run 'cat "$P/.size"'
run 'echo 2G > "$P/.size"; cat "$P/.size"'
expect "capacity is 2 GiB" test "$(cat "$P/.size")" = 2147483648
run 'df -h "$P"'   # statfs of a pool is that pool's capacity and free space
# Shrinking evicts what no longer fits; it refuses (ENOSPC/EBUSY) what pinned data would not fit.
fails 'echo 4K > "$P/.size"' "No space left on device"
run "echo $ORIG_SIZE > \"\$P/.size\"; cat \"\$P/.size\""

# ---------------------------------------------------------------------------------------------
step "The root: totals over all pools (.stats) and Prometheus metrics (.metrics)"
run 'cat "$ROOT/.stats"'
# Text exposition format with a pool label: point a node_exporter textfile collector (or any
# scraper) at a copy of it, e.g. from a cron job: cp $ROOT/.metrics /var/lib/node_exporter/.
run 'grep "pool=\"$POOL\"" "$ROOT/.metrics"'
expect ".metrics has this pool's entries" \
    grep -q "^kvcachefs_entries{pool=\"$POOL\"[^}]*} $(stat_of entries)\$" "$ROOT/.metrics"
fails 'echo 1 > "$ROOT/.metrics"' "denied"

# ---------------------------------------------------------------------------------------------
step "Cleaning up: unpin, remove the entries, put policy and size back"
cleanup
trap - EXIT
no_walk_entries() { ! compgen -G "$P/walk-*" >/dev/null; }
expect "no walk-* entries left" no_walk_entries
echo
echo "walkthrough: OK"
