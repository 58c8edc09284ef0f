#!/usr/bin/python3
"""End-to-end demo of a serving engine's KV-cache path on kvcachefs, with several engine
processes sharing one pool.

    /usr/bin/python3 examples/serving/demo.py /kvcache/llama [--workers 3] [--block-tokens 16]

Each worker process is an Engine (engine.py): per request it tokenizes the prompt, names every
full block by its chained hash (as vLLM does: hash(parent hash + block tokens)), asks `.match`
how many leading blocks are cached, maps and reads those, "computes" the rest with a stand-in
cost (a sleep per token), and writes the new blocks with user.kvcache.parent. It prints per
request the tokens reused and the time saved.

Phases:
  1. cold start: worker 0 serves the first turn of a conversation; nothing is cached.
  2. shared system prompt: the other workers serve other users' first turns at the same time
     and reuse the system prompt's blocks that worker 0 wrote (hits across processes).
  3. multi-turn: each conversation's second turn runs on a different worker than its first,
     and reuses the whole first turn (prompt and reply).
  4. a repeated request reuses every full block.
  5. all workers get the same new document at once: they race to write the same blocks, and
     every block read back is still exactly right.
  6. several processes map and read the same prefix entries at once.
  7. hard links: the system prompt's blocks get a second, readable name; both names are one
     inode (st_ino, st_nlink, st_blocks) and no byte is copied; pinning through the alias pins
     the block.

Every block read from the pool is compared with a recomputation (the stand-in KV depends only
on the block's hash). Exit status 0 when every check held; the last line is "serving demo: OK".
"""

import argparse
import hashlib
import multiprocessing as mp
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from engine import Engine, Model, block_hashes, entry_name, tokenize  # noqa: E402
from kvcachefs import KVCacheClient  # noqa: E402  (engine found the package)

# --- the workload ---------------------------------------------------------------------------

SYSTEM_HEAD = (
    "You are Kiwi, a careful assistant for the operators of a large language model cluster. "
    "Answer in plain words, cite the command you would run, and say when you are unsure. "
    "Never invent a flag. Prefer the smallest change that fixes the problem, and explain how "
    "to undo it. The cluster stores key and value caches of attention layers as files on a "
    "shared filesystem, one directory per model, so that every serving process on a host can "
    "reuse the work of the others. You can call the following tools:\n")
TOOL = ("Tool {i}: {verb}_{noun} takes a {noun} name and an optional timeout in seconds, "
        "and returns the {noun} state as JSON, or an error message that names the problem.\n")
VERBS = ["inspect", "restart", "drain", "resize", "evict", "pin", "snapshot", "restore"]
NOUNS = ["pool", "worker", "node", "queue", "model", "cache", "tenant", "route"]


def system_prompt(tools):
    return SYSTEM_HEAD + "".join(TOOL.format(i=i, verb=VERBS[i % 8], noun=NOUNS[(i * 3) % 8])
                                 for i in range(tools))


CONVERSATIONS = {
    "alice": [
        ("Our decode latency doubled after the upgrade. Where do I start?",
         "Start with the cache hit ratio of each pool: read the .stats file and compare the "
         "hits with the misses before and after the upgrade. A drop means prompts no longer "
         "share their prefix blocks."),
        ("The hit ratio fell from 0.8 to 0.2. What changed?",
         "Most likely the block hashes: a new tokenizer or a new model name changes every "
         "block name, so old entries are never matched again. Check the model seed."),
    ],
    "bob": [
        ("How do I keep the system prompt cached forever?",
         "Pin its blocks: set user.kvcache.pinned to 1 on each entry of the chain. Pinned "
         "entries are never evicted, within the pool's pin budget."),
        ("And how much memory does that cost?",
         "Exactly the blocks of those entries; pinned_bytes in .stats shows the total, and a "
         "pin beyond the budget fails with EDQUOT."),
    ],
    "carol": [
        ("Can two models share one pool?",
         "Yes. Block names start from a per model seed, so their chains never collide; give "
         "each model its own pool if you want separate capacities."),
        ("Then how do I split 64 GiB between them?",
         "Write a size to each pool's .size file, for example 48G and 16G. A shrink evicts in "
         "policy order and refuses to drop pinned or open data."),
    ],
}


def conversation_prompt(system, user, turn):
    """The prompt of `turn` (0-based): system prompt, earlier turns with replies, new message.
    Built so that its tokens start with the previous turn's prompt + reply tokens."""
    text = system
    for msg, reply in CONVERSATIONS[user][:turn]:
        text += f"User: {msg}\nAssistant: {reply}\n"
    msg, reply = CONVERSATIONS[user][turn]
    return text + f"User: {msg}\nAssistant:", reply


DOCUMENT = ("Summarize this incident report. At 02:14 the eviction rate of pool llama rose "
            "tenfold; the new batch job wrote unique prompts without a shared prefix, and the "
            "pool evicted the chat system prompt, which was not pinned. ") * 4

# --- worker processes -----------------------------------------------------------------------


def worker_main(pool, name, model, tasks, results):
    """One engine process: serves what arrives on `tasks` until None."""
    eng = Engine(pool, name, model)
    try:
        while (task := tasks.get()) is not None:
            request, prompt, reply = task
            try:
                results.put(("ok", eng.serve(request, prompt, reply)))
            except Exception as e:  # report, keep serving
                results.put(("error", f"{name} {request}: {type(e).__name__}: {e}"))
    finally:
        eng.close()


def reader_main(pool, names, barrier, rounds, out):
    """Maps the same prefix entries as the other readers, all starting at once."""
    client = KVCacheClient(pool)
    try:
        maps = [client.get(n) for n in names]
    except FileNotFoundError as e:  # evicted (a pool too small for the demo)
        barrier.abort()
        out.put((os.getpid(), f"missing {os.path.basename(e.filename)}", 0.0))
        return
    try:
        barrier.wait()
    except Exception:  # another reader found a block missing
        out.put((os.getpid(), "aborted", 0.0))
        return
    t0 = time.perf_counter()
    for _ in range(rounds):
        h = hashlib.blake2b()
        for m in maps:
            h.update(m)  # reads the mapped pages in place
    ms = (time.perf_counter() - t0) * 1000
    for m in maps:
        m.close()
    client.close()
    out.put((os.getpid(), h.hexdigest(), ms))


# --- the demo -------------------------------------------------------------------------------

class Demo:
    def __init__(self, args):
        self.args = args
        self.pool = os.path.abspath(args.pool)
        self.client = KVCacheClient(self.pool)
        self.model = Model(name=args.model, block_tokens=args.block_tokens,
                           prefill_ms_per_token=args.ms_per_token,
                           decode_ms_per_token=args.ms_per_token / 5)
        self.system = system_prompt(args.tools)
        self.failures = 0
        self.results = []
        ctx = mp.get_context("fork")
        self.ctx = ctx
        self.results_q = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(args.workers)]
        self.procs = [ctx.Process(target=worker_main, daemon=True,
                                  args=(self.pool, f"w{i}", self.model, self.tasks[i],
                                        self.results_q))
                      for i in range(args.workers)]

    def check(self, cond, what):
        print(f"   {'ok  ' if cond else 'FAIL'} {what}")
        if not cond:
            self.failures += 1
        return cond

    def run_phase(self, title, jobs):
        """jobs: [(worker index, request, prompt, reply)], dispatched at once."""
        print(f"\n== {title}")
        for w, request, prompt, reply in jobs:
            self.tasks[w % len(self.tasks)].put((request, prompt, reply))
        got = {}
        for _ in jobs:
            status, r = self.results_q.get(timeout=120)
            if status != "ok":
                print(f"   FAIL {r}")
                self.failures += 1
                continue
            got.setdefault(r.request, []).append(r)
        out = []
        for _, request, _, _ in jobs:  # print in dispatch order
            if got.get(request):
                r = got[request].pop(0)
                print("   " + r.line())
                if not r.verified:
                    self.check(False, f"{request}: a cached block differs from its recomputation")
                if r.raced:
                    print(f"   note: {r.raced} matched block(s) were evicted before being read")
                if r.not_stored:
                    print(f"   note: {r.not_stored} new block(s) not cached: the pool is full of "
                          "pinned, open or parent entries")
                out.append(r)
        self.results += out
        return out

    def main(self):
        a = self.args
        for p in self.procs:
            p.start()
        try:
            self.phases()
        finally:
            for q in self.tasks:
                q.put(None)
            for p in self.procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
        self.readers()
        self.hard_links()
        self.summary()
        if a.clean:
            self.clean()
        self.client.close()
        if self.failures:
            print(f"\nserving demo: {self.failures} check(s) FAILED")
            return 1
        print("\nserving demo: OK")
        return 0

    def phases(self):
        a, m, B = self.args, self.model, self.model.block_tokens
        sys_tokens = len(tokenize(self.system))
        sys_blocks = sys_tokens // B
        print(f"pool {self.pool}: {a.workers} worker processes, model {m.name}, "
              f"{B} tokens per block ({m.block_bytes()} bytes of KV: {m.layers} layers x K,V x "
              f"{m.kv_heads} heads x {m.head_dim}), prefill {m.prefill_ms_per_token} ms/token")
        print(f"system prompt: {sys_tokens} tokens = {sys_blocks} full blocks")
        working_set = self.working_set_bytes()
        capacity = self.client.stats()["capacity_bytes"]
        print(f"working set: {working_set} bytes of blocks; pool capacity {capacity}")
        if capacity < working_set * 1.25:
            print("   note: the pool is smaller than the demo's working set: blocks will be "
                  "evicted, and the checks that expect them cached may fail")
        if sys_blocks == 0:
            print("   (no full block: use more --tools or fewer --block-tokens)")
        users = list(CONVERSATIONS)
        W = a.workers

        first = conversation_prompt(self.system, users[0], 0)
        warm, _ = self.client.match([entry_name(h) for h in
                                     block_hashes(tokenize(first[0]), B, m.name)][:1])
        r = self.run_phase("1. cold start: nothing cached yet", [(0, f"{users[0]}/turn1", *first)])
        if warm:
            print("   note: the pool holds this workload from an earlier run, so every phase "
                  "starts warm (--clean removes the blocks at the end, --model picks new names)")
        else:
            self.check(r and r[0].matched_blocks == 0, "nothing was cached")

        # Turn 1 of the other users on the other workers (all on w0 if it is the only one).
        turn1_worker = {users[0]: 0}
        for i, u in enumerate(users[1:]):
            turn1_worker[u] = 1 + i % (W - 1) if W > 1 else 0
        jobs = [(turn1_worker[u], f"{u}/turn1", *conversation_prompt(self.system, u, 0))
                for u in users[1:]]
        rs = self.run_phase("2. shared system prompt, other workers, at the same time", jobs)
        for r in rs:
            self.check(r.reused_tokens >= sys_blocks * B and
                       (W == 1 or any(w != r.worker for w in r.writers)),
                       f"{r.request} on {r.worker} reused the {sys_blocks} system prompt blocks "
                       f"written by another process")

        jobs, expect = [], {}
        for u in users:
            p1, r1 = conversation_prompt(self.system, u, 0)
            p2, r2 = conversation_prompt(self.system, u, 1)
            first = tokenize(p1) + tokenize(r1)
            assert tokenize(p2)[:len(first)] == first, "turn 2 must extend turn 1 token-wise"
            expect[f"{u}/turn2"] = len(first) // B * B
            jobs.append(((turn1_worker[u] + 1) % W, f"{u}/turn2", p2, r2))
        rs = self.run_phase("3. multi-turn: turn 2 on another worker reuses all of turn 1", jobs)
        for r in rs:
            self.check(r.reused_tokens >= expect[r.request],
                       f"{r.request} reused turn 1's {expect[r.request]} tokens (prompt and reply)")

        p2, r2 = conversation_prompt(self.system, users[0], 1)
        r = self.run_phase("4. the same request again, on yet another worker",
                           [((turn1_worker[users[0]] + 2) % W, f"{users[0]}/again", p2, r2)])
        if r:
            self.check(r[0].matched_blocks == r[0].blocks,
                       f"all {r[0].blocks} full blocks reused; only the partial last block "
                       f"({r[0].computed_tokens} tokens) computed")

        doc = self.system + f"User: {DOCUMENT}\nAssistant:"
        jobs = [(w, f"doc/w{w}", doc, "") for w in range(W)]
        rs = self.run_phase("5. every worker gets the same new document at once (they race)", jobs)
        self.check(all(r.verified for r in rs), "every block read back equals its recomputation")

        self.sys_names = [entry_name(h) for h in block_hashes(tokenize(self.system), B, m.name)]

    def working_set_bytes(self):
        """Bytes of all the distinct blocks the demo writes."""
        B, name = self.model.block_tokens, self.model.name
        texts = [self.system + f"User: {DOCUMENT}\nAssistant:"]
        for u in CONVERSATIONS:
            for turn in range(len(CONVERSATIONS[u])):
                p, r = conversation_prompt(self.system, u, turn)
                texts.append(p + " " + r)
        hashes = set()
        for t in texts:
            hashes.update(block_hashes(tokenize(t), B, name))
        return len(hashes) * self.model.block_bytes()

    def readers(self):
        a, names = self.args, self.sys_names
        print(f"\n== 6. {a.readers} processes map and read the same {len(names)} prefix entries "
              f"at once ({a.read_rounds} rounds)")
        if not names:
            print("   (no full system prompt block)")
            return
        before = self.client.stats()
        barrier = self.ctx.Barrier(a.readers)
        out = self.ctx.Queue()
        procs = [self.ctx.Process(target=reader_main, args=(self.pool, names, barrier,
                                                             a.read_rounds, out))
                 for _ in range(a.readers)]
        for p in procs:
            p.start()
        got = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        digest = self._expected_digest()
        mb = len(names) * self.model.block_bytes() * a.read_rounds / 1e6
        for pid, d, ms in got:
            print(f"   reader pid {pid}: {mb:.1f} MB in {ms:6.1f} ms, blake2b {d[:16]}...")
        self.check(all(p.exitcode == 0 for p in procs), "every reader exited cleanly")
        self.check(all(d == digest for _, d, _ in got),
                   "all readers saw the same bytes, equal to the blocks' recomputation")
        after = self.client.stats()
        print(f"   .stats hits {before['hits']} -> {after['hits']} (an open for reading is a hit)")

    def _expected_digest(self):
        h = hashlib.blake2b()
        for bh in block_hashes(tokenize(self.system), self.model.block_tokens, self.model.name):
            h.update(self.model.kv_of_block(bh).tobytes())
        return h.hexdigest()

    def hard_links(self):
        c = self.client
        names = [n for n in self.sys_names if c.exists(n)]
        print(f"\n== 7. hard links: the system prompt's {len(names)} blocks under a second name")
        if len(names) < len(self.sys_names):
            self.check(False, f"{len(self.sys_names) - len(names)} system prompt blocks were "
                       "evicted (is the pool big enough?)")
        if not names:
            return
        aliases = [f"kiwi-system-v1.{i:03d}" for i in range(len(names))]
        used_before = c.stats()["used_bytes"]
        for n, al in zip(names, aliases):
            if os.path.exists(c.path(al)):
                os.unlink(c.path(al))
            os.link(c.path(n), c.path(al))
        used_after = c.stats()["used_bytes"]
        for n, al in [(names[0], aliases[0]), (names[-1], aliases[-1])]:
            for x in (n, al):
                st = os.stat(c.path(x))
                print(f"   {x:<38} st_ino {st.st_ino} st_nlink {st.st_nlink} "
                      f"st_blocks {st.st_blocks} size {st.st_size}")
        same = all(os.stat(c.path(n)).st_ino == os.stat(c.path(al)).st_ino and
                   os.stat(c.path(n)).st_nlink == 2 and
                   os.stat(c.path(n)).st_blocks == os.stat(c.path(al)).st_blocks
                   for n, al in zip(names, aliases))
        self.check(same, "each alias is the same inode (st_ino), with 2 links and the same st_blocks")
        print(f"   pool used_bytes {used_before} -> {used_after}")
        self.check(used_before == used_after, "linking copied nothing")
        leading, _ = c.match(aliases)
        self.check(leading == len(aliases), f".match finds all {len(aliases)} aliases")
        # Metadata belong to the inode: pin through the alias, see it through the hash name.
        c.set_xattr(aliases[0], "pinned", 1)
        pinned = os.getxattr(c.path(names[0]), "user.kvcache.pinned").decode()
        print(f"   setfattr user.kvcache.pinned=1 on {aliases[0]} -> {names[0]} pinned={pinned}")
        self.check(pinned == "1", "a pin set through one name holds for the other")
        c.set_xattr(aliases[0], "pinned", 0)
        for al in aliases:
            os.unlink(c.path(al))
        self.check(all(os.stat(c.path(n)).st_nlink == 1 for n in names),
                   "after unlinking the aliases, the blocks remain with 1 link")

    def summary(self):
        rs = self.results
        reused = sum(r.reused_tokens for r in rs)
        total = sum(r.prompt_tokens for r in rs)
        saved = sum(r.saved_ms for r in rs)
        compute = sum(r.compute_ms for r in rs)
        print(f"\n== summary: {len(rs)} requests, {reused} of {total} prompt tokens reused "
              f"({100.0 * reused / max(1, total):.0f}%), {saved:.0f} ms of prefill saved "
              f"({compute:.0f} ms spent computing)")
        st = self.client.stats()
        for k in ("entries", "used_bytes", "hits", "misses", "hit_ratio", "match_requests",
                  "blocks_requested", "prefix_blocks_hit", "prefix_hit_ratio", "evictions"):
            print(f"   .stats {k} {st[k]}")
        metrics = self.client.metrics()
        name = os.path.basename(self.pool)
        prefix = metrics.get(("kvcachefs_match_prefix_blocks_total", name))
        asked = metrics.get(("kvcachefs_match_blocks_total", name))
        print(f"   .metrics kvcachefs_match_prefix_blocks_total{{pool=\"{name}\"}} {prefix} "
              f"of kvcachefs_match_blocks_total {asked}")
        self.check(st["prefix_blocks_hit"] > 0 and prefix is not None and prefix > 0,
                   "the pool counted prefix hits (.stats and .metrics)")

    def clean(self):
        n = 0
        for name in os.listdir(self.pool):
            if name.startswith("blk-"):
                os.unlink(self.client.path(name))
                n += 1
        print(f"removed {n} blocks (--clean)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool", help="a pool directory of a kvcachefs mount, e.g. /kvcache/llama")
    ap.add_argument("--workers", type=int, default=3, help="engine processes (default 3)")
    ap.add_argument("--model", default="demo-llama",
                    help="model name: seeds the block hashes (default demo-llama)")
    ap.add_argument("--block-tokens", type=int, default=16, help="tokens per block (16 or 256)")
    ap.add_argument("--tools", type=int, default=24,
                    help="tool descriptions in the system prompt (its length; default 24)")
    ap.add_argument("--ms-per-token", type=float, default=1.0,
                    help="stand-in prefill cost per token (default 1 ms)")
    ap.add_argument("--readers", type=int, default=4, help="processes of phase 6 (default 4)")
    ap.add_argument("--read-rounds", type=int, default=20)
    ap.add_argument("--clean", action="store_true", help="remove the blocks at the end")
    args = ap.parse_args()
    if args.workers < 1 or args.readers < 1 or args.block_tokens < 1:
        ap.error("--workers, --readers and --block-tokens must be positive")
    return Demo(args).main()


if __name__ == "__main__":
    sys.exit(main())
