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
