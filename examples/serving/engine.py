"""The cache path of a serving engine, on kvcachefs: tokenize, hash blocks, match, read, compute
the rest, write the new blocks. A stand-in for the KV connector of vLLM/LMCache or the storage
backend of SGLang HiCache; the model is a stand-in too (see Model).

Used by demo.py; it can also be imported on its own:

    from engine import Engine
    eng = Engine("/kvcache/llama", name="w0")
    result = eng.serve(prompt_text, reply_text)
    print(result.line())
"""

import errno
import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from kvcache_client import KVCacheClient  # noqa: E402

# --- tokenizer -----------------------------------------------------------------------------

VOCAB_SIZE = 32000
_WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(text):
    """A simple deterministic tokenizer: words and punctuation, each mapped to an id by a
    stable hash (never Python's hash(), which differs between processes)."""
    return [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
            % VOCAB_SIZE for w in _WORD.findall(text)]


# --- block hashes, the way vLLM names blocks ------------------------------------------------

def root_hash(model):
    """The parent of a sequence's first block. Engines seed it per model (vLLM: NONE_HASH), so
    two models never share a block name."""
    return hashlib.sha256(b"kvcachefs-demo\0" + model.encode()).digest()


def block_hashes(tokens, block_tokens, model):
    """One hash per FULL block: hash(parent hash + this block's tokens). The hash of block n
    names the whole prefix up to it, so equal names mean equal KV. The last, partial block has
    no name: engines cache full blocks only."""
    parent = root_hash(model)
    out = []
    for start in range(0, len(tokens) - block_tokens + 1, block_tokens):
        chunk = np.asarray(tokens[start:start + block_tokens], dtype="<u4").tobytes()
        parent = hashlib.sha256(parent + chunk).digest()
        out.append(parent)
    return out


def entry_name(block_hash):
    return "blk-" + block_hash.hex()[:32]


# --- the stand-in model ---------------------------------------------------------------------

@dataclass
class Model:
    """Shape of the KV cache and the cost of computing it.

    compute() stands for a forward pass: it sleeps `prefill_ms_per_token` per token (the cost a
    cache hit saves) and returns KV that depends only on the block's hash, so a block read from
    the cache can be checked against a recomputation.
    """
    name: str = "demo-llama"
    layers: int = 4
    kv_heads: int = 2
    head_dim: int = 64
    block_tokens: int = 16
    prefill_ms_per_token: float = 1.0
    decode_ms_per_token: float = 0.2

    def block_shape(self, tokens=None):
        return (self.layers, 2, tokens or self.block_tokens, self.kv_heads, self.head_dim)

    def block_bytes(self):
        return int(np.prod(self.block_shape())) * 2  # float16

    def kv_of_block(self, block_hash, tokens=None):
        seed = int.from_bytes(block_hash[:8], "little")
        rng = np.random.default_rng(seed)
        return rng.standard_normal(self.block_shape(tokens), dtype=np.float32).astype(np.float16)

    def compute(self, hashes, n_tokens, ms_per_token):
        """KV of the full blocks `hashes`, after the stand-in cost of `n_tokens` tokens (which
        include the partial last block: its KV is computed but, not being a full block, never
        cached)."""
        time.sleep(n_tokens * ms_per_token / 1000.0)
        return [self.kv_of_block(h) for h in hashes]


# --- one request ----------------------------------------------------------------------------

@dataclass
class Result:
    worker: str
    pid: int
    request: str
    prompt_tokens: int
    reply_tokens: int
    blocks: int              # full blocks of the prompt
    matched_blocks: int      # leading blocks .match found
    reused_tokens: int       # tokens whose KV was read instead of computed
    computed_tokens: int
    match_ms: float
    read_ms: float
    compute_ms: float
    write_ms: float
    written_blocks: int
    written_bytes: int
    writers: list = field(default_factory=list)   # who wrote the blocks we reused
    verified: bool = True
    raced: int = 0           # blocks .match reported that were gone when opened
    not_stored: int = 0      # new blocks not cached (the pool was full of unevictable data)
    ms_per_token: float = 1.0

    @property
    def saved_ms(self):
        """Prefill time the cache saved: the reused tokens' compute, minus reading them."""
        return self.reused_tokens * self.ms_per_token - (self.match_ms + self.read_ms)

    def line(self):
        pct = 100.0 * self.reused_tokens / max(1, self.prompt_tokens)
        src = ""
        if self.writers:
            others = sorted(set(w for w in self.writers if w != self.worker))
            mine = len([w for w in self.writers if w == self.worker])
            parts = [f"{self.writers.count(w)} from {w}" for w in others]
            if mine:
                parts.append(f"{mine} own")
            src = " (" + ", ".join(parts) + ")"
        return (f"[{self.worker} pid {self.pid}] {self.request:<14} prompt {self.prompt_tokens:4d} "
                f"tok = {self.blocks:3d} blocks | .match {self.matched_blocks:3d} cached{src} | "
                f"reused {self.reused_tokens:4d} tok ({pct:3.0f}%), computed "
                f"{self.computed_tokens:4d} | read {self.read_ms:6.1f} ms, compute "
                f"{self.compute_ms:7.1f} ms | wrote {self.written_blocks:3d} blocks | "
                f"saved {self.saved_ms:7.1f} ms")


class Engine:
    """One engine process's view of the shared pool."""

    def __init__(self, pool_dir, name, model=None, verify=True):
        self.client = KVCacheClient(pool_dir)
        self.name = name
        self.model = model or Model()
        self.verify = verify

    def close(self):
        self.client.close()

    def serve(self, request, prompt, reply=""):
        """Prefill `prompt` (reusing cached blocks), then 'generate' `reply`, and cache every
        full block of prompt + reply, so that the next turn of the conversation reuses it."""
        m = self.model
        prompt_ids = tokenize(prompt)
        reply_ids = tokenize(reply)
        hashes = block_hashes(prompt_ids, m.block_tokens, m.name)
        names = [entry_name(h) for h in hashes]

        # 1. Which leading blocks are cached? One round trip for the whole chain.
        t0 = time.perf_counter()
        leading, _ = self.client.match(names)
        match_ms = (time.perf_counter() - t0) * 1000

        # 2. Read them into the request's KV buffer (an engine copies them to device memory).
        kv = np.empty(m.block_shape(len(prompt_ids) + len(reply_ids)), dtype=np.float16)
        t0 = time.perf_counter()
        reused_blocks, writers, verified, raced = 0, [], True, 0
        for i in range(leading):
            try:
                mapping = self.client.get(names[i])
            except FileNotFoundError:
                raced = leading - i  # evicted between .match and open: compute from here
                break
            with mapping:
                block = np.frombuffer(mapping, dtype=np.float16).reshape(m.block_shape())
                kv[:, :, i * m.block_tokens:(i + 1) * m.block_tokens] = block
                del block
            reused_blocks += 1
            try:
                writers.append(os.getxattr(self.client.path(names[i]), "user.writer").decode())
            except OSError:
                writers.append("?")
        read_ms = (time.perf_counter() - t0) * 1000
        if self.verify:
            for i in range(reused_blocks):
                want = m.kv_of_block(hashes[i])
                if not np.array_equal(kv[:, :, i * m.block_tokens:(i + 1) * m.block_tokens], want):
                    verified = False
        reused = reused_blocks * m.block_tokens

        # 3. Compute the rest of the prompt (prefill), then the reply (decode).
        t0 = time.perf_counter()
        new_prompt_blocks = m.compute(hashes[reused_blocks:], len(prompt_ids) - reused,
                                      m.prefill_ms_per_token)
        all_ids = prompt_ids + reply_ids
        all_hashes = block_hashes(all_ids, m.block_tokens, m.name)
        new_reply_blocks = m.compute(all_hashes[len(hashes):], len(reply_ids),
                                     m.decode_ms_per_token)
        compute_ms = (time.perf_counter() - t0) * 1000

        # 4. Write the new full blocks, each naming its parent (leaves are evicted first).
        t0 = time.perf_counter()
        written, written_bytes, not_stored = 0, 0, 0
        new_blocks = new_prompt_blocks + new_reply_blocks
        for j, block in enumerate(new_blocks):
            i = reused_blocks + j
            name = entry_name(all_hashes[i])
            parent = entry_name(all_hashes[i - 1]) if i > 0 else None
            if self.client.exists(name):
                continue  # another worker wrote it meanwhile
            try:
                written_bytes += self.client.put(name, block, parent=parent, xattrs={
                    "seq_len": (i + 1) * m.block_tokens,
                    "user.writer": self.name,
                })
            except OSError as e:
                # The cache is best effort: a pool whose every entry is pinned, open or a
                # chain parent says ENOSPC (EDQUOT past the pin budget), and a block can be
                # evicted before it is renamed into place (ENOENT). Serve anyway; the blocks
                # after this one would be useless without it.
                if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.ENOENT):
                    raise
                not_stored = len(new_blocks) - j
                break
            written += 1
        write_ms = (time.perf_counter() - t0) * 1000

        return Result(worker=self.name, pid=os.getpid(), request=request,
                      prompt_tokens=len(prompt_ids), reply_tokens=len(reply_ids),
                      blocks=len(hashes), matched_blocks=leading, reused_tokens=reused,
                      computed_tokens=len(prompt_ids) - reused, match_ms=match_ms,
                      read_ms=read_ms, compute_ms=compute_ms, write_ms=write_ms,
                      written_blocks=written, written_bytes=written_bytes, writers=writers,
                      verified=verified, raced=raced, not_stored=not_stored,
                      ms_per_token=m.prefill_ms_per_token)
