"""What every `bonito` command is: a name, a parser it registers, and `run(args)`, which builds
the library's config from the arguments, makes one library call and reports what it did (after
TRL's `trl/cli/commands/base.py`).

Arguments are named as the config fields they fill (`--chunk-size` fills `chunk_docs`), so
`config_from(GenerateConfig, args)` builds a config from them, and a library error that names a
field in backticks (`chunk_docs` must be at least 1) is said with the flag (--chunk-size must be
at least 1): `explain(error)`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import fields


class Command:
    """A sub-command of `bonito`."""

    name: str = ""
    help: str = ""
    # what an interrupt (Ctrl-C) leaves, and what to do after an error of the machine (a full disk)
    interrupted: str = "nothing was written; the output folder is as it was"
    after_os_error: str = "nothing was written"

    def __init__(self):
        self.parser: argparse.ArgumentParser | None = None

    def register(self, subparsers, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add this command's parser (with the `common` flags) to `subparsers`; return it."""
        self.parser = subparsers.add_parser(self.name, parents=[common], help=self.help, description=self.help)
        self.add_arguments(self.parser)
        return self.parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own arguments."""

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    # a library field this command sets under another name (adapt: the target's `data` is --target-data)
    aliases: dict[str, str] = {}

    def flags(self) -> dict[str, str]:
        """Field name -> the flag that sets it, over this command's parser and its sub-parsers."""
        found: dict[str, str] = {}
        parsers = [self.parser] if self.parser is not None else []
        while parsers:
            parser = parsers.pop()
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    parsers.extend(action.choices.values())
                elif action.option_strings and action.dest != "help":
                    found.setdefault(action.dest, max(action.option_strings, key=len))
        for field, dest in self.aliases.items():
            if dest in found:
                found.setdefault(field, found[dest])
        return found

    # how this command sets a recipe key, for advice given as `key=value` (adapt: --recipe-arg)
    recipe_flag: str | None = None

    def explain(self, message) -> str:
        """A library error or message in this command's words: every `field` it names becomes its
        flag, and advice to set `key=value` becomes the flag that sets it."""
        flags = self.flags()

        def setting(m: re.Match) -> str:
            key, value = m.group(1), m.group(2)
            if key in flags:
                return f"{flags[key]} {value}"
            return f"{self.recipe_flag} {key}={value}" if self.recipe_flag else f"{key}={value}"

        text = re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)=([^`\s]*)`", setting, str(message))
        return re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)`", lambda m: flags.get(m.group(1), m.group(1)), text)


def config_from(cls, args: argparse.Namespace, **values):
    """A config dataclass from the arguments named as its fields, and `values` on top."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if f.init and hasattr(args, f.name)}
    return cls(**{**given, **values})


def key_values(pairs: list[str], flag: str) -> list[tuple[str, str]]:
    """A repeatable KEY=VALUE flag's (key, value) pairs; a pair without `=` or key is an error."""
    from bonito_hub.errors import ConfigError

    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r}")
        out.append((key.strip(), value))
    return out
