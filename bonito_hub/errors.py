"""What can go wrong that a user can fix, as one family: every error bonito-hub raises on purpose
is a `BonitoError` whose message says in one line what is wrong and what to do. The CLI and the
recipe script print such an error as one line and exit with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class BonitoError(Exception):
    """An input, option or environment bonito-hub cannot work with; the message says why.

    A message names the options of the library call it is about in backticks, in the caller's
    language (`chunk_docs` must be at least 1, got 0); `field` is the option at fault, when there
    is one. A command line that spells an option as a flag says the flag instead (--chunk-size
    must be at least 1, got 0): bonito_hub.commands.base maps them."""

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ConfigError(BonitoError, ValueError):
    """An option out of range or unknown (a task type, a filter, a sampling value, a shard)."""


class InputError(BonitoError, ValueError):
    """The user's text cannot be read, or holds no usable text column."""


class BadDocument(InputError):
    """A PDF, HTML or Word file with no text to read; `reason` is the funnel's name for it (no text
    layer, encrypted, corrupt file, empty file)."""

    def __init__(self, path, reason: str, advice: str = ""):
        super().__init__(f"{path}: {reason}" + (f"; {advice}" if advice else ""))
        self.reason = reason


class ModelLoadError(BonitoError):
    """A model or engine could not be loaded."""


class OutputError(BonitoError):
    """An output folder bonito-hub may not write to: not a folder, not writable, or holding files
    it did not write."""


class RunError(BonitoError):
    """A generation run cannot start or go on in its output folder."""


class SourceError(BonitoError):
    """A CTGA source could not be loaded; the message names it and says why."""


class PromptsourceError(BonitoError):
    """promptsource's templates could not be fetched, verified or read."""


class CtgaBuildError(BonitoError):
    """A CTGA build that cannot start or finish."""


class RecipeError(BonitoError, ValueError):
    """A training recipe that cannot start; raised before any training step."""


class PushError(BonitoError):
    """A push that cannot start, or that the Hub refused."""


class ServerError(BonitoError):
    """An OpenAI-compatible server that cannot be used: unreachable, refusing the key, not serving
    the model, or failing a request more times than it is retried."""


class CrossOrigin(ServerError):
    """A request the client was about to send to another origin than `base_url`'s (a redirect);
    its message is the other host. Caught by the openai engine, which says it in its own words."""


class ServerSaidError(ServerError, ValueError):
    """A 200 whose body is the server's error message, not a completion."""


class Oversized(ServerError, ValueError):
    """A server's body larger than the completion asked for can be."""


class DiskFull(BonitoError, OSError):
    """The disk filled up during training; the message says what is kept and how to go on."""


class HubUnreachable(BonitoError):
    """The Hub is needed and cannot be reached."""


def disk_full(exc: BaseException) -> bool:
    """A full disk, whichever library ran into it: an OSError with ENOSPC, or a writer that wraps
    the system's error in its own (safetensors' SafetensorError says "StorageFull")."""
    import errno

    seen = exc
    while seen is not None:  # torch and safetensors wrap the system's error in their own
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        text = str(seen)
        if any(sign in text for sign in DISK_FULL_SIGNS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# how writers say the disk filled up when they do not pass the system's error on: the system's own
# words, safetensors', and torch's serializer (which reports a short write as a failed file write)
DISK_FULL_SIGNS = ("No space left on device", "StorageFull", "PytorchStreamWriter failed writing file",
                   "file write failed")


def cause(exc: BaseException) -> str:
    """An exception from another library as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
