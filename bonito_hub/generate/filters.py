"""Checks on generated tasks, each with a reason name that the funnel counts.

Parsing comes first (bonito_hub.format.parse_generation: its rejections are counted as
`unparseable:<why>`); the filters below only see parsed tasks and can each be switched off.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

from bonito_hub.errors import ConfigError

from bonito_hub.format import parse_generation

# filter name -> the reasons it drops with
FILTERS = {
    "placeholder": ("context_left", "marker_left"),
    "span": ("not_a_span",),
    "yes_no": ("not_yes_no",),
    "duplicate": ("duplicate",),
    # across the whole run, once every chunk is done (bonito_hub.generate.dedup, RunFolder.finish)
    "near_duplicate": ("near_duplicate",),
}
DEFAULT_FILTERS = tuple(FILTERS)

_PLACEHOLDER_RE = re.compile(r"\{\{\s*context\s*\}\}|\{\s*context\s*\}", re.I)
_MARKER_RE = re.compile(r"<\|(?:tasktype|context|task|pipe)\|>")
_SPACE_RE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Spacing collapsed and case folded: how answers are compared."""
    return _SPACE_RE.sub(" ", text).strip().casefold()


def is_span(response: str, passage: str) -> bool:
    """Whether the response occurs in the passage, ignoring case, spacing and a final full stop."""
    answer = normalise(response).rstrip(".")
    return bool(answer) and answer in normalise(passage)


def yes_no(response: str) -> str | None:
    """"yes" or "no" for a yes/no response (case, spacing and punctuation aside), else None."""
    word = normalise(response).strip(string.punctuation + " ")
    return word if word in {"yes", "no"} else None


def is_yes_no(response: str) -> bool:
    return yes_no(response) is not None


def check_names(names) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise ConfigError(f"unknown filter {', '.join(unknown)}; filters: {', '.join(FILTERS)}")
    return names


@dataclass(frozen=True)
class KeptTask:
    sample: int
    input: str
    output: str


@dataclass(frozen=True)
class DroppedTask:
    """A generation a filter (or the parse rule) dropped: its sample, the reason, the raw text and,
    when it parsed, the instruction and response."""

    sample: int
    reason: str
    generation: str
    input: str | None = None
    output: str | None = None


def filter_generations(generations: list[str], passage: str, task_type: str, enabled=DEFAULT_FILTERS,
                       drops: list | None = None):
    """Parse and filter the generations of one passage. Returns (kept tasks, Counter of drop reasons);
    `drops`, when given, gets a DroppedTask for each generation dropped."""
    dropped: Counter = Counter()
    kept: list[KeptTask] = []
    seen = set()

    def drop(reason: str, sample: int, text: str, parsed=None) -> None:
        dropped[reason] += 1
        if drops is not None:
            drops.append(DroppedTask(sample, reason, text, parsed.input if parsed else None,
                                     parsed.output if parsed else None))

    for sample, text in enumerate(generations):
        parsed = parse_generation(text, passage)
        if not parsed.ok:
            drop(f"unparseable:{parsed.reason}", sample, text)
            continue
        if "placeholder" in enabled:
            both = parsed.input + "\n" + parsed.output
            if _PLACEHOLDER_RE.search(both):
                drop("context_left", sample, text, parsed)
                continue
            if _MARKER_RE.search(both):
                drop("marker_left", sample, text, parsed)
                continue
        if "span" in enabled and task_type == "exqa" and not is_span(parsed.output, passage):
            drop("not_a_span", sample, text, parsed)
            continue
        if "yes_no" in enabled and task_type == "ynqa" and not is_yes_no(parsed.output):
            drop("not_yes_no", sample, text, parsed)
            continue
        if "duplicate" in enabled:
            key = (parsed.input, parsed.output)
            if key in seen:
                drop("duplicate", sample, text, parsed)
                continue
            seen.add(key)
        kept.append(KeptTask(sample, parsed.input, parsed.output))
    return kept, dropped
