#!/usr/bin/python3
"""Tests of kvcachefs.Client (client/python/kvcachefs/client.py) against a real pool (argv[1]),
with the data path and with file I/O. Run by tests/examples/run_example.sh python_data_client,
with the source tree's package first on PYTHONPATH and KVCACHEFS_LIB naming the build's
library. Needs numpy; torch is checked when installed. Last line: "data_client_test: OK"."""

import errno
import os
import sys

import numpy as np

import kvcachefs

failed = 0


def check(cond, what):
    global failed
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failed += 1


def run(pool, fast):
    how = "data path" if fast else "file I/O"
    c = kvcachefs.Client(pool, fast_path=fast)
    check(c.fast_path == fast, f"{how}: fast_path is {fast}")
    block = 64 * 1024
    buf = c.buffer(24 * block)
    blocks = buf.numpy(np.uint8, (24, block))
    check(not blocks.flags.owndata and blocks.ctypes.data == buf.address,
          f"{how}: numpy() is a view of the buffer")
    rng = np.random.default_rng(7)
    blocks[:8] = rng.integers(0, 256, (8, block), dtype=np.uint8)
    names = [f"{'f' if fast else 's'}-{i}" for i in range(8)]
    errs = c.store_chain(buf, names, block, xattrs={"seq_len": 16})
    check(errs == [0] * 8, f"{how}: store_chain stores 8 blocks")
    check(os.getxattr(os.path.join(pool, names[3]), "user.kvcache.parent") == names[2].encode()
          and os.getxattr(os.path.join(pool, names[3]), "user.kvcache.seq_len") == b"16",
          f"{how}: each block names its parent, and carries its hints")
    r = c.load_chain(buf, names[:5] + ["missing"] + names[5:], block, offset=8 * block)
    check(r.leading == 5 and r.loaded == 5 and r.cached == [True] * 5 + [False] + [True] * 3,
          f"{how}: load_chain loads the leading run ({r.leading}, {r.loaded})")
    check(np.array_equal(blocks[8:13], blocks[:5]), f"{how}: the loaded bytes are the stored ones")
    errors, sizes = c.load(buf, [names[7], "missing"], block, offset=8 * block)
    check(errors == [0, errno.ENOENT] and sizes[0] == block, f"{how}: load per name")
    st = c.stat([names[0], "missing"])
    check(st[0] is not None and st[0].size == block and st[0].committed and st[1] is None,
          f"{how}: stat")
    errs = c.store(buf, [{"name": names[0], "length": 1, "replace": False}])
    check(errs == [errno.EEXIST], f"{how}: replace=False keeps the entry")
    try:
        c.store(buf, [{"name": "past", "offset": 24 * block - 1, "length": 2}])
        check(False, f"{how}: a range past the buffer raises")
    except OSError as e:
        check(e.errno == errno.EINVAL and not os.path.exists(os.path.join(pool, "past")),
              f"{how}: a range past the buffer raises EINVAL and stores nothing")
    fd = os.open(os.path.join(pool, names[1]), os.O_RDONLY)
    want = blocks[1, 10:110].copy()  # what names[1] holds there
    blocks[0, :100] = 0
    n = c.pread(fd, buf, 0, 100, 10)
    check(n == 100 and np.array_equal(blocks[0, :100], want),
          f"{how}: pread through a descriptor into the buffer")
    try:
        c.pwrite(fd, buf, 0, 10, 0)
        check(False, f"{how}: pwrite through a read-only descriptor fails")
    except OSError as e:
        check(e.errno == errno.EBADF, f"{how}: pwrite through a read-only descriptor is EBADF")
    os.close(fd)
    try:
        import torch
        t = buf.torch(torch.uint8, (24, block))
        check(t.data_ptr() == buf.address and np.array_equal(t[2].numpy(), blocks[2]),
              f"{how}: torch() is a view of the buffer")
        t[23, 0] = 42
        check(blocks[23, 0] == 42, f"{how}: a write through the tensor is in the numpy view")
    except ImportError:
        print(f"torch: not installed, {how}: skipped")
    view = buf.numpy(np.uint8)
    c.close()
    check(view[0] == blocks[0, 0], f"{how}: views stay valid after the client closes")
    for n in names:
        os.unlink(os.path.join(pool, n))


def main():
    pool = sys.argv[1]
    run(pool, True)
    run(pool, False)
    print(f"data_client_test: {'OK' if failed == 0 else f'{failed} FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
