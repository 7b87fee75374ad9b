"""What every `bonito` command is: a name, a parser it registers, and `run(args)`, which builds
the library's config from the arguments, makes one library call and reports what it did (after
TRL's `trl/cli/commands/base.py`).

A command whose options are dataclass fields (bonito_hub.options) lists the classes in `options()`:
its parser is derived from them (bonito_hub.commands.parser.OptionsParser, a group a class), and a
library error that names a field in backticks (`chunk_docs` must be at least 1) is said with the
field's flag (--chunk-size must be at least 1): `explain(error)`. With `config_file`, the command
also takes `--config FILE.yaml`, options by name, the command line winning over the file.
"""

from __future__ import annotations

import argparse
import re


class DefaultsFormatter(argparse.HelpFormatter):
    """Help with each option's default, taken from its field (never written again in its help), unless
    it is unset (None), off (False), empty, or the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == [] or action.default == () \
            or action.default is argparse.SUPPRESS or action.nargs == 0  # a switch is off unless given
        if "default" in text or unset or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class Command:
    """A sub-command of `bonito`."""

    name: str = ""
    help: str = ""
    # what an interrupt (Ctrl-C) leaves, and what to do after an error of the machine (a full disk)
    interrupted: str = "nothing was written; the output folder is as it was"
    after_os_error: str = "nothing was written"

    def __init__(self):
        self.parser: argparse.ArgumentParser | None = None

    # takes --config FILE.yaml (options by name; the command line wins over the file)
    config_file: bool = False
    # a default this command gives an option of a shared part (adapt holds out 10% of the documents)
    defaults: dict = {}

    def options(self) -> list[type]:
        """The dataclasses whose fields are this command's options, in the order --help lists them."""
        return []

    def register(self, subparsers, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add this command's parser (with the `common` flags) to `subparsers`; return it."""
        options = self.options()
        self.parser = subparsers.add_parser(self.name, parents=[common], help=self.help, description=self.help,
                                            formatter_class=DefaultsFormatter,
                                            **({"dataclass_types": options} if options else {}))
        if self.config_file:
            self.parser.add_argument("--config", metavar="FILE.yaml",
                                     help="options from a YAML file, by name (max_tokens: 128, backend: openai); "
                                          "the command line wins over the file")
        if self.defaults:
            self.parser.set_defaults(**self.defaults)
        self.add_arguments(self.parser)
        return self.parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own arguments, besides its options' fields."""

    def read_config_in(self, argv: list[str]) -> None:
        """Before `argv` is parsed: the options of the YAML file its `--config FILE` names, if any,
        become this command's defaults."""
        from bonito_hub.options import flags, read_config_file

        words = argv[argv.index(self.name) + 1:] if self.name in argv else []
        if not self.config_file or "--config" not in words:
            return
        at = words.index("--config") + 1
        if at < len(words) and not words[at].startswith("-"):  # else argparse says --config needs a value
            known = flags(*self.options())  # the options a file may set (the aliases rename one of them)
            read_config_file(self.parser, words[at], known,
                             {alias: field for alias, field in self.aliases.items() if field in known})

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    # a library field this command sets under another name (adapt: the target's `data` is --target-data)
    aliases: dict[str, str] = {}

    def flags(self) -> dict[str, str]:
        """Field name -> the flag that sets it: from the fields' metadata for a command whose options
        are dataclass fields, else over its hand-written parser and sub-parsers."""
        from bonito_hub.options import flags

        if self.options():
            found = flags(*self.options())
            if self.config_file:
                found["config"] = "--config"
            for field, dest in self.aliases.items():
                if dest in found:
                    found.setdefault(field, found[dest])
            return found
        found = {}
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
