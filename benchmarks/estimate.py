"""Benchmark: `bonito generate --dry-run` as a user runs it (a process of its own, the defaults)
on the benchmarks' 11M-parameter Llama with its 8,000-token BPE tokenizer (benchmarks/generate.py).

1. The dry run on --documents documents (10,000) of --min-words to --max-words made-up words.
2. On the first --real-documents of them (500): the dry run, and the baseline, the same run made
   for real with one new token a generation (the cheapest real run that writes the funnel the dry
   run predicts); the counts compared, and the two times.

    python benchmarks/estimate.py [--documents 10000] [--min-words 20] [--max-words 600] [--real-documents 500]
"""

from __future__ import annotations

import argparse
import json
import random
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
    parser.add_argument("--min-words", type=int, default=20)
    parser.add_argument("--max-words", type=int, default=600)
    parser.add_argument("--real-documents", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    model = work / "model"
    build_model(model, "small", 1)
    texts = [" ".join(t.split()[:random.Random(i).randint(args.min_words, args.max_words)])
             for i, t in enumerate(documents(args.documents))]
    for name, rows in (("docs", texts), ("small", texts[:args.real_documents])):
        (work / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    words = sum(len(t.split()) for t in texts)

    def command(corpus: str, output: str, *extra: str) -> float:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "generate", "--model", str(model), "--input",
                               str(work / f"{corpus}.jsonl"), "--task-type", "exqa", "--no-progress", "-q",
                               "--output", str(work / output), *extra], capture_output=True, text=True, check=True)
        command.out = done.stdout
        return time.perf_counter() - started

    dry_seconds = command("docs", "dry", "--dry-run")
    print(command.out.strip())
    print(f"dry run: {dry_seconds:.1f} s for {args.documents:,} documents ({words:,} words), no weights loaded")
    dry_small = command("small", "dry-small", "--dry-run")
    dry = command.out
    real_seconds = command("small", "real", "--max-tokens", "1")
    funnel = json.loads((work / "real" / "funnel.json").read_text())
    stages = json.loads((work / "real" / "run.json").read_text()).get("stages", {})
    print(f"real run, 1 new token a generation: {real_seconds:.1f} s (stages: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) + ")")
    print(f"real funnel: documents {funnel['documents']}, passages {funnel['passages']}, generations "
          f"{funnel['generations']}")
    same = f"passages {funnel['passages']}" in dry and f"generations {funnel['generations']:,}" in dry
    print(f"on {args.real_documents} documents: the dry run's counts are the real run's: {same}; dry run "
          f"{dry_small:.1f} s, real run {real_seconds:.1f} s ({real_seconds / dry_small:.1f}x the dry run)")


if __name__ == "__main__":
    main()
