"""Benchmark: the contamination check (bonito_hub.overlap) on a million passages, against the
obvious implementation in the same run.

It writes its own corpus: `--passages` passages of 120 to 200 words drawn from a 50,000-word
vocabulary with Zipf-like frequencies (so most corpus words are also words of the target, as in
real text), as Parquet, and a 500-row target (a passage of 150 words and a question of 15), of
which the corpus holds 25 passages inside its documents. Then:

  python sets       every 13-gram of every corpus passage as a tuple of words in a Python set
                    lookup against the target's: what a script written for the job does; run on
                    the first `--baseline` passages only, and given per million passages
  NgramIndex.scan   the same passages through bonito-hub's index (hashed n-grams, numpy)
  bonito check-overlap   the command on the whole corpus: reading the Parquet file, the scan,
                    the report (wall time of the process, and the scan's own seconds)

    python benchmarks/overlap.py                      # 1,000,000 passages
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 13


def zipf_words(rng: random.Random, vocab: list[str], weights: list[float], k: int) -> str:
    return " ".join(rng.choices(vocab, cum_weights=weights, k=k))


def write_inputs(root: Path, passages: int, seed: int = 0) -> tuple[Path, Path]:
    import itertools

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(50_000)]
    weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    target = [{"passage": zipf_words(rng, vocab, weights, 150) + ".", "question": zipf_words(rng, vocab, weights, 15)
               + "?", "answer": "yes", "choices": ["yes", "no"]} for _ in range(500)]
    (root / "target.jsonl").write_text("".join(json.dumps(r) + "\n" for r in target))
    writer, batch = None, []
    seeded = {i * (passages // 25): target[i * 20]["passage"] for i in range(25)}
    for i in range(passages):
        text = zipf_words(rng, vocab, weights, rng.randint(120, 200)) + "."
        if i in seeded:
            text = "From the archive: " + seeded[i] + " " + text
        batch.append({"id": f"p{i}", "text": text})
        if len(batch) == 50_000 or i == passages - 1:
            table = pa.Table.from_pylist(batch)
            writer = writer or pq.ParquetWriter(root / "corpus.parquet", table.schema)
            writer.write_table(table)
            batch = []
    writer.close()
    return root / "corpus.parquet", root / "target.jsonl"


def python_sets(texts: list[str], rows: list[dict]) -> int:
    word = re.compile(r"\w+")
    grams = set()
    for row in rows:
        for part in (row["passage"], row["question"]):
            w = word.findall(part.lower())
            grams.update(tuple(w[i:i + N]) for i in range(len(w) - N + 1))
    found = 0
    for text in texts:
        w = word.findall(text.lower())
        found += any(tuple(w[i:i + N]) in grams for i in range(len(w) - N + 1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=20_000, help="passages the Python-set baseline runs on")
    args = parser.parse_args()

    import pyarrow.parquet as pq

    from bonito_hub.overlap import NgramIndex

    with tempfile.TemporaryDirectory(prefix="bonito-overlap-bench-") as tmp:
        t = time.perf_counter()
        corpus, target = write_inputs(Path(tmp), args.passages)
        print(f"wrote {args.passages:,} passages and a 500-row target in {time.perf_counter() - t:.0f} s "
              f"({corpus.stat().st_size / 2**20:.0f} MiB of Parquet)")
        rows = [json.loads(line) for line in target.read_text().splitlines()]
        sample = pq.read_table(corpus, columns=["text"]).slice(0, args.baseline)["text"].to_pylist()

        t = time.perf_counter()
        found_sets = python_sets(sample, rows)
        sets_s = time.perf_counter() - t
        t = time.perf_counter()
        index = NgramIndex.from_rows(rows)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        scan = index.scan(sample)
        index_s = time.perf_counter() - t
        assert sum(scan.overlapping) == found_sets, (sum(scan.overlapping), found_sets)
        per_million = 1_000_000 / len(sample)
        print(f"\non the first {len(sample):,} passages ({found_sets} overlapping, both methods agree; the "
              f"index of the target took {build_s:.2f} s to build, once):")
        print(f"  {'method':<22}{'seconds':>9}{'s per 1M passages':>20}{'speed-up':>10}")
        print(f"  {'python sets':<22}{sets_s:>9.2f}{sets_s * per_million:>20.0f}{1:>10.1f}")
        print(f"  {'NgramIndex.scan':<22}{index_s:>9.2f}{index_s * per_million:>20.0f}{sets_s / index_s:>10.1f}")

        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "check-overlap", "--corpus", str(corpus),
                               "--target", str(target), "--output", str(Path(tmp) / "report.json"),
                               "--no-progress"], capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        report = json.loads((Path(tmp) / "report.json").read_text())
        print(f"\nbonito check-overlap on all {report['corpus_texts']:,} passages: {wall:.0f} s wall (the process, "
              f"reading the Parquet file included), {report['seconds']:.0f} s scanning; "
              f"{report['overlapping_rows']} of {report['evaluation_rows']} target rows overlap "
              f"({100 * report['share']:.1f}%), in {report['overlapping_texts']} passages")
        print(f"  scanning: {report['seconds'] / report['corpus_texts'] * 1e6:.0f} s per 1M passages, "
              f"{sets_s * per_million / report['seconds'] * report['corpus_texts'] / 1e6:.1f}x the python sets "
              "baseline's rate above")


if __name__ == "__main__":
    main()
