"""The funnel of a generation: what came in, what was made, what was kept and why the rest was not.
One type, written (funnel.json, the last file of a complete run) and read here; every reader (the
command's report, the card, the push, `bonito adapt`) goes through `Funnel`.

A chunk's record holds its `counts` (a dict: the chunk records on disk are as they always were);
`Funnel.aggregate` adds them up. A Funnel reads as the mapping funnel.json holds too
(`result.funnel["kept"]`, `funnel.get("by_type", {})`), so code written against 0.1's dict works.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bonito_hub import records

COUNTS = ("documents", "empty_documents", "passages", "generations", "kept")
HELDOUT_COUNTS = ("documents", "passages", "generations", "kept")
FILE = records.FUNNEL


def empty_counts() -> dict:
    """A chunk's counts before it starts."""
    return {**{key: 0 for key in COUNTS}, "dropped": {}}


@dataclass
class Heldout:
    """The held-out documents' own funnel (a run with `holdout`), and once the run is complete the
    evaluation sets made from their tasks (`evaluation`: {type: {"rows", "file", ...}})."""

    documents: int = 0
    passages: int = 0
    generations: int = 0
    kept: int = 0
    evaluation: dict | None = None

    def to_dict(self) -> dict:
        out = {key: getattr(self, key) for key in HELDOUT_COUNTS}
        return {**out, "evaluation": self.evaluation} if self.evaluation is not None else out


@dataclass
class Funnel(Mapping):
    """documents -> passages -> generations -> kept, with the reasons rows were dropped; the
    optional parts are None where a run has none (files skipped, several task types, held-out
    documents, passages left out for overlapping an evaluation set or by the language filter).

    `languages`: {code: {"documents", "passages"}} for the documents with text, most documents first
    (bonito_hub.language; None for a run whose chunks were not all detected, as those of 0.1);
    `language_filtered`: {"documents", "passages"} the language filter left out, which `passages`
    does not count. `removed`: what the documents' clean-up took out, by kind ("running header",
    "contents page", "navigation", ...), and `too_short`: passages under the minimum left out;
    `joined`: what it joined ("hyphenated word", "sentence across a page break"); `ocr_pages`: the
    scanned PDF pages read by OCR. `review`: {"accept", "reject", "edit"}: the decisions of `bonito review` applied
    (the rejected rows are also `dropped` as `rejected_by_review`)."""

    documents: int = 0
    empty_documents: int = 0
    passages: int = 0
    generations: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    overlapping_passages: int | None = None
    languages: dict[str, dict] | None = None
    removed: dict[str, int] | None = None
    joined: dict[str, int] | None = None
    ocr_pages: int | None = None
    language_filtered: dict[str, int] | None = None
    skipped_files: dict[str, int] | None = None
    by_type: dict[str, dict] | None = None
    heldout: Heldout | None = None
    review: dict[str, int] | None = None
    chunks_done: int = 0
    chunks: int = 0
    complete: bool = False

    @classmethod
    def aggregate(cls, done: dict[int, dict], n_chunks: int) -> "Funnel":
        """The funnel over the finished chunks' records ({chunk: record})."""
        funnel, dropped, skipped = cls(chunks_done=len(done), chunks=n_chunks), Counter(), Counter()
        languages: dict[str, Counter] | None = {}
        for record in done.values():
            counts = record["counts"]
            for key in COUNTS:
                setattr(funnel, key, getattr(funnel, key) + counts[key])
            dropped.update(counts["dropped"])
            skipped.update(counts.get("skipped_files", {}))  # absent from records of 0.1
            if "overlapping_passages" in counts:  # a run with `exclude_overlap`
                funnel.overlapping_passages = (funnel.overlapping_passages or 0) + counts["overlapping_passages"]
            if languages is not None and "languages" in counts:
                for code, by in counts["languages"].items():
                    languages.setdefault(code, Counter()).update(by)
            else:  # a chunk written before languages were detected: the run's languages are not known
                languages = None
            if "ocr_pages" in counts:  # scanned PDF pages read by OCR
                funnel.ocr_pages = (funnel.ocr_pages or 0) + counts["ocr_pages"]
            for key in ("removed", "joined"):  # what the documents' clean-up and the passages' minimum did
                if key in counts:
                    setattr(funnel, key, dict(sorted((Counter(getattr(funnel, key) or {}) + Counter(counts[key])).items())))
            if "language_filtered" in counts:  # a run with `language_filter`
                before = funnel.language_filtered or {"documents": 0, "passages": 0}
                funnel.language_filtered = {key: n + counts["language_filtered"][key] for key, n in before.items()}
            if "review" in counts:  # decisions of `bonito review`, applied
                funnel.review = {kind: (funnel.review or {}).get(kind, 0) + n for kind, n in counts["review"].items()}
            if "heldout" in counts:  # a run with `holdout`
                funnel.heldout = funnel.heldout or Heldout()
                for key in HELDOUT_COUNTS:
                    setattr(funnel.heldout, key, getattr(funnel.heldout, key) + counts["heldout"][key])
            if counts.get("by_type"):  # a run of several types
                funnel.by_type = {} if funnel.by_type is None else funnel.by_type
                for short, by in counts["by_type"].items():
                    mine = funnel.by_type.setdefault(short, {"generations": 0, "kept": 0})
                    for key in mine:
                        mine[key] += by[key]
        funnel.dropped = dict(sorted(dropped.items()))
        if languages is not None and done:
            funnel.languages = {code: {"documents": by["documents"], "passages": by["passages"]}
                                for code, by in sorted(languages.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))}
        funnel.skipped_files = dict(sorted(skipped.items())) or None  # a funnel of text is as it was
        funnel.complete = set(done) == set(range(n_chunks))
        return funnel

    def to_dict(self) -> dict:
        """As funnel.json holds it: the optional parts only where the run has them."""
        out: dict = {key: getattr(self, key) for key in COUNTS}
        out["dropped"] = dict(self.dropped)
        for key in ("overlapping_passages", "languages", "removed", "joined", "ocr_pages", "language_filtered",
                    "skipped_files",
                    "by_type", "review"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.heldout is not None:
            out["heldout"] = self.heldout.to_dict()
        out.update(chunks_done=self.chunks_done, chunks=self.chunks, complete=self.complete)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Funnel":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("heldout"), dict):
            known["heldout"] = Heldout(**{k: v for k, v in known["heldout"].items()
                                          if k in Heldout.__dataclass_fields__})
        return cls(**known)

    @classmethod
    def read(cls, folder: str | Path) -> "Funnel | None":
        """The funnel of the complete run in `folder`, or None when it is not complete."""
        path = Path(folder) / FILE
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None

    def write(self, folder: str | Path) -> Path:
        from bonito_hub.folders import write_atomic

        return write_atomic(Path(folder) / FILE, json.dumps(self.to_dict(), indent=2) + "\n")

    @property
    def evaluation(self) -> dict:
        """The held-out evaluation sets ({type: counts}), {} where there are none."""
        return (self.heldout.evaluation or {}) if self.heldout else {}

    # the mapping funnel.json holds, for code that reads a funnel as 0.1's dict
    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())
