"""An LMCache remote storage plugin that keeps chunks in a kvcachefs pool.

LMCache configuration (YAML):

    chunk_size: 256
    local_cpu: true
    max_local_cpu_size: 5
    save_unfull_chunk: false
    remote_serde: naive
    remote_storage_plugins: ["kvcachefs"]
    extra_config:
      remote_storage_plugin.kvcachefs.module_path: kvcachefs.engines.lmcache
      remote_storage_plugin.kvcachefs.class_name: KVCacheFSConnectorAdapter
      remote_storage_plugin.kvcachefs.pool: /kvcache/llama
      save_chunk_meta: false

Written against LMCache's dev branch as of docs/source/kv_cache/storage_backends/fs.rst at
commit 40c1e660d337aca70cdd0ae89c78f9121b6215a7 (plugin mode, LMCache >= 0.4.5): a plugin named
in remote_storage_plugins is loaded from module_path/class_name by ConnectorManager
(lmcache/v1/storage_backend/connector/__init__.py), must be a ConnectorAdapter, is asked
can_parse("plugin://NAME") and then create_connector(context); the connector is a
RemoteConnector (connector/base_connector.py) that RemoteBackend drives from its event loop:
exists / exists_sync, batched_async_contains(lookup_id, keys) (the leading run of a lookup, in
chain order), get / batched_get_non_blocking, put / batched_put (a store's chunks, in order),
remove_sync, list, close.

Each chunk is one entry named as LMCache's own fs connector names its files
(`key.to_string()` with "/" as "-SEP-", then ".data"), holding the chunk's bytes (so
save_chunk_meta must be false, as in LMCache's fs examples). Lookups are one `.match` per
batch; every chunk written names the chunk before it as its user.kvcache.parent (the first of a
batch: the one before it in an earlier lookup). Blocking I/O runs in the loop's executor.
Chunks move through the data path (docs/DATA_PATH.md) when the mount has one, else through the
files. Options: remote_storage_plugin.NAME.pool (required), remote_storage_plugin.NAME.priority
(an integer user.kvcache.priority for every chunk this engine writes: a hint for the `priority`
and `kvadapt` policies), remote_storage_plugin.NAME.io ("auto", "files" or "data_path").
"""

import asyncio
import logging
import os

from ..files import KVCacheClient
from ._common import BlockIO, ChainMemory

try:
    from lmcache.v1.storage_backend.connector import ConnectorAdapter as _AdapterBase
    from lmcache.v1.storage_backend.connector.base_connector import \
        RemoteConnector as _ConnectorBase
except ImportError:  # LMCache is not installed: the classes still work when driven directly
    _AdapterBase = _ConnectorBase = object

logger = logging.getLogger(__name__)

PLUGIN_TYPE = "kvcachefs"
SCHEMA = "kvcachefs://"


class KVCacheFSConnectorAdapter(_AdapterBase):
    """Parses `plugin://kvcachefs[.INSTANCE]` (remote_storage_plugins) and
    `kvcachefs:///POOL/DIR` (remote_url)."""

    def __init__(self):
        if _AdapterBase is not object:
            super().__init__(SCHEMA)
        self.schema = SCHEMA

    def can_parse(self, url):
        if url.startswith(SCHEMA):
            return True
        return url.startswith("plugin://") and \
            url[len("plugin://"):].split(".", 1)[0] == PLUGIN_TYPE

    def create_connector(self, context):
        extra = getattr(context.config, "extra_config", None) or {}
        plugin = getattr(context, "plugin_name", None) or PLUGIN_TYPE
        pool = extra.get(f"remote_storage_plugin.{plugin}.pool")
        if pool is None and context.url.startswith(SCHEMA):
            pool = context.url[len(SCHEMA):]
        if not pool:
            raise ValueError(f"kvcachefs: no pool: set extra_config "
                             f"remote_storage_plugin.{plugin}.pool to a pool directory of a "
                             f"kvcachefs mount")
        priority = extra.get(f"remote_storage_plugin.{plugin}.priority")
        return KVCacheFSConnector(pool, context.loop, context.local_cpu_backend,
                                  None if priority is None else int(priority),
                                  extra.get(f"remote_storage_plugin.{plugin}.io", "auto"))


class KVCacheFSConnector(_ConnectorBase):
    def __init__(self, pool, loop, local_cpu_backend, priority=None, io="auto"):
        config, metadata = local_cpu_backend.config, local_cpu_backend.metadata
        extra = getattr(config, "extra_config", None) or {}
        if _ConnectorBase is not object:
            super().__init__(config, metadata)
        else:  # what RemoteConnector.__init__ sets, of what this class uses
            self.save_chunk_meta = bool(extra.get("save_chunk_meta", True))
            self.meta_shapes, self.meta_dtypes = metadata.get_shapes(), metadata.get_dtypes()
            self.meta_fmt = None
        if self.save_chunk_meta:
            raise ValueError("kvcachefs: entries hold a chunk's bytes alone: set extra_config "
                             "save_chunk_meta: false")
        self.client = KVCacheClient(pool)
        self.loop = loop
        self.local_cpu_backend = local_cpu_backend
        self.attrs = {} if priority is None else {"priority": priority}
        self.io = BlockIO(self.client, io)
        self._chains = ChainMemory()

    @staticmethod
    def name(key):
        return key.to_string().replace("/", "-SEP-") + ".data"

    def _run(self, fn, *args):
        return asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # --- lookups -----------------------------------------------------------------------------

    def exists_sync(self, key):
        return self.client.match([self.name(key)])[0] == 1

    async def exists(self, key):
        return await self._run(self.exists_sync, key)

    def support_batched_contains(self):
        return True

    def batched_contains(self, keys, stop_after_first_not_exits=True):
        names = [self.name(k) for k in keys]
        self._chains.learn(names)
        leading, cached = self.client.match(names)
        return [i < leading for i in range(len(names))] if stop_after_first_not_exits \
            else cached

    def support_batched_async_contains(self):
        return True

    async def batched_async_contains(self, lookup_id, keys, pin=False):
        """How many leading keys are stored (one `.match`)."""
        return (await self._run(self.batched_contains, list(keys))).count(True)

    # --- reads -------------------------------------------------------------------------------

    def _read_run(self, keys):
        """The chunks of the leading run of `keys`, read in one batch into chunks LMCache
        allocates; reading stops at the first one missing, empty or larger than a chunk."""
        objs = []
        for _ in keys:
            obj = self.local_cpu_backend.allocate(self.meta_shapes, self.meta_dtypes,
                                                  self.meta_fmt)
            if obj is None:
                break
            objs.append(obj)
        views = [memoryview(o.byte_array).cast("B") for o in objs]
        sizes = self.io.load([self.name(k) for k in keys[:len(objs)]], views)
        out = []
        for obj, view, size in zip(objs, views, sizes):
            if size == 0:
                break
            if size < len(view):  # a partial chunk (save_unfull_chunk), as LMCache's fs reads it
                if not hasattr(self, "reshape_partial_chunk"):
                    logger.warning("kvcachefs: %s has %d bytes, a chunk %d",
                                   self.name(keys[len(out)]), size, len(view))
                    break
                obj = self.reshape_partial_chunk(obj, size)
            out.append(obj)
        for obj in objs[len(out):]:  # given back
            obj.ref_count_down()
        return out

    async def get(self, key):
        run = await self._run(self._read_run, [key])
        return run[0] if run else None

    def support_batched_get_non_blocking(self):
        return True

    async def batched_get_non_blocking(self, lookup_id, keys):
        """The chunks of the leading run of `keys` (reading stops at the first one missing)."""
        return await self._run(self._read_run, list(keys))

    # --- writes ------------------------------------------------------------------------------

    def _write(self, keys, memory_objs):
        names = [self.name(k) for k in keys]
        self._chains.learn(names)
        blocks = [(name, memoryview(obj.byte_array).cast("B"), parent, self.attrs)
                  for name, parent, obj in zip(names, self._chains.parents(names), memory_objs)]
        for name, err in zip(names, self.io.store(blocks)):
            if err:  # as LMCache's fs connector does: the put fails, LMCache logs it
                raise OSError(err, f"kvcachefs: storing {name}: {os.strerror(err)}")

    async def put(self, key, memory_obj):
        await self._run(self._write, [key], [memory_obj])

    def support_batched_put(self):
        return True

    async def batched_put(self, keys, memory_objs):
        await self._run(self._write, list(keys), list(memory_objs))

    # --- the rest ----------------------------------------------------------------------------

    def remove_sync(self, key):
        try:
            self.client.remove(self.name(key))
            return True
        except OSError:
            return False

    async def list(self):
        return [n[:-len(".data")] for n in os.listdir(self.client.pool_dir)
                if n.endswith(".data")]

    async def close(self):
        self.io.close()
        self.client.close()
