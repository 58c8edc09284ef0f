"""An SGLang HiCache storage backend (the L3 tier) on a kvcachefs pool.

SGLang loads it through its "dynamic" backend:

    python -m sglang.launch_server --model-path ... --enable-hierarchical-cache \\
        --hicache-storage-backend dynamic \\
        --hicache-storage-backend-extra-config '{"backend_name": "kvcachefs",
            "module_path": "kvcachefs.engines.sglang", "class_name": "KVCacheFSStorage",
            "pool": "/kvcache/llama", "interface_v1": 1}'

Written against SGLang at commit 001067fffe33427bee0ed2f007fb7551a1d76b44: HiCacheStorage in
python/sglang/srt/mem_cache/hicache_storage.py, StorageBackendFactory._create_dynamic_backend in
.../mem_cache/storage/backend_factory.py (it calls `cls(storage_config, kwargs)` and checks that
the class is a HiCacheStorage), and the calls of managers/cache_controller.py: batch_exists(keys,
extra_info) before a prefetch, then batch_get(keys, pages) (or, with "interface_v1": 1,
batch_get_v1(keys, host_indices, extra_info)), and batch_set(keys, pages) (or batch_set_v1) to
back pages up, in batches of up to 128 pages of one chain, in chain order.

Each page is one entry named as SGLang's own file backend (HiCacheFile) names it,
`<page hash>_<model>_<tp rank>_<tp size>.bin`, so a pool filled by one is read by the other.
Lookups are one `.match` per batch. Every page written names the page before it as its
user.kvcache.parent; the first page of a batch gets its parent from extra_info.prefix_keys
(interface_v1 passes it to writes too: use it) or from an earlier lookup of the same chain.
Not covered: the `*_v2` calls SGLang makes for models with more pools than the KV pool (Mamba or
sliding-window states, DSA indexers). Pages move through the data path (docs/DATA_PATH.md) when the mount has one, else through the
files. Options in the extra config: "pool" (required, or KVCACHEFS_SGLANG_POOL), "priority"
(an integer user.kvcache.priority for every page this server writes: a hint for the `priority`
and `kvadapt` policies), "io" ("auto", "files" or "data_path").
"""

import errno
import logging
import os

from ..files import KVCacheClient
from ._common import BlockIO, ChainMemory

try:
    from sglang.srt.mem_cache.hicache_storage import HiCacheStorage as _Base
except ImportError:  # SGLang is not installed: the class still works when driven directly
    _Base = object

logger = logging.getLogger(__name__)


def _page_bytes(value):
    """A writable or readable byte view of a page (a torch tensor or anything with a buffer)."""
    if hasattr(value, "numpy"):
        import torch
        if not value.is_contiguous():
            raise ValueError("kvcachefs: a page tensor must be contiguous")
        return memoryview(value.view(-1).view(torch.uint8).numpy()).cast("B")
    return memoryview(value).cast("B")


class KVCacheFSStorage(_Base):
    def __init__(self, storage_config, kwargs=None):
        extra = dict(getattr(storage_config, "extra_config", None) or {})
        pool = extra.get("pool") or os.environ.get("KVCACHEFS_SGLANG_POOL")
        if not pool:
            raise ValueError('kvcachefs: no pool: set "pool" in '
                             "--hicache-storage-backend-extra-config (or KVCACHEFS_SGLANG_POOL) "
                             "to a pool directory of a kvcachefs mount")
        self.client = KVCacheClient(pool)
        # The suffix HiCacheFile gives its files: pages of other models and ranks stay apart.
        model = "-".join((storage_config.model_name or "").split("/"))
        suffix = f"_{model}"
        if not storage_config.is_mla_model:
            suffix += f"_{storage_config.tp_rank}_{storage_config.tp_size}"
        if getattr(storage_config, "pp_size", 1) > 1:
            suffix += f"_{storage_config.pp_size}_{storage_config.pp_rank}"
        if getattr(storage_config, "attn_cp_size", 1) > 1:
            suffix += f"_cp{storage_config.attn_cp_rank}_{storage_config.attn_cp_size}"
        self.suffix = suffix
        self.priority = None if extra.get("priority") is None else int(extra["priority"])
        self.io = BlockIO(self.client, extra.get("io", "auto"))
        self.mem_pool_host = None
        self._chains = ChainMemory()

    def register_mem_pool_host(self, mem_pool_host):
        self.mem_pool_host = mem_pool_host

    def name(self, key):
        return f"{key}{self.suffix}.bin"

    # --- lookups -----------------------------------------------------------------------------

    def exists(self, key):
        return self.client.match([self.name(key)])[0] == 1

    def batch_exists(self, keys, extra_info=None):
        """The number of leading keys stored (one `.match`)."""
        keys = list(keys)
        prefix = getattr(extra_info, "prefix_keys", None)
        self._chains.learn(keys, prefix[-1] if prefix else None)
        return self.client.match([self.name(k) for k in keys])[0]

    # --- reads -------------------------------------------------------------------------------

    def get(self, key, target_location=None, target_sizes=None):
        """The page read into `target_location` (a contiguous tensor of the page's size), or a
        new uint8 tensor; None if it is not stored (or was evicted) or has another size."""
        return self.batch_get([key], [target_location])[0]

    def batch_get(self, keys, target_locations=None, target_sizes=None):
        """Pages in order, read in one batch; from the first one missing (or of another size)
        on, None (SGLang uses only the leading run)."""
        keys = list(keys)
        targets = list(target_locations) if target_locations is not None else [None] * len(keys)
        for i, t in enumerate(targets):
            if t is None:  # no page given: one of the stored size
                import torch
                try:
                    size = os.stat(self.client.path(self.name(keys[i]))).st_size
                except FileNotFoundError:
                    targets = targets[:i]
                    break
                targets[i] = torch.empty(size, dtype=torch.uint8)
        views = [_page_bytes(t) for t in targets]
        sizes = self.io.load([self.name(k) for k in keys[:len(views)]], views)
        n = 0
        while n < len(sizes) and sizes[n] == len(views[n]):
            n += 1
        if n < len(sizes):
            logger.warning("kvcachefs: %s has %d bytes, a page %d", self.name(keys[n]),
                           sizes[n], len(views[n]))
        return targets[:n] + [None] * (len(keys) - n)

    def batch_get_v1(self, keys, host_indices, extra_info=None):
        """Reads pages straight into the registered host pool ("interface_v1": 1)."""
        host = self._host()
        pages = self.batch_get(keys, [host.get_dummy_flat_data_page() for _ in keys])
        for i, page in enumerate(pages):
            if page is not None:
                host.set_from_flat_data_page(int(host_indices[i * host.page_size]), page)
        return [page is not None for page in pages]

    # --- writes ------------------------------------------------------------------------------

    def set(self, key, value=None, target_location=None, target_sizes=None):
        return self.batch_set([key], [value])

    def batch_set(self, keys, values=None, target_locations=None, target_sizes=None):
        """Stores pages of one chain, in order. True if every page is stored."""
        return all(self._store(list(keys), list(values), None, None))

    def batch_set_v1(self, keys, host_indices, extra_info=None):
        """Stores pages from the registered host pool ("interface_v1": 1); extra_info's
        prefix_keys give the first page its parent and every page its user.kvcache.seq_len."""
        host = self._host()
        pages = [host.get_data_page(int(host_indices[i * host.page_size]), flat=True)
                 for i in range(len(keys))]
        prefix = getattr(extra_info, "prefix_keys", None)
        return self._store(list(keys), pages, prefix[-1] if prefix else None,
                           len(prefix) if prefix is not None else None)

    def _store(self, keys, pages, parent_of_first, pages_before):
        if len(keys) != len(pages):
            raise ValueError(f"kvcachefs: {len(keys)} keys for {len(pages)} pages")
        if not keys:
            return []
        self._chains.learn(keys, parent_of_first)
        parents = self._chains.parents(keys, parent_of_first)
        names = [self.name(k) for k in keys]
        _, cached = self.client.match(names)
        blocks, where = [], []
        for i, (name, page) in enumerate(zip(names, pages)):
            if cached[i]:  # already stored (by this server or another): as HiCacheFile does
                continue
            attrs = {}
            if self.priority is not None:
                attrs["priority"] = self.priority
            if pages_before is not None and self.mem_pool_host is not None:
                attrs["seq_len"] = (pages_before + i + 1) * self.mem_pool_host.page_size
            parent = None if parents[i] is None else self.name(parents[i])
            blocks.append((name, _page_bytes(page), parent, attrs))
            where.append(i)
        results = [True] * len(names)
        for i, err in zip(where, self.io.store(blocks)):
            if err:
                # ENOSPC: all that is left is pinned, open or a chain parent. The cache is best
                # effort: SGLang keeps the page in host memory and serves the request.
                logger.warning("kvcachefs: storing %s failed: %s", names[i], os.strerror(err))
                results[i] = False
        return results

    def _host(self):
        if self.mem_pool_host is None:
            raise RuntimeError("kvcachefs: no host memory pool registered "
                               "(SGLang calls register_mem_pool_host before any transfer)")
        return self.mem_pool_host

    # --- the rest ----------------------------------------------------------------------------

    def clear(self):
        """Removes this server's pages (those with its model and rank suffix) from the pool."""
        for name in os.listdir(self.client.pool_dir):
            if name.endswith(self.suffix + ".bin"):
                try:
                    self.client.remove(name)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
        return True

    def get_stats(self):
        return None
