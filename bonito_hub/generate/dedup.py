"""Near-duplicate tasks across a whole run: the `near_duplicate` filter.

Two tasks are near-duplicates when they ask nearly the same thing of nearly the same passage:
  - their passages share most of their 3-word shingles (estimated Jaccard similarity, by MinHash:
    NUM_PERM hashes a passage, in BANDS bands for locality-sensitive hashing, so that only the
    pairs that share a band are compared), and
  - their questions share most of their words (exact Jaccard similarity over the sets of words):
    the instruction without the passage, plus the answer for extractive tasks (whose question can
    repeat with another answer).
Both at `threshold` or above (DEFAULT_THRESHOLD). The same question of two different passages is
no duplicate ("What is the main idea?" belongs to each passage), and neither are two questions of
one passage. A real document set repeats its boilerplate (the same paragraph in many files), and a
generator asks near-identical questions of near-identical passages: those are what this removes.

Rows are taken in (chunk, passage, sample) order and the first of a group is kept: the same rows
are kept whatever the order in which chunks were made (one process, shards, Ray, a resumed run),
because the pass runs once every chunk is finished (RunFolder.finish). MinHash and LSH are
computed with numpy over the word hashes bonito_hub.overlap already makes; docs/design.md says why
this and not a library.
"""

from __future__ import annotations

from itertools import chain, islice

import numpy as np

from bonito_hub.overlap import _normal, word_hashes

NUM_PERM = 32
BANDS = 8  # 4 hashes a band: a pair at Jaccard 0.8 shares a band with probability 1 - (1 - 0.8^4)^8 = 0.9996
SHINGLE = 3
DEFAULT_THRESHOLD = 0.8
MAX_COMPARE = 2000  # candidates compared a task at most, the earliest first: time stays bounded on boilerplate
_MASK = np.uint64(0xFFFFFFFF)
_rng = np.random.default_rng(20240201)  # fixed: signatures are the same in every process and run
_A = _rng.integers(1, 2**61, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**61, size=NUM_PERM, dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def shingle_hashes(text: str, n: int = SHINGLE) -> np.ndarray:
    """A 64-bit hash of every n-word window of the text (of the whole text when it is shorter)."""
    words = word_hashes(_normal(text))
    if len(words) == 0:
        return words
    if len(words) < n:
        n = len(words)
    with np.errstate(over="ignore"):
        out = words[: len(words) - n + 1].copy()
        for j in range(1, n):
            out = out * _MIX + words[j: len(words) - n + 1 + j]
    return np.unique(out)


def signatures(texts: list[str]) -> np.ndarray:
    """The MinHash signature of each text: for each of NUM_PERM hash functions, the smallest hash
    of its shingles (uint32; an empty text's signature is all 0xFFFFFFFF)."""
    out = np.full((len(texts), NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    for i, text in enumerate(texts):
        shingles = shingle_hashes(text)
        if len(shingles):
            with np.errstate(over="ignore"):
                hashed = ((shingles[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)) & _MASK
            out[i] = hashed.min(axis=0).astype(np.uint32)
    return out


def question_words(text: str) -> frozenset:
    return frozenset(_normal(text).split())


def near_passages(sig: np.ndarray, threshold: float) -> list[list[int]]:
    """For each distinct passage (a row of `sig`), the others whose estimated Jaccard similarity
    is at least `threshold`: candidates from the LSH bands, then checked on the whole signature."""
    rows = NUM_PERM // BANDS
    buckets: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
    near: list[list[int]] = [[] for _ in range(len(sig))]
    for p in range(len(sig)):
        candidates = set()
        for b in range(BANDS):
            bucket = buckets[b].setdefault(sig[p, b * rows:(b + 1) * rows].tobytes(), [])
            candidates.update(bucket)
            bucket.append(p)
        for q in sorted(candidates)[:MAX_COMPARE]:
            if float(np.mean(sig[p] == sig[q])) >= threshold:
                near[p].append(q)
                near[q].append(p)
    return near


def near_duplicates(passages: list[str], questions: list[str], threshold: float = DEFAULT_THRESHOLD) -> list[int | None]:
    """For each task in order: the index of the earliest kept task it nearly duplicates, or None
    when it is kept. `passages[i]` is task i's passage, `questions[i]` its question."""
    distinct: dict[str, int] = {}
    index_of = [distinct.setdefault(p, len(distinct)) for p in passages]  # each passage hashed once
    near = near_passages(signatures(list(distinct)), threshold)
    kept_on: dict[int, list[tuple[int, frozenset]]] = {}  # a distinct passage -> its kept tasks
    found: list[int | None] = []
    for i, p in enumerate(index_of):
        mine = question_words(questions[i])
        # the kept tasks on this passage, then on the passages near it: at most MAX_COMPARE of them
        earlier = islice(chain.from_iterable(kept_on.get(q, ()) for q in chain((p,), near[p])), MAX_COMPARE)
        duplicate = min((j for j, theirs in earlier if jaccard(mine, theirs) >= threshold), default=None)
        found.append(duplicate)
        if duplicate is None:
            kept_on.setdefault(p, []).append((i, mine))
    return found


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
