#!/usr/bin/env python3
"""retention_bound.py: how many prefix hits a per-class retention policy could get on a trace.

kvadapt keeps each class of block (times seen x chain tail or interior x chain depth x chain
length x new blocks of its latest request) until an age threshold it learns online. This tool
computes, offline, the best such policy with the thresholds fitted on the whole trace (they see
the future, so it is an upper bound on what learning them gives) for several choices of classes,
to show which signals could pay and how far online learning is from its own class structure's
limit.

Model: every reference of a block opens an interval that ends at its next reference (gap in
requests) or never. Keeping the block until age R costs min(gap, R) block-requests and gains a
hit when gap <= R. The capacity allows capacity x requests block-requests in all. Per class,
the upper concave hull of (cost, hits) over R; all hull segments of all classes, steepest
first, fill the budget (a fractional knapsack, the LP relaxation of per-class thresholds). It
ignores that a hit must be in the chain's leading run and that a parent stays while a child is
cached; with no classes it gives LRU's ratio within 0.002 on the Mooncake trace.

Usage: retention_bound.py [--trace FILE] [--capacities 1,5] [--classes none,kvadapt,...]
Standard library only.
"""
import argparse
import collections
import json


def bucket(x, edges):
    for n, e in enumerate(edges):
        if x < e:
            return n
    return len(edges)


def times_class(count):
    return bucket(count, (2, 3, 5, 9))  # 1, 2, 3-4, 5-8, 9+


def load(path):
    with open(path) as f:
        return [json.loads(line)["hash_ids"] for line in f if line.strip()]


def request_features(reqs):
    """Per request: leading blocks seen before (lead) and the conversation turn."""
    first = {}
    for i, chain in enumerate(reqs):
        for b in chain:
            first.setdefault(b, i)
    lead, turn = [0] * len(reqs), [0] * len(reqs)
    for i, chain in enumerate(reqs):
        k = 0
        while k < len(chain) and first[chain[k]] < i:
            k += 1
        lead[i] = k
        if k >= 2:
            turn[i] = turn[first[chain[k - 1]]] + 1
    return lead, turn


# A class of a reference: request i, position p in its chain, count = references so far.
def class_sets(lead, turn):
    tail = lambda i, p, h: p == len(h) - 1
    return {
        "none": lambda i, p, c, h: 0,
        "times": lambda i, p, c, h: times_class(c),
        "times+tail": lambda i, p, c, h: (times_class(c), tail(i, p, h)),
        "kvadapt": lambda i, p, c, h: (times_class(c), tail(i, p, h), bucket(p + 1, (4, 16))),
        "kvadapt+length": lambda i, p, c, h: (times_class(c), tail(i, p, h), bucket(p + 1, (4, 16)),
                                              bucket(len(h), (4, 16, 64))),
        "kvadapt+length+new": lambda i, p, c, h: (times_class(c), tail(i, p, h),
                                                  bucket(p + 1, (4, 16)), bucket(len(h), (16, 64)),
                                                  bucket(len(h) - lead[i], (2, 4, 8))),
        "kvadapt+new+turn": lambda i, p, c, h: (times_class(c), tail(i, p, h), bucket(p + 1, (4, 16)),
                                                bucket(len(h) - lead[i], (2, 3, 4, 6, 12)),
                                                min(turn[i], 3)),
    }


def intervals(reqs, classify):
    count = collections.Counter()
    pending = {}
    gaps = collections.defaultdict(list)
    for i, chain in enumerate(reqs):
        for p, b in enumerate(chain):
            if b in pending:
                c, j = pending.pop(b)
                gaps[c].append(i - j)
            count[b] += 1
            pending[b] = (classify(i, p, count[b], chain), i)
    for c, _ in pending.values():
        gaps[c].append(None)
    return gaps


def best_hits(gaps, budget):
    segments = []
    for g in gaps.values():
        finite = sorted(x for x in g if x is not None)
        n = len(g)
        points, spent = [(0.0, 0.0)], 0.0
        for k, x in enumerate(finite):  # R = x: k+1 hits
            spent += x
            points.append((spent + x * (n - k - 1), k + 1.0))
        hull = []
        for pt in points:
            while len(hull) >= 2:
                (c1, h1), (c2, h2) = hull[-2], hull[-1]
                if (h2 - h1) * (pt[0] - c1) <= (pt[1] - h1) * (c2 - c1):
                    hull.pop()
                else:
                    break
            hull.append(pt)
        for (c1, h1), (c2, h2) in zip(hull, hull[1:]):
            if c2 > c1:
                segments.append(((h2 - h1) / (c2 - c1), h2 - h1, c2 - c1))
    segments.sort(reverse=True)
    hits = 0.0
    for slope, dh, dc in segments:
        if dc <= budget:
            hits, budget = hits + dh, budget - dc
        else:
            return hits + slope * budget
    return hits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="/work/shared/traces/mooncake-conversation.jsonl")
    ap.add_argument("--capacities", default="1,5")
    ap.add_argument("--classes",
                    default="none,times,times+tail,kvadapt,kvadapt+length,kvadapt+length+new,"
                    "kvadapt+new+turn")
    args = ap.parse_args()
    reqs = load(args.trace)
    distinct = len({b for chain in reqs for b in chain})
    total = sum(map(len, reqs))
    sets = class_sets(*request_features(reqs))
    names = args.classes.split(",")
    for name in names:
        if name not in sets:
            ap.error(f"unknown class set {name!r}; known: {', '.join(sets)}")
    pcts = [float(x) for x in args.capacities.split(",")]
    print(f"{'classes':<20}" + "".join(f"{p:>8g}%" for p in pcts))
    for name in names:
        gaps = intervals(reqs, sets[name])
        row = [best_hits(gaps, distinct * p / 100 * len(reqs)) / total for p in pcts]
        print(f"{name:<20}" + "".join(f"{r:9.4f}" for r in row))


if __name__ == "__main__":
    main()
