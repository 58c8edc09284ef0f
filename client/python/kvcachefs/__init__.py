"""kvcachefs: the Python client of a kvcachefs mount.

- Client, Buffer: KV blocks stored and loaded in batches through libkvcachefs (the daemon's data
  socket, one copy into memory shared with it; file I/O when the mount has no data path), with
  numpy and torch views of the buffer.
- KVCacheClient: the pool's files, control files and attributes with the standard library only
  (put, get, match, stats, xattrs), for what the batches do not cover.
"""

from .files import KVCacheClient, parse_metrics, parse_stats

__all__ = ["Client", "Buffer", "ChainLoad", "Stat", "KVCacheClient", "parse_stats",
           "parse_metrics"]


def __getattr__(name):
    # libkvcachefs is loaded on first use, so that the file client works without it.
    if name in ("Client", "Buffer", "ChainLoad", "Stat"):
        from . import client
        return getattr(client, name)
    raise AttributeError(name)
