"""What bonito-hub tells the person running it: log messages through the `bonito` logger, and
progress bars.

The library only logs, each module to its child of the `bonito` logger (`get_logger(__name__)`);
the entry point decides how much is shown (`configure`: -q warnings only, default info, -v debug)
and whether bars are drawn. Bars are off with --no-progress, with -q, and when stderr is not a
terminal (a log file gets no carriage returns); `datasets`' own bars follow the same switch.
A command's result (what it wrote, its counts) is its output on stdout, not a log message.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "bonito"
_progress = {"enabled": None}  # None: bars when stderr is a terminal


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a message is emitted (as logging's last resort does),
    so a handler set up once keeps working when stderr is replaced."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _Format(logging.Formatter):
    words = None  # a command's way of saying the library's option names (its flags), or None

    def format(self, record: logging.LogRecord) -> str:
        prefix = "bonito: " if record.levelno < logging.WARNING else f"bonito: {record.levelname.lower()}: "
        message = record.getMessage()
        return prefix + (self.words(message) if self.words else message)


def get_logger(module: str) -> logging.Logger:
    """The `bonito` logger's child for a module: bonito_hub.ctga.build -> bonito.ctga.build."""
    return logging.getLogger(LOGGER_NAME + module.removeprefix("bonito_hub"))


_said: set[str] = set()


def deprecated(message: str) -> None:
    """A spelling or option that still works but goes in the next release: one warning a process."""
    if message not in _said:
        _said.add(message)
        logging.getLogger(LOGGER_NAME + ".deprecated").warning("deprecated: %s", message)


def configure(verbosity: int = 0, progress: bool | None = None, words=None) -> None:
    """Set up the `bonito` log and the progress bars for a command-line run. `verbosity`: -1
    quiet, 0 normal, 1 or more verbose. `progress`: False for no bars, None for bars only on a
    terminal. `words(message)`: how the command says the option names a message gives in
    backticks (its flags)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)
    handler = next((h for h in logger.handlers if getattr(h, "_bonito", False)), None)
    if handler is None:
        handler = _Stderr()
        handler.setFormatter(_Format())
        handler._bonito = True
        logger.addHandler(handler)
    handler.formatter.words = words
    logger.propagate = False
    set_progress(False if verbosity < 0 else progress)


def set_progress(enabled: bool | None) -> None:
    """Bars on (True), off (False), or only on a terminal (None); the bars `datasets`,
    `transformers` and `huggingface_hub` draw themselves (loading weights, preparing splits,
    downloads) follow the same switch."""
    _progress["enabled"] = enabled
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        import datasets
        import huggingface_hub.utils
        import transformers.utils.logging

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
        huggingface_hub.utils.disable_progress_bars()


def progress_enabled() -> bool | None:
    """False: no bars; None: bars when stderr is a terminal (tqdm's own rule); True: always."""
    return _progress["enabled"]


def progress_bar(iterable=None, *, enabled: bool | None = True, **kwargs):
    """A tqdm bar that follows the command's switch; `enabled=False` turns this one off too."""
    from tqdm.auto import tqdm

    wanted = progress_enabled()
    if enabled is False or wanted is False:
        disable = True
    elif wanted is None:
        disable = None  # tqdm: off when the stream is not a terminal
    else:
        disable = False
    return tqdm(iterable, disable=disable, dynamic_ncols=True, **kwargs)
