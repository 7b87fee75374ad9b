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
import os
import sys
import time

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
    silence_known_noise()


def set_progress(enabled: bool | None) -> None:
    """Bars on (True), off (False), or only on a terminal (None); the bars `datasets`,
    `transformers` and `huggingface_hub` draw themselves (loading weights, preparing splits,
    downloads) follow the same switch."""
    _progress["enabled"] = enabled
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        # A library imported already is told now; one not imported yet reads the variable when it
        # is (transformers follows huggingface_hub's): importing datasets and transformers here
        # would put seconds of imports before anything else can start.
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
        else:
            os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if "huggingface_hub" in sys.modules:
            import huggingface_hub.utils

            huggingface_hub.utils.disable_progress_bars()
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        if "transformers" in sys.modules:
            import transformers.utils.logging

            transformers.utils.logging.disable_progress_bar()


def progress_enabled() -> bool | None:
    """False: no bars; None: bars when stderr is a terminal (tqdm's own rule); True: always."""
    return _progress["enabled"]


def bars_on(enabled: bool | None = True) -> bool:
    """Whether bars are drawn now: not switched off (by the command or by `enabled`), and on a
    terminal unless forced on."""
    wanted = progress_enabled()
    if enabled is False or wanted is False:
        return False
    return wanted is True or sys.stderr.isatty()


def log_every_s() -> float:
    """Seconds between two progress lines in the log when no bar is drawn (BONITO_LOG_EVERY)."""
    return float(os.environ.get("BONITO_LOG_EVERY", 30))


class LogProgress:
    """What stands in for a bar when none is drawn (a log file, --no-progress): an info line on
    the `bonito` log every `log_every_s()` seconds and at the end, with the count, the total, the
    rate and the bar's postfix (rows kept, ...); -q hides it with every info line."""

    def __init__(self, iterable=None, *, desc: str = "", total: int | None = None, unit: str = "it", **_):
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.n, self.postfix, self.started = 0, {}, time.time()
        self.last = self.started
        self.log = logging.getLogger(LOGGER_NAME + ".progress")

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.time() - self.last >= log_every_s():
            self._say()

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self.postfix = values

    def close(self) -> None:
        if self.n:
            self._say()

    def _say(self) -> None:
        self.last = time.time()
        elapsed = max(self.last - self.started, 1e-9)
        total = f"/{self.total}" if self.total else ""
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        self.log.info("%s: %d%s %ss%s, %.2f %ss/s, %.0f s", self.desc.removeprefix("bonito "), self.n, total,
                      self.unit, extra,
                      self.n / elapsed, self.unit, elapsed)


def progress_bar(iterable=None, *, enabled: bool | None = True, **kwargs):
    """A tqdm bar when bars are on (see `bars_on`), else a LogProgress that says the same in the
    log every so often; `enabled=False` turns this one's bar off too."""
    if not bars_on(enabled):
        return LogProgress(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, dynamic_ncols=True, **kwargs)


# Warnings of other libraries that a bonito-hub user can do nothing about: the recipes say
# gradient_checkpointing, which every transformers 5.x reads, while its new name exists only from
# 5.18 (above our floor), and the Trainer asks the model under the old name too.
KNOWN_NOISE = (r"`gradient_checkpointing` is deprecated", r"`is_gradient_checkpointing` is deprecated")


# Log lines of other libraries that say nothing true of a bonito-hub run: TRL 1.10 warns that
# padding-free batches want Flash Attention, while the recipes' padding-free batches reach the same
# loss as padded ones with SDPA (benchmarks/train.py), and TRL 1.16 no longer says it.
KNOWN_LOG_NOISE = {"trl.trainer.sft_trainer": ("Padding-free training is enabled, but the attention implementation",)}


class _DropKnown(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)  # accelerate's logger may put "[RANK 0] " in front
        return not any(prefix in message for prefix in self.prefixes)


# other libraries' warnings that say nothing a user can act on, where they are said
KNOWN_USER_WARNINGS = ("'pin_memory' argument is set as true but no accelerator is found",)


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A warning without the file and line it came from: a library's path names this machine's
    folders (a virtualenv's, a user name in it)."""
    return f"{category.__name__}: {message}\n"


def silence_known_noise() -> None:
    import warnings

    warnings.formatwarning = _warning_line
    for message in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
    for message in KNOWN_USER_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name, prefixes in KNOWN_LOG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnown) for f in logger.filters):
            logger.addFilter(_DropKnown(prefixes))
