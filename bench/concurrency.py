"""Reads the concurrency runs bench/run --concurrency left in bench/out/ and prints them in
Markdown: under the open arrival schedule, the wait of small events (arrival to answer, 50th and
90th percentile) against a large event's median wait, sequential against concurrent; all at
once, the throughput and CPU per invocation; the peak memory with 1, 8 and 16 invocations of the
largest event in flight, for sizing MemorySize. Exits 1 when an invocation was not answered or
answered wrongly.

    python3 bench/concurrency.py --out bench/out --tiny 0
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

SETTINGS = [
    ("sequential", "`AWS_LAMBDA_MAX_CONCURRENCY` unset"),
    ("concurrent", "`AWS_LAMBDA_MAX_CONCURRENCY=8`"),
]
# The concurrencies at which the peak memory of the largest events in flight is taken.
MEMORY_SETTINGS = [1, 8, 16]
# The wait of small events must stay within this share of a large event's median.
SMALL_WAIT_TARGET = 0.25


def read(path, problems):
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    invocations = [l for l in lines if l.get("type") == "invocation"]
    summary = next((l for l in lines if l.get("type") == "summary"), None)
    if summary is None:
        problems.append(f"{path.name}: no summary")
        return [], {}
    for key in ("problems", "init_errors"):
        if summary.get(key):
            problems.append(f"{path.name}: {key}: {summary[key]}")
    if summary.get("errors"):
        problems.append(f"{path.name}: {summary['errors']} invocations failed")
    return invocations, summary


def percentile(values, p):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", type=int, default=0)
    args = parser.parse_args()
    tiny = bool(args.tiny)
    problems = []
    machine = json.loads((args.out / "concurrency-machine.json").read_text())

    print("## Many invocations at once (Lambda Managed Instances)")
    print()
    if tiny:
        print("Tiny run (`--tiny`): it checks that every part builds and runs; "
              "its figures measure nothing.")
        print()
    print(f"Machine: {machine['nproc']} cores, {machine['cpu']}; load average before the run "
          f"{', '.join(f'{l:.2f}' for l in machine['load_before'])}.")
    print()
    print("### Open arrival schedule: a large event every 15 ms, four small events between them")
    print()
    print("| setting | invocations | most in flight | large: median wait ms | small: p50 wait ms "
          "| small: p90 wait ms | small p90 / large median | CPU ms per invocation |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {}
    for setting, label in SETTINGS:
        invocations, summary = read(args.out / f"concurrency-open-{setting}.jsonl", problems)
        # The large events are the largest of the run; the rest are the small ones.
        largest = max((l["payload_bytes"] for l in invocations), default=0)
        large = [l["round_trip_ms"] for l in invocations if l["payload_bytes"] == largest]
        small = [l["round_trip_ms"] for l in invocations if l["payload_bytes"] < largest]
        if not large or not small:
            problems.append(f"{setting}: no large or no small events were answered")
            continue
        large_median = statistics.median(large)
        ratio = percentile(small, 90) / large_median
        ratios[setting] = ratio
        print(f"| {label} | {len(invocations)} | {summary.get('max_in_flight')} | "
              f"{large_median:.2f} | {percentile(small, 50):.2f} | {percentile(small, 90):.2f} | "
              f"{ratio:.2f}× | {summary.get('cpu_ms_per_invocation')} |")
    print()
    print("### Throughput: mixed invocations (one large, four small) all queued at once")
    print()
    print("| setting | invocations | most in flight | seconds | invocations per second "
          "| CPU ms per invocation |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    throughput = {}
    for setting, label in SETTINGS:
        invocations, summary = read(args.out / f"concurrency-burst-{setting}.jsonl", problems)
        if not summary:
            continue
        throughput[setting] = summary["throughput_per_s"]
        print(f"| {label} | {summary['invocations']} | {summary.get('max_in_flight')} | "
              f"{summary['elapsed_ms'] / 1e3:.2f} | {summary['throughput_per_s']:.1f} | "
              f"{summary.get('cpu_ms_per_invocation')} |")
    print()
    print("### Memory: the largest event Lambda accepts (just under 6 MB), all in flight at once")
    print()
    print("| `AWS_LAMBDA_MAX_CONCURRENCY` | invocations | most in flight | idle RSS | "
          "peak RSS (VmHWM) | more than one in flight, per extra invocation |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    peaks = {}
    for setting in MEMORY_SETTINGS:
        invocations, summary = read(args.out / f"concurrency-memory-{setting}.jsonl", problems)
        if not summary:
            continue
        peak = summary["peak_rss_kb"] / 1024
        peaks[setting] = (summary.get("max_in_flight"), peak)
        extra = ""
        if setting > 1 and 1 in peaks and summary.get("max_in_flight", 1) > 1:
            in_flight_one, peak_one = peaks[1]
            extra = f"{(peak - peak_one) / (summary['max_in_flight'] - in_flight_one):.1f} MiB"
        print(f"| {setting} | {summary['invocations']} | {summary.get('max_in_flight')} | "
              f"{summary['rss_before_kb'] / 1024:.1f} MiB | {peak:.1f} MiB | {extra} |")
    print()
    if problems:
        for problem in problems:
            print(f"bench/concurrency.py: {problem}", file=sys.stderr)
        return 1
    verdict = lambda met: "n/a (tiny run)" if tiny else ("met" if met else "**not met**")
    print("| target | value | |")
    print("| --- | ---: | --- |")
    concurrent = ratios.get("concurrent")
    print(f"| small events' p90 wait ≤ {SMALL_WAIT_TARGET}× a large event's median, concurrent "
          f"| {concurrent:.2f}× | {verdict(concurrent <= SMALL_WAIT_TARGET)} |")
    gain = throughput["concurrent"] / throughput["sequential"]
    print(f"| throughput at concurrency 8 ≥ at 1 | {gain:.2f}× | {verdict(gain >= 1)} |")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
