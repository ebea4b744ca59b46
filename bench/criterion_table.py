"""Prints the in-process results that `cargo bench --bench process` left in target/criterion as
Markdown tables: time per event, GB/s and items/s at each width, the speedup over width 1, and
the crossover group (inline against the pool hand-off), and the shapes group (each shape of
event at widths 1 and 2, in GB/s).

    python3 bench/criterion_table.py [target/criterion]

Times are criterion's point estimates of the last run of each benchmark, as it prints them.
"""

import json
import re
import sys
from pathlib import Path


def load(root):
    results = {}
    for bench in root.rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        results[(meta["group_id"], meta["function_id"], meta.get("value_str"))] = {
            # What criterion prints as "time": the slope estimate when it sampled linearly,
            # else the mean.
            "ns": (estimates.get("slope") or estimates["mean"])["point_estimate"],
            "bytes": (meta.get("throughput") or {}).get("Bytes"),
        }
    return results


# The order of sample::Shape::ALL.
SHAPE_ORDER = ["flat", "pretty", "wide", "non-ascii", "unicode-escapes", "escapes", "double",
               "exponent", "long-integer", "batch", "threshold-after"]


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    results = load(root)

    process = {}
    for (group, function, value), r in results.items():
        m = re.fullmatch(r"process/(\d+)", group)
        if m and function == "width":
            process.setdefault(int(m.group(1)), {})[int(value)] = r
    if process:
        print("| items | event | width | time per event | GB/s | items/s | speedup over width 1 |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for items in sorted(process):
            widths = process[items]
            base = widths.get(1)
            for width in sorted(widths):
                r = widths[width]
                seconds = r["ns"] / 1e9
                speedup = f"{base['ns'] / r['ns']:.2f}×" if base else "–"
                print(f"| {items:,} | {r['bytes'] / 1e6:.2f} MB | {width} | {fmt_time(r['ns'])} | "
                      f"{r['bytes'] / seconds / 1e9:.2f} | {items / seconds / 1e6:.1f} M | {speedup} |")
        print()

    crossover = {}
    for (group, function, _), r in results.items():
        m = re.fullmatch(r"crossover/(\d+)B", group)
        if m:
            crossover.setdefault(int(m.group(1)), {})[function] = r
    if crossover:
        print("| event | inline (one part, calling thread) | pool hand-off | pool / inline |")
        print("| ---: | ---: | ---: | ---: |")
        for size in sorted(crossover):
            c = crossover[size]
            if "inline" in c and "pool" in c:
                print(f"| {size:,} B | {fmt_time(c['inline']['ns'])} | {fmt_time(c['pool']['ns'])} | "
                      f"{c['pool']['ns'] / c['inline']['ns']:.2f} |")
        print()
    shapes = {}
    for (group, function, value), r in results.items():
        m = re.fullmatch(r"shapes/(.+)", group)
        if m and function == "width":
            shapes.setdefault(m.group(1), {})[int(value)] = r
    if shapes:
        print("| shape | event | width 1 GB/s | width 2 GB/s | width 2 / width 1 |")
        print("| --- | ---: | ---: | ---: | ---: |")
        gbps = lambda r: r["bytes"] / r["ns"]
        for name in sorted(shapes, key=lambda n: (SHAPE_ORDER.index(n) if n in SHAPE_ORDER else 99, n)):
            widths = shapes[name]
            one, two = widths.get(1), widths.get(2)
            size = (one or two)["bytes"] / 1e6
            cells = [f"{gbps(r):.2f}" if r else "–" for r in (one, two)]
            ratio = f"{one['ns'] / two['ns']:.2f}×" if one and two else "–"
            print(f"| {name} | {size:.2f} MB | {cells[0]} | {cells[1]} | {ratio} |")
        print()
    if not process and not crossover and not shapes:
        print(f"no criterion results of the process bench under {root}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
