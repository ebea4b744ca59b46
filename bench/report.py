"""Reads what bench/run left in bench/out/ and prints the results table and the ratios, in
Markdown. Exits 1 when a function failed an invocation or the three disagree on an answer.

    python3 bench/report.py --out bench/out --items 100000 --tiny 0
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

FUNCTIONS = [
    ("ours", "frequency-fanout (this project)"),
    ("obvious", "obvious Rust (typed event, rayon par_iter)"),
    ("python", "article's Python (awslambdaric)"),
]
MIB = 1024 * 1024
ARM64_LIMIT = 2 * MIB


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load(out, name, items, problems):
    lines = read_lines(out / f"{name}.jsonl")
    invocations = [l for l in lines if l.get("type") == "invocation"]
    summaries = [l for l in lines if l.get("type") == "summary"]
    if not summaries:
        problems.append(f"{name}: the peer printed no summary")
        return None
    summary = summaries[-1]
    counts = set()
    for line in invocations:
        body = line.get("body")
        if line["outcome"] != "response" or not isinstance(body, dict):
            problems.append(f"{name}: invocation {line['round']} failed: {body}")
            continue
        if body.get("total_items") != items:
            problems.append(f"{name}: total_items {body.get('total_items')}, expected {items}")
        counts.add(body.get("high_frequency_count"))
    if len(invocations) == 0:
        problems.append(f"{name}: no invocation was answered")
    if summary.get("problems"):
        problems.append(f"{name}: the peer saw protocol problems: {summary['problems']}")
    if summary.get("init_errors"):
        problems.append(f"{name}: init errors: {summary['init_errors']}")
    if summary.get("peak_rss_kb") is None:
        problems.append(f"{name}: no peak RSS (the process exited early: {summary.get('exited')})")
    init = [summary.get("init_ms")]
    init_path = out / f"{name}.init.jsonl"
    if init_path.exists():
        for extra in read_lines(init_path):
            if extra.get("invocations") != 1 or extra.get("errors"):
                problems.append(f"{name}: an init spawn did not answer its event: {extra}")
            init.append(extra.get("init_ms"))
    init = [i for i in init if i is not None]
    latencies = [l["function_ms"] for l in invocations]
    workers = {l["body"].get("workers") for l in invocations if isinstance(l.get("body"), dict)}
    return {
        "latencies": latencies,
        "init": init,
        "peak_rss_kb": summary.get("peak_rss_kb"),
        "counts": counts,
        "workers": sorted(w for w in workers if w is not None),
    }


def fmt_ms(value):
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def fmt_size(value):
    if isinstance(value, int):
        return f"{value / MIB:.2f} MiB ({value:,} B)"
    return str(value)


def ratio_row(label, value, target, met, tiny):
    verdict = "n/a (tiny run)" if tiny else ("met" if met else "**not met**")
    return f"| {label} | {value} | {target} | {verdict} |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--tiny", type=int, default=0)
    args = parser.parse_args()
    tiny = bool(args.tiny)

    problems = []
    results = {name: load(args.out, name, args.items, problems) for name, _ in FUNCTIONS}
    counts = set()
    for result in results.values():
        if result:
            counts |= result["counts"]
    if len(counts) > 1:
        problems.append(f"the functions disagree on high_frequency_count: {sorted(counts)}")
    if problems or any(r is None for r in results.values()):
        for problem in problems:
            print(f"bench/report.py: {problem}", file=sys.stderr)
        return 1

    machine = json.loads((args.out / "machine.json").read_text())
    sizes = json.loads((args.out / "sizes.json").read_text())
    event_bytes = (args.out / f"event-{args.items}.json").stat().st_size
    n = len(results["ours"]["latencies"])
    spawns = len(results["ours"]["init"])

    print(f"## Whole process: {args.items:,}-item event ({event_bytes / 1e6:.2f} MB), "
          f"{n} invocations per function")
    print()
    if tiny:
        print("Tiny run (`--tiny`): it checks that every part builds and runs; "
              "its figures measure nothing.")
        print()
    print(f"Machine: {machine['nproc']} cores, {machine['cpu']}, Linux {machine['kernel']}; "
          f"load average before the run {', '.join(f'{l:.2f}' for l in machine['load_before'])}.")
    print()
    print("| function | median ms | min ms | max ms | first ms | init ms "
          f"(median of {spawns} spawns) | peak RSS (VmHWM) | threads for the items |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label in FUNCTIONS:
        r = results[name]
        lat = r["latencies"]
        if name == "ours":
            workers = f"pool of {', '.join(map(str, r['workers']))}"
        elif name == "obvious":
            workers = f"rayon global pool ({machine['nproc']})"
        else:
            workers = "ThreadPoolExecutor (4)"
        print(f"| {label} | {fmt_ms(statistics.median(lat))} | {fmt_ms(min(lat))} | "
              f"{fmt_ms(max(lat))} | {fmt_ms(lat[0])} | {statistics.median(r['init']):.2f} | "
              f"{r['peak_rss_kb'] / 1024:.1f} MiB | {workers} |")
    print()
    print("| release binary | x86_64 (this machine) | aarch64 (`cargo lambda build --release --arm64`) |")
    print("| --- | ---: | ---: |")
    print(f"| frequency-fanout `bootstrap` | {fmt_size(sizes['ours_x86_64'])} | "
          f"{fmt_size(sizes['ours_aarch64'])} |")
    print(f"| obvious Rust | {fmt_size(sizes['obvious_x86_64'])} | "
          f"{fmt_size(sizes['obvious_aarch64'])} |")
    print()

    ours, obvious, python = (results[k] for k in ("ours", "obvious", "python"))
    med = {k: statistics.median(results[k]["latencies"]) for k in results}
    init = {k: statistics.median(results[k]["init"]) for k in results}
    latency_ratio = med["ours"] / med["obvious"]
    python_ratio = med["python"] / med["ours"]
    init_ratio = init["ours"] / init["obvious"]
    memory_ratio = ours["peak_rss_kb"] / obvious["peak_rss_kb"]
    print("| ratio | value | target | |")
    print("| --- | ---: | --- | --- |")
    print(ratio_row("median latency, ours / obvious", f"{latency_ratio:.2f}×", "≤ 0.5×",
                    latency_ratio <= 0.5, tiny))
    print(ratio_row("median latency, Python / ours (times faster)", f"{python_ratio:,.0f}×",
                    "≥ 150×", python_ratio >= 150, tiny))
    print(ratio_row("init, ours / obvious", f"{init_ratio:.2f}×", "≤ 1.2×",
                    init_ratio <= 1.2, tiny))
    print(ratio_row("peak memory, ours / obvious", f"{memory_ratio:.2f}×", "≤ 1.0×",
                    memory_ratio <= 1.0, tiny))
    arm64 = sizes["ours_aarch64"]
    if isinstance(arm64, int):
        print(ratio_row("aarch64 `bootstrap` size", f"{arm64 / MIB:.2f} MiB", "≤ 2 MiB",
                        arm64 <= ARM64_LIMIT, tiny))
    else:
        print(f"| aarch64 `bootstrap` size | {arm64} | ≤ 2 MiB | unavailable |")
    print()
    print(f"Also: Python / obvious {med['python'] / med['obvious']:,.0f}×; "
          f"init Python / ours {init['python'] / init['ours']:.1f}×; "
          f"peak memory Python / ours {python['peak_rss_kb'] / ours['peak_rss_kb']:.1f}×.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
