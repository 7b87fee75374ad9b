"""The parser of a command whose options are dataclass fields (bonito_hub.options): TRL's
`TrlParser` (an `HfArgumentParser` that reads `--config FILE`), each option named by its one flag,
a switch taken as `--flag` (argparse's store_true), a repeatable option as a list, and each
default shown in the help from its field.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from types import MappingProxyType
from typing import Any

from transformers import HfArgumentParser
from trl import TrlParser

from bonito_hub.commands.base import DefaultsFormatter
from bonito_hub.options import MISSING, default_of


def _resolved(value):
    return value() if callable(value) else value


class _Named:
    """What HfArgumentParser adds a field to, with its option strings replaced by the field's one flag
    (HfArgumentParser gives every field `--name` and `--name-with-dashes`)."""

    def __init__(self, parser, names: list[str], field: dataclasses.Field):
        self.parser, self.names, self.field = parser, names, field

    def add_argument(self, *option_strings, **kwargs):
        if any(s.startswith("--no") and s.endswith(self.field.name.replace("_", "-")) for s in option_strings) \
                and kwargs.get("action") == "store_false":  # the complement of a switch that is on by default
            return self.parser.add_argument("--no-" + self.names[0].removeprefix("--"), **kwargs)
        return self.parser.add_argument(*self.names, dest=self.field.name, **kwargs)


class _Repeat(argparse._AppendAction):
    """argparse's append, onto a value a --config file gave as a mapping or a list (the file's
    entries first, then the command line's, which win where they name the same key)."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = getattr(namespace, self.dest, None)
        if isinstance(items, dict):
            setattr(namespace, self.dest, [items])
        elif isinstance(items, tuple):
            setattr(namespace, self.dest, list(items))
        super().__call__(parser, namespace, values, option_string)


class OptionsParser(TrlParser):
    """The class of `bonito`'s sub-parsers: `add_parser(name, dataclass_types=[...])` adds the
    fields of those dataclasses as options, a group each (the class's `_argument_group_name`)."""

    def __init__(self, dataclass_types=None, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(dataclass_types=dataclass_types or [], **kwargs)

    @staticmethod
    def _parse_dataclass_field(parser, field: dataclasses.Field) -> None:
        _add_field(parser, field)


def add_options(parser, cls) -> None:
    """The options of the dataclass `cls` on a plain argparse parser (a command with subcommands
    of its own), as OptionsParser adds them."""
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        resolved = copy.copy(f)
        resolved.type = hints[f.name]
        _add_field(parser, resolved)


def _add_field(parser, field: dataclasses.Field) -> None:
    meta = dict(field.metadata)
    if not meta.pop("cli", True) or "help" not in meta:  # a field of the Python API, or a base class's
        return
    names = [meta.pop("flag", None) or "--" + field.name.replace("_", "-"), *meta.pop("aliases", [])]
    meta["help"] = _resolved(meta.get("help"))
    if "%" in (meta["help"] or "") and "%(" not in meta["help"]:
        meta["help"] = meta["help"].replace("%", "%%")
    if "choices" in meta:
        meta["choices"] = list(_resolved(meta["choices"]))
    default = default_of(field)
    if meta.pop("repeat", False):  # --flag A --flag B: a list
        parser.add_argument(*names, dest=field.name, action=_Repeat,
                            default=[] if default in (MISSING, None) else list(default), **meta)
        return
    if field.type is bool and default is False:  # a switch: --flag, as argparse's store_true
        parser.add_argument(*names, dest=field.name, action="store_true", **meta)
        return
    if field.type is bool and default is True and field.metadata.get("flag", "").startswith("--no-"):
        parser.add_argument(*names, dest=field.name, action="store_false", **meta)
        return
    plain = copy.copy(field)
    plain.metadata = MappingProxyType(meta)
    if plain.type is Any:  # a field that also takes Python objects takes a word on the command line
        plain.type = str
    HfArgumentParser._parse_dataclass_field(_Named(parser, names, field), plain)
