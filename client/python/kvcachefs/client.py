"""kvcachefs.Client: KV blocks to and from a kvcachefs pool through libkvcachefs.

The bytes move between the pool and a Buffer (memory shared with the daemon) with one copy and
one round trip per batch through the mount's data socket; without one, the same calls use file
I/O on the mount. Buffer.numpy() and Buffer.torch() are views of the buffer (no copy).

    import kvcachefs
    with kvcachefs.Client("/kvcache/llama") as c:
        buf = c.buffer(64 * 2**20)
        blocks = buf.numpy("float16", (64, 2, 8, 128, 128))   # 64 blocks of 2 MiB
        ...fill blocks...
        c.store_chain(buf, names, block_bytes=2 * 2**20)
        r = c.load_chain(buf, names, block_bytes=2 * 2**20)
        print(r.loaded, "blocks back in", blocks[:r.loaded].shape)
"""

import ctypes
import errno as _errno
import os
from dataclasses import dataclass, field

from . import _native

_lib = _native.lib


def _check(rc, what):
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


def _b(s):
    return s if isinstance(s, bytes) else os.fsencode(s)


@dataclass
class ChainLoad:
    loaded: int                 # leading names loaded, in order
    leading: int                # the match's leading cached run (.match's answer)
    cached: list = field(default_factory=list)   # per name: the pool has it
    sizes: list = field(default_factory=list)    # per loaded name: its size
    errors: list = field(default_factory=list)   # per name: 0 or an errno


@dataclass
class Stat:
    mode: int
    size: int
    committed: bool


class Buffer:
    """Memory shared with the daemon (a sealed memfd). Views keep it alive."""

    def __init__(self, client, size):
        handle = ctypes.c_void_p()
        _check(_lib.kvc_buffer_new(client._handle, size, ctypes.byref(handle)), "buffer")
        self._client = client
        self._handle = handle
        self.size = size
        self.address = _lib.kvc_buffer_data(handle)
        self._array = (ctypes.c_char * size).from_address(self.address)
        self._array._kvcachefs_owner = self  # a view of the array keeps the buffer mapped

    def memoryview(self):
        return memoryview(self._array).cast("B")

    def numpy(self, dtype="uint8", shape=None, offset=0):
        """A numpy array over the buffer from `offset` (no copy)."""
        import numpy as np
        dt = np.dtype(dtype)
        count = -1 if shape is None else int(np.prod(shape))
        a = np.frombuffer(self._array, dtype=dt, count=count, offset=offset)
        return a if shape is None else a.reshape(shape)

    def torch(self, dtype=None, shape=None, offset=0):
        """A torch tensor over the buffer from `offset` (no copy)."""
        import torch
        dtype = dtype or torch.uint8
        itemsize = torch.empty((), dtype=dtype).element_size()
        count = (self.size - offset) // itemsize
        if shape is not None:
            count = 1
            for d in shape:
                count *= d
        t = torch.frombuffer(self._array, dtype=dtype, count=count, offset=offset)
        return t if shape is None else t.reshape(shape)

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _lib.kvc_buffer_free(handle)


class Client:
    """One directory of a kvcachefs mount (a pool's own, for chain loads by .match)."""

    def __init__(self, directory, fast_path=True):
        self.directory = os.fspath(directory)
        handle = ctypes.c_void_p()
        _check(_lib.kvc_open(_b(self.directory), 0 if fast_path else 1, ctypes.byref(handle)),
               f"open {self.directory}")
        self._handle = handle
        self._buffers = []

    @property
    def fast_path(self):
        """True when the bytes go through the daemon's data socket."""
        return bool(_lib.kvc_fast_path(self._handle))

    def buffer(self, size):
        b = Buffer(self, size)
        self._buffers.append(b)
        return b

    def close(self):
        handle, self._handle = self._handle, None
        if handle:
            # The buffers stay mapped (their views valid) until they are garbage.
            self._buffers = []
            _lib.kvc_close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # --- batches -------------------------------------------------------------------------

    def store(self, buffer, items):
        """Stores entries from the buffer. `items`: dicts with name, offset, length and
        optionally parent, priority, mode, replace (default True) and xattrs ({name: value};
        a bare name such as "seq_len" means user.kvcache.seq_len). Returns one errno (0: stored)
        per item; a malformed batch raises OSError and stores nothing."""
        items = list(items)
        arr = (_native.StoreItemC * len(items))()
        keep = []
        for c, it in zip(arr, items):
            c.name = _b(it["name"])
            c.offset = it.get("offset", 0)
            c.length = it["length"]
            if it.get("parent") is not None:
                c.parent = _b(it["parent"])
            if it.get("priority") is not None:
                c.priority, c.has_priority = it["priority"], 1
            c.mode = it.get("mode", 0)
            c.no_replace = 0 if it.get("replace", True) else 1
            attrs = it.get("xattrs") or {}
            if attrs:
                xa = (_native.XattrC * len(attrs))()
                for x, (k, v) in zip(xa, attrs.items()):
                    k = k if "." in k else "user.kvcache." + k
                    v = v if isinstance(v, (bytes, bytearray)) else str(v).encode()
                    vb = ctypes.create_string_buffer(bytes(v), len(v))
                    keep += [vb]
                    x.name, x.value, x.size = k.encode(), ctypes.cast(vb, ctypes.c_void_p), len(v)
                keep.append(xa)
                c.xattrs, c.xattr_count = xa, len(attrs)
        _check(_lib.kvc_store(self._handle, buffer._handle, arr, len(items)), "store")
        return [c.error for c in arr]

    def store_chain(self, buffer, names, block_bytes, offset=0, parent=None, xattrs=None,
                    replace=True):
        """Stores names[i] from offset + i * block_bytes, each naming the one before as its
        parent (the first: `parent`). Returns one errno per name."""
        items, prev = [], parent
        for i, n in enumerate(names):
            items.append({"name": n, "offset": offset + i * block_bytes, "length": block_bytes,
                          "parent": prev, "xattrs": xattrs, "replace": replace})
            prev = n
        return self.store(buffer, items)

    def _load_items(self, names, offsets, capacities):
        arr = (_native.LoadItemC * len(names))()
        for c, n, o, cap in zip(arr, names, offsets, capacities):
            c.name, c.offset, c.capacity = _b(n), o, cap
        return arr

    def load(self, buffer, names, block_bytes, offset=0):
        """Loads names[i] into offset + i * block_bytes (at most block_bytes each). Returns
        (errors, sizes): per name an errno (0: loaded; ENOENT: not cached) and its size."""
        names = list(names)
        arr = self._load_items(names, [offset + i * block_bytes for i in range(len(names))],
                               [block_bytes] * len(names))
        _check(_lib.kvc_load(self._handle, buffer._handle, arr, len(names)), "load")
        return [c.error for c in arr], [c.size for c in arr]

    def load_chain(self, buffer, names, block_bytes, offset=0):
        """The leading cached run of `names` loaded into offset + i * block_bytes, in the same
        round trip as the match: a ChainLoad."""
        names = list(names)
        arr = self._load_items(names, [offset + i * block_bytes for i in range(len(names))],
                               [block_bytes] * len(names))
        leading = ctypes.c_size_t()
        loaded = _check(_lib.kvc_load_chain(self._handle, buffer._handle, arr, len(names),
                                            ctypes.byref(leading)), "load_chain")
        return ChainLoad(loaded=loaded, leading=leading.value,
                         cached=[bool(c.cached) for c in arr],
                         sizes=[c.size for c in arr[:loaded]], errors=[c.error for c in arr])

    def stat(self, names):
        """Per name a Stat, or None when it is not there."""
        names = list(names)
        arr = (_native.StatItemC * len(names))()
        for c, n in zip(arr, names):
            c.name = _b(n)
        _check(_lib.kvc_stat(self._handle, arr, len(names)), "stat")
        return [None if c.error == _errno.ENOENT else
                Stat(c.mode, c.size, bool(c.committed)) if c.error == 0 else
                OSError(c.error, os.strerror(c.error)) for c in arr]

    def pread(self, fd, buffer, buffer_offset, length, file_offset):
        return _check(_lib.kvc_pread(self._handle, fd, buffer._handle, buffer_offset, length,
                                     file_offset), "pread")

    def pwrite(self, fd, buffer, buffer_offset, length, file_offset):
        return _check(_lib.kvc_pwrite(self._handle, fd, buffer._handle, buffer_offset, length,
                                      file_offset), "pwrite")
