"""kvcachefs.engines.lmcache driven as LMCache drives a remote storage plugin.

    lmcache_adapter.py POOL

The calls, in LMCache's order (LMCache dev, plugin mode, LMCache >= 0.4.5), read in
https://github.com/LMCache/LMCache/blob/0109660ce57fe9c046eb7953dfb56fb1e3c6d9fd/lmcache/v1/storage_backend/connector/__init__.py
(plugin loading, ConnectorContext),
https://github.com/LMCache/LMCache/blob/009eca101c71ae583489ed4bc616c589f2edcdf7/lmcache/v1/storage_backend/remote_backend.py
(how the connector is called) and
https://github.com/LMCache/LMCache/blob/01712fbd51d033060d6a8851c06de0ebf351f74e/lmcache/v1/storage_backend/connector/base_connector.py
(the RemoteConnector interface):

1. ConnectorManager._remote_adapters_plugin_launcher: for a plugin named in
   remote_storage_plugins, import extra_config["remote_storage_plugin.NAME.module_path"], take
   "...class_name" and instantiate it with no argument; create_connector() asks each adapter
   can_parse("plugin://NAME") and calls create_connector(ConnectorContext) on the one that can.
2. RemoteBackend runs the connector's coroutines on its event loop thread
   (asyncio.run_coroutine_threadsafe) from the engine's threads: a lookup is
   batched_async_contains(lookup_id, keys, pin) (the leading run), or exists / exists_sync per
   key; a store is batched_put(keys, memory_objs) (support_batched_put) or put per key; a
   retrieve is batched_get_non_blocking(lookup_id, keys) or get per key, each chunk allocated
   with local_cpu_backend.allocate(shapes, dtypes, fmt) and filled through its byte_array;
   remove_sync, list and close last.

LocalCPUBackend, MemoryObj and CacheEngineKey are stand-ins with the members the connector
uses. The chunks are the files LMCache's own fs connector writes (lmcache_fs_recipe.py).
"""

import asyncio
import importlib
import os
import sys
import threading
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmcache_fs_recipe import FSConnectorFiles  # noqa: E402
from replay import (check, control, has_data_socket, in_processes, kv_bytes, run,  # noqa: E402
                    settle, stats, xattr)

CHUNK = 64 * 1024
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


class Key:                  # CacheEngineKey, as far as a connector uses it
    def __init__(self, chunk_hash, worker=0):
        self.chunk_hash, self.worker = chunk_hash, worker

    def to_string(self):
        return f"vllm@{MODEL}@1@{self.worker}@{self.chunk_hash:x}@bfloat16"


class MemoryObj:
    def __init__(self, size):
        self.byte_array = bytearray(size)
        self.refs = 1

    def ref_count_down(self):
        self.refs -= 1


class LocalCPUBackend:
    def __init__(self, extra_config):
        self.config = SimpleNamespace(extra_config=extra_config, use_layerwise=False)
        self.metadata = SimpleNamespace(get_shapes=lambda: [(2, 32, 256, 128)],
                                        get_dtypes=lambda: ["bfloat16"])
        self.allocated = []

    def allocate(self, shapes, dtypes, fmt=None):
        obj = MemoryObj(CHUNK)
        self.allocated.append(obj)
        return obj


class Engine:
    """LMCache's side: the plugin loaded from its config, an event loop on a thread of its own,
    and RemoteBackend's blocking calls into it."""

    def __init__(self, pool, plugin="kvcachefs", **extra):
        self.extra = {f"remote_storage_plugin.{plugin}.module_path": "kvcachefs.engines.lmcache",
                      f"remote_storage_plugin.{plugin}.class_name": "KVCacheFSConnectorAdapter",
                      f"remote_storage_plugin.{plugin}.pool": pool, "save_chunk_meta": False,
                      **extra}
        module = importlib.import_module(self.extra[f"remote_storage_plugin.{plugin}.module_path"])
        self.adapter = getattr(module, self.extra[f"remote_storage_plugin.{plugin}.class_name"])()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.cpu = LocalCPUBackend(self.extra)
        url = f"plugin://{plugin}"
        if not self.adapter.can_parse(url):
            raise RuntimeError(f"the adapter does not parse {url}")
        self.conn = self.adapter.create_connector(SimpleNamespace(
            url=url, loop=self.loop, local_cpu_backend=self.cpu, config=self.cpu.config,
            metadata=self.cpu.metadata, plugin_name=plugin))

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def lookup(self, keys):
        return self.call(self.conn.batched_async_contains("lookup-1", keys, False))

    def store(self, keys, payloads):
        objs = []
        for p in payloads:
            o = MemoryObj(len(p))
            o.byte_array[:] = p
            objs.append(o)
        self.call(self.conn.batched_put(keys, objs))

    def retrieve(self, keys):
        return [bytes(o.byte_array) for o in
                self.call(self.conn.batched_get_non_blocking("lookup-1", keys))]

    def close(self):
        self.call(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def chain(n, seed, worker=0):
    return [Key((seed << 16) + i, worker) for i in range(n)]


def data(key):
    return kv_bytes(key.to_string(), CHUNK)


def calls(pool):
    eng = Engine(pool)
    socket = has_data_socket(pool)
    check(eng.conn.io.data_path == socket,
          "chunks move through the data path" if socket else
          "the mount has no data socket: chunks move through the files")
    check(eng.adapter.can_parse("plugin://kvcachefs.primary") and
          not eng.adapter.can_parse("plugin://fs") and eng.adapter.can_parse("kvcachefs:///x"),
          "the adapter parses plugin://kvcachefs[.NAME] and kvcachefs://, not other plugins")
    keys = chain(12, 1)
    requests = int(stats(pool)["match_requests"])
    check(eng.lookup(keys) == 0, "a lookup of a chain never stored finds 0 chunks")
    eng.store(keys[:8], [data(k) for k in keys[:8]])
    check(eng.lookup(keys) == 8, "after batched_put of 8 chunks the lookup finds 8")
    eng.store(keys[8:], [data(k) for k in keys[8:]])
    check(int(stats(pool)["match_requests"]) - requests == 2,
          "each lookup is one .match request")
    fs = FSConnectorFiles(pool)
    parents = [xattr(fs.path(k.to_string()), "user.kvcache.parent") for k in keys]
    check(parents == [None] + [fs.path(k.to_string()).name for k in keys[:-1]],
          "every chunk names the chunk before it; the first of the second batch learned its "
          "parent from the lookup")
    check(all(fs.get(k.to_string(), CHUNK) == data(k) for k in keys),
          "the entries are LMCache fs connector files: its reader gets the exact bytes")
    got = eng.retrieve(keys + chain(2, 9))
    check(len(got) == 12 and got == [data(k) for k in keys],
          "batched_get_non_blocking returns the 12 chunks of the leading run, exactly")
    check(eng.call(eng.conn.exists(keys[0])) and eng.conn.exists_sync(keys[11]) and
          not eng.conn.exists_sync(chain(1, 9)[0]), "exists and exists_sync agree with the pool")
    other = chain(3, 2)
    for k in other:     # chunks the fs connector wrote are read through the plugin
        fs.put(k.to_string(), data(k))
    check(eng.lookup(other) == 3 and eng.retrieve(other) == [data(k) for k in other],
          "chunks written by LMCache's fs connector are found and read through the plugin")
    check(eng.call(eng.conn.get(chain(1, 9)[0])) is None, "get of a chunk never stored is None")
    big = chain(1, 8)[0]
    fs.put(big.to_string(), kv_bytes(0, 2 * CHUNK))
    check(eng.call(eng.conn.get(big)) is None and eng.cpu.allocated[-1].refs == 0,
          "get of an entry larger than a chunk is None, and the buffer it took is given back")
    os.unlink(fs.path(big.to_string()))
    names = eng.call(eng.conn.list())
    check(len(names) == 15 and eng.conn.remove_sync(keys[0]) and not eng.conn.remove_sync(keys[0]),
          "list names the 15 chunks; remove_sync removes one, then reports it gone")
    eng.close()
    for n in os.listdir(pool):
        os.unlink(os.path.join(pool, n))


def worker(pool, seed):
    eng = Engine(pool)
    keys = chain(16, seed)
    for i in range(0, 16, 4):
        eng.lookup(keys)
        eng.store(keys[i:i + 4], [data(k) for k in keys[i:i + 4]])
    n = eng.lookup(keys)
    eng.close()
    return n


def instances(pool):
    found = in_processes(worker, [(pool, 3)] * 3)
    fs = FSConnectorFiles(pool)
    keys = chain(16, 3)
    check(found == [16, 16, 16] and len(os.listdir(pool)) == 16 and
          all(fs.get(k.to_string(), CHUNK) == data(k) for k in keys),
          "3 LMCache instances (processes) storing the same 16 chunks at once: 16 intact entries")
    for n in os.listdir(pool):
        os.unlink(os.path.join(pool, n))


def chains_under_pressure(pool):
    control(pool, ".policy", "lru")
    control(pool, ".size", 40 * CHUNK)
    eng = Engine(pool, **{"remote_storage_plugin.kvcachefs.priority": -1})
    chains = [chain(16, 10 + c) for c in range(6)]
    for keys in chains:
        for i in range(0, 16, 8):
            eng.lookup(keys)
            eng.store(keys[i:i + 8], [data(k) for k in keys[i:i + 8]])
    fs = FSConnectorFiles(pool)
    leading = [eng.lookup(keys) for keys in chains]  # .match: the pool's own answer
    settle(pool)  # before counting with stat, the kernel drops the names the pool evicted
    present = [sum(fs.exists(k.to_string()) for k in keys) for keys in chains]
    check(sum(present) <= 40 and present == leading and any(0 < p < 16 for p in present),
          f"96 chunks in a 40-chunk pool: eviction ate chains from their ends {present} "
          f"(the fs connector, without parents, leaves headless chains)")
    check(xattr(fs.path(chains[-1][0].to_string()), "user.kvcache.priority") == "-1",
          "remote_storage_plugin.kvcachefs.priority becomes user.kvcache.priority (a hint)")
    eng.close()
    control(pool, ".size", "64M")


def errors(pool):
    if has_data_socket(pool):
        eng = Engine(pool, **{"remote_storage_plugin.kvcachefs.io": "files"})
        check(not eng.conn.io.data_path,
              "io: files moves chunks through the files although the mount has a data path")
        eng.close()
    else:
        try:
            Engine(pool, **{"remote_storage_plugin.kvcachefs.io": "data_path"})
            check(False, "io: data_path on a mount without one: refused")
        except OSError as e:
            check("data socket" in str(e), f"io: data_path on a mount without one: {e}")
    try:
        Engine(pool, save_chunk_meta=True)
        check(False, "save_chunk_meta left on: refused")
    except ValueError as e:
        check("save_chunk_meta" in str(e), f"save_chunk_meta left on: refused ({e})")
    try:
        Engine(None)
        check(False, "no pool configured: refused")
    except ValueError as e:
        check("pool" in str(e), "no pool configured: refused with a message naming the key")


if __name__ == "__main__":
    run("lmcache_adapter", calls, instances, chains_under_pressure, errors)
