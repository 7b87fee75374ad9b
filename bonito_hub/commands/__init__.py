"""The `bonito` commands, one module each; COMMANDS is the order `bonito --help` lists them in,
and build_parser() the parser of `bonito` they make together."""

import argparse

from bonito_hub.commands.adapt import Adapt
from bonito_hub.commands.base import Command
from bonito_hub.commands.ctga import Ctga
from bonito_hub.commands.demo import Demo
from bonito_hub.commands.evaluate import Evaluate
from bonito_hub.commands.generate import Generate
from bonito_hub.commands.overlap import CheckOverlap
from bonito_hub.commands.parser import OptionsParser
from bonito_hub.commands.push import Push
from bonito_hub.commands.tasks import Tasks
from bonito_hub.commands.train import Train

COMMANDS: list[type[Command]] = [Ctga, Generate, Train, Evaluate, CheckOverlap, Adapt, Demo, Push, Tasks]

__all__ = ["COMMANDS", "Command", "build_parser", "command_of"]


def _common() -> argparse.ArgumentParser:
    """Flags every sub-command takes: how much it says, and whether it draws progress bars."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("output")
    g.add_argument("-v", "--verbose", action="count", default=0, help="say more (debug messages)")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    return common


def build_parser(commands: dict | None = None) -> argparse.ArgumentParser:
    """The parser of `bonito`; `commands`, when given, is filled with its commands by name."""
    from bonito_hub import __version__

    parser = argparse.ArgumentParser(prog="bonito", description="Bonito task generation on the Hugging Face stack")
    parser.add_argument("--version", action="version", version=f"bonito-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OptionsParser)
    common = _common()
    commands = {} if commands is None else commands
    for command in (cls() for cls in COMMANDS):
        command.register(sub, common)
        commands[command.name] = command
    return parser


def command_of(argv: list[str], commands: dict) -> "Command | None":
    """The command `argv` names (its first word that is one), or None."""
    return next((commands[word] for word in argv if word in commands), None)
