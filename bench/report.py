"""Reads what bench/run left in bench/out/ and prints the results tables and the ratios, in
Markdown. Exits 1 when a function failed an invocation, the counting functions disagree on an
answer, or the transport floor did not see the whole payload.

    python3 bench/report.py --out bench/out --items 100000 --tiny 0
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

FUNCTIONS = [
    ("ours", "frequency-fanout (this project)"),
    ("floor", "transport floor (raw payload, no parse)"),
    ("obvious", "obvious Rust (typed event, rayon par_iter)"),
    ("python", "article's Python (awslambdaric)"),
]
WRITES = [
    ("one", "head and payload in one write, TCP_NODELAY"),
    ("two", "head, then payload, in two writes, Nagle on"),
]
MIB = 1024 * 1024
ARM64_LIMIT = 2 * MIB


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_run(path, name, items, event_bytes, problems):
    lines = read_lines(path)
    invocations = [l for l in lines if l.get("type") == "invocation"]
    summaries = [l for l in lines if l.get("type") == "summary"]
    if not summaries:
        problems.append(f"{path.name}: the peer printed no summary")
        return None
    summary = summaries[-1]
    counts = set()
    for line in invocations:
        body = line.get("body")
        if line["outcome"] != "response" or not isinstance(body, dict):
            problems.append(f"{path.name}: invocation {line['round']} failed: {body}")
            continue
        if name == "floor":
            if body.get("payload_bytes") != event_bytes:
                problems.append(f"{path.name}: payload_bytes {body.get('payload_bytes')}, "
                                f"expected {event_bytes}")
            continue
        if body.get("total_items") != items:
            problems.append(f"{path.name}: total_items {body.get('total_items')}, expected {items}")
        counts.add(body.get("high_frequency_count"))
    if not invocations:
        problems.append(f"{path.name}: no invocation was answered")
    for key in ("problems", "init_errors"):
        if summary.get(key):
            problems.append(f"{path.name}: {key}: {summary[key]}")
    if summary.get("peak_rss_kb") is None:
        problems.append(f"{path.name}: no peak RSS (the process exited early: "
                        f"{summary.get('exited')})")
    workers = {l["body"].get("workers") for l in invocations if isinstance(l.get("body"), dict)}
    return {
        "latencies": [l["function_ms"] for l in invocations],
        "cpu": summary.get("cpu_ms_per_invocation"),
        "faults": summary.get("minor_faults_per_invocation"),
        "peak_rss_kb": summary.get("peak_rss_kb") or 0,
        "init": summary.get("init_ms"),
        "counts": counts,
        "workers": sorted(w for w in workers if w is not None),
    }


def load(out, name, items, event_bytes, problems):
    runs = {}
    for writes, _ in WRITES:
        path = out / f"{name}-{writes}.jsonl"
        if not path.exists():
            problems.append(f"{path.name} is missing")
            return None
        runs[writes] = load_run(path, name, items, event_bytes, problems)
        if runs[writes] is None:
            return None
    init = [run["init"] for run in runs.values()]
    init_path = out / f"{name}.init.jsonl"
    if init_path.exists():
        for extra in read_lines(init_path):
            if extra.get("invocations") != 1 or extra.get("errors"):
                problems.append(f"{name}: an init spawn did not answer its event: {extra}")
            init.append(extra.get("init_ms"))
    init = [i for i in init if i is not None]
    return {"runs": runs, "init": init}


def load_function_url(out, items, problems):
    """The runs on the event sent as a Function URL request's body, or None when absent."""
    event = out / f"function-url-{items}.json"
    if not event.exists():
        return None
    request_bytes = event.stat().st_size
    runs = {}
    for name in ("ours", "floor"):
        path = out / f"{name}-function-url.jsonl"
        if not path.exists():
            problems.append(f"{path.name} is missing")
            return None
        lines = read_lines(path)
        invocations = [l for l in lines if l.get("type") == "invocation"]
        if not invocations or lines[-1].get("type") != "summary":
            problems.append(f"{path.name}: no invocation answered, or no summary")
            return None
        for line in invocations:
            body = line.get("body")
            if name == "floor":
                good = isinstance(body, dict) and body.get("payload_bytes") == request_bytes
            else:
                # An HTTP reply: status 200, the direct invocation's answer as its body text.
                try:
                    answer = json.loads(body["body"])
                    good = body.get("statusCode") == 200 and answer.get("total_items") == items
                except (TypeError, KeyError, ValueError):
                    good = False
            if line["outcome"] != "response" or not good:
                problems.append(f"{path.name}: invocation {line['round']} answered {body}")
        runs[name] = {
            "median": statistics.median(l["function_ms"] for l in invocations),
            "cpu": lines[-1].get("cpu_ms_per_invocation"),
            "n": len(invocations),
        }
    return {"bytes": request_bytes, "runs": runs}


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


def threads(name, result, machine):
    if name == "ours":
        workers = sorted({w for run in result["runs"].values() for w in run["workers"]})
        return f"pool of {', '.join(map(str, workers))}"
    if name == "floor":
        return "none (no parse)"
    if name == "obvious":
        return f"rayon global pool ({machine['nproc']})"
    return "ThreadPoolExecutor (4)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--tiny", type=int, default=0)
    args = parser.parse_args()
    tiny = bool(args.tiny)

    event_bytes = (args.out / f"event-{args.items}.json").stat().st_size
    problems = []
    results = {name: load(args.out, name, args.items, event_bytes, problems)
               for name, _ in FUNCTIONS}
    counts = set()
    for result in results.values():
        if result:
            for run in result["runs"].values():
                counts |= run["counts"]
    if len(counts) > 1:
        problems.append(f"the functions disagree on high_frequency_count: {sorted(counts)}")
    function_url = load_function_url(args.out, args.items, problems)
    if problems or any(r is None for r in results.values()):
        for problem in problems:
            print(f"bench/report.py: {problem}", file=sys.stderr)
        return 1

    machine = json.loads((args.out / "machine.json").read_text())
    sizes = json.loads((args.out / "sizes.json").read_text())
    n = {name: len(results[name]["runs"]["one"]["latencies"]) for name, _ in FUNCTIONS}
    spawns = len(results["ours"]["init"])

    print(f"## Whole process: {args.items:,}-item event ({event_bytes / 1e6:.2f} MB), "
          f"{n['ours']} invocations per Rust function and {n['python']} for Python, "
          f"for each way of writing")
    print()
    if tiny:
        print("Tiny run (`--tiny`): it checks that every part builds and runs; "
              "its figures measure nothing.")
        print()
    print(f"Machine: {machine['nproc']} cores, {machine['cpu']}, Linux {machine['kernel']}; "
          f"load average before the run {', '.join(f'{l:.2f}' for l in machine['load_before'])}.")
    print()
    med = {}
    for writes, writes_label in WRITES:
        print(f"### Runtime API writes {writes_label}")
        print()
        print("| function | median ms | min ms | max ms | CPU ms per invocation | minor faults "
              "per invocation | peak RSS (VmHWM) | threads for the items |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, label in FUNCTIONS:
            run = results[name]["runs"][writes]
            lat = run["latencies"]
            med[(name, writes)] = statistics.median(lat)
            print(f"| {label} | {fmt_ms(statistics.median(lat))} | {fmt_ms(min(lat))} | "
                  f"{fmt_ms(max(lat))} | {fmt_ms(run['cpu'])} | "
                  f"{run['faults'] if run['faults'] is not None else '–'} | "
                  f"{run['peak_rss_kb'] / 1024:.1f} MiB | {threads(name, results[name], machine)} |")
        print()
    print(f"Init (spawn to the first `/next`), median of {spawns} spawns: "
          + "; ".join(f"{label.split(' (')[0]} {statistics.median(results[name]['init']):.2f} ms"
                      for name, label in FUNCTIONS) + ".")
    print()
    print("| release binary | x86_64 (this machine) | aarch64 (`cargo lambda build --release --arm64`) |")
    print("| --- | ---: | ---: |")
    print(f"| frequency-fanout `bootstrap` | {fmt_size(sizes['ours_x86_64'])} | "
          f"{fmt_size(sizes['ours_aarch64'])} |")
    print(f"| obvious Rust | {fmt_size(sizes['obvious_x86_64'])} | "
          f"{fmt_size(sizes['obvious_aarch64'])} |")
    print()

    init = {name: statistics.median(results[name]["init"]) for name, _ in FUNCTIONS}
    peak = {name: max(run["peak_rss_kb"] for run in results[name]["runs"].values())
            for name, _ in FUNCTIONS}
    print("| ratio | value | target | |")
    print("| --- | ---: | --- | --- |")
    for writes, _ in WRITES:
        ours, floor, obvious, python = (results[k]["runs"][writes] for k in
                                        ("ours", "floor", "obvious", "python"))
        floor_ratio = med[("ours", writes)] / med[("floor", writes)]
        print(ratio_row(f"median latency, ours / transport floor ({writes} write"
                        f"{'s' if writes == 'two' else ''})", f"{floor_ratio:.2f}×", "≤ 1.5×",
                        floor_ratio <= 1.5, tiny))
        if ours["cpu"] and obvious["cpu"]:
            cpu_ratio = ours["cpu"] / obvious["cpu"]
            print(ratio_row(f"CPU per invocation, ours / obvious ({writes})",
                            f"{cpu_ratio:.2f}×", "≤ 0.25×", cpu_ratio <= 0.25, tiny))
        latency_ratio = med[("ours", writes)] / med[("obvious", writes)]
        print(ratio_row(f"median latency, ours / obvious ({writes})", f"{latency_ratio:.2f}×",
                        "≤ 0.5×", latency_ratio <= 0.5, tiny))
        python_ratio = med[("python", writes)] / med[("ours", writes)]
        print(ratio_row(f"median latency, Python / ours, times faster ({writes})",
                        f"{python_ratio:,.0f}×", "≥ 150×", python_ratio >= 150, tiny))
    memory_ratio = peak["ours"] / peak["obvious"]
    print(ratio_row("peak RSS, ours / obvious (the higher of the two runs each)",
                    f"{memory_ratio:.2f}×", "≤ 1.5×", memory_ratio <= 1.5, tiny))
    init_ratio = init["ours"] / init["obvious"]
    print(ratio_row("init, ours / obvious", f"{init_ratio:.2f}×", "≤ 1.2×",
                    init_ratio <= 1.2, tiny))
    arm64 = sizes["ours_aarch64"]
    if isinstance(arm64, int):
        print(ratio_row("aarch64 `bootstrap` size", f"{arm64 / MIB:.2f} MiB", "≤ 2 MiB",
                        arm64 <= ARM64_LIMIT, tiny))
    else:
        print(f"| aarch64 `bootstrap` size | {arm64} | ≤ 2 MiB | unavailable |")
    print()
    if function_url:
        ours, floor = function_url["runs"]["ours"], function_url["runs"]["floor"]
        print(f"### The same event as the body of a Function URL request "
              f"({function_url['bytes'] / 1e6:.2f} MB), {ours['n']} invocations, one write")
        print()
        print("| function | median ms | CPU ms per invocation |")
        print("| --- | ---: | ---: |")
        print(f"| frequency-fanout (this project) | {fmt_ms(ours['median'])} | "
              f"{fmt_ms(ours['cpu'])} |")
        print(f"| transport floor (raw payload, no parse) | {fmt_ms(floor['median'])} | "
              f"{fmt_ms(floor['cpu'])} |")
        print()
        print(f"Ours on the request / ours on the direct event (one write): "
              f"{ours['median'] / med[('ours', 'one')]:.2f}×; "
              f"ours / the floor on the request: {ours['median'] / floor['median']:.2f}×.")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
