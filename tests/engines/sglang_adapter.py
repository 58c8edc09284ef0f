"""kvcachefs.engines.sglang.KVCacheFSStorage driven as SGLang's HiCache drives a storage backend.

    sglang_adapter.py POOL

The calls, in SGLang's order, at commit 001067fffe33427bee0ed2f007fb7551a1d76b44
(https://github.com/sgl-project/sglang/blob/001067fffe33427bee0ed2f007fb7551a1d76b44/python/sglang/srt/mem_cache/hicache_storage.py
and .../python/sglang/srt/mem_cache/storage/backend_factory.py,
.../python/sglang/srt/managers/cache_controller.py):

1. StorageBackendFactory._create_dynamic_backend imports extra_config["module_path"], takes
   extra_config["class_name"] and calls it with (storage_config, kwargs); the controller then
   calls register_mem_pool_host(host pool).
2. Backup (_page_backup), per batch of at most 128 page hashes of one chain, in order:
   batch_set(keys, [host.get_data_page(index) ...]), or with extra_config "interface_v1": 1,
   batch_set_v1(keys, host_indices, HiCacheStorageExtraInfo(prefix_keys=...)).
3. Prefetch: _storage_hit_query calls batch_exists(keys, extra_info) per batch and stops at the
   first batch not wholly present; _page_transfer then calls batch_get(keys, dummy pages) and
   host.set_from_flat_data_page(index, page) per page up to the first None, or batch_get_v1.

The host pool here is a stand-in with the methods the controller and backends call
(get_data_page, get_dummy_flat_data_page, set_from_flat_data_page, page_size): a torch buffer
of pages. Page hashes are chained sha256 hex strings, as SGLang's get_hash_str makes them.
"""

import hashlib
import importlib
import os
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay import (check, control, has_data_socket, in_processes, run, settle,  # noqa: E402
                    stats, xattr)

# One torch thread: the test forks server processes after using torch, and a child must not
# inherit a thread pool it cannot run.
torch.set_num_threads(1)

PAGE_TOKENS = 16
TOKEN_BYTES = 2048          # one token's KV in the host pool: pages of 32 KiB
PAGE = PAGE_TOKENS * TOKEN_BYTES
MODEL = "Qwen/Qwen3-8B"
BATCH = 128                 # STORAGE_BATCH_SIZE


@dataclass
class ExtraInfo:            # HiCacheStorageExtraInfo
    prefix_keys: list = None
    extra_info: dict = None


def storage_config(pool, tp_rank=0, tp_size=1, **extra):
    return SimpleNamespace(
        tp_rank=tp_rank, tp_size=tp_size, pp_rank=0, pp_size=1, attn_cp_rank=0, attn_cp_size=1,
        is_mla_model=False, enable_storage_metrics=False, is_page_first_layout=True,
        model_name=MODEL, extra_config={"backend_name": "kvcachefs",
                                        "module_path": "kvcachefs.engines.sglang",
                                        "class_name": "KVCacheFSStorage", "pool": pool, **extra})


@dataclass
class HostPool:             # the host KV pool, as far as the storage path uses it
    pages: int
    page_size: int = PAGE_TOKENS
    data: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.data = torch.zeros(self.pages * self.page_size, TOKEN_BYTES, dtype=torch.uint8)

    def get_data_page(self, index, flat=True):
        return self.data[index:index + self.page_size].flatten()

    def get_dummy_flat_data_page(self):
        return torch.zeros(self.page_size * TOKEN_BYTES, dtype=torch.uint8)

    def set_from_flat_data_page(self, index, page):
        self.data[index:index + self.page_size] = page.view(self.page_size, TOKEN_BYTES)


def create_backend(config, host):
    """What StorageBackendFactory does for the "dynamic" backend, then the controller."""
    extra = config.extra_config
    cls = getattr(importlib.import_module(extra["module_path"]), extra["class_name"])
    backend = cls(config, {})
    backend.register_mem_pool_host(host)
    return backend


def hashes(n, seed, prior=None):
    out = []
    for i in range(n):
        h = hashlib.sha256()
        if prior:
            h.update(bytes.fromhex(prior))
        h.update(f"{seed}:{i}".encode())
        prior = h.hexdigest()
        out.append(prior)
    return out


def fill(host, n, seed):
    g = torch.Generator().manual_seed(seed)
    host.data[:n * PAGE_TOKENS] = torch.randint(0, 256, (n * PAGE_TOKENS, TOKEN_BYTES),
                                                generator=g, dtype=torch.uint8)


def backup(backend, host, keys, v1, prefix_keys=None):
    """_page_backup: batches of 128, in order; True if every batch was stored."""
    for i in range(0, len(keys), BATCH):
        batch = keys[i:i + BATCH]
        indices = torch.arange(i * PAGE_TOKENS, (i + len(batch)) * PAGE_TOKENS)
        extra = ExtraInfo(prefix_keys=prefix_keys)
        if v1:
            ok = all(backend.batch_set_v1(batch, indices, extra))
        else:
            ok = backend.batch_set(batch, [host.get_data_page(int(indices[j * PAGE_TOKENS]))
                                           for j in range(len(batch))])
        if not ok:
            return False
        if prefix_keys:
            prefix_keys += batch
    return True


def prefetch(backend, host, keys, v1, prefix_keys=None):
    """_storage_hit_query, then _page_transfer: the number of pages loaded into `host`."""
    hit = []
    for i in range(0, len(keys), BATCH):
        batch = keys[i:i + BATCH]
        n = backend.batch_exists(batch, ExtraInfo(prefix_keys=prefix_keys))
        hit += batch[:n]
        if n < len(batch):
            break
        if prefix_keys:
            prefix_keys += batch
    indices = torch.arange(len(hit) * PAGE_TOKENS)
    if v1:
        results = backend.batch_get_v1(hit, indices, ExtraInfo(prefix_keys=prefix_keys))
        return results.index(False) if False in results else len(results)
    pages = backend.batch_get(hit, [host.get_dummy_flat_data_page() for _ in hit])
    for i, page in enumerate(pages):
        if page is None:
            return i
        host.set_from_flat_data_page(int(indices[i * PAGE_TOKENS]), page)
    return len(pages)


def both_paths(pool):
    socket = has_data_socket(pool)
    backend = create_backend(storage_config(pool), HostPool(1))
    check(backend.io.data_path == socket,
          "pages move through the data path" if socket else
          "the mount has no data socket: pages move through the files")
    for v1 in (False, True):
        path = "batch_set_v1/batch_get_v1" if v1 else "batch_set/batch_get"
        host = HostPool(64)
        backend = create_backend(storage_config(pool, **({"interface_v1": 1} if v1 else {})),
                                 host)
        keys = hashes(12, f"p{v1}")
        fill(host, 12, 1 + v1)
        written = host.data.clone()
        requests = int(stats(pool)["match_requests"])
        check(backup(backend, host, keys[:8], v1, prefix_keys=[]) and
              backup(backend, host, keys, v1, prefix_keys=[]),
              f"{path}: a chain of 8 pages, then the same chain grown to 12, are backed up")
        name = backend.name(keys[0])
        check(name == f"{keys[0]}_Qwen-Qwen3-8B_0_1.bin" and
              os.path.exists(os.path.join(pool, name)),
              f"{path}: pages are named as SGLang's file backend names them")
        check(all(xattr(os.path.join(pool, backend.name(keys[i])), "user.kvcache.parent")
                  == backend.name(keys[i - 1]) for i in range(1, 12)) and
              xattr(os.path.join(pool, name), "user.kvcache.parent") is None,
              f"{path}: every page names the page before it as user.kvcache.parent")
        host.data.zero_()
        n = prefetch(backend, host, keys + hashes(4, "absent", keys[-1]), v1, prefix_keys=[])
        check(n == 12 and torch.equal(host.data[:12 * PAGE_TOKENS], written[:12 * PAGE_TOKENS]),
              f"{path}: a prefetch finds the 12 pages (not the 4 after) and loads them exactly")
        check(int(stats(pool)["match_requests"]) > requests,
              f"{path}: lookups go through .match")
        if v1:
            check(xattr(os.path.join(pool, backend.name(keys[11])), "user.kvcache.seq_len")
                  == str(12 * PAGE_TOKENS), "batch_set_v1: user.kvcache.seq_len is the page's end")
            more = hashes(3, "turn2", keys[-1])
            fill(host, 3, 9)
            check(backup(backend, host, more, v1, prefix_keys=list(keys)) and
                  xattr(os.path.join(pool, backend.name(more[0])), "user.kvcache.parent")
                  == backend.name(keys[-1]),
                  "batch_set_v1: the first page of a later turn gets its parent from prefix_keys")
        backend.clear()
        check(os.listdir(pool) == [], f"{path}: clear() removes this server's pages")


def server(pool, seed):
    host = HostPool(16)
    backend = create_backend(storage_config(pool, interface_v1=1), host)
    fill(host, 16, 5)
    return backup(backend, host, hashes(16, seed), True, prefix_keys=[])


def two_servers(pool):
    ok = in_processes(server, [(pool, "shared"), (pool, "shared")])
    host = HostPool(16)
    backend = create_backend(storage_config(pool), host)
    fill(host, 16, 5)
    expect = host.data.clone()
    host.data.zero_()
    check(all(ok) and len(os.listdir(pool)) == 16 and
          prefetch(backend, host, hashes(16, "shared"), False) == 16 and torch.equal(host.data,
                                                                                      expect),
          "2 servers (processes) back up the same 16 pages at once: 16 intact entries")
    backend.clear()


def chains_under_pressure(pool):
    control(pool, ".policy", "lru")
    control(pool, ".size", 40 * PAGE)
    host = HostPool(16)
    backend = create_backend(storage_config(pool, interface_v1=1, priority=1), host)
    chains = [hashes(16, f"conv{c}") for c in range(6)]
    for c, keys in enumerate(chains):
        fill(host, 16, 20 + c)
        check(backup(backend, host, keys, True, prefix_keys=[]),
              f"conversation {c}: 16 pages backed up into a 40-page pool")
    leading = [backend.batch_exists(keys) for keys in chains]  # .match: the pool's own answer
    settle(pool)  # before counting with stat, the kernel drops the names the pool evicted
    present = [sum(os.path.exists(os.path.join(pool, backend.name(k))) for k in keys)
               for keys in chains]
    check(sum(present) <= 40 and present == leading and any(0 < p < 16 for p in present),
          f"eviction ate chains from their ends: what is left of each is a prefix {present} "
          f"(the file backend, without parents, would leave a headless chain)")
    check(xattr(os.path.join(pool, backend.name(chains[-1][0])), "user.kvcache.priority") == "1",
          "extra_config priority becomes user.kvcache.priority (a hint for kvadapt)")
    control(pool, ".evict", 100)
    check(prefetch(backend, host, chains[-1], True, prefix_keys=[]) == 0,
          "after .evict the prefetch finds nothing: evicted pages are misses")
    control(pool, ".size", "64M")


def errors(pool):
    if has_data_socket(pool):
        check(not create_backend(storage_config(pool, io="files"), HostPool(1)).io.data_path,
              '"io": "files" moves pages through the files although the mount has a data path')
    else:
        try:
            create_backend(storage_config(pool, io="data_path"), HostPool(1))
            check(False, '"io": "data_path" on a mount without one: refused')
        except OSError as e:
            check("data socket" in str(e), f'"io": "data_path" on a mount without one: {e}')
    try:
        create_backend(storage_config(None), HostPool(1))
        check(False, "no pool configured: refused")
    except ValueError as e:
        check("pool" in str(e), f"no pool configured: refused ({e})")
    try:
        create_backend(storage_config(os.path.join(pool, "nope")), HostPool(1))
        check(False, "a pool that does not exist: refused")
    except FileNotFoundError:
        check(True, "a pool that does not exist: FileNotFoundError")


if __name__ == "__main__":
    run("sglang_adapter", both_paths, two_servers, chains_under_pressure, errors)
