"""Adapters for serving engines' pluggable storage interfaces (docs/ENGINES.md).

- kvcachefs.engines.sglang.KVCacheFSStorage: an SGLang HiCache storage backend, loaded by
  SGLang's "dynamic" backend (--hicache-storage-backend dynamic).
- kvcachefs.engines.lmcache.KVCacheFSConnectorAdapter: an LMCache remote storage plugin
  (remote_storage_plugins: ["kvcachefs"]), which creates KVCacheFSConnector.

Both keep one entry per KV page or chunk, named as the engine's own file backend names it (so
a pool written by the built-in backend is read by the adapter and back), check existence with
one `.match` per lookup, and set user.kvcache.parent from the order in which the engine hands
them keys, so that chain protection and the `kvadapt` policy see the engine's prefix chains.
Neither module needs the engine to be imported; each subclasses the engine's base class when
it is importable. Entries are written through the mount with kvcachefs.KVCacheClient.put.
"""
