"""The 16 task types a Bonito generator knows, by short and full name."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from bonito_hub import resources
from bonito_hub.errors import ConfigError


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    return dict(yaml.safe_load(resources.read_text("task_types.yaml")))


def short_names() -> list[str]:
    """The short names, in the order of the paper's list."""
    return list(_table())


def full_name(short: str) -> str:
    return _table()[short]


def _key(name: str) -> str:
    # "Extractive  Question-Answering " and "extractive question answering" are the same type.
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    table = _table()
    lookup = {}
    for short, full in table.items():
        lookup[_key(short)] = short
        lookup[_key(full)] = short
    return lookup


def normalize(name: str) -> str:
    """Return the short name for a short or full task-type name, ignoring case and spacing.

    Raises ValueError listing the valid names when the name is unknown.
    """
    if not isinstance(name, str):
        raise ConfigError(f"task type must be a string, got {type(name).__name__}")
    short = _lookup().get(_key(name))
    if short is None:
        valid = ", ".join(f"{s} ({f})" for s, f in _table().items())
        raise ConfigError(f"unknown task type {name!r}; valid task types: {valid}")
    return short


def to_full(name: str) -> str:
    """The full name the generator is prompted with, for a short or full name."""
    return full_name(normalize(name))


ALL_APPLICABLE = "all-applicable"  # every task type the generator knows


def parse_types(value) -> tuple[str, ...]:
    """Short names from "exqa", "exqa,ynqa,nli", a list of names, or "all-applicable" (all 16).
    A name listed twice is an error: it would make every passage's tasks of that type twice."""
    if isinstance(value, str):
        if _key(value) == _key(ALL_APPLICABLE):
            return tuple(short_names())
        value = value.split(",")
    names = []
    for part in value:
        if not isinstance(part, str) or not part.strip():
            raise ConfigError(f"`task_type` has an empty name in its list ({part!r})", field="task_type")
        names.append(normalize(part))
    if not names:
        raise ConfigError("`task_type` names no task type", field="task_type")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"`task_type` lists {', '.join(twice)} more than once", field="task_type")
    return tuple(names)


def parse_mix(value) -> dict[str, float]:
    """{short name: share} from "exqa=0.5,ynqa=0.3,nli=0.2" or a mapping; the shares are more than
    0 and sum to 1."""
    if isinstance(value, str):
        pairs = []
        for part in value.split(","):
            name, _, share = part.partition("=")
            try:
                pairs.append((name, float(share)))  # no "=": float("") fails too
            except ValueError:
                raise ConfigError(f"`task_mix` takes TYPE=SHARE pairs such as exqa=0.5,ynqa=0.5, got {part!r}",
                                  field="task_mix") from None
    else:
        pairs = list(dict(value).items())
    mix: dict[str, float] = {}
    for name, share in pairs:
        short = normalize(name)
        if short in mix:
            raise ConfigError(f"`task_mix` lists {short} more than once", field="task_mix")
        if not share > 0:
            raise ConfigError(f"`task_mix` gives {short} the share {share}; each share must be more than 0",
                              field="task_mix")
        mix[short] = float(share)
    total = sum(mix.values())
    if abs(total - 1) > 1e-6:
        raise ConfigError(f"`task_mix` shares sum to {total:g}, not 1", field="task_mix")
    return mix
