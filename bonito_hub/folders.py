"""Writing so that a reader never sees half a file or half a folder.

- `staged(output)` builds a whole folder beside `output` and swaps it into place only when it is
  complete (a CTGA build, a dry-run of a push); on any failure the half-built folder is removed
  and `output` is left as it was.
- `write_atomic(path, ...)` writes one file under a temporary name in the same folder and renames
  it into place (a generation run's chunks and records: a file exists whole or not at all).
- `remove_folder(path)` renames a folder aside before deleting it, so an interrupted delete
  leaves no half folder under the original name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def _aside(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}"


@contextmanager
def staged(output: str | os.PathLike, tag: str = "partial") -> Iterator[Path]:
    """Yield an empty folder beside `output`; when the block ends without an exception, it
    replaces `output` (whose old content is removed); otherwise it is removed."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = _aside(output, tag)
    staging.mkdir()
    try:
        yield staging
        old = None
        if output.exists():
            old = _aside(output, "old")
            os.replace(output, old)
        os.replace(staging, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_folder(path: str | os.PathLike) -> None:
    path = Path(path)
    if path.exists():
        old = _aside(path, "old")
        os.replace(path, old)
        shutil.rmtree(old, ignore_errors=True)


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[Path], None]) -> Path:
    """Write `content` (text, bytes, or a function that writes the file at the path it is given)
    to `path` through a temporary file in the same folder."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        if callable(content):
            content(tmp)
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
