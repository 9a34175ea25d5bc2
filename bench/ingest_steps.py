"""Before/after figures for bench/ingest.py on a noisy machine: interleaved runs, medians.

Runs bench/ingest.py (this checkout's copy) against each named checkout in turn, round after
round (A B C A B C ...), so a slow minute on the machine lands on every variant alike, and
prints the median of each figure per variant. Each run's JSON is kept beside the table.

    git worktree add /tmp/step0 <commit>; ln -s "$PWD/.venv" /tmp/step0/.venv
    .venv/bin/python bench/ingest_steps.py --rounds 3 before=/tmp/step0 after=. -- -n 10000

Everything after ``--`` goes to bench/ingest.py unchanged. Not a test: it reports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (label, how to read it from a run's JSON, format)
FIGURES = [
    ("batch accepted/s", lambda r: r["batch"]["rows"] / r["batch"]["accept_s"], "{:,.0f}"),
    (
        "batch routed/s",
        lambda r: r["batch"]["rows"] / r["batch"]["routed_s"] if r["batch"]["routed_s"] else 0,
        "{:,.0f}",
    ),
    ("raw COPY rows/s", lambda r: r["copy"]["rows"] / r["copy"]["seconds"], "{:,.0f}"),
    ("batch routed / COPY", lambda r: r["batch_routed_per_copy"], "{:.1%}"),
    ("closed: accepted/s", lambda r: r["singles"]["rows"] / r["singles"]["accept_s"], "{:,.0f}"),
    (
        "closed: routed/s",
        lambda r: (
            r["singles"]["rows"] / r["singles"]["routed_s"] if r["singles"]["routed_s"] else 0
        ),
        "{:,.0f}",
    ),
    ("closed: p50 ms", lambda r: r["singles"]["p50_ms"], "{:.1f}"),
    ("closed: p95 ms", lambda r: r["singles"]["p95_ms"], "{:.1f}"),
    ("closed: p99 ms", lambda r: r["singles"]["p99_ms"], "{:.1f}"),
    (
        "closed: received->routed p50 ms",
        lambda r: r["singles"]["routed_latency_ms"]["p50"],
        "{:.0f}",
    ),
    (
        "closed: received->routed p99 ms",
        lambda r: r["singles"]["routed_latency_ms"]["p99"],
        "{:.0f}",
    ),
    (
        "closed: CPU ms/request",
        lambda r: sum(r["singles"]["cpu_ms_per_request"].values()),
        "{:.1f}",
    ),
    ("closed: web CPU ms", lambda r: r["singles"]["cpu_ms_per_request"]["web"], "{:.1f}"),
    ("closed: worker CPU ms", lambda r: r["singles"]["cpu_ms_per_request"]["worker"], "{:.1f}"),
    ("closed: postgres CPU ms", lambda r: r["singles"]["cpu_ms_per_request"]["postgres"], "{:.1f}"),
    ("closed: WAL syncs/request", lambda r: r["singles"]["wal"]["syncs_per_request"], "{:.2f}"),
    ("closed: mean WAL sync ms", lambda r: r["singles"]["wal"]["mean_sync_ms"], "{:.2f}"),
    ("open: sent/s", lambda r: r["open"]["achieved_per_s"], "{:,.0f}"),
    ("open: p50 ms", lambda r: r["open"]["p50_ms"], "{:.1f}"),
    ("open: p95 ms", lambda r: r["open"]["p95_ms"], "{:.1f}"),
    ("open: p99 ms", lambda r: r["open"]["p99_ms"], "{:.1f}"),
    ("open: received->routed p50 ms", lambda r: r["open"]["routed_latency_ms"]["p50"], "{:.0f}"),
    ("open: received->routed p99 ms", lambda r: r["open"]["routed_latency_ms"]["p99"], "{:.0f}"),
    ("open: CPU ms/request", lambda r: sum(r["open"]["cpu_ms_per_request"].values()), "{:.1f}"),
    ("open: WAL syncs/request", lambda r: r["open"]["wal"]["syncs_per_request"], "{:.2f}"),
    ("open: disk syncing share", lambda r: r["open"]["wal"]["sync_busy_share"], "{:.0%}"),
]


def main() -> None:
    argv = sys.argv[1:]
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, help="directory for each run's JSON (default: a temp dir)")
    p.add_argument("variants", nargs="+", help="label=checkout directory")
    args = p.parse_args(argv)
    variants = [v.split("=", 1) for v in args.variants]
    out = args.out or Path(tempfile.mkdtemp(prefix="ingest-steps-"))
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {label: [] for label, _ in variants}
    for round_ in range(1, args.rounds + 1):
        for label, checkout in variants:
            target = out / f"{label}-{round_}.json"
            print(f"round {round_}: {label} ({checkout})", flush=True)
            subprocess.run(  # noqa: S603 - fixed argv
                [
                    sys.executable,
                    str(HERE / "ingest.py"),
                    "--app-dir",
                    str(Path(checkout).resolve()),
                    "--json",
                    str(target),
                    *passthrough,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            runs[label].append(json.loads(target.read_text()))
    print(f"\nMedians of {args.rounds} interleaved runs (JSON per run in {out})\n")
    labels = [label for label, _ in variants]
    print("| figure | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name, read, fmt in FIGURES:
        cells = []
        for label in labels:
            try:
                cells.append(fmt.format(statistics.median(read(r) for r in runs[label])))
            except (KeyError, TypeError):
                cells.append("–")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
