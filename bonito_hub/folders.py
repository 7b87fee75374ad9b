"""Writing so that a reader never sees half a file or half a folder.

- `staged(output)` builds a whole folder beside `output` and swaps it into place only when it is
  complete (a CTGA build, a dry-run of a push); on any failure the half-built folder is removed
  and `output` is left as it was.
- `write_atomic(path, ...)` writes one file under a temporary name in the same folder and renames
  it into place (a generation run's chunks and records: a file exists whole or not at all).
- `remove_folder(path)` renames a folder aside before deleting it, so an interrupted delete
  leaves no half folder under the original name.
- `claim_output(path, ...)` says, before any work, whether an output folder is new, empty, or
  one of ours; a folder holding anything bonito-hub did not write is refused, whatever the flags,
  so --overwrite can only ever replace our own files.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from bonito_hub.errors import OutputError


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


def claim_output(output: str | os.PathLike, record_name: str, our_entries: set[str], what: str) -> dict | None:
    """Check `output` before any work. Returns the record of the earlier run of ours it holds
    (`record_name`, JSON), or None for a new or empty folder. Raises OutputError when it is not
    a folder, cannot be written, or holds anything but `our_entries` with our record among them:
    those are the user's files, and no flag lets bonito-hub replace them."""
    import json

    output = Path(output).absolute()
    if output.exists() and not output.is_dir():
        raise OutputError(f"`output` {output} exists and is not a folder", field="output")
    existing = sorted(p.name for p in output.iterdir()) if output.exists() else []
    record = None
    if existing:
        try:
            record = json.loads((output / record_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        foreign = [name for name in existing if name not in our_entries and not _OUR_TEMP.fullmatch(name)]
        died_at_start = record is None and not foreign and all(_leftover(output / name) for name in existing)
        if (record is None and not died_at_start) or foreign:
            shown = ", ".join((foreign or existing)[:5]) + (" ..." if len(foreign or existing) > 5 else "")
            raise OutputError(f"`output` {output} holds files bonito-hub did not write ({shown}); it writes only "
                              f"into a new or empty folder, or one holding {what}: choose another `output`",
                              field="output")
    _check_writable(output)
    return record


_OUR_TEMP = re.compile(r"\..+\.tmp-[0-9a-f]{8}")  # what write_atomic leaves when killed mid-write


def _leftover(path: Path) -> bool:
    """What a start of ours that died before writing its record leaves: a temporary file of
    write_atomic, or an empty folder."""
    return bool(_OUR_TEMP.fullmatch(path.name)) or (path.is_dir() and not any(path.iterdir()))


def _check_writable(output: Path) -> None:
    """Writing is tried where it will happen: in the folder, or in its nearest existing parent."""
    probe_dir = output
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    probe = probe_dir / f".bonito-write-test-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"`output` {output}: cannot write in {probe_dir} ({exc.strerror or exc})",
                          field="output") from None
