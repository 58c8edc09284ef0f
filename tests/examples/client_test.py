#!/usr/bin/python3
"""Tests of kvcachefs.KVCacheClient (client/python/kvcachefs/files.py) against a real pool
(argv[1]); standard library only. Run by tests/examples/run_example.sh python_client, with the
source tree's package first on PYTHONPATH. Last line: "client_test: OK"."""

import mmap
import os
import sys
import threading

from kvcachefs import KVCacheClient, parse_metrics, parse_stats  # noqa: E402

failed = 0


def check(cond, what):
    global failed
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failed += 1


def main():
    pool = sys.argv[1]
    name = os.path.basename(os.path.abspath(pool))
    c = KVCacheClient(pool)

    # put / get / read
    data0, data1 = os.urandom(10000), os.urandom(5000)
    check(c.put("c-0", data0) == 10000, "put returns the size")
    c.put("c-1", data1, parent="c-0", xattrs={"layer": 3, "user.note": "hello"})
    with c.get("c-0") as m:
        check(isinstance(m, mmap.mmap) and m[:] == data0, "get maps the entry's bytes")
    check(c.read("c-1") == data1, "read gives the bytes")
    x = c.xattrs("c-1")
    check(x.get("user.kvcache.parent") == "c-0", "put(parent=) sets user.kvcache.parent")
    check(x.get("user.kvcache.layer") == "3" and x.get("user.note") == "hello",
          "put(xattrs=) sets bare names in user.kvcache. and full names as given")
    check(x.get("user.kvcache.committed") == "1", "the entry is committed after put")
    check(not any(".tmp-" in n for n in os.listdir(pool)), "no temporary name is left")
    # A view that outlives the with block (the README's numpy.frombuffer pattern).
    with c.get("c-1") as m:
        view = memoryview(m)[:16]
    check(bytes(view) == data1[:16], "a view outlives the with block (no BufferError)")
    view.release()
    c.put("c-empty", b"")
    with c.get("c-empty") as m:
        check(bytes(m) == b"", "an empty entry gets an empty buffer, a context manager too")

    # exist_ok
    try:
        c.put("c-0", b"other", exist_ok=False)
        check(False, "put(exist_ok=False) over an entry raises FileExistsError")
    except FileExistsError:
        check(c.read("c-0") == data0, "put(exist_ok=False) over an entry raises, changes nothing")
    c.put("c-0", b"replaced")
    check(c.read("c-0") == b"replaced", "put replaces by default")

    # match
    check(c.match([]) == (0, []), "an empty chain")
    check(c.match(["c-0", "c-1", "c-2"]) == (2, [True, True, False]), "match: 2 leading of 3")
    check(c.match(["c-x", "c-1"]) == (0, [False, True]), "match: a gap")
    # one descriptor, shared by threads
    results = []

    def worker():
        for _ in range(50):
            results.append(c.match(["c-0", "c-1", "c-2"]))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(results) == 200 and all(r == (2, [True, True, False]) for r in results),
          "200 matches from 4 threads on one descriptor all right")
    long_chain = [f"c-missing-{i:05d}" for i in range(2000)]
    check(c.match(["c-0"] + long_chain) == (1, [True] + [False] * 2000),
          "a chain of 2001 names in one request")

    # A chain longer than one write can carry (the kernel splits writes above max_write, 1 MiB):
    # the client sends it in pieces. 3 cached names, then 150000 missing ones (2.4 MB).
    huge = ["c-0", "c-1", "c-0"] + [f"c-absent-{i:07d}" for i in range(150000)]
    got = c.match(huge)
    check(got[0] == 3 and len(got[1]) == len(huge) and sum(got[1]) == 3,
          f"a chain of {len(huge)} names ({len(chr(10).join(huge)) >> 10} KiB) in pieces")
    cached_huge = ["c-0"] * 60000  # every name cached: each piece continues the leading run
    check(c.match(cached_huge)[0] == 60000, "a 60000-name chain, all cached: leading 60000")

    # a missing entry
    try:
        c.get("c-nope")
        check(False, "get of a missing entry raises FileNotFoundError")
    except FileNotFoundError:
        check(True, "get of a missing entry raises FileNotFoundError")

    # after fork
    pid = os.fork()
    if pid == 0:
        try:
            c.match(["c-0"])
            os._exit(1)
        except RuntimeError:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    check(os.WEXITSTATUS(status) == 0, "match after fork raises RuntimeError")

    # control files and stats
    st = c.stats()
    check(st["pool"] == name and st["entries"] == 3 and isinstance(st["hit_ratio"], float),
          f"stats: pool {st['pool']}, {st['entries']} entries")
    check(c.root_stats()["pools"] >= 1, "root_stats has pools")
    metrics = c.metrics()
    check(metrics.get(("kvcachefs_entries", name)) == 3, ".metrics parsed, entries 3")
    check(c.control(".policy").strip() == "lru", "control reads .policy")
    check(c.control(".policy", "fifo").strip() == "fifo", "control writes .policy and answers")
    c.control(".policy", "lru")
    try:
        c.control(".policy", "nonsense")
        check(False, "a bad policy raises OSError(EINVAL)")
    except OSError as e:
        check(e.errno == 22, "a bad policy raises OSError(EINVAL)")
    check(parse_stats("a 1\nb 0.5\nc x\n") == {"a": 1, "b": 0.5, "c": "x"}, "parse_stats")
    check(parse_metrics('# HELP m x\nm{pool="p",policy="lru"} 2.5\n') == {("m", "p"): 2.5},
          "parse_metrics")

    for n in ("c-0", "c-1", "c-empty"):
        c.remove(n)
    check(not c.exists("c-0"), "remove")
    c.close()
    c.close()  # twice is fine
    print("client_test: " + ("OK" if not failed else f"{failed} FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
