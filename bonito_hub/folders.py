"""Writing so that a reader never sees half a file or half a folder.

- `staged(output)` builds a whole folder beside `output` and swaps it into place only when it is
  complete (a CTGA build, a dry-run of a push); on any failure the half-built folder is removed
  and `output` is left as it was.
- `write_atomic(path, ...)` writes one file under a temporary name in the same folder and renames
  it into place (a generation run's chunks and records: a file exists whole or not at all).
- `remove_folder(path)` renames a folder aside before deleting it, so an interrupted delete
  leaves no half folder under the original name.
- `claim_output(path, ...)` says, before any work, whether an output folder is new, empty, or
  one of ours; a folder holding anything bonito-hub did not write, at any depth (`Ownership`
  says what each kind of folder holds), is refused, whatever the flags, so overwriting can only
  ever replace our own files.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
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


@dataclass(frozen=True)
class Ownership:
    """Which files in a folder bonito-hub wrote: the relative POSIX paths that match one of
    `patterns` (`*` and `?` within one path component, `**` across them), or that `files` lists
    (a manifest from the folder's records), or that a sub-folder's own Ownership in `folders`
    claims. Anything else in the folder, at any depth, is someone else's."""

    patterns: tuple[str, ...] = ()
    files: frozenset[str] = frozenset()
    folders: tuple[tuple[str, "Ownership"], ...] = ()

    def owns(self, relative: str) -> bool:
        if relative in self.files or any(_pattern(p).fullmatch(relative) for p in self.patterns):
            return True
        for prefix, inner in self.folders:
            if relative.startswith(prefix + "/") and inner.owns(relative[len(prefix) + 1:]):
                return True
        return False


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern:
    out = []
    for i, part in enumerate(re.split(r"(\*\*/?|\*|\?)", pattern)):
        out.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part)) if i % 2
                   else re.escape(part))
    return re.compile("".join(out))


def foreign_files(folder: str | os.PathLike, ownership: Ownership) -> list[str]:
    """The files under `folder` (relative POSIX paths, sorted) that `ownership` does not claim;
    what a write of ours killed midway leaves (a temporary file, a staging folder) is ours."""
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not _OUR_LEFTOVER.fullmatch(d)]
        for name in files:
            relative = (Path(root) / name).relative_to(folder).as_posix()
            if not _OUR_LEFTOVER.fullmatch(name) and not ownership.owns(relative):
                found.append(relative)
    return sorted(found)


def claim_output(output: str | os.PathLike, record_name: str, ownership, what: str) -> dict | None:
    """Check `output` before any work. Returns the record of the earlier run of ours it holds
    (`record_name`, JSON), or None for a new or empty folder. Raises OutputError when it is not
    a folder, cannot be written, or holds any file, at any depth, that `ownership` (an Ownership,
    or a function of the folder that returns one) does not claim: those are the user's files, and
    no flag lets bonito-hub replace them. A folder holding only what a start of ours that died
    before writing its record left (temporary files, empty folders) is taken as new."""
    import json

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise OutputError(f"`output` {output} exists and is not a folder", field="output")
    record = None
    if output.exists() and any(output.iterdir()):
        try:
            record = json.loads((output / record_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        owned = ownership(output) if callable(ownership) else ownership
        foreign = foreign_files(output, owned if record is not None else Ownership())
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputError(f"`output` {output} holds files bonito-hub did not write ({shown}); it writes only "
                              f"into a new or empty folder, or one holding {what}: choose another `output`",
                              field="output")
    _check_writable(output)
    return record


# what write_atomic (.NAME.tmp-XXXXXXXX), staged (.NAME.partial-XXXXXXXX) and remove_folder
# (.NAME.old-XXXXXXXX) leave when killed mid-write
_OUR_LEFTOVER = re.compile(r"\..+\.(?:tmp|partial|old)-[0-9a-f]{8}")


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
