"""The cache path of a serving engine, on kvcachefs: tokenize, hash blocks, match and load the
cached prefix in one round trip, compute the rest, store the new blocks in one batch (through
kvcachefs.Client: the data path, or file I/O without one). A stand-in for the KV connector of vLLM/LMCache or the storage
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

try:
    import kvcachefs
except ImportError:  # not installed: the package of the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "client", "python"))
    import kvcachefs
from kvcachefs import KVCacheClient  # noqa: E402

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
        self.client = KVCacheClient(pool_dir)  # names, attributes, stats
        self.blocks = kvcachefs.Client(pool_dir)  # the bytes: the data path, else file I/O
        self.buffer = None
        self.name = name
        self.model = model or Model()
        self.verify = verify

    def close(self):
        self.blocks.close()
        self.client.close()

    def _buffer(self, blocks):
        """Memory shared with the daemon for `blocks` blocks (an engine's pinned host buffer)."""
        need = max(1, blocks) * self.model.block_bytes()
        if self.buffer is None or self.buffer.size < need:
            self.buffer = self.blocks.buffer(max(need, 64 * self.model.block_bytes()))
        return self.buffer

    def _blocks_view(self, count):
        m = self.model
        return self.buffer.numpy(np.float16, (count,) + m.block_shape())

    def serve(self, request, prompt, reply=""):
        """Prefill `prompt` (reusing cached blocks), then 'generate' `reply`, and cache every
        full block of prompt + reply, so that the next turn of the conversation reuses it."""
        m = self.model
        prompt_ids = tokenize(prompt)
        reply_ids = tokenize(reply)
        hashes = block_hashes(prompt_ids, m.block_tokens, m.name)
        names = [entry_name(h) for h in hashes]

        # 1-2. Which leading blocks are cached, and their bytes, in one round trip: the chain is
        # matched as .match matches it and its leading run loaded into the shared buffer.
        buf = self._buffer(len(names))
        t0 = time.perf_counter()
        chain = self.blocks.load_chain(buf, names, m.block_bytes())
        match_ms = (time.perf_counter() - t0) * 1000
        leading = chain.leading
        raced = leading - chain.loaded  # evicted between the match and the load: compute them

        # The request's KV buffer (an engine copies the blocks to device memory from the
        # shared buffer; here, into one array).
        kv = np.empty(m.block_shape(len(prompt_ids) + len(reply_ids)), dtype=np.float16)
        t0 = time.perf_counter()
        reused_blocks, writers, verified = chain.loaded, [], True
        loaded = self._blocks_view(reused_blocks)
        for i in range(reused_blocks):
            kv[:, :, i * m.block_tokens:(i + 1) * m.block_tokens] = loaded[i]
            try:
                writers.append(os.getxattr(self.client.path(names[i]), "user.writer").decode())
            except OSError:
                writers.append("?")  # evicted since: its bytes were loaded all the same
        del loaded
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

        # 4. Store the new full blocks in one batch, each naming its parent (leaves are evicted
        # first). An engine's device-to-host copy puts them in the shared buffer.
        t0 = time.perf_counter()
        new_blocks = new_prompt_blocks + new_reply_blocks
        buf = self._buffer(len(new_blocks))
        if new_blocks:
            self._blocks_view(len(new_blocks))[:] = new_blocks
        items = []
        for j in range(len(new_blocks)):
            i = reused_blocks + j
            items.append({"name": entry_name(all_hashes[i]), "offset": j * m.block_bytes(),
                          "length": m.block_bytes(), "replace": False,  # EEXIST: written already
                          "parent": entry_name(all_hashes[i - 1]) if i > 0 else None,
                          "xattrs": {"seq_len": (i + 1) * m.block_tokens,
                                     "user.writer": self.name}})
        errors = self.blocks.store(buf, items) if items else []
        written, not_stored = 0, 0
        for j, err in enumerate(errors):
            if err == 0:
                written += 1
            elif err == errno.EEXIST:
                continue  # another worker wrote it meanwhile
            elif err in (errno.ENOSPC, errno.EDQUOT):
                # The cache is best effort: a pool whose every entry is pinned, open or a chain
                # parent says ENOSPC (EDQUOT past the pin budget). Serve anyway.
                not_stored += 1
            else:
                raise OSError(err, os.strerror(err), items[j]["name"])
        written_bytes = written * m.block_bytes()
        write_ms = (time.perf_counter() - t0) * 1000

        return Result(worker=self.name, pid=os.getpid(), request=request,
                      prompt_tokens=len(prompt_ids), reply_tokens=len(reply_ids),
                      blocks=len(hashes), matched_blocks=leading, reused_tokens=reused,
                      computed_tokens=len(prompt_ids) - reused, match_ms=match_ms,
                      read_ms=read_ms, compute_ms=compute_ms, write_ms=write_ms,
                      written_blocks=written, written_bytes=written_bytes, writers=writers,
                      verified=verified, raced=raced, not_stored=not_stored,
                      ms_per_token=m.prefill_ms_per_token)
