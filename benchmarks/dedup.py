"""Benchmark: the near_duplicate filter (bonito_hub.generate.dedup) on 1,000,000 tasks, against a
plain Python MinHash + LSH of the same design in the same run.

250,000 passages of 60 words and 1,000,000 questions of 8-14 words, both drawn from 20,000 made-up
words; a tenth of the tasks repeat an earlier task's passage with its question lightly reworded
(a word added or dropped), the way a generator asks near-identical questions of repeated
boilerplate. The baseline is the loop anyone would write without numpy: Python's hash of each
3-word shingle, NUM_PERM universal hashes of it in Python integers, the minimum of each, bands
in dicts, and the same checks; it runs on the first --baseline-rows tasks (its time grows with
the rows as ours does), and the two must find the same duplicates there.

    python benchmarks/dedup.py [--rows 1000000] [--baseline-rows 50000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def tasks(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from generate import made_up_words

    rng = random.Random(seed)
    vocab = made_up_words()
    distinct = [" ".join(rng.choices(vocab, k=60)) for _ in range(max(1, n // 4))]
    passages, questions = [], []
    for i in range(n):
        if i > 10 and rng.random() < 0.1:  # a near-duplicate of an earlier task
            j = rng.randrange(i)
            words = questions[j].split()
            words = words + [rng.choice(vocab)] if rng.random() < 0.5 else words[:-1]
            passages.append(passages[j])
            questions.append(" ".join(words))
        else:
            passages.append(rng.choice(distinct))
            questions.append(" ".join(rng.choices(vocab, k=rng.randint(8, 14))) + "?")
    return passages, questions


def plain_python(passages: list[str], questions: list[str], threshold: float) -> list[int | None]:
    """The same design in plain Python (see the module's docstring)."""
    from bonito_hub.generate.dedup import BANDS, NUM_PERM, SHINGLE
    from bonito_hub.overlap import _normal

    rng = random.Random(1)
    coefficients = [(rng.randrange(1, 2**61) | 1, rng.randrange(2**61)) for _ in range(NUM_PERM)]
    mask, prime = 2**64 - 1, 2**61 - 1
    cache: dict[str, tuple] = {}

    def signature(text: str) -> tuple:
        if text not in cache:
            words = _normal(text).split()
            n = min(SHINGLE, len(words)) or 1
            shingles = {hash(" ".join(words[i:i + n])) & mask for i in range(max(1, len(words) - n + 1))}
            cache[text] = tuple(min(((a * s + b) % prime) for s in shingles) for a, b in coefficients)
        return cache[text]

    rows = NUM_PERM // BANDS
    buckets: list[dict] = [{} for _ in range(BANDS)]
    words = [frozenset(_normal(q).split()) for q in questions]
    found: list[int | None] = []
    for i, passage in enumerate(passages):
        sig = signature(passage)
        keys = [sig[b * rows:(b + 1) * rows] for b in range(BANDS)]
        candidates = sorted({j for b in range(BANDS) for j in buckets[b].get(keys[b], ())})
        duplicate = None
        for j in candidates:
            other = signature(passages[j])
            same = passages[j] == passage or sum(x == y for x, y in zip(sig, other)) / NUM_PERM >= threshold
            union = words[i] | words[j]
            if same and (len(words[i] & words[j]) / len(union) if union else 1.0) >= threshold:
                duplicate = j
                break
        found.append(duplicate)
        if duplicate is None:
            for b in range(BANDS):
                buckets[b].setdefault(keys[b], []).append(i)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    args = parser.parse_args()
    from bonito_hub.generate.dedup import DEFAULT_THRESHOLD, near_duplicates

    start = time.perf_counter()
    passages, questions = tasks(args.rows)
    made = time.perf_counter() - start
    print(f"{args.rows:,} tasks over {len(set(passages)):,} distinct passages, made in {made:.1f} s; "
          f"threshold {DEFAULT_THRESHOLD}")
    start = time.perf_counter()
    found = near_duplicates(passages, questions)
    ours = time.perf_counter() - start
    dropped = sum(f is not None for f in found)
    print(f"bonito-hub (numpy MinHash + LSH): {ours:.1f} s = {args.rows / ours:,.0f} tasks/s; {dropped:,} near-duplicates "
          f"({dropped / args.rows:.1%}); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")
    n = min(args.baseline_rows, args.rows)
    start = time.perf_counter()
    baseline = plain_python(passages[:n], questions[:n], DEFAULT_THRESHOLD)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    again = near_duplicates(passages[:n], questions[:n])
    ours_n = time.perf_counter() - start
    agree = sum((a is None) == (b is None) for a, b in zip(again, baseline))
    print(f"plain Python, the first {n:,} tasks: {plain:.1f} s = {n / plain:,.0f} tasks/s; bonito-hub on the same: "
          f"{ours_n:.1f} s = {n / ours_n:,.0f} tasks/s; {n / ours_n / (n / plain):.1f}x; the same tasks kept on "
          f"{agree / n:.2%} of them (the hash functions differ, so MinHash's estimates do too)")
    print(f"plain Python over all {args.rows:,}, extrapolated: {plain * args.rows / n:.0f} s")


if __name__ == "__main__":
    main()
