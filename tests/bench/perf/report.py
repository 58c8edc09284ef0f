#!/usr/bin/env python3
"""Summarizes a run of tests/bench/perf/run.sh: medians per workload and filesystem, the ratio
kvcachefs/tmpfs and whether it meets its target, the scale and memory tables, and the data path
(libkvcachefs against tmpfs, the mount's FUSE path and memcpy). A target is "out of FUSE's
reach" when the floor (fuse_floor: a FUSE daemon that stores nothing, measured in the same run)
falls short of it too.

Usage: report.py OUT_DIR   (reads OUT_DIR/results.jsonl and OUT_DIR/machine.json; writes
results.csv, summary.json, summary.md and, when gnuplot is installed, ratios.png, scale.png and
data_path.png)
Standard library only.
"""
import csv
import json
import shutil
import statistics
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

# Targets of issue 7 / docs/PERFORMANCE.md: minimum ratio kvcachefs/tmpfs (higher is better).
RATIO_TARGETS = {
    "seq read warm 1M 1t": 0.9,
    "seq read cold 1M 1t": 0.5,
    "seq write 1M 1t": 0.6,
    "mmap read warm": 0.95,
    "mmap read cold": 0.5,
    "create 4K 1t": 0.1,
    "stat 4K 1t": 0.3,
}
# Scale: per-operation cost at the largest count over the smallest must stay within this.
SCALE_TARGET = 1.5
SCALE_OPS = ["lookup", ".match (32 names)", "create 4K", "create 4K evicting"]
FILESYSTEMS = ["tmpfs", "kvc", "kvc-dio"]

# The data path (issue 20): each row compares libkvcachefs ("kvc") with one baseline of the same
# run: (baseline fs, what it is, target, kind). kind "min": the ratio lib/baseline (rates) must
# reach the target; "max": the ratio lib time/baseline time must stay within it; None: stated.
DATA_BASELINES = {
    "store": [("tmpfs", "tmpfs pwrite (fallocated files)", 1.0, "min"),
              ("tmpfs-rewrite", "tmpfs pwrite again (pages written before)", None, None),
              ("fuse", "FUSE create+pwrite+close", 4.0, "min")],
    "load": [("tmpfs", "tmpfs pread", 1.0, "min"),
             ("fuse", "FUSE open+pread+close, cold", None, None),
             ("fuse-warm", "FUSE open+pread+close, page cache", None, None)],
    "chain": [("memcpy", "memcpy of the same bytes", 1.2, "max")],
    "small store": [("fuse", "FUSE create+write+close", 10.0, "min")],
    "small load": [("fuse", "FUSE open+read+close, cold", 10.0, "min")],
}
TWO_CLIENTS = "kvc-2c"
FLOORS = ["floor", "floor-dio"]


def fmt(v, unit=""):
    if v is None:
        return "–"
    if unit == "ops/s" or (isinstance(v, float) and v >= 1000):
        return f"{v:,.0f}"
    if isinstance(v, float) and v < 10:
        return f"{v:.3g}" if v < 1 else f"{v:.2f}"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def verdict(e) -> str:
    if e["target"] is None:
        return ""
    if e.get("met"):
        return f"≥ {e['target']} met"
    if e.get("met_direct_io"):
        return f"≥ {e['target']} met with direct_io"
    text = f"≥ {e['target']} MISSED"
    if e.get("floor_reaches_target") is False:
        text += " (out of FUSE's reach: the floor misses it too)"
    return text


def main(out: Path) -> None:
    rows = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
    machine = json.loads((out / "machine.json").read_text()) if (out / "machine.json").exists() else {}

    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "workload", "fs", "rep", "value", "unit"])
        for r in rows:
            w.writerow([r["group"], r["workload"], r["fs"], r["rep"], r["value"], r["unit"]])

    # Medians of io and small workloads, per filesystem, in the order they were run.
    values = OrderedDict()
    units = {}
    for r in rows:
        if r["group"] in ("io", "small"):
            values.setdefault((r["group"], r["workload"]), {}).setdefault(r["fs"], []).append(
                float(r["value"]))
            units[r["workload"]] = r["unit"]
    compare = []
    for (group, wl), per_fs in values.items():
        med = {fs: statistics.median(v) for fs, v in per_fs.items()}
        base = med.get("tmpfs")
        entry = {"group": group, "workload": wl, "unit": units[wl], "reps": len(per_fs.get("kvc", [])),
                 "median": med,
                 "ratio": {fs: (med[fs] / base if base else None) for fs in med if fs != "tmpfs"},
                 "target": RATIO_TARGETS.get(wl)}
        if entry["target"] is not None and entry["ratio"].get("kvc") is not None:
            entry["met"] = entry["ratio"]["kvc"] >= entry["target"]
            entry["met_direct_io"] = (entry["ratio"].get("kvc-dio") or 0) >= entry["target"]
            floors = [entry["ratio"][f] for f in FLOORS if entry["ratio"].get(f) is not None]
            if floors:
                entry["floor_reaches_target"] = max(floors) >= entry["target"]
        compare.append(entry)

    # Scale: the median of the rounds per (op, N).
    samples = OrderedDict()
    scale_units = {}
    for r in rows:
        if r["group"] == "scale":
            samples.setdefault(r["workload"], {}).setdefault(int(r["fs"]), []).append(float(r["value"]))
            scale_units[r["workload"]] = r["unit"]
    scale = OrderedDict((op, {n: (statistics.median(v), scale_units[op]) for n, v in per.items()})
                        for op, per in samples.items())
    counts = sorted({n for per in scale.values() for n in per})
    scale_out = []
    for op, per in scale.items():
        e = {"op": op, "unit": scale_units[op], "by_count": {str(n): v for n, (v, _) in per.items()},
             "samples": {str(n): v for n, v in samples[op].items()}}
        if op in SCALE_OPS and len(counts) > 1 and counts[0] in per and counts[-1] in per:
            e["growth"] = per[counts[-1]][0] / per[counts[0]][0]
            e["target"] = SCALE_TARGET
            e["met"] = e["growth"] <= SCALE_TARGET
        scale_out.append(e)

    mem = OrderedDict()
    for r in rows:
        if r["group"] == "mem":
            mem.setdefault(r["workload"], {"unit": r["unit"]})[r["fs"]] = float(r["value"])

    data = data_rows(rows)

    summary = {"machine": machine, "compare": compare, "scale": scale_out, "scale_counts": counts,
               "memory": mem, "data": data}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")

    md = []
    if compare:
        md.append("| group | workload | unit | tmpfs | kvcachefs | ratio | kvc direct_io | ratio dio "
                  "| FUSE floor | ratio floor | floor direct_io | ratio floor dio | target |")
        md.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
        for e in compare:
            m, r = e["median"], e["ratio"]
            md.append(f"| {e['group']} | {e['workload']} | {e['unit']} | {fmt(m.get('tmpfs'), e['unit'])} | "
                      f"{fmt(m.get('kvc'), e['unit'])} | {fmt(r.get('kvc'))} | "
                      f"{fmt(m.get('kvc-dio'), e['unit'])} | {fmt(r.get('kvc-dio'))} | "
                      + "".join(f"{fmt(m.get(f), e['unit'])} | {fmt(r.get(f))} | " for f in FLOORS)
                      + f"{verdict(e)} |")
    if scale_out:
        md.append("")
        md.append("| scale (kvcachefs, direct_io mount; medians of the rounds) | unit | " + " | ".join(f"{n:,}" for n in counts)
                  + " | largest/smallest | target |")
        md.append("|---|---|" + "--:|" * len(counts) + "--:|---|")
        for e in scale_out:
            cells = " | ".join(fmt(e["by_count"].get(str(n))) for n in counts)
            growth = fmt(e.get("growth")) if "growth" in e else ""
            tgt = f"≤ {SCALE_TARGET} {'met' if e.get('met') else 'MISSED'}" if "growth" in e else ""
            md.append(f"| {e['op']} | {e['unit']} | {cells} | {growth} | {tgt} |")
    if mem:
        md.append("")
        md.append("| memory per GiB stored | unit | tmpfs | kvcachefs | kvc direct_io |")
        md.append("|---|---|--:|--:|--:|")
        for k, v in mem.items():
            md.append(f"| {k} | {v['unit']} | " + " | ".join(fmt(v.get(fs)) for fs in FILESYSTEMS) + " |")
    if data:
        md.append("")
        md.append("| data path (libkvcachefs) | unit | library | compared with | its value | ratio "
                  "| target |")
        md.append("|---|---|--:|---|--:|--:|---|")
        for e in data:
            ratio = fmt(e["ratio"]) + ("×" if e["ratio"] is not None else "")
            md.append(f"| {e['workload']} | {e['unit']} | {fmt(e['value'], e['unit'])} | "
                      f"{e['baseline']} | {fmt(e['baseline_value'], e['unit'])} | {ratio} | "
                      f"{data_verdict(e)} |")
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))

    if shutil.which("gnuplot"):
        plot(out, compare, scale_out, counts, data)
    else:
        print("report.py: gnuplot not installed, no PNG", file=sys.stderr)


def data_rows(rows):
    """Medians of the data group per (workload, fs), one row per comparison of the library with
    a baseline; the two-client rows compare the aggregate with one client."""
    samples = OrderedDict()
    units = {}
    for r in rows:
        if r["group"] == "data":
            samples.setdefault(r["workload"], {}).setdefault(r["fs"], []).append(float(r["value"]))
            units[r["workload"]] = r["unit"]
    out = []
    for wl, per_fs in samples.items():
        med = {fs: statistics.median(v) for fs, v in per_fs.items()}
        lib = med.get("kvc")
        op = wl.split()[0]
        key = f"small {op}" if units[wl] == "ops/s" else op
        for fs, what, target, kind in DATA_BASELINES.get(key, []):
            base = med.get(fs)
            if lib is None or base is None:
                continue
            ratio = lib / base if base else None
            e = {"workload": wl, "unit": units[wl], "reps": len(per_fs["kvc"]), "value": lib,
                 "baseline": what, "baseline_fs": fs, "baseline_value": base, "ratio": ratio,
                 "target": target, "kind": kind, "samples": per_fs["kvc"],
                 "baseline_samples": per_fs[fs]}
            if kind == "min" and ratio is not None:
                e["met"] = ratio >= target
            elif kind == "max" and ratio is not None:
                e["met"] = ratio <= target
            out.append(e)
        if TWO_CLIENTS in med and lib:
            out.append({"workload": f"{wl}, 2 clients (aggregate)", "unit": units[wl],
                        "reps": len(per_fs[TWO_CLIENTS]), "value": med[TWO_CLIENTS],
                        "baseline": "1 client", "baseline_fs": "kvc", "baseline_value": lib,
                        "ratio": med[TWO_CLIENTS] / lib, "target": None, "kind": None,
                        "samples": per_fs[TWO_CLIENTS], "baseline_samples": per_fs["kvc"]})
    return out


def data_verdict(e) -> str:
    if e["kind"] is None:
        return "(stated)" if e["baseline_fs"] == "kvc" else ""
    sign = "≥" if e["kind"] == "min" else "≤ (time)"
    return f"{sign} {e['target']} {'met' if e.get('met') else 'MISSED'}"


def plot(out: Path, compare, scale_out, counts, data=()) -> None:
    script = ""
    if compare:
        script += ratio_plot(out, compare)
    if data:
        script += data_plot(out, data)
    if scale_out and len(counts) > 1:
        script += scale_plot(out, scale_out, counts)
    if script:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def ratio_plot(out: Path, compare) -> str:
    """ratios.png: kvcachefs/tmpfs per workload (and with -o direct_io, and the FUSE floor), each
    row labelled with the absolute medians, the legend below the plot."""
    dat = out / "ratios.dat"
    with open(dat, "w") as f:
        for i, e in enumerate(compare):
            r, m = e["ratio"], e["median"]
            label = (f'{e["workload"]} ({fmt(m.get("kvc"), e["unit"])} vs tmpfs '
                     f'{fmt(m.get("tmpfs"), e["unit"])} {e["unit"]})').replace('"', "'")
            f.write(f'{i} "{label}" {r.get("kvc") or "NaN"} {r.get("kvc-dio") or "NaN"} '
                    f'{e["target"] if e["target"] is not None else "NaN"} {r.get("floor") or "NaN"}\n')
    height = 420 + 18 * len(compare)
    script = f"""
set terminal pngcairo noenhanced size 1200,{height} font ",9"
set output "{out / 'ratios.png'}"
set title "kvcachefs / tmpfs, medians in one run (higher is better; 1 = as fast as tmpfs)\\nrow labels: kvcachefs's median vs tmpfs's, in the workload's unit"
set style fill solid 0.8 border -1
set yrange [-0.8:{len(compare) - 0.2}] reverse
set xrange [0:*]
set ytics nomirror font ",8"
set grid x
set key below vertical maxrows 4
set xlabel "ratio to tmpfs"
plot "{dat}" using 3:1:(0):3:($1-0.3):($1-0.1):ytic(2) with boxxyerror lc rgb "#3b75af" title "kvcachefs (default mount)", \\
     "" using 4:1:(0):4:($1-0.1):($1+0.1) with boxxyerror lc rgb "#ef8636" title "kvcachefs -o direct_io", \\
     "" using 6:1:(0):6:($1+0.1):($1+0.3) with boxxyerror lc rgb "#9a9a9a" title "FUSE floor: a FUSE daemon that stores nothing", \\
     "" using 5:1 with points pt 5 ps 0.9 lc rgb "#c0392b" title "target (docs/PERFORMANCE.md)"
reset
"""
    return script


def data_plot(out: Path, data) -> str:
    """data_path.png: each comparison of the data path as a ratio (log scale; for the chain, the
    memcpy's time over the chain's, so that higher is better everywhere), labelled with the
    library's absolute figure and the baseline's, and the target."""
    dat = out / "data_path.dat"
    with open(dat, "w") as f:
        for i, e in enumerate(data):
            r, t = e["ratio"], e["target"]
            if e["kind"] == "max":  # a time: invert, so that the bar grows with speed
                r, t = (1 / r if r else None), (1 / t if t else None)
            label = (f'{e["workload"]} vs {e["baseline"]} ({fmt(e["value"])} vs '
                     f'{fmt(e["baseline_value"])} {e["unit"]})').replace('"', "'")
            f.write(f'{i} "{label}" {r or "NaN"} {t if t is not None else "NaN"}\n')
    height = 300 + 22 * len(data)
    return f"""
set terminal pngcairo noenhanced size 1200,{height} font ",9"
set output "{out / 'data_path.png'}"
set title "data path (libkvcachefs) / baseline, medians in one run (higher is better)\\nrow labels: the library's median vs the baseline's\\n(for the chain: times, and the bar is the baseline's time over the library's)"
set style fill solid 0.8 border -1
set yrange [{len(data) - 0.2}:-0.8]
set logscale x
set xrange [0.1:100]
set ytics nomirror font ",8"
set grid x
set key below vertical
set xlabel "ratio to the baseline (log scale)"
plot "{dat}" using 3:1:(0.1):3:($1-0.3):($1+0.3):ytic(2) with boxxyerror lc rgb "#3b75af" title "data path (libkvcachefs over the daemon's socket)", \\
     "" using 4:1 with points pt 5 ps 0.9 lc rgb "#c0392b" title "target (docs/DATA_PATH.md)"
reset
"""


# What each line of scale.png measures, for its legend.
SCALE_LEGEND = {
    "lookup": "lookup: stat of an entry not yet known to the kernel",
    ".match (32 names)": ".match: a request of 32 names",
    "create 4K": "create: a new 4 KiB entry in a pool with room",
    "create 4K evicting": "create evicting: a new 4 KiB entry in a full pool",
}


def scale_plot(out: Path, scale_out, counts) -> str:
    """scale.png: per-operation cost against the pool's entries, each point labelled with its
    figure, the legend below the plot."""
    sdat = out / "scale.dat"
    ops = [e for e in scale_out if e["op"] in SCALE_OPS]
    with open(sdat, "w") as f:
        for n in counts:
            f.write(f"{n} " + " ".join(str(e["by_count"].get(str(n), "NaN")) for e in ops) + "\n")
    lines = ", ".join(f'"{sdat}" using 1:{i + 2} with linespoints lw 2 title "{SCALE_LEGEND.get(e["op"], e["op"])}", '
                      f'"" using 1:{i + 2}:(sprintf("%.0f", ${i + 2})) with labels offset 0,0.8 '
                      f'font ",8" notitle'
                      for i, e in enumerate(ops))
    return f"""
set terminal pngcairo noenhanced size 900,560 font ",10"
set output "{out / 'scale.png'}"
set title "kvcachefs per-operation cost vs entries in the pool (medians; lower is better)"
set logscale x
set yrange [0:*]
set offsets graph 0.05, graph 0.05, graph 0.1, 0
set grid
set xlabel "entries in the pool"
set ylabel "microseconds per operation"
set key below vertical
plot {lines}
reset
"""


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py OUT_DIR")
    main(Path(sys.argv[1]))
