"""Splitting documents into passages that fit the generator's context.

A document is first cut into its sections (between form feeds: the pages and headings of a PDF,
HTML or Word file, bonito_hub.documents), which no passage spans. A section longer than the
budget is cut on paragraph boundaries (blank lines), a paragraph
longer than the budget on sentence boundaries, and a sentence longer than the budget between
tokens. Pieces are packed greedily in order. Every passage is a slice of its document, and we
keep its character offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bonito_hub.errors import ConfigError

_PARAGRAPH_RE = re.compile(r"\n[ \t]*\n\s*")
_SECTION_RE = re.compile(r"\f")  # a page or a heading of a PDF, HTML or Word file (bonito_hub.documents)
_SENTENCE_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


# A word: a run of letters or digits, or one character of a script written without spaces (Chinese,
# Japanese kana, Korean syllables, Thai), where each character is counted as a word.
_WORD_RE = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|"
                      r"[^\W\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


def count_words(text: str) -> int:
    """Words in `text`, for the minimum passage size: runs of letters or digits, each character of
    a script written without spaces counted as one."""
    return len(_WORD_RE.findall(text))


@dataclass(frozen=True)
class Passage:
    start: int
    end: int


def _spans(text: str, start: int, end: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return spans


class PassageSplitter:
    """Cuts text into passages of at most `max_tokens` tokens of `tokenizer`. A passage of fewer
    than `min_words` words (a name, a heading alone, a fragment) is merged with the next passage of
    its document when the two fit the budget together, else left out and counted."""

    def __init__(self, tokenizer, max_tokens: int, min_words: int = 0):
        if max_tokens < 8:
            raise ConfigError(f"passages would hold at most {max_tokens} tokens: the model's context is too short "
                             "for the requested max_tokens")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.min_words = min_words

    def split(self, text: str) -> list[Passage]:
        return self.split_many([text])[0]

    def split_many(self, texts: list[str], too_short: list[int] | None = None) -> list[list[Passage]]:
        """`split` for each text, with one tokenizer call for all of them (a fast tokenizer spreads
        a batch over the CPU's cores). `too_short`, when given, gets each text's count of passages
        left out for having fewer than `min_words` words."""
        kept = [i for i, text in enumerate(texts) if text.strip()]
        found: list[list[Passage]] = [[] for _ in texts]
        short = [0] * len(texts)
        if kept:
            enc = self.tokenizer([texts[i] for i in kept], add_special_tokens=False, return_offsets_mapping=True,
                                 verbose=False)
            for i, offsets in zip(kept, enc["offset_mapping"]):
                found[i], short[i] = self._split(texts[i], offsets)
        if too_short is not None:
            too_short[:] = short
        return found

    def _split(self, text: str, offsets) -> tuple[list[Passage], int]:
        """The passages of `text` given its tokens' character offsets, and how many were too short:
        its sections (between form feeds, a page or a heading of a document) each on their own,
        then the short ones merged with the next where they fit."""
        import bisect

        starts = [s for s, e in offsets if e > s]

        def count(a: int, b: int) -> int:
            return bisect.bisect_left(starts, b) - bisect.bisect_left(starts, a)

        passages: list[Passage] = []
        for lo, hi in _spans(text, 0, len(text), _SECTION_RE):
            if text[lo:hi].strip():
                passages += self._split_section(text, lo, hi, starts, count)
        return self._merge_short(text, passages, count)

    def _merge_short(self, text: str, passages: list[Passage], count) -> tuple[list[Passage], int]:
        if not self.min_words:
            return passages, 0
        out, short, i = [], 0, 0
        while i < len(passages):
            p = passages[i]
            if count_words(text[p.start:p.end]) >= self.min_words:
                out.append(p)
            elif i + 1 < len(passages) and count(p.start, passages[i + 1].end) <= self.max_tokens:
                passages[i + 1] = Passage(p.start, passages[i + 1].end)  # the span covers both, and what is between
            else:
                short += 1
            i += 1
        return out, short

    def _split_section(self, text: str, lo: int, hi: int, starts: list[int], count) -> list[Passage]:
        import bisect

        if count(lo, hi) <= self.max_tokens:
            return [self._trim(text, lo, hi)]
        units: list[tuple[int, int]] = []
        for p in _spans(text, lo, hi, _PARAGRAPH_RE):
            if count(*p) <= self.max_tokens:
                units.append(p)
                continue
            for s in _spans(text, p[0], p[1], _SENTENCE_RE):
                if count(*s) <= self.max_tokens:
                    units.append(s)
                    continue
                # a sentence longer than the budget: cut between tokens
                first = bisect.bisect_left(starts, s[0])
                last = bisect.bisect_left(starts, s[1])
                for i in range(first, last, self.max_tokens):
                    a = max(starts[i], s[0]) if i > first else s[0]
                    b = starts[i + self.max_tokens] if i + self.max_tokens < last else s[1]
                    units.append((a, b))
        passages: list[Passage] = []
        cur_start = cur_end = None
        for a, b in units:
            if cur_start is not None and count(cur_start, b) <= self.max_tokens:
                cur_end = b
                continue
            if cur_start is not None:
                passages.append(self._trim(text, cur_start, cur_end))
            cur_start, cur_end = a, b
        if cur_start is not None:
            passages.append(self._trim(text, cur_start, cur_end))
        return [p for p in passages if p.end > p.start]

    @staticmethod
    def _trim(text: str, a: int, b: int) -> Passage:
        piece = text[a:b]
        return Passage(a + len(piece) - len(piece.lstrip()), b - (len(piece) - len(piece.rstrip())))
