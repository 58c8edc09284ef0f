"""What the engine recipe and adapter tests share: checks, control files, worker processes.

Each test is a script run by run_engine_test.sh on a pool of a fresh mount; it prints one line
per check ("ok   ..." or "FAIL ...") and, last, "NAME: OK" when every check passed.
"""

import multiprocessing
import os
import random
import sys
import traceback

FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def run(name, *steps):
    """Runs each step on the pool (sys.argv[1]), then reports as finish() does."""
    for step in steps:
        step(sys.argv[1])
    finish(name)


def finish(name):
    if FAILED:
        print(f"{name}: {len(FAILED)} check(s) failed", flush=True)
        sys.exit(1)
    print(f"{name}: OK", flush=True)


def kv_bytes(seed, size):
    """Deterministic bytes standing for a KV block: equal seeds, equal blocks."""
    return random.Random(seed).randbytes(size)


def stats(pool):
    out = {}
    with open(os.path.join(pool, ".stats")) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            out[k] = v
    return out


def control(pool, name, value):
    """Writes a control file (.size, .policy, .evict) and returns the daemon's answer."""
    fd = os.open(os.path.join(pool, name), os.O_RDWR)
    try:
        os.write(fd, f"{value}\n".encode())
        return os.pread(fd, 4096, 0).decode()
    finally:
        os.close(fd)


def settle(pool):
    """Returns once the kernel has dropped the names the pool evicted. The daemon tells the
    kernel asynchronously when a write evicts, so a stat (os.path.exists) may see an evicted
    name for a moment; a control write returns only after those notices are done. Rewriting
    `.size` with the capacity it has changes nothing else."""
    control(pool, ".size", stats(pool)["capacity_bytes"])


def has_data_socket(pool):
    """Whether the pool's mount serves the data path (its root names a data socket)."""
    return xattr(os.path.dirname(os.path.abspath(pool)), "user.kvcache.data_socket") is not None


def xattr(path, name):
    try:
        return os.getxattr(path, name).decode()
    except OSError:
        return None


def opens(path):
    """'missing' if opening `path` raises FileNotFoundError (a miss, as engines see an
    eviction), else its bytes."""
    try:
        with open(path, "rb", buffering=0) as f:
            return f.read()
    except FileNotFoundError:
        return "missing"


def _child(fn, args, queue):
    try:
        queue.put((os.getpid(), "ok", fn(*args)))
    except BaseException as e:  # report it to the parent, whatever it is
        queue.put((os.getpid(), "error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def in_processes(fn, arg_lists, timeout=120):
    """Runs fn(*args) in one forked process per entry of arg_lists, all at once; returns their
    results in order. A process that raised or died fails the test with its traceback."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(fn, args, queue)) for args in arg_lists]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        pid, status, value = queue.get(timeout=timeout)
        if status != "ok":
            raise RuntimeError(f"worker {pid} failed: {value}")
        results[pid] = value
    for p in procs:
        p.join(timeout)
        if p.exitcode != 0:
            raise RuntimeError(f"worker {p.pid} exited with {p.exitcode}")
    return [results[p.pid] for p in procs]
