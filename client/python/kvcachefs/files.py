"""The file client of one kvcachefs pool, with nothing but the standard library.

Entries are files, metadata are extended attributes and the control files are read and written
like any file. This module wraps the few system calls a serving engine repeats (kvcachefs.Client
moves the bytes themselves faster, through the data path):

    from kvcachefs import KVCacheClient
    c = KVCacheClient("/kvcache/llama")
    c.put("blk-00a1", b"...")                        # write an entry, atomically
    c.put("blk-00a2", b"...", parent="blk-00a1")     # ... the next block of the chain
    leading, cached = c.match(["blk-00a1", "blk-00a2", "blk-00a3"])   # -> 2, [True, True, False]
    with c.get("blk-00a1") as m:                     # a read-only mmap of the entry
        first = m[:16]
    print(c.stats()["hit_ratio"])

A client keeps one descriptor of the pool's `.match` open for its whole life (one round trip per
lookup) and serializes its use with a lock, so one client may be shared by threads. Give each
process its own client (after fork, make a new one).
"""

import errno
import mmap
import os
import threading

__all__ = ["KVCacheClient", "parse_stats", "parse_metrics"]

XATTR_PREFIX = "user.kvcache."
# Read-only attributes: readable by name, not listed (so that `cp -a` does not copy them).
READ_ONLY = ("access_count", "created", "last_access", "committed")


def parse_stats(text):
    """`.stats` text ("name value" lines) -> dict; numbers become int or float."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if not key:
            continue
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def parse_metrics(text):
    """Prometheus text (the root `.metrics`) -> {(metric, pool): value}.

    Only what kvcachefs writes is handled: `name{label="v",...} value` lines and # comments.
    """
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pool = None
        for part in labels.rstrip("}").split(","):
            k, _, v = part.partition("=")
            if k == "pool":
                pool = v.strip('"')
        out[(name, pool)] = float(value)
    return out


class EntryMap(mmap.mmap):
    """An entry's mapping (KVCacheClient.get). Leaving its with block closes it, unless a
    view of it (numpy.frombuffer, memoryview) still exists: mmap.mmap raises BufferError then,
    and the mapping is instead released with the last view."""

    def __exit__(self, *exc):
        try:
            self.close()
        except BufferError:
            pass
        return False


class KVCacheClient:
    """One pool of a kvcachefs mount: `pool_dir` is the pool's directory (e.g. /kvcache/llama)."""

    def __init__(self, pool_dir):
        self.pool_dir = os.path.abspath(pool_dir)
        if not os.path.isdir(self.pool_dir):
            raise FileNotFoundError(errno.ENOENT, "no such pool", self.pool_dir)
        self._lock = threading.Lock()
        self._match_fd = os.open(self.path(".match"), os.O_RDWR | os.O_CLOEXEC)
        self._pid = os.getpid()

    # --- plumbing --------------------------------------------------------------------------

    def path(self, name):
        return os.path.join(self.pool_dir, name)

    def close(self):
        if self._match_fd >= 0:
            os.close(self._match_fd)
            self._match_fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # --- the cache path --------------------------------------------------------------------

    def match(self, chain):
        """How many leading names of `chain` are cached entries, in one round trip.

        Returns (leading, cached): `leading` counts the names before the first one missing;
        `cached` has one bool per name (a name can be cached after a gap, but a KV block is
        useless without its parents, so engines read only the leading run).
        """
        chain = list(chain)
        if os.getpid() != self._pid:
            raise RuntimeError("KVCacheClient used after fork: make a new one in the child")
        # A request holds at most MATCH_MAX_NAMES names (the daemon's bound), so a long chain
        # goes in pieces of at most that many names and MATCH_REQUEST_MAX bytes.
        leading, cached, start, in_run = 0, [], 0, True
        while start < len(chain):
            end, size = start, 0
            while end < len(chain):
                size += len(chain[end].encode()) + 1
                if (size > self.MATCH_REQUEST_MAX or end - start >= self.MATCH_MAX_NAMES) \
                        and end > start:
                    break
                end += 1
            n, flags = self._match_once(chain[start:end])
            cached += flags
            if in_run:
                leading += n
                in_run = n == end - start
            start = end
        return leading, cached

    MATCH_REQUEST_MAX = 256 * 1024
    MATCH_MAX_NAMES = 8192  # the daemon's bound per request (E2BIG beyond)

    def _match_once(self, names):
        request = ("\n".join(names) + "\n").encode()
        with self._lock:
            n = os.write(self._match_fd, request)
            if n != len(request):
                raise OSError(errno.EIO, f".match took {n} of {len(request)} bytes")
            # The answer to a write is read back on the same descriptor.
            answer = os.pread(self._match_fd, len(names) + 64, 0).decode()
        count, _, flags = answer.partition("\n")
        flags = flags.strip()
        if len(flags) != len(names):
            raise OSError(errno.EIO, f"unexpected .match answer {answer[:80]!r}")
        return int(count), [f == "1" for f in flags]

    def put(self, name, data, parent=None, xattrs=None, exist_ok=True):
        """Writes `data` (bytes-like) as the entry `name` and returns its size.

        The entry is made under a temporary name, gets its attributes (`parent` becomes
        user.kvcache.parent; `xattrs` maps more names to values: "user.x" is taken as is, a
        bare "layer" means "user.kvcache.layer") before its bytes, so that the parent is
        protected from eviction while they are written, and is then renamed into place. So
        another process never opens a half-written block under the real name. With
        exist_ok=False an existing entry raises FileExistsError; otherwise it is replaced.
        """
        final = self.path(name)
        tmp = self.path(f"{name}.tmp-{os.getpid()}-{threading.get_ident()}")
        view = memoryview(data).cast("B")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            try:
                attrs = dict(xattrs or {})
                if parent is not None:
                    attrs["parent"] = parent
                for key, value in attrs.items():
                    key = key if "." in key else XATTR_PREFIX + key
                    if not isinstance(value, (bytes, bytearray)):
                        value = str(value).encode()
                    os.setxattr(fd, key, value)
                done = 0
                while done < len(view):
                    done += os.write(fd, view[done:])
            finally:
                os.close(fd)  # the entry is complete (committed) at the last close
            if exist_ok:
                os.rename(tmp, final)
            else:
                os.link(tmp, final)  # EEXIST if someone else published it first
                os.unlink(tmp)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return len(view)

    def get(self, name):
        """A read-only, shared mmap of the entry (no copy into Python memory).

        Use it as a context manager or close it; numpy.frombuffer(m, dtype) views it, and such
        a view may outlive the with block (the mapping then goes with the last view). Raises
        FileNotFoundError if the entry is not (or no longer) cached. An empty entry gives an
        empty memoryview (also a context manager).
        """
        fd = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return memoryview(b"")
            return EntryMap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)  # the mapping keeps the entry alive, even if it is evicted

    def read(self, name):
        """The entry's bytes, by read(2) (a copy), for when a mapping is not wanted."""
        with open(self.path(name), "rb", buffering=0) as f:
            return f.read()

    def exists(self, name):
        return os.path.exists(self.path(name))

    def remove(self, name):
        os.unlink(self.path(name))

    # --- metadata and control files --------------------------------------------------------

    def xattrs(self, name):
        """Every user.* attribute of an entry, as {name: str}: those listxattr lists (what is set
        and settable) and the read-only user.kvcache.* ones, which are read by name."""
        p = self.path(name)
        out = {}
        for k in os.listxattr(p) + [XATTR_PREFIX + r for r in READ_ONLY]:
            try:
                out[k] = os.getxattr(p, k).decode(errors="replace")
            except OSError as e:
                if e.errno != errno.ENODATA:  # a pin TTL that ran out meanwhile
                    raise
        return out

    def set_xattr(self, name, key, value):
        key = key if "." in key else XATTR_PREFIX + key
        os.setxattr(self.path(name), key, str(value).encode())

    def _read_control(self, path):
        with open(path, "rb", buffering=0) as f:
            return f.read().decode()

    def stats(self):
        """The pool's `.stats` as a dict (`hits`, `misses`, `used_bytes`, ...)."""
        return parse_stats(self._read_control(self.path(".stats")))

    def root_stats(self):
        """The mount root's `.stats`: totals over every pool, plus `pools`."""
        return parse_stats(self._read_control(os.path.join(os.path.dirname(self.pool_dir),
                                                           ".stats")))

    def metrics(self):
        """The mount root's `.metrics` (Prometheus text), parsed by parse_metrics."""
        return parse_metrics(self._read_control(os.path.join(os.path.dirname(self.pool_dir),
                                                             ".metrics")))

    def control(self, name, value=None):
        """Reads a control file (".policy", ".evict", ".size"), or writes `value` to it and
        returns the daemon's answer (read on the same descriptor)."""
        if value is None:
            return self._read_control(self.path(name))
        fd = os.open(self.path(name), os.O_RDWR | os.O_CLOEXEC)
        try:
            os.write(fd, f"{value}\n".encode())
            return os.pread(fd, 65536, 0).decode()
        finally:
            os.close(fd)
