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
