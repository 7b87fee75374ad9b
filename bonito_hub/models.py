"""Where a model comes from: a local folder or a Hub id, told apart before anything loads."""

from __future__ import annotations

import os
from pathlib import Path

from bonito_hub import hub
from bonito_hub.errors import ModelLoadError


def check_model_source(model, flag: str = "--model") -> None:
    """A model named by a path must be a model folder; anything else is taken as a Hub id. Told
    apart before loading, so a mistyped path is not reported as a bad repository id."""
    if not isinstance(model, (str, os.PathLike)):
        return
    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{flag} {text} is a folder but not a model folder (no config.json in it)")
    elif path.exists():
        raise ModelLoadError(f"{flag} {text} is a file; give the model's folder")
    elif hub.is_local(text):
        raise ModelLoadError(f"{flag} {text}: no such folder")


def check_model_available(model, flag: str = "--model") -> None:
    """`check_model_source`, then, for a Hub id, whether the Hub answers (hub.check_reachable)."""
    check_model_source(model, flag)
    if not hub.is_local(os.fspath(model)):
        hub.check_reachable(f"{flag} {model}")
