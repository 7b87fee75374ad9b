"""What leaves the machine holds no absolute path, no user name and no token.

A record keeps what it needs to resume on this machine (the paths as they were given); what is
uploaded is a public copy: every path of this machine becomes a path relative to the folder being
pushed when it lies inside it, else its last component (a folder's or file's name, which is how a
local model or recipe is named in public), and every Hugging Face token becomes "<token>". Hub ids
and URLs are kept as they are.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

# A path of this machine inside a text: "/" or "~/" not preceded by a character that would make it
# part of a word, a URL or a relative path, up to a space, a quote or a closing bracket.
_PATH = re.compile(r"(?<![\w.:/~<>\-])(?:~|/)[^\s\"'`,;()\[\]{}<>|]*")
# names of environment variables that may hold a token
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN")


def tokens() -> list[str]:
    """The tokens this machine would send to the Hub."""
    found = [os.environ.get(name) for name in TOKEN_VARIABLES]
    try:
        from huggingface_hub import get_token

        found.append(get_token())
    except Exception:  # no huggingface_hub, no token file: nothing to hide
        pass
    return sorted({t for t in found if t and len(t) >= 8}, key=len, reverse=True)


def public_path(path: str, base: Path | None = None) -> str:
    """A path of this machine as it may be shown in public: relative to `base` when inside it, else
    its last component."""
    expanded = Path(os.path.expanduser(path))
    if base is not None:
        try:
            return expanded.resolve().relative_to(base.resolve()).as_posix() or "."
        except ValueError:
            pass
    return expanded.name or "."


def home_relative(path: str | os.PathLike) -> str:
    """A path under the user's home as ~/..., for messages about our own caches."""
    text, home = os.fspath(path), os.path.expanduser("~")
    return "~" + text[len(home):] if home != "/" and (text == home or text.startswith(home + os.sep)) else text


def public_text(text: str, base: str | os.PathLike | None = None) -> str:
    base = Path(base) if base is not None else None
    for token in tokens():
        text = text.replace(token, "<token>")
    return _PATH.sub(lambda m: public_path(m.group(0), base) if len(m.group(0)) > 1 else m.group(0), text)


def public_record(value, base: str | os.PathLike | None = None):
    """A JSON value with every string made public (`public_text`)."""
    if isinstance(value, str):
        return public_text(value, base)
    if isinstance(value, dict):
        return {k: public_record(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [public_record(v, base) for v in value]
    return value


# The files of an upload that bonito-hub or the trainer wrote about the run (records, cards, configs);
# a tokenizer's vocabulary and templates are left as they are: their strings are the model's.
PUBLIC_FILES = ("README.md", "run.json", "funnel.json", "training_record.json", "trainer_state.json",
                "evaluation.json", "ctga_build.json", "adapter_config.json", "tokenizer_config.json", "push.json")


def make_public(folder: str | os.PathLike, base: str | os.PathLike | None = None) -> list[str]:
    """Rewrite the records and cards under `folder` (an upload being prepared) as their public
    copies; a file that is a hard link to the user's original is replaced, never written through.
    Returns the files changed."""
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.name not in PUBLIC_FILES:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = text
        if path.suffix == ".json":
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if value is not None:
                public = public_record(value, base)
                if public != value:
                    new = json.dumps(public, indent=2, ensure_ascii=False) + "\n"
            else:
                new = public_text(text, base)
        else:
            new = public_text(text, base)
        if new != text:
            path.unlink()  # a hard link to the original: write a file of its own
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed.append(path.relative_to(folder).as_posix())
    return changed
