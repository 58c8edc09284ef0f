"""SGLang HiCache's "file" storage backend on a kvcachefs pool: its file pattern, replayed.

    sglang_file_recipe.py POOL

What SGLang does with `--hicache-storage-backend file` and
SGLANG_HICACHE_FILE_BACKEND_STORAGE_DIR=POOL (SGLang at commit
001067fffe33427bee0ed2f007fb7551a1d76b44, class HiCacheFile in
python/sglang/srt/mem_cache/hicache_storage.py, its evictor in
python/sglang/srt/mem_cache/storage/file/lru_file_evictor.py), in our words:

- one file per page: DIR/HASH_MODEL_TPRANK_TPSIZE.bin (MODEL with "/" as "-"; an MLA model
  has no rank part: every rank reads the one copy rank 0 writes); HASH is the page's hex hash,
  chained over the pages before it;
- set: if the page exists, nothing is written; else the page is written with numpy's tofile to
  PATH.tmp.PID.TID.UUID and moved onto PATH with os.replace;
- get: open(PATH, "rb", buffering=0) and readinto a view of the page's tensor; a short read is
  an error, FileNotFoundError a miss (the page and every page after it are fetched again);
- exists: os.path.exists, or a "metadata cache" of names seen (with a TTL, 5 s by default) when
  SGLANG_HICACHE_FILE_BACKEND_ENABLE_METADATA_CACHE is set; a prefetch's lookup
  (batch_exists_v2) scans the directory (os.scandir) and counts the leading pages present;
- its own size bound (SGLANG_HICACHE_FILE_BACKEND_MAX_SIZE, ..._MIN_FREE_SPACE) is off unless
  set; with it, SGLang unlinks pages itself, sizing the filesystem with statvfs.
"""

import hashlib
import os
import sys
import threading
import time
import uuid

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay import check, control, in_processes, kv_bytes, run, settle, stats, xattr  # noqa: E402

PAGE = 128 * 1024
MODEL = "Qwen/Qwen3-8B"


def page_hashes(tokens, page_tokens=64, prior=None):
    out = []
    for i in range(0, len(tokens) - page_tokens + 1, page_tokens):
        h = hashlib.sha256()
        if prior:
            h.update(bytes.fromhex(prior))
        h.update(np.asarray(tokens[i:i + page_tokens], dtype=np.int32).tobytes())
        prior = h.hexdigest()
        out.append(prior)
    return out


class HiCacheFileFiles:
    """The files SGLang's HiCacheFile reads and writes (not SGLang's code)."""

    def __init__(self, directory, tp_rank=0, tp_size=1, mla=False, metadata_ttl=None):
        self.dir = directory
        self.suffix = "_" + "-".join(MODEL.split("/")) + ("" if mla else f"_{tp_rank}_{tp_size}")
        self.ttl = metadata_ttl
        self.seen = {}  # the metadata cache: name -> when it was added

    def path(self, key):
        return os.path.join(self.dir, f"{key}{self.suffix}.bin")

    def exists(self, key):
        stem = key + self.suffix
        if self.ttl is not None and stem in self.seen:
            if time.monotonic() - self.seen[stem] <= self.ttl:
                return True
            del self.seen[stem]
        if os.path.exists(self.path(key)):
            if self.ttl is not None:
                self.seen.setdefault(stem, time.monotonic())
            return True
        return False

    def set(self, key, page):
        if self.exists(key):
            return True
        path = self.path(key)
        tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}"
        try:
            page.tofile(tmp)
            os.replace(tmp, path)
        except OSError:
            if os.path.exists(tmp):
                os.remove(tmp)
            return False
        if self.ttl is not None:
            self.seen.setdefault(key + self.suffix, time.monotonic())
        return True

    def get(self, key, page):
        try:
            with open(self.path(key), "rb", buffering=0) as f:
                if f.readinto(memoryview(page.view(np.uint8))) != page.nbytes:
                    raise IOError(f"short read of {key}")
            return page
        except FileNotFoundError:
            self.seen.pop(key + self.suffix, None)
            return None

    def batch_exists(self, keys):
        wanted = {f"{k}{self.suffix}.bin" for k in keys}
        with os.scandir(self.dir) as entries:
            present = {e.name for e in entries if e.is_file() and e.name in wanted}
        return next((i for i, k in enumerate(keys) if f"{k}{self.suffix}.bin" not in present),
                    len(keys))


def page_of(key, rank=0):
    return np.frombuffer(kv_bytes(f"{key}/{rank}", PAGE), dtype=np.uint8).copy()


def basics(pool):
    fs = HiCacheFileFiles(pool)
    keys = page_hashes(list(range(1024)))
    check(all(fs.set(k, page_of(k)) for k in keys), "16 pages of a prompt are set")
    names = os.listdir(pool)
    check(sorted(names) == sorted(os.path.basename(fs.path(k)) for k in keys),
          f"one entry per page, named as SGLang names it "
          f"({names[0][:20]}..._Qwen-Qwen3-8B_0_1.bin)")
    dst = np.empty(PAGE, dtype=np.uint8)
    check(all(np.array_equal(fs.get(k, dst), page_of(k)) for k in keys),
          "readinto the page's buffer returns exactly the bytes written")
    check(fs.batch_exists(keys) == 16, "a prefetch lookup (os.scandir of the pool) finds 16 pages")
    check(all(xattr(fs.path(k), "user.kvcache.committed") == "1" for k in keys),
          "every page is committed")
    st = os.stat(fs.path(keys[0]))
    check(fs.set(keys[0], page_of(keys[0])) and os.stat(fs.path(keys[0])).st_ino == st.st_ino,
          "setting a page that exists writes nothing")
    more = page_hashes(list(range(1024, 1280)), prior=keys[-1])
    check(fs.batch_exists(keys + more) == 16,
          "a longer prompt's lookup stops at the first page missing")
    for k in keys:
        os.unlink(fs.path(k))


def rank_writer(pool, rank, keys):
    fs = HiCacheFileFiles(pool, tp_rank=rank, tp_size=2)
    return all(fs.set(k, page_of(k, rank)) for k in keys)


def tensor_parallel(pool):
    keys = page_hashes(list(range(512)))
    check(all(in_processes(rank_writer, [(pool, 0, keys), (pool, 1, keys)])),
          "2 TP ranks (processes) write their shards of 8 pages at once")
    dst = np.empty(PAGE, dtype=np.uint8)
    ok = all(np.array_equal(HiCacheFileFiles(pool, r, 2).get(k, dst), page_of(k, r))
             for r in (0, 1) for k in keys)
    check(ok and len(os.listdir(pool)) == 16, "each rank's shard is an entry of its own, intact")
    for n in os.listdir(pool):
        os.unlink(os.path.join(pool, n))
    mla = HiCacheFileFiles(pool, tp_rank=0, tp_size=2, mla=True)
    mla.set(keys[0], page_of(keys[0]))
    check(os.listdir(pool) == [f"{keys[0]}_Qwen-Qwen3-8B.bin"] and
          HiCacheFileFiles(pool, tp_rank=1, tp_size=2, mla=True).exists(keys[0]),
          "an MLA model's page has no rank in its name: rank 1 finds what rank 0 wrote")
    os.unlink(mla.path(keys[0]))


def same_page_writer(pool, keys, barrier):
    fs = HiCacheFileFiles(pool)
    done = []
    for k in keys:
        barrier.wait()
        done.append(fs.set(k, page_of(k)))
    return done


def concurrent_writers(pool):
    import multiprocessing
    keys = page_hashes(list(range(768)))
    barrier = multiprocessing.get_context("fork").Barrier(4)
    results = in_processes(same_page_writer, [(pool, keys, barrier)] * 4)
    check(all(all(r) for r in results),
          "4 processes set the same 12 pages at once: every set succeeds")
    fs, dst = HiCacheFileFiles(pool), np.empty(PAGE, dtype=np.uint8)
    names = os.listdir(pool)
    check(len(names) == 12 and not any(".tmp." in n for n in names) and
          all(np.array_equal(fs.get(k, dst), page_of(k)) for k in keys),
          "each page is one intact entry, no temporary left (each writer had its own)")
    for n in names:
        os.unlink(os.path.join(pool, n))


def eviction(pool):
    control(pool, ".policy", "lru")
    control(pool, ".size", 16 * PAGE)
    vfs = os.statvfs(pool)
    check(vfs.f_blocks * vfs.f_frsize == 16 * PAGE,
          "statvfs of the pool is its capacity: what SGLang's own bound would size itself by")
    fs = HiCacheFileFiles(pool)
    keys = page_hashes(list(range(40 * 64)))
    check(all(fs.set(k, page_of(k)) for k in keys),
          "40 pages into a 16-page pool, SGLang's own bound unset: every set succeeds")
    settle(pool)  # SGLang looks pages up with stat and scandir: let the kernel drop evicted names
    check(int(stats(pool)["used_bytes"]) <= 16 * PAGE, "kvcachefs bounds the memory")
    dst = np.empty(PAGE, dtype=np.uint8)
    check(fs.get(keys[0], dst) is None and not fs.exists(keys[0]),
          "an evicted page is a FileNotFoundError: get returns None, exists is False")
    check(fs.batch_exists(keys[24:]) == 16 and
          all(np.array_equal(fs.get(k, dst), page_of(k)) for k in keys[24:]),
          "the pages left are found by the scan and read back exactly")

    # With the metadata cache, a page evicted within the TTL still "exists" until a get misses.
    cached = HiCacheFileFiles(pool, metadata_ttl=5.0)
    check(cached.exists(keys[-1]), "with the metadata cache a page is remembered as present")
    control(pool, ".evict", 100)
    check(cached.exists(keys[-1]), "... and still 'exists' after kvcachefs evicted it (TTL 5 s)")
    check(cached.get(keys[-1], dst) is None and not cached.exists(keys[-1]),
          "its get is a FileNotFoundError, which drops it from the cache: one failed prefetch")
    control(pool, ".size", "64M")


if __name__ == "__main__":
    run("sglang_file_recipe", basics, tensor_parallel, concurrent_writers, eviction)
