#!/usr/bin/env bash
# The kvcachefs performance suite: every workload on a tmpfs directory and on a kvcachefs pool in
# the same run, in interleaved repetitions (tmpfs, kvcachefs, tmpfs, kvcachefs, ...), then
# medians, ratios kvcachefs/tmpfs against the targets of docs/PERFORMANCE.md, a CSV, a JSON and
# PNG plots. Not a test: ctest runs only `--quick` (label "bench") to keep it working.
#
# Usage: tests/bench/perf/run.sh [--build DIR] [--out DIR] [--quick] [--reps N] [--size SIZE]
#                                [--parts io,small,scale,mem,data] [--scale "10000 100000 1000000"]
#                                [--data-total SIZE]
#   --build DIR  a build tree with fs/kvcachefs, tests/bench/kvc_perf and tests/bench/fuse_floor
#                (and tests/bench/kvc_data_bench for the data part) [$KVC_BUILD or ./build]
#   --out DIR    where results.jsonl, results.csv, summary.json, summary.md and *.png go
#                [/tmp/kvcperf-results]
#   --quick      tiny sizes, one repetition (a smoke run, about a minute)
#   --reps N     repetitions of each workload per filesystem [3]
#   --size SIZE  bytes per large entry, with a K/M/G suffix [512M]
#   --parts      which groups to run [io,small,scale,mem,data]
#   --scale      entry counts of the scale group [10000 100000 1000000]
#   --data-total bytes per sample of the data group's large workloads [256M]
#
# Workloads: io (fio, psync/mmap engines): sequential write and read (cold: posix_fadvise
# DONTNEED first; warm: in the page cache) with 1 MiB and 128 KiB I/O and 1 and 2 threads, random
# reads of 4 KiB and 64 KiB, mmap read and write cold and warm; small (kvc_perf): create+write+
# close, stat, open+read+close, unlink of 4 KiB and 128 KiB entries, 1 and 2 threads; scale
# (kvcachefs only): lookup, create, .match and create-with-eviction at each entry count; mem:
# daemon RSS, shm resident bytes and page cache per GiB stored, with and without -o direct_io;
# data (kvc_data_bench, on its own mount with a data socket): libkvcachefs stores and loads of
# 2 MiB and 256 KiB blocks in batches vs tmpfs pwrite/pread and the mount's FUSE path, a 64-block
# chain loaded in one round trip vs memcpy, 4 KiB blocks vs FUSE create/open, two clients.
# The direct_io mount ("kvc-dio") also runs the 1 MiB single-thread sequential and 4 KiB small
# workloads, to show what dropping the page-cache copy costs. The io and small groups also run on
# fuse_floor ("floor", and "floor-dio" where kvc-dio runs), a FUSE daemon that meets the kernel
# as kvcachefs does but stores nothing: a target the floor misses in the same run is out of
# reach of any FUSE daemon on this machine.
#
# Cleanup is unconditional (EXIT/INT/TERM): lazy unmount with fusermount3 -u -z, the daemons this
# script started (by pid), its /dev/shm segments and directories. Exit 77 when /dev/fuse or fio
# is unusable (ctest reports a skip).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=${KVC_BUILD:-$repo/build}
out=/tmp/kvcperf-results
quick=0
reps=3
size_arg=512M
parts=io,small,scale,mem,data
scale_counts="10000 100000 1000000"
data_total_arg=256M

while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --reps) reps=$2; shift 2 ;;
    --size) size_arg=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --scale) scale_counts=$2; shift 2 ;;
    --data-total) data_total_arg=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

to_bytes() {
  local v=${1^^}
  case $v in
    *K) echo $((${v%K} << 10)) ;; *M) echo $((${v%M} << 20)) ;; *G) echo $((${v%G} << 30)) ;;
    *) echo "$v" ;;
  esac
}

if ((quick)); then
  reps=1 size_arg=16M scale_counts="500 1000" data_total_arg=8M
fi
size=$(to_bytes "$size_arg")
((size >= 1 << 20)) || { echo "run.sh: --size must be at least 1M" >&2; exit 2; }
has_part() { [[ ",$parts," == *",$1,"* ]]; }

daemon=$build/fs/kvcachefs
perf=$build/tests/bench/kvc_perf
floor_daemon=$build/tests/bench/fuse_floor
data_bench=$build/tests/bench/kvc_data_bench
py=/usr/bin/python3
[ -x "$py" ] || py=python3
[ -x "$daemon" ] || { echo "run.sh: no daemon at $daemon (--build DIR)" >&2; exit 2; }
[ -x "$perf" ] || { echo "run.sh: no kvc_perf at $perf (--build DIR)" >&2; exit 2; }
[ -x "$floor_daemon" ] || { echo "run.sh: no fuse_floor at $floor_daemon (--build DIR)" >&2; exit 2; }
if has_part data && [ ! -x "$data_bench" ]; then
  echo "run.sh: no kvc_data_bench at $data_bench (--build DIR)" >&2; exit 2
fi
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || { echo "SKIP: /dev/fuse unusable"; exit 77; }
command -v fusermount3 >/dev/null || { echo "SKIP: no fusermount3"; exit 77; }
command -v fio >/dev/null || { echo "SKIP: no fio (scripts/install-deps.sh installs it)"; exit 77; }

# --- mounts and cleanup ---------------------------------------------------------------------
tag="kvcperf$$x$RANDOM"             # shm_prefix: every segment of this run is /dev/shm/$tag.*
work=$(mktemp -d /tmp/kvcperf.XXXXXX)
tmpfs_dir=/dev/shm/$tag-tmpfs       # the tmpfs side (not matching $tag.*, which are segments)
declare -A daemon_pid=()            # mountpoint -> pid of the daemon this script started

unmount_kvc() {
  local mnt=$1 pid=${daemon_pid[$1]:-}
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  if [ -n "$pid" ]; then
    # A daemon that does not go within 10 s of the unmount gets SIGTERM, then SIGKILL.
    local sig
    for sig in TERM KILL; do
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null || break
      echo "run.sh: daemon $pid still running after the unmount of $mnt: SIG$sig" >&2
      kill -"$sig" "$pid" 2>/dev/null || true
    done
    wait "$pid" 2>/dev/null || true
    unset "daemon_pid[$mnt]"
  fi
}

cleanup() {
  local mnt
  for mnt in "${!daemon_pid[@]}"; do unmount_kvc "$mnt"; done
  rm -f /dev/shm/"$tag".*
  rm -rf "$tmpfs_dir" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mount_kvc MOUNTPOINT INSTANCE OPTIONS: starts the daemon in the foreground (so $! is its pid)
# and waits for the mount to appear.
mount_kvc() {
  local mnt=$1 inst=$2 opts=$3
  mkdir -p "$mnt"
  "$daemon" "$mnt" -f -o "$opts,instance=$inst,shm_prefix=$tag" 2>>"$work/daemon.$inst.log" &
  wait_mounted "$mnt" $! "$work/daemon.$inst.log"
}

# mount_floor MOUNTPOINT [--direct-io]: the same for fuse_floor.
mount_floor() {
  mkdir -p "$1"
  "$floor_daemon" "$1" -f "${@:2}" 2>>"$work/floor.log" &
  wait_mounted "$1" $! "$work/floor.log"
}

wait_mounted() {
  local mnt=$1 log=$3
  daemon_pid[$mnt]=$2
  for _ in $(seq 200); do
    grep -q " $mnt fuse" /proc/mounts && return 0
    kill -0 "${daemon_pid[$mnt]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $mnt did not mount:" >&2
  cat "$log" >&2
  exit 1
}

mkdir -p "$out" "$tmpfs_dir"
results=$out/results.jsonl
: >"$results"
kvc=$work/mnt
dio=$work/mnt-dio
# Pools big enough for every large entry of the io group at once (plus slack).
pool_size=$(((size * 3 + (64 << 20)) >> 20))M
mount_kvc "$kvc" "${tag}p" "size=$pool_size"
mount_kvc "$dio" "${tag}d" "size=$pool_size,direct_io"
floor=$work/mnt-floor
floor_dio=$work/mnt-floor-dio
mount_floor "$floor"
mount_floor "$floor_dio" --direct-io
mkdir "$kvc/pool" "$dio/pool"
declare -A dir_of=([tmpfs]=$tmpfs_dir [kvc]=$kvc/pool [kvc-dio]=$dio/pool [floor]=$floor
                   [floor-dio]=$floor_dio)
is_dio() { [[ $1 == *-dio ]]; }   # the direct_io mounts run only the 1 MiB and 4 KiB 1-thread cases

# Every step has a deadline, so a daemon that hangs fails the run instead of stalling it.
step_timeout=$((quick ? 60 : 900))
run_perf() {
  timeout -k 5 "$step_timeout" "$perf" "$@" || {
    echo "run.sh: kvc_perf $1 failed or timed out after ${step_timeout}s" >&2; return 1; }
}

# record GROUP WORKLOAD FS REP VALUE UNIT [HIGHER_IS_BETTER]
record() {
  printf '{"group":"%s","workload":"%s","fs":"%s","rep":%s,"value":%s,"unit":"%s","higher_better":%s}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "${7:-true}" >>"$results"
}

# fio_mbps DIR NAME RW BS THREADS BYTES_PER_THREAD [fio options...]: MB/s (10^6 B/s) of the job.
fio_mbps() {
  local dir=$1 name=$2 rw=$3 bs=$4 threads=$5 bytes=$6
  shift 6
  timeout -k 5 "$step_timeout" fio --output-format=json --directory="$dir" --name="$name" --filename_format="$name.\$jobnum" \
    --rw="$rw" --bs="$bs" --numjobs="$threads" --size="$bytes" --group_reporting \
    --ioengine=psync "$@" >"$work/fio.json" 2>"$work/fio.err" || {
    echo "run.sh: fio $name on $dir failed:" >&2; cat "$work/fio.err" >&2; exit 1; }
  "$py" - "$work/fio.json" "$rw" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
side = "write" if "write" in sys.argv[2] else "read"
print(f'{job[side]["bw_bytes"] / 1e6:.1f}')
EOF
}

say() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
say "kvcachefs perf suite: size $size_arg, $reps reps, parts $parts, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- io: large entries ----------------------------------------------------------------------
# A warm read of the page cache takes a tenth of a second, too short for this VM's noise: each
# warm sample reads its entry several times.
warm_loops=$((quick ? 1 : 4))
io_rep() {  # io_rep REP FS
  local rep=$1 fs=$2 d=${dir_of[$2]} bs t v half
  for bs in 1M 128K; do
    for t in 1 2; do
      is_dio "$fs" && { [ "$bs" = 1M ] && [ "$t" = 1 ] || continue; }
      half=$((size / t))
      rm -f "$d"/seq"$t".*
      v=$(fio_mbps "$d" seq"$t" write "$bs" "$t" "$half")
      record io "seq write $bs ${t}t" "$fs" "$rep" "$v" MB/s
      v=$(fio_mbps "$d" seq"$t" read "$bs" "$t" "$half" --invalidate=1)
      record io "seq read cold $bs ${t}t" "$fs" "$rep" "$v" MB/s
      v=$(fio_mbps "$d" seq"$t" read "$bs" "$t" "$half" --invalidate=0 --loops="$warm_loops")
      record io "seq read warm $bs ${t}t" "$fs" "$rep" "$v" MB/s
      [ "$t" = 2 ] && rm -f "$d"/seq2.*
    done
  done
  is_dio "$fs" && return 0
  # seq1.0 (size bytes, written with 1 MiB I/O) is in the page cache now.
  for bs in 4K 64K; do
    local io=$((size / 2))
    [ "$bs" = 4K ] && io=$((size / 8))
    v=$(fio_mbps "$d" seq1 randread "$bs" 1 "$size" --invalidate=1 --io_size="$io" --norandommap --randseed=1)
    record io "rand read cold $bs" "$fs" "$rep" "$v" MB/s
    fio_mbps "$d" seq1 read 1M 1 "$size" --invalidate=0 >/dev/null
    v=$(fio_mbps "$d" seq1 randread "$bs" 1 "$size" --invalidate=0 --io_size="$io" --norandommap --randseed=1 \
          --loops="$warm_loops")
    record io "rand read warm $bs" "$fs" "$rep" "$v" MB/s
  done
  v=$(fio_mbps "$d" seq1 read 1M 1 "$size" --ioengine=mmap --invalidate=1)
  record io "mmap read cold" "$fs" "$rep" "$v" MB/s
  v=$(fio_mbps "$d" seq1 read 1M 1 "$size" --ioengine=mmap --invalidate=0 --loops="$warm_loops")
  record io "mmap read warm" "$fs" "$rep" "$v" MB/s
  # Writes through a shared mapping count only once msync'ed into the pool (end_fsync).
  v=$(fio_mbps "$d" seq1 write 1M 1 "$size" --ioengine=mmap --invalidate=0 --end_fsync=1)
  record io "mmap write warm" "$fs" "$rep" "$v" MB/s
  v=$(fio_mbps "$d" seq1 write 1M 1 "$size" --ioengine=mmap --invalidate=1 --end_fsync=1)
  record io "mmap write cold" "$fs" "$rep" "$v" MB/s
}

if has_part io; then
  for rep in $(seq "$reps"); do
    for fs in tmpfs kvc kvc-dio floor floor-dio; do
      say "io rep $rep: $fs"
      io_rep "$rep" "$fs"
    done
  done
  rm -f "$tmpfs_dir"/seq* "$kvc"/pool/seq* "$dio"/pool/seq* "$floor"/seq* "$floor_dio"/seq*
fi

# --- small entries --------------------------------------------------------------------------
if has_part small; then
  for rep in $(seq "$reps"); do
    for esize in 4096 131072; do
      for t in 1 2; do
        count=$((esize == 4096 ? 6000 : 2000))
        ((quick)) && count=200
        for fs in tmpfs kvc kvc-dio floor floor-dio; do
          is_dio "$fs" && { [ "$esize" = 4096 ] && [ "$t" = 1 ] || continue; }
          say "small rep $rep: $fs $((esize >> 10))K ${t}t"
          run_perf small --dir "${dir_of[$fs]}" --count "$count" --size "$esize" --threads "$t" |
            while read -r line; do
              op=$(sed 's/.*"op":"\([a-z_]*\)".*/\1/' <<<"$line")
              ops=$(sed 's/.*"ops_per_s":\([0-9.]*\).*/\1/' <<<"$line")
              record small "$op $((esize >> 10))K ${t}t" "$fs" "$rep" "$ops" ops/s
            done
        done
      done
    done
  done
fi

# --- scale: per-operation cost at 10^4..10^6 entries ----------------------------------------
# Each count gets its own mount (direct_io: a million 4 KiB entries would otherwise also occupy
# 4 GiB of page cache) and a pool of exactly N + K blocks. All counts are populated first and
# remounted (so lookups are answered by the daemon, not the kernel's dentry cache); then, in
# `reps` rounds that go through every count in turn (so a slow moment of the machine hits all
# counts alike), lookups of names no earlier round asked for and .match requests; last, per
# count, K creates that fill the pool and K creates that each evict one. max_entries is twice
# the blocks: a create needs a free inode slot, and an evicted entry's slot comes back only when
# the kernel forgets its inode, a moment after the eviction.
json_field() { sed "s/.*\"$2\":\([0-9.]*\).*/\1/" <<<"$1"; }
pool_stat() { awk -v k="$2" '$1 == k { print $2 }' "$1/.stats"; }
rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

if has_part scale; then
  k=10000
  ((quick)) && k=200
  smallest=$(tr ' ' '\n' <<<"$scale_counts" | sort -n | head -1)
  lookups=$((smallest / reps < k ? smallest / reps : k))   # per round, never a name twice
  scale_opts() { echo "size=$((($1 + k) * 4))K,block_size=4K,direct_io,max_entries=$((2 * ($1 + k)))"; }
  for n in $scale_counts; do
    smnt=$work/mnt-scale$n
    mount_kvc "$smnt" "${tag}s$n" "$(scale_opts "$n")"
    mkdir "$smnt/pool"
    say "scale $n: populating"
    line=$(run_perf populate --dir "$smnt/pool" --count "$n" --size 4096 --threads 2)
    record scale "populate" "$n" 1 "$(json_field "$line" us_per_op)" us/op false
    record scale "daemon RSS per entry" "$n" 1 \
      "$(($(rss_kib "${daemon_pid[$smnt]}" RssAnon) * 1024 / n))" bytes false
    unmount_kvc "$smnt"
    t0=$(date +%s.%N)
    mount_kvc "$smnt" "${tag}s$n" "$(scale_opts "$n")"
    ls "$smnt/pool/.stats" >/dev/null
    record scale "remount (attach)" "$n" 1 "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')" s false
  done
  for rep in $(seq "$reps"); do
    for n in $scale_counts; do
      smnt=$work/mnt-scale$n
      say "scale rep $rep: $n lookup, match"
      line=$(run_perf lookup --dir "$smnt/pool" --count "$n" --samples "$lookups" --round $((rep - 1)))
      record scale "lookup" "$n" "$rep" "$(json_field "$line" us_per_op)" us/op false
      line=$(run_perf match --dir "$smnt/pool" --count "$n" --requests $((k / 10)) --chain 32)
      record scale ".match (32 names)" "$n" "$rep" "$(json_field "$line" us_per_op)" us/op false
    done
  done
  for n in $scale_counts; do
    smnt=$work/mnt-scale$n
    say "scale $n: create, evict"
    line=$(run_perf create --dir "$smnt/pool" --count "$k" --size 4096 --prefix c)
    record scale "create 4K" "$n" 1 "$(json_field "$line" us_per_op)" us/op false
    ev0=$(pool_stat "$smnt/pool" evictions)
    line=$(run_perf create --dir "$smnt/pool" --count "$k" --size 4096 --prefix x)
    ev=$(($(pool_stat "$smnt/pool" evictions) - ev0))
    ((ev >= k * 9 / 10)) || { echo "run.sh: expected about $k evictions at $n entries, got $ev" >&2; exit 1; }
    record scale "create 4K evicting" "$n" 1 "$(json_field "$line" us_per_op)" us/op false
    unmount_kvc "$smnt"
    rm -f /dev/shm/"$tag.${tag}s$n".*
  done
fi

# --- memory per GiB stored ------------------------------------------------------------------
# Stores `size` bytes as 16 entries, reads them back once, then records what each copy costs.
if has_part mem; then
  mem_bytes=$size
  for fs in tmpfs kvc kvc-dio; do
    d=${dir_of[$fs]}/mem
    mkdir -p "$d"
    say "mem: $fs"
    fio_mbps "$d" m write 1M 16 $((mem_bytes / 16)) >/dev/null
    fio_mbps "$d" m read 1M 16 $((mem_bytes / 16)) --invalidate=0 >/dev/null
    cached=$(json_field "$(run_perf cachestat "$d"/m.*)" bytes)
    per_gib() { awk -v a="$1" -v b="$mem_bytes" 'BEGIN { printf "%.4f", a / b }'; }
    if [ "$fs" = tmpfs ]; then
      shm=$(($(du -s --block-size=1 "$d" | cut -f1)))
      record mem "shm resident" "$fs" 1 "$(per_gib "$shm")" GiB/GiB false
      record mem "page cache" "$fs" 1 0 GiB/GiB false
    else
      mnt=${d%/pool/mem}
      pid=${daemon_pid[$mnt]}
      # What the entries hold: the pool also keeps the blocks the io group freed, backed for the
      # next writes (retained_bytes), which is memory it has, not memory these entries cost.
      held=$(($(pool_stat "${dir_of[$fs]}" resident_bytes) - $(pool_stat "${dir_of[$fs]}" retained_bytes)))
      record mem "shm resident" "$fs" 1 "$(per_gib "$held")" GiB/GiB false
      record mem "page cache" "$fs" 1 "$(per_gib "$cached")" GiB/GiB false
      record mem "daemon RSS anon (MiB)" "$fs" 1 "$(($(rss_kib "$pid" RssAnon) >> 10))" MiB false
      record mem "daemon RSS shmem" "$fs" 1 "$(per_gib "$(($(rss_kib "$pid" RssShmem) * 1024))")" GiB/GiB false
    fi
    rm -rf "$d"
  done
fi

# --- data path: libkvcachefs ---------------------------------------------------------------
# Its own mount (a pool for two clients' samples plus the chain; the socket in $work). Each
# repetition runs every workload's variants back to back (tmpfs, library, FUSE); entries are
# removed after each sample. Raw samples go to data_raw.jsonl.
if has_part data; then
  data_total=$(to_bytes "$data_total_arg")
  if ((quick)); then
    data_args=(--sizes 2M,256K --batch 4 --chain 8 --chain-loops 1 --small-count 256 --small-batch 64)
    data_chain=8 data_pool=256M
  else
    data_args=(--sizes 2M,256K --batch 64 --chain 64 --chain-loops 4 --small-count 4096 --small-batch 256)
    data_chain=64 data_pool=$(((data_total * 2 + (128 << 20) + (256 << 20)) >> 20))M
  fi
  dmnt=$work/mnt-data
  mount_kvc "$dmnt" "${tag}x" "size=$data_pool,data_socket=$work/data.sock"
  mkdir "$dmnt/pool" "$tmpfs_dir/data"
  : >"$out/data_raw.jsonl"
  for rep in $(seq "$reps"); do
    say "data rep $rep (load $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout -k 5 "$step_timeout" "$data_bench" --pool "$dmnt/pool" --tmpfs "$tmpfs_dir/data" \
      --total "$data_total" --reps 1 "${data_args[@]}" >"$work/data.jsonl" || {
      echo "run.sh: kvc_data_bench failed or timed out after ${step_timeout}s" >&2; exit 1; }
    cat "$work/data.jsonl" >>"$out/data_raw.jsonl"
    # One record per sample: MB/s (10^6 B/s) of the large blocks, ops/s of the small ones, ms
    # per chain load.
    "$py" - "$work/data.jsonl" "$rep" "$data_chain" >>"$results" <<'EOF'
import json, sys
rep, chain = int(sys.argv[2]), int(sys.argv[3])
def label(b):
    return f"{b >> 20}M" if b >= 1 << 20 and b % (1 << 20) == 0 else f"{b >> 10}K"
for line in open(sys.argv[1]):
    s = json.loads(line)
    wl = f"{s['op']} {label(s['size'])}"
    if s["op"] == "chain":
        wl, value, unit, hb = f"chain {chain}x{label(s['size'])}", s["seconds"] * 1e3 * chain / s["n"], "ms", "false"
    elif s["size"] < 65536:
        value, unit, hb = s["ops_per_s"], "ops/s", "true"
    else:
        value, unit, hb = s["mb_per_s"], "MB/s", "true"
    print(f'{{"group":"data","workload":"{wl}","fs":"{s["fs"]}","rep":{rep},"value":{value:.3f},'
          f'"unit":"{unit}","higher_better":{hb}}}')
EOF
  done
  unmount_kvc "$dmnt"
  rm -f /dev/shm/"$tag.${tag}x".*
  rm -rf "$tmpfs_dir/data"
fi

# --- report ---------------------------------------------------------------------------------
{
  echo "{\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"kernel\":\"$(uname -r)\",\"nproc\":$(nproc),"
  echo "\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\","
  echo "\"mem_total_kib\":$(awk '/MemTotal/ {print $2}' /proc/meminfo),\"size\":$size,\"reps\":$reps,"
  echo "\"load_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} >"$out/machine.json"
"$py" "$here/report.py" "$out"
say "done: $out"
