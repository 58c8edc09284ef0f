"""vLLM's offloading connector with the shared-storage (file system) spec on a kvcachefs pool:
its file pattern, replayed.

    vllm_offload_recipe.py POOL

vLLM's OffloadingConnector loads the spec named by kv_connector_extra_config "spec_name" from
"spec_module_path" (vllm/v1/kv_offload/factory.py); the file system spec is llm-d's
SharedStorageOffloadingSpec (llm-d/llm-d-kv-cache, kv_connectors/llmd_fs_backend, README at
commit 04ef2db1fadb539ff93f8e0332cfd589d72c20a9, for vLLM 0.20.x; file_mapper.py, manager.py
and csrc/storage/backends/fs_io/file_io.cpp). What it does with "shared_storage_path": POOL,
in our words:

- one file per group of blocks_per_file GPU blocks ("block_size" tokens), at
  ROOT/MODEL/block_size_B_blocks_per_file_N/tp_T_pp_size_P_pcp_size_C/rank_R/DTYPE/
  HHH/HH/HASH.bin, HASH the hex of vLLM's block hash and HHH, HH its first 3 and next 2 hex
  digits (directories made on demand, by many I/O threads at once);
- store (C++ I/O threads): create the parent directories, open TARGET_RANDOM.tmp with
  O_RDWR|O_CREAT (mode 0664), write the staging buffer in pieces of at most 4 MiB, rename onto
  TARGET; the temporary is removed if anything fails (an O_TMPFILE + linkat variant exists);
- load: open, take the size from the end position, read the whole file into a staging buffer,
  then refresh only its atime (utimensat: atime now, mtime omitted);
- lookup (scheduler): os.path.exists of each block's file; the spec evicts nothing itself
  ("It is up to the storage system to manage this").
"""

import ctypes
import errno
import hashlib
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay import check, control, in_processes, kv_bytes, run, settle, stats, xattr  # noqa: E402

FILE = 512 * 1024   # 256 tokens per file (16 GPU blocks of 16 tokens)
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PIECE = 4 << 20
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


libc = ctypes.CDLL(None, use_errno=True)


class SharedStorageFiles:
    """The files llm-d's fs backend for vLLM reads and writes (not its code)."""

    def __init__(self, root, rank=0, tp=1):
        self.base = (f"{root}/{MODEL}/block_size_16_blocks_per_file_16/"
                     f"tp_{tp}_pp_size_1_pcp_size_1/rank_{rank}/bfloat16")

    def path(self, block_hash):
        h = block_hash.hex()
        return f"{self.base}/{h[:3]}/{h[3:5]}/{h}.bin"

    def lookup(self, hashes):
        found = [os.path.exists(self.path(h)) for h in hashes]
        return found.index(False) if False in found else len(found)

    def store(self, block_hash, data):
        target = self.path(block_hash)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}_{random.getrandbits(32)}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o664)
        try:
            done = 0
            while done < len(data):
                done += os.write(fd, data[done:done + PIECE])
            os.close(fd)
            fd = -1
            os.rename(tmp, target)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self, block_hash, staging):
        """The file's size, read whole into `staging`; None if it is not there."""
        path = self.path(block_hash)
        try:
            with open(path, "rb", buffering=0) as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(0)
                if size > len(staging) or f.readinto(memoryview(staging)[:size]) != size:
                    raise IOError(f"short read of {path}")
        except FileNotFoundError:
            return None
        times = (Timespec * 2)(Timespec(0, UTIME_NOW), Timespec(0, UTIME_OMIT))
        if libc.utimensat(-100, path.encode(), times, 0) != 0:  # AT_FDCWD
            raise OSError(ctypes.get_errno(), "utimensat")
        return size


def block_hashes(n, seed):
    prev, out = hashlib.sha256(f"seed {seed}".encode()).digest(), []
    for i in range(n):
        prev = hashlib.sha256(prev + i.to_bytes(4, "little")).digest()
        out.append(prev)
    return out


def data_of(h, rank=0):
    return kv_bytes(h + bytes([rank]), FILE)


def io_threads(fs, hashes, rank=0, threads=8):
    """Stores `hashes` from several threads at once, as the backend's I/O pool does."""
    errors = []

    def work(part):
        try:
            for h in part:
                fs.store(h, data_of(h, rank))
        except BaseException as e:
            errors.append(e)
    ts = [threading.Thread(target=work, args=(hashes[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def basics(pool):
    fs = SharedStorageFiles(pool)
    hashes = block_hashes(24, 1)
    io_threads(fs, hashes)
    check(all(os.path.exists(fs.path(h)) for h in hashes),
          "8 I/O threads store 24 files, making the HHH/HH directories as they go")
    names = [n for _, _, files in os.walk(pool) for n in files]
    check(len(names) == 24 and not any(n.endswith(".tmp") for n in names),
          "one entry per file, no temporary left")
    staging = bytearray(2 * FILE)
    check(all(fs.load(h, staging) == FILE and staging[:FILE] == data_of(h) for h in hashes),
          "a load reads the whole file into the staging buffer, exactly")
    p = fs.path(hashes[0])
    os.utime(p, ns=(10**9, 2 * 10**9))
    fs.load(hashes[0], staging)
    st = os.stat(p)
    check(st.st_mtime_ns == 2 * 10**9 and st.st_atime_ns > 2 * 10**9,
          "utimensat after a load moves atime only")
    check(fs.lookup(hashes) == 24 and fs.lookup(block_hashes(4, 99)) == 0,
          "the scheduler's lookup (os.path.exists) finds the stored blocks and not others")
    check(all(xattr(fs.path(h), "user.kvcache.committed") == "1" for h in hashes),
          "every file is committed")
    try:
        os.close(os.open(os.path.dirname(p), os.O_TMPFILE | os.O_RDWR, 0o664))
        tmpfile = "supported"
    except OSError as e:
        tmpfile = "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else os.strerror(e.errno)
    check(tmpfile == "EOPNOTSUPP",
          f"O_TMPFILE is refused ({tmpfile}): the backend's named temporary + rename is the path")


def rank_store(pool, rank, hashes):
    io_threads(SharedStorageFiles(pool, rank=rank, tp=2), hashes, rank=rank, threads=4)
    return True


def instance_store(pool, hashes, barrier):
    fs = SharedStorageFiles(pool)
    for h in hashes:
        barrier.wait()
        fs.store(h, data_of(h))
    return True


def concurrency(pool):
    import multiprocessing
    hashes = block_hashes(12, 2)
    in_processes(rank_store, [(pool, 0, hashes), (pool, 1, hashes)])
    staging = bytearray(FILE)
    check(all(SharedStorageFiles(pool, r, 2).load(h, staging) == FILE and
              staging == data_of(h, r) for r in (0, 1) for h in hashes),
          "2 TP ranks (processes, 4 threads each) store their files of 12 blocks at once")
    barrier = multiprocessing.get_context("fork").Barrier(3)
    hashes = block_hashes(10, 3)
    in_processes(instance_store, [(pool, hashes, barrier)] * 3)
    fs = SharedStorageFiles(pool)
    dirs = {os.path.dirname(fs.path(h)) for h in hashes}
    names = [n for d in dirs for n in os.listdir(d)]
    check(sorted(names) == sorted(os.path.basename(fs.path(h)) for h in hashes) and
          all(fs.load(h, staging) == FILE and staging == data_of(h) for h in hashes),
          "3 vLLM instances storing the same 10 blocks at once leave 10 intact files")


def eviction(pool):
    for top in os.listdir(pool):
        os.system(f"rm -rf '{pool}/{top}'")
    control(pool, ".policy", "lru")
    control(pool, ".size", 16 * FILE)
    fs = SharedStorageFiles(pool)
    hashes = block_hashes(40, 4)
    for h in hashes:
        fs.store(h, data_of(h))
    settle(pool)  # the scheduler looks files up with stat: let the kernel drop evicted names
    s = stats(pool)
    check(int(s["used_bytes"]) <= 16 * FILE and int(s["evictions"]) >= 24,
          f"40 files into a 16-file pool: every store succeeds, {s['evictions']} evicted")
    staging = bytearray(FILE)
    check(fs.load(hashes[0], staging) is None and fs.lookup(hashes) == 0,
          "an evicted file is a FileNotFoundError on open and absent to the lookup")
    check(all(fs.load(h, staging) == FILE and staging == data_of(h) for h in hashes[24:]),
          "the 16 files left load exactly")
    control(pool, ".size", "64M")


if __name__ == "__main__":
    run("vllm_offload_recipe", basics, concurrency, eviction)
