"""The `bonito` commands, one module each; COMMANDS is the order `bonito --help` lists them in."""

from bonito_hub.commands.adapt import Adapt
from bonito_hub.commands.base import Command
from bonito_hub.commands.ctga import Ctga
from bonito_hub.commands.demo import Demo
from bonito_hub.commands.evaluate import Evaluate
from bonito_hub.commands.generate import Generate
from bonito_hub.commands.overlap import CheckOverlap
from bonito_hub.commands.push import Push
from bonito_hub.commands.tasks import Tasks
from bonito_hub.commands.train import Train

COMMANDS: list[type[Command]] = [Ctga, Generate, Train, Evaluate, CheckOverlap, Adapt, Demo, Push, Tasks]

__all__ = ["COMMANDS", "Command"]
