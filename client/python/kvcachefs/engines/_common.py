"""What the adapters share: their memory of the engines' prefix chains, opening and reading a
block."""

import errno
import os
import threading
from collections import OrderedDict


class ChainMemory:
    """The name before each name, learned from the order in which an engine hands over a
    chain's keys (a lookup, a batch of writes). Bounded: the oldest are forgotten first."""

    def __init__(self, capacity=1 << 16):
        self._before = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def learn(self, names, parent_of_first=None):
        with self._lock:
            prev = parent_of_first
            for name in names:
                if prev is not None:
                    self._before[name] = prev
                    self._before.move_to_end(name)
                prev = name
            while len(self._before) > self._capacity:
                self._before.popitem(last=False)

    def parent(self, name):
        with self._lock:
            return self._before.get(name)

    def parents(self, names, parent_of_first=None):
        """The parent of each name of a chain in order: the one before it, or, for the first,
        `parent_of_first` or what was learned earlier (None if nothing is known)."""
        first = parent_of_first if parent_of_first is not None else (
            self.parent(names[0]) if names else None)
        return [first] + list(names[:-1]) if names else []


def read_fully(fd, view):
    """Reads from `fd` into `view` (readinto an unbuffered file) until it is full or the file
    ends; returns the bytes read."""
    done = 0
    with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
        while done < len(view):
            n = f.readinto(view[done:])
            if not n:
                break
            done += n
    return done


def open_block(path):
    """A descriptor of the block at `path`, or None if it is not there: not stored, evicted,
    or (ESTALE, README "Troubleshooting") evicted between the kernel's lookup and the open."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESTALE):
            return None
        raise


class BlockIO:
    """Whole blocks between an engine's memory and a pool, in batches.

    Through the data path (kvcachefs.Client: a copy into a buffer shared with the daemon, one
    round trip per batch; docs/DATA_PATH.md) when libkvcachefs loads and the mount has a data
    socket, else through the mount's files (KVCacheClient.put, open + readinto). `mode`:
    "auto" (that choice), "files", or "data_path" (an error without one). Thread-safe.
    """

    def __init__(self, files, mode="auto", buffer_bytes=64 << 20):
        if mode not in ("auto", "files", "data_path"):
            raise ValueError(f'kvcachefs: io must be "auto", "files" or "data_path", not {mode!r}')
        self.files = files
        self.client = None
        self._buffer = None
        self._buffer_bytes = buffer_bytes
        self._lock = threading.Lock()
        if mode == "files":
            return
        try:
            from ..client import Client
            client = Client(files.pool_dir)
        except (ImportError, OSError) as e:
            if mode == "data_path":
                raise OSError(getattr(e, "errno", None) or errno.ENOTSUP,
                              f"kvcachefs: no data path for {files.pool_dir}: {e}") from e
            return
        if client.fast_path:
            self.client = client
        else:
            client.close()
            if mode == "data_path":
                raise OSError(errno.ENOTSUP, f"kvcachefs: the mount of {files.pool_dir} has no "
                              "data socket (-o data_socket=none?)")

    @property
    def data_path(self):
        return self.client is not None

    def _buffer_for(self, block_bytes):
        if self._buffer is None or self._buffer.size < block_bytes:
            self._buffer = self.client.buffer(max(self._buffer_bytes, block_bytes))
        return self._buffer

    def store(self, blocks):
        """blocks: (name, bytes-like, parent or None, {attribute: value}). Returns one errno per
        block (0: stored); each block is stored whole or not at all."""
        if self.client is None:
            out = []
            for name, data, parent, attrs in blocks:
                try:
                    self.files.put(name, data, parent=parent, xattrs=attrs)
                    out.append(0)
                except OSError as e:
                    out.append(e.errno)
            return out
        out = []
        with self._lock:
            i = 0
            while i < len(blocks):
                buf = self._buffer_for(max(len(b[1]) for b in blocks[i:i + 1]))
                mem, items, offset = buf.memoryview(), [], 0
                while i < len(blocks) and offset + len(blocks[i][1]) <= buf.size:
                    name, data, parent, attrs = blocks[i]
                    mem[offset:offset + len(data)] = data
                    attrs = dict(attrs or {})
                    item = {"name": name, "offset": offset, "length": len(data),
                            "parent": parent, "xattrs": attrs}
                    if "priority" in attrs:
                        item["priority"] = int(attrs.pop("priority"))
                    items.append(item)
                    offset += len(data)
                    i += 1
                out += self.client.store(buf, items)
        return out

    def load(self, names, views):
        """Reads names[i] into views[i], in order, up to the first one that is missing or larger
        than its view. Returns the sizes read (a block may be smaller than its view)."""
        sizes = []
        if self.client is None:
            for name, view in zip(names, views):
                fd = open_block(self.files.path(name))
                if fd is None:
                    break
                try:
                    if os.fstat(fd).st_size > len(view):
                        break
                    sizes.append(read_fully(fd, view))
                finally:
                    os.close(fd)
            return sizes
        with self._lock:
            i = 0
            while i < len(names):
                slot = max(len(v) for v in views)
                buf = self._buffer_for(slot)
                n = min(len(names) - i, buf.size // slot)
                errors, got = self.client.load(buf, names[i:i + n], slot)
                mem = buf.memoryview()
                for j in range(n):
                    if errors[j] or got[j] > len(views[i + j]):
                        return sizes
                    views[i + j][:got[j]] = mem[j * slot:j * slot + got[j]]
                    sizes.append(got[j])
                i += n
        return sizes

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None
