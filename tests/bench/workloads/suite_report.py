#!/usr/bin/env python3
"""suite_report.py: the workload suite's report from trace_replay CSVs.

Reads CSVs written by trace_replay --label FAMILY/nSIZE/sSEED (run_suite.sh makes them), takes
the mount rows when there are any (else the in-process ones), and averages the prefix hit ratio
over the traces of each family (its seeds and sizes) per capacity and policy. Writes:
  OUT.csv  family, capacity, policy, mean ratio, gain over LRU, position between LRU (0) and
           Belady (1), traces averaged, and the worst trace's margin against the best classic
           policy (kvadapt rows);
  OUT.md   one table per family, and the issue's targets: kvadapt >= the best of the classic
           policies - 0.005 at every point, and the share of the LRU-to-Belady gap it closes at
           5% and 10%, averaged over the families;
  OUT.png  one panel per family: each policy's position between LRU (0) and Belady (1) against
           capacity (gnuplot, as tests/bench/perf/report.py draws; skipped without gnuplot).
Standard library only.

Usage: suite_report.py --out PREFIX A.csv [B.csv ...]
"""
import argparse
import collections
import csv
import shutil
import subprocess
import sys

CLASSIC = ["lru", "lfu", "fifo", "sieve", "s3fifo", "lru+admit"]
FAMILY_ORDER = ["chat", "agent", "fewshot", "rag", "scan", "conversation"]


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows.extend(csv.DictReader(f))
    modes = {r["mode"] for r in rows}
    mode = "mount" if "mount" in modes else "inprocess"
    # Belady is computed once per capacity, under the first back end's mode.
    return [r for r in rows if r["mode"] == mode or r["policy"] == "belady"], mode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("csvs", nargs="+")
    a = ap.parse_args()
    rows, mode = load(a.csvs)
    # per trace: (family, trace, pct, policy) -> ratio
    per = {}
    for r in rows:
        trace = r.get("trace") or "conversation"
        family = trace.split("/")[0]
        per[(family, trace, float(r["capacity_pct"]), r["policy"])] = float(r["prefix_hit_ratio"])
    families = sorted({k[0] for k in per}, key=lambda f: (FAMILY_ORDER.index(f)
                                                           if f in FAMILY_ORDER else 99, f))
    pcts = sorted({k[2] for k in per})
    policies = []
    for k in per:
        if k[3] not in policies:
            policies.append(k[3])
    policies.sort(key=lambda p: (p != "belady", p not in CLASSIC, CLASSIC.index(p)
                                 if p in CLASSIC else 0, p))
    traces = collections.defaultdict(set)
    for f, t, _, _ in per:
        traces[f].add(t)

    mean = {}
    worst = {}  # (family, pct) -> worst kvadapt - best classic over the family's traces
    for f in families:
        for pct in pcts:
            for p in policies:
                vals = [per[(f, t, pct, p)] for t in traces[f] if (f, t, pct, p) in per]
                if vals:
                    mean[(f, pct, p)] = sum(vals) / len(vals)
            margins = []
            for t in traces[f]:
                if (f, t, pct, "kvadapt") in per:
                    best = max(per.get((f, t, pct, c), 0) for c in CLASSIC)
                    margins.append(per[(f, t, pct, "kvadapt")] - best)
            if margins:
                worst[(f, pct)] = min(margins)

    def position(f, pct, p):
        lru, bel = mean.get((f, pct, "lru")), mean.get((f, pct, "belady"))
        if lru is None or bel is None or bel - lru <= 1e-12:
            return None
        return (mean[(f, pct, p)] - lru) / (bel - lru)

    with open(a.out + ".csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["family", "capacity_pct", "policy", "prefix_hit_ratio", "gain_over_lru",
                    "position_lru0_belady1", "traces", "worst_margin_vs_best_classic"])
        for f in families:
            for pct in pcts:
                for p in policies:
                    if (f, pct, p) not in mean:
                        continue
                    pos = position(f, pct, p)
                    lru = mean.get((f, pct, "lru"))
                    w.writerow([f, f"{pct:g}", p, f"{mean[(f, pct, p)]:.4f}",
                                "" if lru is None else f"{mean[(f, pct, p)] - lru:+.4f}",
                                "" if pos is None else f"{pos:.3f}", len(traces[f]),
                                f"{worst[(f, pct)]:+.4f}" if p == "kvadapt" and (f, pct) in worst
                                else ""])

    md = [f"Prefix hit ratio, mean over each family's traces ({mode}); in brackets the gain "
          "over LRU.\n"]
    for f in families:
        md.append(f"\n**{f}** ({len(traces[f])} traces: {', '.join(sorted(traces[f]))})\n")
        md.append("| policy | " + " | ".join(f"{p:g}%" for p in pcts) + " |")
        md.append("|---|" + "---:|" * len(pcts))
        for p in policies:
            cells = []
            for pct in pcts:
                v = mean.get((f, pct, p))
                lru = mean.get((f, pct, "lru"))
                if v is None:
                    cells.append("-")
                elif p in ("belady", "lru") or lru is None:
                    cells.append(f"{v:.4f}")
                else:
                    cells.append(f"{v:.4f} ({v - lru:+.3f})")
            name = "Belady" if p == "belady" else f"`{p}`"
            md.append(f"| {name} | " + " | ".join(cells) + " |")
    if any(k[2] == "kvadapt" for k in mean):
        md.append("\n**Targets** (kvadapt against the best of " + ", ".join(CLASSIC) + ")\n")
        md.append("| family | " + " | ".join(f"{p:g}%" for p in pcts) + " |")
        md.append("|---|" + "---:|" * len(pcts))
        misses = 0
        for f in families:
            cells = []
            for pct in pcts:
                if (f, pct, "kvadapt") not in mean:
                    cells.append("-")
                    continue
                best = max(mean.get((f, pct, c), 0) for c in CLASSIC)
                d = mean[(f, pct, "kvadapt")] - best
                ok = d >= -0.005
                misses += not ok
                cells.append(f"{d:+.4f}" + ("" if ok else " **miss**"))
            md.append(f"| {f} | " + " | ".join(cells) + " |")
        md.append(f"\nPoints below best - 0.005: {misses}.")
        for pct in (5.0, 10.0):
            ps = [position(f, pct, "kvadapt") for f in families
                  if (f, pct, "kvadapt") in mean and f != "conversation"]
            ps = [p for p in ps if p is not None]
            if ps:
                md.append(f"Share of the LRU-to-Belady gap kvadapt closes at {pct:g}%, averaged "
                          f"over the generated families: {sum(ps) / len(ps):.3f} "
                          f"(per family: {', '.join(f'{p:.3f}' for p in ps)}).")
    with open(a.out + ".md", "w") as out:
        out.write("\n".join(md) + "\n")
    print("\n".join(md))

    if not shutil.which("gnuplot"):
        print("suite_report.py: gnuplot not installed, no PNG", file=sys.stderr)
        return
    dat = a.out + ".dat"
    shown = [p for p in policies if p != "belady"]
    with open(dat, "w") as out:
        for f in families:
            for p in shown:
                for pct in pcts:
                    pos = position(f, pct, p) if (f, pct, p) in mean else None
                    if pos is not None:
                        out.write(f"{pct:g} {pos:.4f}\n")
                out.write("\n\n")
    cols = 3
    rows_n = (len(families) + cols - 1) // cols
    script = [f"set terminal pngcairo size {420 * cols},{340 * rows_n} noenhanced font ',9'",
              f"set output '{a.out}.png'",
              f"set multiplot layout {rows_n},{cols} title 'Each policy between LRU (0) and "
              f"Belady (1): (policy - LRU) / (Belady - LRU), prefix hit ratio ({mode})'",
              "set logscale x", "set xtics (" + ",".join(f"{p:g}" for p in pcts) + ")",
              "set grid", "set key top left", "set yrange [-0.6:1]", "set xrange [0.8:32]",
              "set xlabel 'capacity (% of distinct blocks)'"]
    for i, f in enumerate(families):
        script.append(f"set title '{f}'")
        plot = []
        for j, p in enumerate(shown):
            idx = i * len(shown) + j
            style = "lw 3" if p == "kvadapt" else "lw 1.5"
            label = f"title '{p}'" if i == 0 else "notitle"
            plot.append(f"'{dat}' index {idx} using 1:2 with linespoints lc {j + 1} {style} "
                        + label)
        plot.append("0 with lines lc 'black' dt 2 notitle, 1 with lines lc 'black' dt 2 notitle")
        script.append("plot " + ", ".join(plot))
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)


if __name__ == "__main__":
    main()
