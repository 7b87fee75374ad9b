"""Benchmark: `bonito generate --dry-run` on a 10,000-document corpus, as a user runs it (a
process of its own, the defaults), against the baseline of the same run made for real with one
new token a generation (the cheapest real run that writes the funnel the dry run predicts),
both on the benchmarks' 11M-parameter Llama with its 8,000-token BPE tokenizer
(benchmarks/generate.py). The dry run's counts are compared with the real run's funnel.

    python benchmarks/estimate.py [--documents 10000] [--skip-real]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from generate import build_model
    from language import documents

    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--skip-real", action="store_true", help="the dry run only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    model = work / "model"
    build_model(model, "small", 1)
    corpus = work / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in documents(args.documents)))
    common = [sys.executable, "-m", "bonito_hub.cli", "generate", "--model", str(model), "--input", str(corpus),
              "--task-type", "exqa", "--no-progress", "-q"]
    started = time.perf_counter()
    dry = subprocess.run([*common, "--output", str(work / "dry"), "--dry-run"], capture_output=True, text=True,
                         check=True)
    dry_seconds = time.perf_counter() - started
    print(dry.stdout.strip())
    print(f"dry run: {dry_seconds:.1f} s for {args.documents:,} documents, no weights loaded")
    if args.skip_real:
        return
    started = time.perf_counter()
    subprocess.run([*common, "--output", str(work / "real"), "--max-tokens", "1"], capture_output=True, check=True)
    real_seconds = time.perf_counter() - started
    funnel = json.loads((work / "real" / "funnel.json").read_text())
    stages = json.loads((work / "real" / "run.json").read_text()).get("stages", {})
    print(f"real run, 1 new token a generation: {real_seconds:.1f} s (stages: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) + ")")
    print(f"real funnel: documents {funnel['documents']}, passages {funnel['passages']}, generations "
          f"{funnel['generations']}")
    same = f"passages {funnel['passages']}" in dry.stdout and f"generations {funnel['generations']:,}" in dry.stdout
    print(f"the dry run's counts are the real run's: {same}; dry run / real run: {dry_seconds / real_seconds:.2f}x")


if __name__ == "__main__":
    main()
