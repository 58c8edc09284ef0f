"""LMCache's filesystem remote connector on a kvcachefs pool: its file pattern, replayed.

    lmcache_fs_recipe.py POOL

What LMCache does with `remote_storage_plugins: ["fs"]` and
`remote_storage_plugin.fs.base_path: POOL` (LMCache dev as of docs/source/kv_cache/
storage_backends/fs.rst at commit 40c1e660d337aca70cdd0ae89c78f9121b6215a7; the connector is
lmcache/v1/storage_backend/connector/fs_connector.py, class FSConnector), in our words:

- one file per chunk, BASE/NAME.data, NAME being the cache key's string
  (FMT@MODEL@WORLD_SIZE@WORKER_ID@CHUNK_HASH_IN_HEX@DTYPE) with every "/" turned into "-SEP-";
- put: the bytes go to a temporary file named after the chunk (NAME.tmp beside it, or
  BASE/TMPDIR/NAME.data with fs_connector_relative_tmp_dir), opened "wb" (with
  fs_connector_use_odirect and a chunk a multiple of statvfs' f_bsize: os.open with O_DIRECT
  and one os.write), then os.replace onto the final name; on an error the temporary is removed
  and the error raised;
- get: open "rb", readinto a chunk-sized buffer (with O_DIRECT: os.open + fdopen(buffering=0)
  + readinto); FileNotFoundError is a miss (None, nothing logged);
- exists: os.path.exists; a lookup (batched_async_contains) counts the leading existing keys;
- the chunk hash (pre_caching_hash_algorithm "builtin") is Python's hash(), so workers of
  different processes name a chunk alike only with the same PYTHONHASHSEED.

Every writer of a key uses the same temporary name, so concurrent writers of one chunk share it.
"""

import mmap
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay import (check, control, in_processes, kv_bytes, opens, run, settle,  # noqa: E402
                    stats, xattr)

CHUNK = 256 * 1024
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def key_string(chunk_hash, worker=0, world=1, model=MODEL):
    return f"vllm@{model}@{world}@{worker}@{chunk_hash:x}@bfloat16"


class FSConnectorFiles:
    """The files LMCache's FSConnector reads and writes (not LMCache's code)."""

    def __init__(self, base, tmp_dir=None, odirect=False):
        self.base = Path(base)
        self.tmp_dir = tmp_dir
        self.base.mkdir(parents=True, exist_ok=True)
        if tmp_dir:
            (self.base / tmp_dir).mkdir(exist_ok=True)
        self.block = os.statvfs(self.base).f_bsize if odirect else 0

    def path(self, key):
        return self.base / (key.replace("/", "-SEP-") + ".data")

    def tmp(self, key):
        final = self.path(key)
        return self.base / self.tmp_dir / final.name if self.tmp_dir else final.with_suffix(".tmp")

    def exists(self, key):
        return os.path.exists(self.path(key))

    def contains(self, keys):
        flags = [self.exists(k) for k in keys]
        return flags.index(False) if False in flags else len(flags)

    def put(self, key, data):
        final, tmp = self.path(key), self.tmp(key)
        try:
            if self.block and len(data) % self.block == 0:
                buf = mmap.mmap(-1, len(data))  # LMCache's chunks are page-aligned memory
                buf[:] = data
                fd = os.open(str(tmp), os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644)
                try:
                    os.write(fd, buf)
                finally:
                    os.close(fd)
            else:
                with open(tmp, "wb") as f:
                    f.write(data)
            os.replace(tmp, final)
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key, size=CHUNK):
        buf = mmap.mmap(-1, size) if self.block else bytearray(size)
        try:
            if self.block and size % self.block == 0:
                fd = os.open(self.path(key), os.O_RDONLY | os.O_DIRECT)
                with os.fdopen(fd, "rb", buffering=0) as f:
                    n = f.readinto(buf)
            else:
                with open(self.path(key), "rb") as f:
                    n = f.readinto(buf)
        except FileNotFoundError:
            return None
        return bytes(buf[:n])


def chain(n, seed):
    return [key_string((seed << 8) + i) for i in range(n)]


def basics(pool):
    fs = FSConnectorFiles(pool)
    keys = chain(8, 1)
    for i, k in enumerate(keys):
        fs.put(k, kv_bytes(k, CHUNK))
    names = sorted(os.listdir(pool))
    check(names == sorted(fs.path(k).name for k in keys),
          f"8 chunks are 8 entries named as LMCache names them ({names[0]})")
    check("-SEP-" in names[0] and not any(n.endswith(".tmp") for n in names),
          "'/' of the model name is -SEP-, no temporary is left")
    check(all(fs.get(k) == kv_bytes(k, CHUNK) for k in keys),
          "readinto a chunk-sized buffer returns exactly the bytes written")
    check(fs.contains(keys) == 8, "a lookup (exists of each key) finds the 8 chunks")
    check(all(xattr(fs.path(k), "user.kvcache.committed") == "1" for k in keys),
          "every chunk is committed once os.replace has put it in place")
    check(fs.get(key_string(0xdead)) is None, "a chunk never stored is a miss (FileNotFoundError)")
    for k in keys:
        os.unlink(fs.path(k))

    # fs_connector_relative_tmp_dir: the temporary is in a directory of the pool.
    fs = FSConnectorFiles(pool, tmp_dir=".tmp")
    keys = chain(4, 2)
    for k in keys:
        fs.put(k, kv_bytes(k, CHUNK))
    check(os.listdir(os.path.join(pool, ".tmp")) == [] and
          all(fs.get(k) == kv_bytes(k, CHUNK) for k in keys),
          "with fs_connector_relative_tmp_dir .tmp the rename from .tmp/ puts intact chunks "
          "in place")
    for k in keys:
        os.unlink(fs.path(k))
    os.rmdir(os.path.join(pool, ".tmp"))


def odirect(pool):
    fs = FSConnectorFiles(pool, odirect=True)
    check(fs.block == 4096 and CHUNK % fs.block == 0,
          f"statvfs f_bsize of the pool is {fs.block}: 256 KiB chunks take the O_DIRECT path")
    keys = chain(4, 3)
    for k in keys:
        fs.put(k, kv_bytes(k, CHUNK))
    check(all(fs.get(k) == kv_bytes(k, CHUNK) for k in keys),
          "fs_connector_use_odirect: O_DIRECT write and O_DIRECT readinto give back the bytes")
    odd = key_string(0x0dd)
    fs.put(odd, kv_bytes(odd, 1000))  # not aligned: LMCache falls back to buffered I/O
    check(fs.get(odd, 1000) == kv_bytes(odd, 1000), "an unaligned chunk falls back to buffered I/O")
    for k in keys + [odd]:
        os.unlink(fs.path(k))


WORKER = r"""
import os, sys
pool, mode = sys.argv[1], sys.argv[2]
tokens = tuple(range(4096))
prefix, names = "lmcache", []
for i in range(0, len(tokens), 256):      # a chained hash of each chunk's tokens, with hash()
    prefix = hash((prefix, tokens[i:i + 256]))
    names.append(f"vllm@m@1@0@{prefix:x}@bfloat16.data")
if mode == "store":
    for n in names:
        with open(os.path.join(pool, n), "wb") as f:
            f.write(n.encode())
found = [os.path.exists(os.path.join(pool, n)) for n in names]
print(found.index(False) if False in found else len(found))
"""


def hash_seed(pool):
    def run(mode, seed):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
        if seed is not None:
            env["PYTHONHASHSEED"] = seed
        out = subprocess.run([sys.executable, "-c", WORKER, pool, mode], env=env, check=True,
                             capture_output=True, text=True).stdout
        return int(out)
    check(run("store", "0") == 16, "instance A (PYTHONHASHSEED=0) stores a 16-chunk prompt")
    check(run("lookup", "0") == 16,
          "instance B, another process with PYTHONHASHSEED=0, finds all 16")
    check(run("lookup", None) == 0,
          "a process without PYTHONHASHSEED hashes the same tokens to other names: finds none")
    for n in os.listdir(pool):
        os.unlink(os.path.join(pool, n))


def racer(pool, keys, barrier):
    fs, outcomes = FSConnectorFiles(pool), []
    for k in keys:
        barrier.wait()
        try:
            fs.put(k, kv_bytes(k, CHUNK))
            outcomes.append("ok")
        except FileNotFoundError:  # another writer renamed the shared temporary first
            outcomes.append("lost")
    return outcomes


def concurrent_writers(pool):
    import multiprocessing
    keys = chain(12, 4)
    barrier = multiprocessing.get_context("fork").Barrier(4)
    results = in_processes(racer, [(pool, keys, barrier)] * 4)
    fs = FSConnectorFiles(pool)
    per_key = list(zip(*results))
    check(all("ok" in r for r in per_key),
          "4 processes put the same 12 chunks at once: every chunk has a writer that succeeded")
    lost = sum(r.count("lost") for r in per_key)
    check(all(fs.get(k) == kv_bytes(k, CHUNK) for k in keys),
          f"each chunk is one intact entry ({lost} writes lost the shared temporary to another "
          f"writer: LMCache logs them and the chunk is stored anyway)")
    names = os.listdir(pool)
    check(len(names) == 12 and not any(n.endswith(".tmp") for n in names),
          "no temporary is left behind")
    check(all(xattr(fs.path(k), "user.kvcache.committed") == "1" for k in keys),
          "every chunk is committed")
    for k in keys:
        os.unlink(fs.path(k))


def eviction(pool):
    control(pool, ".policy", "lru")
    control(pool, ".size", 16 * CHUNK)
    fs = FSConnectorFiles(pool)
    keys = chain(40, 5)
    for k in keys:
        fs.put(k, kv_bytes(k, CHUNK))  # raises on ENOSPC: the pool must evict instead
    settle(pool)  # LMCache looks chunks up with stat: let the kernel drop the evicted names
    s = stats(pool)
    check(int(s["used_bytes"]) <= 16 * CHUNK and int(s["evictions"]) >= 24,
          f"40 chunks into a 16-chunk pool: no write failed, {s['evictions']} evicted")
    gone = [k for k in keys if opens(fs.path(k)) == "missing"]
    check(len(gone) == 24 and gone == keys[:24],
          "an evicted chunk is a FileNotFoundError on open (LMCache's get returns None)")
    check(all(fs.get(k) == kv_bytes(k, CHUNK) for k in keys[24:]),
          "the chunks left read back exactly")
    check(fs.contains(keys) == 0 and fs.contains(keys[24:]) == 16,
          "without parents LRU evicted the chain's head: a lookup of the prompt finds nothing, "
          "though 16 of its chunks are still stored (why docs/ENGINES.md suggests parents)")
    with open(fs.path(keys[-1]), "rb") as f:
        control(pool, ".evict", 100)
        check(opens(fs.path(keys[-1])) == "missing" and
              f.read() == kv_bytes(keys[-1], CHUNK),
              "a chunk evicted while a reader has it open is gone by name, and the reader "
              "still reads all of it")
    # A prompt read again (reused) against chunks written once: lru+admit keeps the prompt.
    for policy, kept in (("lru", False), ("lru+admit", True)):
        control(pool, ".evict", 100)
        control(pool, ".policy", policy)
        prompt, others = chain(8, 6), chain(20, 7)
        for k in prompt:
            fs.put(k, kv_bytes(k, CHUNK))
        check(all(fs.get(k) for k in prompt),
              f"{policy}: an 8-chunk prompt is stored and read again")
        for k in others:
            fs.put(k, kv_bytes(k, CHUNK))
        settle(pool)
        whole = fs.contains(prompt) == 8 and all(fs.get(k) == kv_bytes(k, CHUNK) for k in prompt)
        check(whole == kept,
              f"{policy}: after 20 chunks written once into the 16-chunk pool the prompt is "
              + ("still whole (chunks seen once went first)" if kept else "headless (LRU order)"))
    control(pool, ".policy", "lru")
    control(pool, ".size", "64M")


if __name__ == "__main__":
    run("lmcache_fs_recipe", basics, odirect, hash_seed, concurrent_writers, eviction)
