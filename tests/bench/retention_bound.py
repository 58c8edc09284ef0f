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

Usage: retention_bound.py [--trace FILE] [--capacities 1,5] [--classes none,kvadapt,...] [--check]
--check (ctest replay.retention_bound) also verifies what must hold whatever the trace: every
bound in [0, 1], no lower at a larger capacity, at 100% every reuse of the trace, and a class set
that refines another (splits its classes further) never below it. Standard library only.
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


# A class of a reference: request i, position p in its chain h, count c = references so far,
# g = references (of any block) since this block's previous reference, in cache-fulls (None: the
# first). Sets whose name ends in "+gap" use g, so their intervals depend on the capacity.
def class_sets(lead, turn):
    tail = lambda i, p, h: p == len(h) - 1
    depth = lambda p: bucket(p + 1, (4, 16))
    new = lambda i, h: bucket(len(h) - lead[i], (2, 4, 8))
    gap = lambda g: -1 if g is None else bucket(g, (0.25, 1, 4))
    return {
        "none": lambda i, p, c, h, g: 0,
        "times": lambda i, p, c, h, g: times_class(c),
        "times+tail": lambda i, p, c, h, g: (times_class(c), tail(i, p, h)),
        "kvadapt": lambda i, p, c, h, g: (times_class(c), tail(i, p, h), depth(p)),
        "kvadapt+length": lambda i, p, c, h, g: (times_class(c), tail(i, p, h), depth(p),
                                                 bucket(len(h), (4, 16, 64))),
        "kvadapt+length+new": lambda i, p, c, h, g: (times_class(c), tail(i, p, h), depth(p),
                                                     bucket(len(h), (16, 64)), new(i, h)),
        "kvadapt+new+turn": lambda i, p, c, h, g: (times_class(c), tail(i, p, h), depth(p),
                                                   bucket(len(h) - lead[i], (2, 3, 4, 6, 12)),
                                                   min(turn[i], 3)),
        # The gap before the latest reference (below C/4, C/4-C, C-4C, more), instead of the
        # depth or as well.
        "length+new-depth+gap": lambda i, p, c, h, g: (times_class(c), tail(i, p, h),
                                                       bucket(len(h), (16, 64)), new(i, h),
                                                       gap(g)),
        "length+new+gap": lambda i, p, c, h, g: (times_class(c), tail(i, p, h), depth(p),
                                                 bucket(len(h), (16, 64)), new(i, h), gap(g)),
    }


def intervals(reqs, classify, cap=1.0):
    count = collections.Counter()
    pending = {}
    last = {}
    clock = 0
    gaps = collections.defaultdict(list)
    for i, chain in enumerate(reqs):
        for p, b in enumerate(chain):
            clock += 1
            if b in pending:
                c, j = pending.pop(b)
                gaps[c].append(i - j)
            count[b] += 1
            g = (clock - last[b]) / cap if b in last else None
            last[b] = clock
            pending[b] = (classify(i, p, count[b], chain, g), i)
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


# (finer, coarser): every class of the first lies within one class of the second.
REFINES = [("times", "none"), ("times+tail", "times"), ("kvadapt", "times+tail"),
           ("kvadapt+new+turn", "kvadapt"), ("length+new+gap", "kvadapt+length+new"),
           ("length+new+gap", "length+new-depth+gap")]


def check(results, pcts, ceiling):
    """What must hold on any trace; returns the violations."""
    eps = 1e-9
    bad = []
    for name, row in results.items():
        for p, r in zip(pcts, row):
            if not -eps <= r <= 1 + eps:
                bad.append(f"{name} at {p:g}%: {r} is not in [0, 1]")
            if p == 100 and abs(r - ceiling) > 1e-6:
                bad.append(f"{name} at 100%: {r:.6f}, not every reuse ({ceiling:.6f})")
        order = sorted(zip(pcts, row))
        for (p1, r1), (p2, r2) in zip(order, order[1:]):
            if r2 < r1 - eps:
                bad.append(f"{name}: {r2:.6f} at {p2:g}% is below {r1:.6f} at {p1:g}%")
    for fine, coarse in REFINES:
        if fine in results and coarse in results:
            for p, rf, rc in zip(pcts, results[fine], results[coarse]):
                if rf < rc - eps:
                    bad.append(f"{fine} ({rf:.6f}) below {coarse} ({rc:.6f}) at {p:g}%")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="/work/shared/traces/mooncake-conversation.jsonl")
    ap.add_argument("--capacities", default="1,5")
    ap.add_argument("--check", action="store_true", help="verify the bounds' invariants")
    ap.add_argument("--classes",
                    default="none,times,times+tail,kvadapt,kvadapt+length,kvadapt+length+new,"
                    "kvadapt+new+turn,length+new-depth+gap,length+new+gap")
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
    if args.check and 100 not in pcts:
        pcts.append(100.0)
    results = {}
    print(f"{'classes':<20}" + "".join(f"{p:>8g}%" for p in pcts))
    for name in names:
        row = []
        for p in pcts:
            cap = distinct * p / 100
            if not row or name.endswith("+gap"):
                gaps = intervals(reqs, sets[name], cap)
            row.append(best_hits(gaps, cap * len(reqs)) / total)
        print(f"{name:<20}" + "".join(f"{r:9.4f}" for r in row))
        results[name] = row
    if args.check:
        bad = check(results, pcts, (total - distinct) / total)
        for line in bad:
            print("check failed:", line)
        if bad:
            raise SystemExit(1)
        print("check: every invariant holds")


if __name__ == "__main__":
    main()
