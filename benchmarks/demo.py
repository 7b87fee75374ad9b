"""Benchmark: `bonito demo` as a user runs it, against its two-minute budget.

Runs `bonito demo` in a fresh process (imports, tiny models, generator training, generation,
two evaluations on lm-eval, student training, the dry-run cards) three times and prints the wall
time of each, the demo's own per-step seconds, and, as the baseline, a bare `bonito --version`
(the cost of starting the command at all).

    python benchmarks/demo.py [--runs 3] [--work /tmp/demo-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_SECONDS = 120


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", default="/tmp/demo-bench")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bonito = [sys.executable, "-m", "bonito_hub.cli"]
    baseline = timed(bonito + ["--version"], work)
    walls = []
    for i in range(args.runs):
        walls.append(timed(bonito + ["demo", "--output", f"demo-{i}", "--no-progress"], work))
        record = json.loads((work / f"demo-{i}" / "demo.json").read_text())
        adapt = json.loads((work / f"demo-{i}" / "adapt" / "adapt.json").read_text())
        steps = {**record["steps"], **{k: v["seconds"] for k, v in adapt["steps"].items()}}
        print(f"run {i}: {walls[-1]:.1f} s wall; " + ", ".join(f"{k} {v} s" for k, v in steps.items()))
    median = statistics.median(walls)
    print(f"baseline `bonito --version`: {baseline:.1f} s")
    print(f"bonito demo: median {median:.1f} s wall over {args.runs} runs (budget {BUDGET_SECONDS} s: "
          f"{'within' if median < BUDGET_SECONDS else 'OVER'})")


if __name__ == "__main__":
    main()
