#!/usr/bin/python3
"""Per-layer K and V arrays as kvcachefs entries, mapped back with numpy.memmap (no copy).

    /usr/bin/python3 examples/python/kv_numpy.py /kvcache/llama [--layers 4] [--tokens 64]

What it shows, in order:
  1. One sequence's KV cache written as 2 entries per layer (K and V, float16 arrays of shape
     tokens x heads x head_dim) in a directory of the pool, with dtype and shape recorded in
     user.* extended attributes (and user.kvcache.layer / seq_len for the engine).
  2. A reader that knows only the directory: it lists it, reads dtype and shape from the
     xattrs, and maps each entry with numpy.memmap. The arrays are views of the mapping
     (nothing is copied into the process) and equal what was written.
  3. A write through a writable memmap (mode="r+") reaches the pool: read(2) sees it.
  4. If PyTorch is installed (Debian: python3-torch), torch.from_file(..., shared=True) maps
     the same entries as tensors, again without a copy. Without torch the part is skipped.
  5. The same arrays through the data path (kvcachefs.Client: one batch stores them all from
     memory shared with the daemon, one batch loads them back into a numpy view and a torch
     view of it), then the same calls with plain file I/O (fast_path=False), for comparison.

Exit status 0 when every check passed. Needs numpy (Debian: python3-numpy).
"""

import argparse
import mmap
import os
import sys

import numpy as np

try:
    import kvcachefs
except ImportError:  # not installed: the package of the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "client", "python"))
    import kvcachefs
from kvcachefs import KVCacheClient  # noqa: E402


def entry_names(layer):
    return f"layer{layer:02d}.k", f"layer{layer:02d}.v"


def make_kv(layers, tokens, heads, head_dim, seed=1234):
    """Deterministic stand-in for a model's KV cache: {layer: (K, V)}."""
    rng = np.random.default_rng(seed)
    shape = (tokens, heads, head_dim)
    return {
        layer: (rng.standard_normal(shape).astype(np.float16),
                rng.standard_normal(shape).astype(np.float16))
        for layer in range(layers)
    }


def write_sequence(client, seq_dir, kv):
    """Writes every layer's K and V as an entry with its dtype and shape in xattrs."""
    os.makedirs(client.path(seq_dir), exist_ok=True)
    written = 0
    for layer, (k, v) in kv.items():
        for name, arr in zip(entry_names(layer), (k, v)):
            written += client.put(f"{seq_dir}/{name}", np.ascontiguousarray(arr), xattrs={
                "user.dtype": arr.dtype.str,                       # e.g. "<f2"
                "user.shape": ",".join(map(str, arr.shape)),       # e.g. "64,4,32"
                "layer": layer,                                    # user.kvcache.layer
                "seq_len": arr.shape[0],                           # user.kvcache.seq_len
            })
    return written


def open_layer(path, mode="r"):
    """Maps one entry as an ndarray, using only what its xattrs say."""
    dtype = np.dtype(os.getxattr(path, "user.dtype").decode())
    shape = tuple(int(x) for x in os.getxattr(path, "user.shape").decode().split(","))
    return np.memmap(path, dtype=dtype, mode=mode, shape=shape)


def read_past_page_cache(path):
    """The entry's bytes as the daemon has them: O_DIRECT skips the kernel's page cache (which
    would show our own mapped page even if it had never been written back)."""
    size = os.stat(path).st_size
    buf = mmap.mmap(-1, max(4096, (size + 4095) // 4096 * 4096))  # page-aligned buffer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
    try:
        n = os.readv(fd, [buf])
    finally:
        os.close(fd)
    return bytes(buf[:n])


def check(cond, what):
    print(f"  {'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        check.failed += 1


check.failed = 0


def torch_part(client, seq_dir, kv):
    try:
        import torch
    except ImportError:
        print("torch: not installed (Debian: apt-get install python3-torch), skipping")
        return
    print(f"torch {torch.__version__}: torch.from_file(..., shared=True)")
    dtypes = {"float16": torch.float16, "float32": torch.float32, "int8": torch.int8}
    for layer, (k, _) in kv.items():
        path = client.path(f"{seq_dir}/{entry_names(layer)[0]}")
        dtype = np.dtype(os.getxattr(path, "user.dtype").decode())
        shape = tuple(int(x) for x in os.getxattr(path, "user.shape").decode().split(","))
        # shared=True maps the file MAP_SHARED: the tensor's storage *is* the entry.
        t = torch.from_file(path, shared=True, size=int(np.prod(shape)),
                            dtype=dtypes[dtype.name]).view(*shape)
        check(np.array_equal(t.numpy(), k), f"layer {layer}: K as a tensor {tuple(t.shape)} "
              f"{t.dtype} equals what was written")
    # A write into the shared tensor is a write into the entry.
    path = client.path(f"{seq_dir}/{entry_names(0)[1]}")
    shape = tuple(int(x) for x in os.getxattr(path, "user.shape").decode().split(","))
    t = torch.from_file(path, shared=True, size=int(np.prod(shape)),
                        dtype=torch.float16).view(*shape)
    t[0, 0, 0] = 7.0
    del t  # unmaps; the dirty page stays in the page cache until written back
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)  # write it back now: the daemon gets it
    os.close(fd)
    got = np.frombuffer(read_past_page_cache(path), dtype=np.float16).reshape(shape)
    check(got[0, 0, 0] == np.float16(7.0),
          "a write into a shared tensor reached the entry (O_DIRECT read after fsync)")


def data_path_part(pool, seq_dir, kv):
    """The same arrays through the data path (kvcachefs.Client), next to plain file I/O: one
    batch stores every K and V from memory shared with the daemon, one batch loads them back,
    and numpy and torch see the loaded blocks as views of that memory (no copy)."""
    arrays = [a for layer in sorted(kv) for a in kv[layer]]
    names = [f"{n}.dp" for layer in sorted(kv) for n in entry_names(layer)]
    one = arrays[0].nbytes
    for fast in (True, False):
        with kvcachefs.Client(os.path.join(pool, seq_dir), fast_path=fast) as c:
            how = "data path" if c.fast_path else "file I/O"
            buf = c.buffer(2 * len(arrays) * one)
            shape = (len(arrays),) + arrays[0].shape
            # The application's one copy into shared memory (an engine's device-to-host copy).
            buf.numpy(arrays[0].dtype, shape)[:] = np.stack(arrays)
            errors = c.store(buf, [{"name": n, "offset": i * one, "length": one,
                                    "xattrs": {"user.dtype": arrays[i].dtype.str,
                                               "user.shape": ",".join(map(str, arrays[i].shape))}}
                                   for i, n in enumerate(names)])
            check(errors == [0] * len(names), f"{how}: {len(names)} entries stored in one batch")
            errors, sizes = c.load(buf, names, one, offset=len(arrays) * one)
            back = buf.numpy(arrays[0].dtype, shape, offset=len(arrays) * one)
            check(errors == [0] * len(names) and sizes == [one] * len(names)
                  and all(np.array_equal(back[i], a) for i, a in enumerate(arrays))
                  and not back.flags.owndata,
                  f"{how}: loaded back in one batch into a numpy view {back.shape} "
                  f"{back.dtype}, equal")
            with open(os.path.join(pool, seq_dir, names[-1]), "rb") as f:
                check(f.read() == arrays[-1].tobytes(), f"{how}: read(2) of the mount agrees")
            try:
                import torch
            except ImportError:
                continue
            t = buf.torch(torch.float16, shape, offset=len(arrays) * one)
            check(np.array_equal(t.numpy(), back), f"{how}: a torch view {tuple(t.shape)} too")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool", help="a pool directory of a kvcachefs mount, e.g. /kvcache/llama")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--seq", default=f"numpy-seq-{os.getpid()}",
                    help="directory (in the pool) for this sequence's entries")
    ap.add_argument("--keep", action="store_true", help="leave the entries in the pool")
    args = ap.parse_args()

    client = KVCacheClient(args.pool)
    kv = make_kv(args.layers, args.tokens, args.heads, args.head_dim)

    print(f"writing {args.layers} layers x (K, V) of shape "
          f"({args.tokens}, {args.heads}, {args.head_dim}) float16 to {client.path(args.seq)}/")
    written = write_sequence(client, args.seq, kv)
    print(f"  {written} bytes in {2 * args.layers} entries")
    first = client.path(f"{args.seq}/{entry_names(0)[0]}")
    print(f"  xattrs of {entry_names(0)[0]}: " + ", ".join(
        f"{k}={v}" for k, v in client.xattrs(f"{args.seq}/{entry_names(0)[0]}").items()
        if not k.endswith(("created", "last_access"))))

    print("mapping them back with numpy.memmap (dtype and shape from the xattrs):")
    names = sorted(os.listdir(client.path(args.seq)))
    check(names == sorted(n for layer in kv for n in entry_names(layer)),
          f"the directory lists exactly the {len(names)} entries")
    for layer, (k, v) in kv.items():
        for name, want in zip(entry_names(layer), (k, v)):
            m = open_layer(client.path(f"{args.seq}/{name}"))
            # No copy: the array's memory is the mapping of the entry (page cache of the mount).
            no_copy = isinstance(m.base, mmap.mmap) and not m.flags.owndata
            check(no_copy and m.dtype == want.dtype and m.shape == want.shape
                  and np.array_equal(m, want),
                  f"{name}: memmap {m.shape} {m.dtype}, no copy, equals what was written")
            del m

    print("writing through a memmap (mode='r+'):")
    m = open_layer(first, mode="r+")
    m[1, 2, 3] = np.float16(42.0)
    m.flush()  # msync: the dirty page goes to the daemon, which writes it into the pool
    del m
    again = np.frombuffer(read_past_page_cache(first),
                          dtype=kv[0][0].dtype).reshape(kv[0][0].shape)
    check(again[1, 2, 3] == np.float16(42.0),
          "an O_DIRECT read(2) (past the page cache) sees the value written through the map")
    kv[0][0][1, 2, 3] = np.float16(42.0)
    check(np.array_equal(again, kv[0][0]), "and nothing else changed")

    torch_part(client, args.seq, kv)
    data_path_part(args.pool, args.seq, kv)

    st = client.stats()
    print(f"pool: {st['entries']} entries, {st['used_bytes']} bytes used, "
          f"hits {st['hits']}, misses {st['misses']}")

    if not args.keep:
        for name in os.listdir(client.path(args.seq)):
            os.unlink(client.path(f"{args.seq}/{name}"))
        os.rmdir(client.path(args.seq))
    client.close()

    if check.failed:
        print(f"kv_numpy: {check.failed} check(s) FAILED")
        return 1
    print("kv_numpy: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
