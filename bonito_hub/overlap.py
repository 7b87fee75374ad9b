"""Contamination: word n-grams shared by a corpus and an evaluation set.

An evaluation row (its passage and its question, each on its own) overlaps the corpus when one
of its n-grams of `n` words (13 by default, as large language model reports check) occurs in a
corpus text. Words are what is left between spaces once the text is case-folded and every
character other than a letter, a digit or `_` (below U+3000) is a space, so spacing, case and
punctuation do not hide a copy.

No pair of texts is ever compared, and no word is a Python object on the corpus side. A batch of
texts is case-folded, its non-word characters made spaces, and encoded as one UTF-8 buffer; with
numpy, each word (a run of bytes other than the space) gets a 64-bit polynomial hash of its bytes,
each word hash its number in the evaluation set's vocabulary (0 for a word the evaluation set
never uses, which no shared n-gram can hold), and each window of n numbers a hash that is looked
up in the evaluation set's sorted n-gram hashes. Every hash depends only on the text, so an index
built in one process finds the same n-grams in another (a Ray worker).

    index = NgramIndex.from_rows(rows)        # rows: {"passage", "question"}
    scan = index.scan(texts)                   # which texts overlap; which n-grams were found
    report = overlap_report(index, scan, ...)  # share of rows with any overlap, worst offenders
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bonito_hub.options import option

NGRAM = 13
BATCH = 2048  # texts hashed together
WORST = 10  # rows the report names
_END_WORD = "BONITOTEXTEND"  # between two texts; upper case, so never a word of a case-folded text
_BASE = np.uint64(0x100000001B3)  # odd: the hash mixes every position
_BYTE_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64: a word's hash is the same wherever it starts


@lru_cache(maxsize=1)
def _spaces() -> dict[int, str]:
    return str.maketrans({c: " " for c in range(0x3000) if not (chr(c).isalnum() or c == 0x5F)})


def _normal(text: str) -> str:
    return text.casefold().translate(_spaces())


def words(text: str) -> list[str]:
    """The words of a text, as the check sees them."""
    return [w for w in _normal(text).split(" ") if w]


class _BytePowers:
    """_BYTE_BASE**i and its inverse for i < n, grown as longer buffers come."""

    def __init__(self):
        self.up = self.down = np.empty(0, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up), 1 << 16)
            inverse = pow(_BYTE_BASE, -1, 2**64)
            one = np.ones(1, dtype=np.uint64)
            with np.errstate(over="ignore"):
                self.up = np.concatenate([one, np.cumprod(np.full(size - 1, _BYTE_BASE, dtype=np.uint64))])
                self.down = np.concatenate([one, np.cumprod(np.full(size - 1, inverse, dtype=np.uint64))])
        return self.up[:n], self.down[:n]


_POWERS = _BytePowers()


class _Table:
    """Sorted unique 64-bit keys looked up by open addressing (a quarter full, linear probing),
    many queries at once: a gather a probe instead of a binary search a query, which is what made
    the lookups of a batch the slowest step."""

    def __init__(self, keys: np.ndarray):
        self.keys = keys
        size = 1 << max(4, int(4 * len(keys) - 1).bit_length())
        self.mask = np.uint64(size - 1)
        self.slots = np.full(size, -1, dtype=np.int64)
        self.probes = 1
        mask = size - 1
        for index, key in enumerate(keys.tolist()):  # the evaluation side: thousands of keys, not millions
            slot, probes = key & mask, 1
            while self.slots[slot] != -1:
                slot, probes = (slot + 1) & mask, probes + 1
            self.slots[slot] = index
            self.probes = max(self.probes, probes)

    def find(self, queries: np.ndarray) -> np.ndarray:
        """The index of each query in `keys`, or -1."""
        found = np.full(len(queries), -1, dtype=np.int64)
        if not len(self.keys) or not len(queries):
            return found
        slot = queries & self.mask
        todo = np.arange(len(queries))
        for _ in range(self.probes):
            index = self.slots[slot.astype(np.int64)]
            hit = (index >= 0) & (self.keys[np.maximum(index, 0)] == queries[todo])
            found[todo[hit]] = index[hit]
            more = (index >= 0) & ~hit  # an occupied slot holding another key: look at the next one
            todo, slot = todo[more], (slot[more] + np.uint64(1)) & self.mask
            if not len(todo):
                break
        return found


def word_hashes(normal: str) -> np.ndarray:
    """A 64-bit hash of each word of a normalised text (see _normal), in order: the polynomial of
    its UTF-8 bytes, computed for every word at once from one running sum over the buffer."""
    data = np.frombuffer(normal.encode("utf-8"), dtype=np.uint8)
    if not len(data):
        return np.empty(0, dtype=np.uint64)
    edges = np.diff(np.concatenate([[0], (data != 32).view(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    up, down = _POWERS.get(len(data) + 1)
    with np.errstate(over="ignore"):
        running = np.concatenate([[np.uint64(0)], np.cumsum(data.astype(np.uint64) * up[:len(data)],
                                                            dtype=np.uint64)])
        return (running[ends] - running[starts]) * down[starts]


def _powers(n: int) -> np.ndarray:
    powers = np.ones(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(n - 2, -1, -1):
            powers[i] = powers[i + 1] * _BASE
    return powers


def _hashes(ids: np.ndarray, n: int, powers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every window of n numbers with no 0 among them, and where each window starts."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    zeros = np.concatenate([[0], np.cumsum(ids == 0)])
    starts = np.flatnonzero(zeros[n:n + count] == zeros[:count])
    if not len(starts):
        return np.empty(0, dtype=np.uint64), starts
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h += ids[j:j + count] * powers[j]
    return h[starts], starts


@dataclass
class Scan:
    """What a scan of corpus texts found: for each text, whether it shares an n-gram with the
    evaluation set; the evaluation n-grams found, and the first text each was found in."""

    overlapping: list[bool] = field(default_factory=list)
    found: dict[int, int] = field(default_factory=dict)  # index into NgramIndex.hashes -> first text
    texts: int = 0
    seconds: float = 0.0


class NgramIndex:
    """The n-grams of evaluation rows, to look corpus texts up in."""

    def __init__(self, segments: list[tuple[int, str]], n_rows: int, n: int = NGRAM, name: str = ""):
        """`segments`: (row, text) pairs; a row's passage and question are separate segments, so
        that no n-gram runs from one into the other."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n, self.n_rows, self.name = n, n_rows, name
        self.powers = _powers(n)
        per_segment = [word_hashes(_normal(text)) for _, text in segments]
        # the vocabulary: the sorted hashes of the evaluation rows' words; a word's number is its place + 1
        self.vocab = np.unique(np.concatenate(per_segment)) if per_segment else np.empty(0, dtype=np.uint64)
        self._words = _Table(self.vocab)
        self._end = word_hashes(_END_WORD)[0]
        pair_hashes, pair_rows = [], []
        for (row, _), hashed in zip(segments, per_segment):
            ids = (np.searchsorted(self.vocab, hashed) + 1).astype(np.uint64)
            h, _ = _hashes(ids, n, self.powers)
            pair_hashes.append(np.unique(h))
            pair_rows.append(np.full(len(pair_hashes[-1]), row, dtype=np.int64))
        hashes = np.concatenate(pair_hashes) if pair_hashes else np.empty(0, dtype=np.uint64)
        rows = np.concatenate(pair_rows) if pair_rows else np.empty(0, dtype=np.int64)
        self.hashes, inverse = np.unique(hashes, return_inverse=True)
        self.pairs = np.stack([inverse.reshape(-1), rows]) if len(rows) else np.empty((2, 0), dtype=np.int64)
        self.pairs = np.unique(self.pairs, axis=1)  # (hash index, row), each once
        self.row_ngrams = np.bincount(self.pairs[1], minlength=n_rows)
        self._ngrams = _Table(self.hashes)

    @classmethod
    def from_rows(cls, rows: list[dict], n: int = NGRAM, name: str = "") -> "NgramIndex":
        segments = [(i, str(text or "")) for i, row in enumerate(rows)  # an nli row's question is its hypothesis
                    for text in (row.get("passage"), row.get("question") or row.get("hypothesis"))]
        return cls(segments, len(rows), n, name)

    def to_dict(self) -> dict:
        """What identifies the index in a record (records.plain): its n, size and a digest."""
        return {"target": self.name, "ngram": self.n, "ngrams": int(len(self.hashes)), "sha256": self.digest()}

    def digest(self) -> str:
        return hashlib.sha256(self.hashes.tobytes() + str(self.n).encode()).hexdigest()[:16]

    def _ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The word numbers of `texts`, one after another with a 0 between two texts, and where each
        starts. The texts are case-folded one by one and joined by _END_WORD, then normalised and
        hashed at once; the position of each _END_WORD marks where a text ends."""
        hashed = word_hashes(f" {_END_WORD} ".join(text.casefold() for text in texts).translate(_spaces()))
        ids = (self._words.find(hashed) + 1).astype(np.uint64)
        ends = np.flatnonzero(hashed == self._end)
        ids[ends] = 0
        return ids, np.concatenate([[0], ends + 1]).astype(np.int64)

    def matches(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """For a batch of texts: the text and the index into `hashes` of every n-gram found."""
        if not len(self.hashes) or not texts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        ids, starts = self._ids(texts)
        h, where = _hashes(ids, self.n, self.powers)
        slot = self._ngrams.find(h)
        hit = slot >= 0
        return np.searchsorted(starts, where[hit], side="right") - 1, slot[hit]

    def overlapping(self, texts: list[str]) -> list[bool]:
        """Whether each text shares an n-gram with the evaluation rows."""
        found = np.zeros(len(texts), dtype=bool)
        text_of, _ = self.matches(texts)
        found[text_of] = True
        return found.tolist()

    def scan(self, texts, batch: int = BATCH, progress=None) -> Scan:
        """Look every text of the iterable `texts` up; `progress(n)` is called as n more are done."""
        started, scan, buffer = time.perf_counter(), Scan(), []

        def flush():
            text_of, slots = self.matches(buffer)
            found = np.zeros(len(buffer), dtype=bool)
            found[text_of] = True
            scan.overlapping.extend(found.tolist())
            first_slots, first = np.unique(slots, return_index=True)  # each n-gram once a batch, not once a hit
            for slot, text in zip(first_slots.tolist(), text_of[first].tolist()):
                scan.found.setdefault(slot, scan.texts + text)
            scan.texts += len(buffer)
            if progress is not None:
                progress(len(buffer))
            buffer.clear()

        for text in texts:
            buffer.append(text or "")
            if len(buffer) >= batch:
                flush()
        if buffer:
            flush()
        scan.seconds = time.perf_counter() - started
        return scan


def _snippet(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def overlap_report(index: NgramIndex, scan: Scan, rows: list[dict], text_ids: list[str] | None = None,
                   evaluation: str = "", corpus: str = "") -> dict:
    """The share of evaluation rows with any n-gram in the scanned texts, the rows with the largest
    share of their n-grams found (row number from 1, that share, the start of the question, the
    first text it was found in), and how many texts overlap. A row shorter than n words in both
    passage and question has no n-gram and cannot be checked: it is counted apart."""
    found = np.zeros(len(index.hashes), dtype=bool)
    found[list(scan.found)] = True
    hit_pairs = index.pairs[:, found[index.pairs[0]]] if index.pairs.size else index.pairs
    hits = np.bincount(hit_pairs[1], minlength=index.n_rows)
    checked = index.row_ngrams > 0
    share = np.divide(hits, index.row_ngrams, out=np.zeros(index.n_rows), where=checked)
    flagged = np.flatnonzero(hits > 0)
    worst = []
    for row in sorted(flagged.tolist(), key=lambda r: (-share[r], r))[:WORST]:
        first = min(scan.found[s] for s in hit_pairs[0][hit_pairs[1] == row].tolist())
        worst.append({"row": row + 1, "ngrams_found": round(float(share[row]), 3),
                      "question": _snippet(rows[row].get("question", "")),
                      "corpus_text": text_ids[first] if text_ids is not None else str(first)})
    n_checked = int(checked.sum())
    return {
        "evaluation": evaluation, "corpus": corpus, "ngram": index.n,
        "evaluation_rows": index.n_rows, "rows_too_short": index.n_rows - n_checked,
        "overlapping_rows": int(len(flagged)),
        "share": round(len(flagged) / index.n_rows, 4) if index.n_rows else 0.0,
        "corpus_texts": scan.texts, "overlapping_texts": int(sum(scan.overlapping)),
        "worst": worst, "seconds": round(scan.seconds, 2),
    }


def describe(report: dict) -> str:
    """The report in lines, for a terminal."""
    lines = [f"{report['overlapping_rows']} of {report['evaluation_rows']} rows of {report['evaluation']} "
             f"({100 * report['share']:.1f}%) share a {report['ngram']}-word n-gram with {report['corpus']} "
             f"({report['overlapping_texts']} of {report['corpus_texts']} texts overlap)"]
    if report["rows_too_short"]:
        lines.append(f"  {report['rows_too_short']} rows are shorter than {report['ngram']} words and could not "
                     "be checked")
    for w in report["worst"]:
        lines.append(f"  row {w['row']}: {100 * w['ngrams_found']:.0f}% of its n-grams, found in "
                     f"{w['corpus_text']}: {w['question']}")
    return "\n".join(lines)


def target_rows(target: str, data: str | None = None) -> tuple[str, list[dict]]:
    """A target's name (a built-in's, or the file's name: never a folder of this machine) and its
    rows ({passage, question, ...}): one of the paper's targets (from the Hub, or `data`, a local
    copy) or a JSON Lines file in the schema `bonito evaluate` reads."""
    from bonito_hub.targets import builtin_targets, load_target

    loaded = load_target(target, data, protocol="bonito-hub")
    return (target if target in builtin_targets() else Path(target).name), loaded.rows


def target_index(target: str, data: str | None = None, n: int = NGRAM) -> NgramIndex:
    name, rows = target_rows(target, data)
    return NgramIndex.from_rows(rows, n, name=name)


def _target_help() -> str:
    from bonito_hub.targets import builtin_targets

    return ("a built-in target (" + ", ".join(builtin_targets()) + ") or a JSON Lines file in bonito evaluate's "
            "schema (passage, question, answer)")


@dataclass(kw_only=True)
class OverlapArgs:
    """What `bonito check-overlap` takes besides how the corpus is read (the generation's InputOptions)."""

    corpus: str = option(help="the corpus, as bonito generate --input takes it")
    target: str = option(help=_target_help)
    data: str | None = option(None, help="a built-in target's test split from a local file instead of the Hub")
    ngram: int = option(NGRAM, help="words an n-gram holds")
    output: str | None = option(None, metavar="FILE.json", help="also write the report here (a new file, or a "
                                "report this command wrote before)")


def check_overlap(corpus, target: str, data: str | None = None, text_column: str = "text", split: str = "train",
                  encoding: str = "utf-8", n: int = NGRAM, progress: bool = True, exclude=(),
                  skip_bad_files: bool = False, follow_links: bool = False, limits=None,
                  config: str | None = None, clean: bool = True, ocr: bool = False) -> dict:
    """`bonito check-overlap`: the share of `target`'s rows (a built-in target, from the Hub or
    `data`, or a JSON Lines file) sharing an n-gram of `n` words with a document of `corpus`
    (anything `bonito generate --input` reads), with the worst offenders and the documents named
    by their `id` column (or "row N"). `exclude`: folders inside a corpus folder that are not
    part of it (a run's output). A folder bonito generate wrote is read as its generated rows.
    `skip_bad_files`, `follow_links`, `limits` (documents.Limits), `clean` (documents' clean-up), `ocr`
    (scanned PDF pages): as `bonito generate` takes them, so the text compared is the text prompted."""
    from bonito_hub.console import progress_bar
    from bonito_hub.corpus import check_text_column, load_texts
    from bonito_hub.errors import ConfigError

    if n < 1:
        raise ConfigError(f"`ngram` must be at least 1 word, got {n}", field="ngram")
    name, rows = target_rows(target, data)
    index = NgramIndex.from_rows(rows, n, name=name)
    texts = load_texts(corpus, split=split, encoding=encoding, exclude=exclude, skip_bad_files=skip_bad_files,
                       follow_links=follow_links, run_folder="rows", config=config, clean=clean, ocr=ocr,
                       **({"limits": limits} if limits else {}))
    check_text_column(texts, text_column)
    with progress_bar(total=len(texts), unit="text", desc="bonito check-overlap", enabled=progress) as bar:
        batches = texts.with_format("arrow").iter(batch_size=BATCH)
        scan = index.scan((text or "" for batch in batches for text in batch[text_column].to_pylist()),
                          progress=bar.update)
    if "id" in texts.column_names and text_column != "id":
        ids = [str(i) for i in texts["id"]]
    else:
        ids = [f"row {i + 1}" for i in range(len(texts))]
    corpus_name = Path(str(corpus)).name if not hasattr(corpus, "column_names") else "the corpus"
    return overlap_report(index, scan, rows, ids, evaluation=name, corpus=corpus_name)
