"""Benchmark: CTGA build throughput and peak memory on synthetic source rows.

Writes ROWS synthetic rows (in each source's real schema) spread
over the 38 sources as Parquet (bonito_hub.testing.sources), then runs `bonito ctga build` on them with --num-proc 1 and 2 in
the same run, and, as the baseline, the bare meta-template renderer on the same rows in one
process (no datasets, no files: the ceiling for rendering alone). Prints rows/s, the
extrapolation to CTGA-v1's 1.65M rows, and the peak RSS of the whole process tree.

    python benchmarks/ctga_build.py [--rows 300000] [--work /tmp/ctga-bench]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path


CTGA_V1_ROWS = 1_650_000
TARGET_SECONDS = 300
TARGET_RSS_GB = 2.0


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_measured(cmd: list[str]) -> tuple[float, float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.1)
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{out}")
    return time.perf_counter() - start, peak / 1024 / 1024, out


def write_sources(root: Path, rows: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.ctga.sources import load_registry
    from bonito_hub.testing.sources import make_row

    registry = load_registry()
    per_source = rows // len(registry)
    for name, source in registry.items():
        path = root / name / f"{source.split}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([make_row(name, i) for i in range(per_source)])
        pq.write_table(table, path)
    return per_source * len(registry)


def render_only(src: Path, limit: int) -> float:
    """Baseline: the renderer alone over the same rows, one process, rows already in memory."""
    import pyarrow.parquet as pq

    from bonito_hub.ctga.builder import CtgaConfig
    from bonito_hub.ctga.meta_template import Renderer, RenderSkip
    from bonito_hub.ctga.plan import meta_templates
    from bonito_hub.ctga.sources import load_registry

    registry = load_registry()
    catalog = meta_templates(CtgaConfig())
    renderer = Renderer()
    work = []
    for name, source in registry.items():
        rows = pq.read_table(src / name / f"{source.split}.parquet").to_pylist()[:limit]
        work.append((name, source, rows))
    start, n = time.perf_counter(), 0
    for name, source, rows in work:
        for i, row in enumerate(rows):
            rng = random.Random(f"42/{name}/{i}")
            chosen = catalog[name][rng.randrange(len(catalog[name]))]
            try:
                renderer.render(chosen.template, source.passage, row, rng)
            except RenderSkip:
                pass
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--work", default="/tmp/ctga-bench")
    parser.add_argument("--num-procs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    src = work / "sources"
    t0 = time.perf_counter()
    total = write_sources(src, args.rows)
    print(f"synthetic sources: {total} rows over 38 sources, written in {time.perf_counter() - t0:.1f} s")
    env_cache = work / "hf-cache"
    os.environ["HF_DATASETS_CACHE"] = str(env_cache)

    baseline = render_only(src, limit=2000)
    print(f"baseline, renderer alone (1 process, rows in memory): {baseline:,.0f} rows/s")

    # Warm the source cache once so every timed build reads the same memory-mapped Arrow.
    bonito = [sys.executable, "-m", "bonito_hub.cli"]
    for num_proc in args.num_procs:
        out = work / f"ctga-np{num_proc}"
        cmd = bonito + ["ctga", "build", "--output", str(out), "--sources-dir", str(src),
                        "--num-proc", str(num_proc), "--max-per-source", str(args.rows)]
        seconds, peak_gb, _ = run_measured(cmd)
        import datasets

        rows = datasets.load_dataset(str(out), split="train").num_rows + datasets.load_dataset(str(out), split="validation").num_rows
        rate = total / seconds
        full = CTGA_V1_ROWS / rate
        verdict = "meets" if full <= TARGET_SECONDS and peak_gb < TARGET_RSS_GB else "misses"
        print(f"bonito ctga build --num-proc {num_proc}: {total} source rows -> {rows} CTGA rows in {seconds:.1f} s "
              f"= {rate:,.0f} rows/s; 1.65M rows extrapolate to {full / 60:.1f} min; peak RSS (process tree) "
              f"{peak_gb:.2f} GB; {verdict} the target (<= {TARGET_SECONDS // 60} min, < {TARGET_RSS_GB:.0f} GB)")


if __name__ == "__main__":
    main()
