"""The `bonito` commands, one module each; COMMANDS is the order `bonito --help` lists them in,
and build_parser() the parser of `bonito` they make together."""

import argparse

from bonito_hub.commands.adapt import Adapt
from bonito_hub.commands.base import Command
from bonito_hub.commands.ctga import Ctga
from bonito_hub.commands.demo import Demo
from bonito_hub.commands.evaluate import Evaluate
from bonito_hub.commands.export import Export
from bonito_hub.commands.generate import Generate
from bonito_hub.commands.overlap import CheckOverlap
from bonito_hub.commands.review import Review
from bonito_hub.commands.push import Push
from bonito_hub.commands.tasks import Tasks
from bonito_hub.commands.train import Train

COMMANDS: list[type[Command]] = [Ctga, Generate, Review, Export, Train, Evaluate, CheckOverlap, Adapt, Demo, Push, Tasks]

__all__ = ["COMMANDS", "Command", "build_parser", "command_of"]


def _common() -> argparse.ArgumentParser:
    """Flags every sub-command takes: how much it says, and whether it draws progress bars."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("output")
    g.add_argument("-v", "--verbose", action="count", default=0, help="say more (debug messages)")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    return common


def build_parser(commands: dict | None = None, only: str | None = None) -> argparse.ArgumentParser:
    """The parser of `bonito`; `commands`, when given, is filled with its commands by name. `only`
    names the one command whose options are added (the one a command line names; "" for none, as
    `bonito --help` needs): the others are listed by name and help alone, so that a command does not
    import every other command's options (and the libraries they come from). None: every command,
    as docs/cli.md and the tests need."""
    from bonito_hub import __version__

    parser = argparse.ArgumentParser(prog="bonito", description="Bonito task generation on the Hugging Face stack")
    parser.add_argument("--version", action="version", version=f"bonito-hub {__version__}")
    wanted = [cls() for cls in COMMANDS]
    filled = [command for command in wanted if only is None or command.name == only]
    parser_class = argparse.ArgumentParser
    if any(command.options() for command in filled):  # options from dataclasses: TRL's parser
        from bonito_hub.commands.parser import OptionsParser

        parser_class = OptionsParser
    sub = parser.add_subparsers(dest="command", required=True, parser_class=parser_class)
    common = _common()
    commands = {} if commands is None else commands
    for command in wanted:
        if command in filled:
            command.register(sub, common)
        else:
            sub.add_parser(command.name, help=command.help, add_help=False)
        commands[command.name] = command
    return parser


def command_of(argv: list[str]) -> "type[Command] | None":
    """The command `argv` names (its first word that is one), or None."""
    by_name = {cls.name: cls for cls in COMMANDS}
    return next((by_name[word] for word in argv if word in by_name), None)
