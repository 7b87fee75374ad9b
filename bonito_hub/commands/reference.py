"""The command reference (docs/cli.md), written from the parsers themselves so it cannot drift:

    python -m bonito_hub.commands.reference > docs/cli.md

tests/test_docs.py checks that docs/cli.md is what this writes.
"""

from __future__ import annotations

import argparse

HEADER = """# `bonito` command reference

Written from the commands' own parsers by `python -m bonito_hub.commands.reference > docs/cli.md`
(a test checks that this file is what it writes). Every command also takes `-v` (debug messages),
`-q` (warnings and errors only, no bars) and `--no-progress`. What a command produced goes to
stdout, messages and bars to stderr; an error you can fix is one line, `bonito: error: ...`, exit
status 2; Ctrl-C is exit status 130 and says what was kept.
"""
COMMON = {"-h", "--help", "-v", "--verbose", "-q", "--quiet", "--no-progress"}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for group in parser._action_groups:
        if group.title not in ("options", "positional arguments", "output") and group._group_actions:
            rows.append(f"| *{_cell(group.title)}* | |")
        for action in group._group_actions:
            if not action.option_strings or set(action.option_strings) & COMMON or action.help == argparse.SUPPRESS:
                continue
            name = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                name += f" {action.metavar or action.dest.upper()}" if action.choices is None else \
                    " {" + ",".join(map(str, action.choices)) + "}"
            required = " (required)" if action.required else ""
            rows.append(f"| {name}{required} | {_cell(formatter._expand_help(action))} |")
    positionals = [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    for action in positionals:
        rows.insert(0, f"| `{action.dest}` | {_cell(action.help or '')} |")
    return ["| option | meaning |", "|---|---|", *rows] if rows else []


def _section(parser: argparse.ArgumentParser, title: str, about: str) -> list[str]:
    usage = " ".join(parser.format_usage().split()).removeprefix("usage: ")
    return [f"## `{title}`", "", _cell(about), "", "```", usage, "```", "", *_options(parser), ""]


def cli_reference() -> str:
    from bonito_hub.commands import build_parser

    commands: dict = {}
    build_parser(commands)
    lines = [HEADER]
    for name, command in commands.items():
        subparsers = [a for a in command.parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            lines += _section(command.parser, f"bonito {name}", command.help)
            continue
        helps = {c.dest: c.help for c in subparsers[0]._choices_actions}
        for sub, parser in subparsers[0].choices.items():
            lines += _section(parser, f"bonito {name} {sub}", helps.get(sub) or command.help)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
