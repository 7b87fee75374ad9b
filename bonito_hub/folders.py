"""Writing so that a reader never sees half a file or half a folder, and so that bonito-hub only
ever touches what it wrote itself.

- `Manifest(folder)`: the files bonito-hub wrote in a folder, one JSON line a write in
  `.bonito-manifest.jsonl` (path, size, sha256). A file is ours exactly when the nearest manifest
  above it lists it: never by its name. A file whose content no longer has the recorded hash was
  edited by hand: it is kept, and a fresh one is written beside it.
- `write_atomic(path, ...)` writes one file under a temporary name in the same folder and renames
  it into place (a file exists whole or not at all), and lists both names in the nearest manifest:
  the temporary one first, so that what a killed write leaves is ours and is cleaned next time.
- `staged(output)` builds a whole folder beside `output` (with its manifest) and swaps it into
  place only when it is complete; on any failure the half-built folder is removed.
- `remove_ours(folder)` deletes what the manifests under `folder` list and nothing else; a
  hand-edited file is kept and named.
- `lock(folder, command)`: one writer per folder. An exclusive `flock` on `.bonito.lock` for the
  command's lifetime (the OS drops it when the process dies, so it never goes stale); a second
  process gets one line naming the holder's pid and command. An ancestor folder locked by another
  process counts too.
- `claim_output(path, ...)` says, before any work, whether an output folder is new, empty, or
  one of ours; a folder holding anything no manifest lists, at any depth, is refused, whatever
  the flags, so overwriting can only ever replace our own files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from bonito_hub.errors import OutputError

MANIFEST = ".bonito-manifest.jsonl"
LOCK = ".bonito.lock"
# what staged (.NAME.partial-XXXXXXXX) and remove_folder (.NAME.old-XXXXXXXX) leave beside a
# folder when killed, in a folder of ours
_ASIDE = re.compile(r"\..+\.(?:partial|old)-[0-9a-f]{8}")
_LOCK_NAME = re.compile(r"\.bonito(?:\.[\w-]+)?\.lock")  # the folder's lock, and a shard's


def _aside(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}"


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    """The files bonito-hub wrote under `root`, as relative POSIX paths. Append-only JSON lines
    (each appended with one write on a file opened for appending, so shards writing one folder at
    once never interleave a line): {"path", "size", "sha256"} for a file written, {"path",
    "temp": true} before a temporary file is written, {"path", "dir": true} for a folder another
    library fills (the Trainer's checkpoints), {"path", "removed": true} when it is gone."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.path = self.root / MANIFEST

    def exists(self) -> bool:
        return self.path.is_file()

    def create(self) -> "Manifest":
        self.root.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        return self

    def _append(self, *entries: dict) -> None:
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def entries(self) -> dict[str, dict]:
        """Relative path -> its last entry, for every path not removed."""
        out: dict[str, dict] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return out
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line a crash cut short: the write it announced is not listed
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            if entry.get("removed"):
                out.pop(entry["path"], None)
            else:
                out[entry["path"]] = entry
        return out

    def relative(self, path: str | os.PathLike) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def temp(self, path: Path) -> None:
        self._append({"path": self.relative(path), "temp": True})

    def written(self, path: Path) -> None:
        """`path` (whole) is ours, with its size and hash."""
        self._append({"path": self.relative(path), "size": path.stat().st_size, "sha256": sha256(path)})

    def replacing(self, path: Path, temp: Path, before: dict) -> dict:
        """Before `temp` (whole) is renamed onto `path`: `path` is ours with `temp`'s content, and,
        until the rename is done, with the content `before` (its entry, {} for a new file) says it
        had (so that a kill between the two leaves neither a file we do not list nor one of ours
        that looks edited by hand). Returns the new content's entry, for `replaced`."""
        new = {"path": self.relative(path), "size": temp.stat().st_size, "sha256": sha256(temp)}
        also = {"also_size": before["size"], "also_sha256": before["sha256"]} if before.get("sha256") else {}
        self._append({**new, **also})
        return new

    def replaced(self, temp: Path, new: dict) -> None:
        """The rename is done: `temp` is gone, and the file has the new content only (`new`, the
        entry `replacing` returned: the content is not read again)."""
        self._append({"path": self.relative(temp), "removed": True}, new)

    def claim_dir(self, relative: str) -> None:
        """Everything under the folder `relative` is ours (what another library writes there)."""
        self._append({"path": relative.rstrip("/"), "dir": True})

    def record_all(self) -> None:
        """List every file now under the root that no manifest lists: for a folder we built whole
        (a staged build, a model saved by its library)."""
        known = self.entries()
        for path in sorted(_files(self.root)):
            relative = self.relative(path)
            if relative not in known and owner(path, self.root) is None and path.name != MANIFEST and \
                    not _LOCK_NAME.fullmatch(path.name):
                self.written(path)

    def forget(self, relative: str) -> None:
        self._append({"path": relative, "removed": True})

    def owns(self, relative: str, entries: dict | None = None) -> bool:
        entries = self.entries() if entries is None else entries
        if relative == MANIFEST or _LOCK_NAME.fullmatch(relative) or relative in entries:
            return True
        parts = relative.split("/")
        return any(entries.get("/".join(parts[:i]), {}).get("dir") for i in range(1, len(parts)))

    def edited(self, relative: str, entries: dict | None = None) -> bool:
        """The file is listed with a hash its content no longer has: someone changed it by hand."""
        entry = (self.entries() if entries is None else entries).get(relative)
        path = self.root / relative
        if not entry or "sha256" not in entry or not path.is_file():
            return False
        size = path.stat().st_size
        if size not in (entry["size"], entry.get("also_size")):
            return True
        return sha256(path) not in (entry["sha256"], entry.get("also_sha256"))


def _files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        for name in files:
            yield Path(folder) / name


def nearest_manifest(path: Path) -> Manifest | None:
    """The manifest of the nearest folder above `path` (its own folder first) that has one."""
    folder = Path(path).parent
    while True:
        manifest = Manifest(folder)
        if manifest.exists():
            return manifest
        if folder.parent == folder:
            return None
        folder = folder.parent


def owner(path: Path, root: Path) -> Manifest | None:
    """The manifest strictly below `root` (a sub-folder's own) that governs `path`, if any."""
    folder = path.parent
    while folder != root and root in folder.parents:
        if (folder / MANIFEST).is_file():
            return Manifest(folder)
        folder = folder.parent
    return None


@contextmanager
def staged(output: str | os.PathLike, tag: str = "partial") -> Iterator[Path]:
    """Yield an empty folder (with a manifest) beside `output`; when the block ends without an
    exception, every file in it is listed as ours and it replaces `output` (whose old content, all
    ours, is removed); otherwise it is removed. A lock file in `output` is carried over."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = _aside(output, tag)
    staging.mkdir()
    Manifest(staging).create()
    try:
        yield staging
        Manifest(staging).record_all()
        if (output / LOCK).is_file():  # the same file, so that the lock held on it holds the new folder
            os.link(output / LOCK, staging / LOCK)
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
    """Remove a folder that is wholly ours (checked by `claim_output`), renamed aside first so that
    an interrupted delete leaves no half folder under its name. A folder holding a hand-edited file
    of ours, or one no manifest lists, goes through `remove_ours` instead and keeps it."""
    path = Path(path)
    if not path.exists():
        return
    kept = remove_ours(path)
    if kept:
        return
    old = _aside(path, "old")
    os.replace(path, old)
    shutil.rmtree(old, ignore_errors=True)


def remove_ours(folder: str | os.PathLike) -> list[str]:
    """Delete every file under `folder` that a manifest lists and that still has the content we
    wrote, then the folders left empty; return what was kept (hand-edited files, and anything no
    manifest lists), relative to `folder`, said in one warning line."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    kept, cache = [], {}
    for path in sorted(_files(folder)):
        manifest = nearest_manifest(path)
        relative = path.relative_to(folder).as_posix()
        if manifest is None:
            kept.append(relative)
            continue
        entries = cache.setdefault(manifest.root, manifest.entries())
        mine = manifest.relative(path)
        if mine == MANIFEST or _LOCK_NAME.fullmatch(mine):
            continue
        if not manifest.owns(mine, entries) and not _ASIDE.fullmatch(path.name):
            kept.append(relative)
        elif manifest.edited(mine, entries):
            kept.append(relative)
        else:
            path.unlink(missing_ok=True)
    for root in cache:  # what is gone is gone from the manifests too; a manifest listing nothing goes
        manifest = Manifest(root)
        for relative in cache[root]:
            if not (root / relative).exists():
                manifest.forget(relative)
        if not manifest.entries():
            manifest.path.unlink(missing_ok=True)
    for sub, dirs, files in sorted(os.walk(folder, topdown=False)):
        names = set(os.listdir(sub))
        if all(n == MANIFEST or _LOCK_NAME.fullmatch(n) for n in names) and not _kept_under(kept, folder, Path(sub)):
            for name in names:
                if name == MANIFEST or Path(sub) != folder:  # the folder's own lock stays: it may be held
                    (Path(sub) / name).unlink(missing_ok=True)
            if Path(sub) != folder:
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
    if kept:
        from bonito_hub.console import get_logger

        shown = ", ".join(kept[:5]) + (" ..." if len(kept) > 5 else "")
        get_logger(__name__).warning("kept %s in %s: not as bonito-hub wrote it (changed by hand, or not ours)",
                                     shown, folder)
    return kept


def _kept_under(kept: list[str], folder: Path, sub: Path) -> bool:
    prefix = sub.relative_to(folder).as_posix()
    return prefix != "." and any(k.startswith(prefix + "/") for k in kept)


def beside(path: Path) -> Path:
    """Where a fresh file goes when `path` was edited by hand: README.md -> README.new.md."""
    return path.with_name(f"{path.stem}.new{path.suffix}")


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[Path], None]) -> Path:
    """Write `content` (text, bytes, or a function that writes the file at the path it is given)
    to `path` through a temporary file in the same folder, listed in the nearest manifest. A file
    of ours that was edited by hand, or one there that no manifest lists (the user's, put where we
    write), is kept: the fresh one goes beside it (`beside`), said in one line. Returns the path
    written."""
    from bonito_hub.console import get_logger

    path = Path(path)
    manifest = nearest_manifest(path)
    # a new file (a chunk's) needs no look at the manifest; a rewritten one (a card, a record) its entry
    entries = manifest.entries() if manifest is not None and path.is_file() else {}
    if manifest is not None and path.is_file():
        relative = manifest.relative(path)
        why = "is not a file bonito-hub wrote" if relative not in entries else \
            "was changed by hand since bonito-hub wrote it" if manifest.edited(relative, entries) else None
        if why:  # the user's: kept as it is
            get_logger(__name__).warning("%s %s: kept it, and wrote the fresh one beside it as %s", path, why,
                                         beside(path).name)
            path = beside(path)
            entries = manifest.entries() if path.is_file() else {}
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    if manifest is not None:
        manifest.temp(tmp)
    try:
        if callable(content):
            content(tmp)
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        if manifest is not None:  # listed before it appears: a kill at any point leaves only ours
            new = manifest.replacing(path, tmp, entries.get(manifest.relative(path), {}) if path.is_file() else {})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if manifest is not None:
            manifest.forget(manifest.relative(tmp))
        raise
    if manifest is not None:
        manifest.replaced(tmp, new)
    return path


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """The files under `folder` (relative POSIX paths, sorted) that no manifest of ours lists
    (the nearest manifest above each file, within `folder`, decides)."""
    folder = Path(folder)
    found, cache = [], {}
    for path in _files(folder):
        if path.name == MANIFEST or _LOCK_NAME.fullmatch(path.name):
            continue
        manifest = nearest_manifest(path)
        if manifest is None:
            found.append(path.relative_to(folder).as_posix())
            continue
        entries = cache.setdefault(manifest.root, manifest.entries())
        if not manifest.owns(manifest.relative(path), entries) and not _inside_aside(path, folder):
            found.append(path.relative_to(folder).as_posix())
    return sorted(found)


def _inside_aside(path: Path, folder: Path) -> bool:
    """Inside a staging or removal folder of ours (.NAME.partial-XXXXXXXX, .NAME.old-XXXXXXXX)."""
    return any(_ASIDE.fullmatch(part) for part in path.relative_to(folder).parts[:-1])


def clean_leftovers(folder: str | os.PathLike) -> None:
    """Remove what writes of ours killed midway left under `folder`: temporary files the manifests
    list, and staging or removal folders beside our folders."""
    folder, cache = Path(folder), {}
    for path in list(_files(folder)):
        manifest = nearest_manifest(path)
        if manifest is None:
            continue
        entries = cache.setdefault(manifest.root, manifest.entries())
        if entries.get(manifest.relative(path), {}).get("temp"):
            path.unlink(missing_ok=True)
            manifest.forget(manifest.relative(path))
    for sub, dirs, _ in os.walk(folder):
        for name in [d for d in dirs if _ASIDE.fullmatch(d)]:
            shutil.rmtree(Path(sub) / name, ignore_errors=True)
            dirs.remove(name)


def claim_output(output: str | os.PathLike, record_name: str, what: str, clean: bool = True) -> dict | None:
    """Check `output` before any work. Returns the record of the earlier run of ours it holds
    (`record_name`, JSON), or None for a new or empty folder. Raises OutputError when it is not
    a folder, cannot be written, or holds any file, at any depth, that no manifest of ours lists:
    those are the user's files, and no flag lets bonito-hub replace them. A folder holding only
    what a start of ours that died before writing its record left is taken as new; what killed
    writes left is cleaned (with `clean`: not while other writers may be at work in it)."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise OutputError(f"`output` {output} exists and is not a folder", field="output")
    record = None
    if output.exists() and not _only_locks(output):
        foreign = foreign_files(output)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputError(f"`output` {output} holds files bonito-hub did not write ({shown}); it writes only "
                              f"into a new or empty folder, or one holding {what}: choose another `output`",
                              field="output")
        if clean:
            clean_leftovers(output)
        try:
            record = json.loads((output / record_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
    _check_writable(output)
    return record


def _check_writable(output: Path, field: str = "output") -> None:
    """Writing is tried where it will happen: in the folder, or in its nearest existing parent."""
    probe_dir = output
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    probe = probe_dir / f".bonito-write-test-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"`{field}` {output}: cannot write in {probe_dir} ({exc.strerror or exc})",
                          field=field) from None


# --- one writer per folder ---

_HELD: dict[Path, int] = {}  # folders this process has locked -> the lock file's descriptor


def _command_line() -> str:
    from bonito_hub.privacy import public_text

    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return public_text(" ".join([name, *sys.argv[1:]])[:200])


def _holder(lock_file: Path) -> str:
    try:
        info = json.loads(lock_file.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    return f"pid {info.get('pid', '?')}: {info.get('command', 'another bonito-hub command')}"


@contextmanager
def lock(folder: str | os.PathLike, field: str = "output", shared: str | None = None) -> Iterator[None]:
    """Hold `folder` for this process: an exclusive flock on FOLDER/.bonito.lock, created with the
    folder if need be (removed again, with the folder if it was new and is still empty, when the
    block ends). `shared`: a name for writers that may share the folder (the shards of one run,
    each writing its own chunks): they take the folder's lock shared and FOLDER/.bonito.<shared>.lock
    exclusive. A folder, or a folder above it, held by another process is an OutputError naming
    `field`, the holder's pid and its command."""
    import fcntl

    folder = Path(folder)
    resolved = folder.resolve()
    if resolved in _HELD:  # a stage of a command that already holds it (adapt -> generate)
        yield
        return
    for above in resolved.parents:  # a folder above held by another process (an adapt run being written)
        lock_file = above / LOCK
        if above in _HELD or not lock_file.is_file():
            continue
        try:
            fd = os.open(lock_file, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"`{field}` {folder} is inside {above}, which another bonito-hub process is writing "
                              f"({_holder(lock_file)}); wait for it to finish, or choose another `{field}`",
                              field=field) from None
        finally:
            os.close(fd)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"`{field}` {folder} exists and is not a folder", field=field)
    _check_writable(folder, field)
    new = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    fds = []
    try:
        for name, mode in ((LOCK, fcntl.LOCK_SH if shared else fcntl.LOCK_EX),
                           *(((f".bonito.{shared}.lock", fcntl.LOCK_EX),) if shared else ())):
            fds.append(_flock(folder / name, mode, folder, field))
        if not shared:
            os.ftruncate(fds[0], 0)
            os.write(fds[0], json.dumps({"pid": os.getpid(), "command": _command_line()}).encode())
        _HELD[resolved] = fds[0]
        yield
    finally:
        _HELD.pop(resolved, None)
        ours = (folder / MANIFEST).is_file()
        if new and folder.is_dir() and _only_locks(folder):  # a start that wrote nothing leaves nothing
            shutil.rmtree(folder, ignore_errors=True)
        elif not ours and fds:  # a folder we never wrote in (refused, say) is left as we found it
            for name in [LOCK] + ([f".bonito.{shared}.lock"] if shared else []):
                (folder / name).unlink(missing_ok=True)
        for fd in fds:
            os.close(fd)


def _flock(lock_file: Path, mode: int, folder: Path, field: str) -> int:
    """An open descriptor of `lock_file` holding `mode`; the file is opened again if another
    process removed it meanwhile (a lock on a removed file holds nothing)."""
    import fcntl

    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"`{field}` {folder} is being written by another bonito-hub process "
                              f"({_holder(folder / LOCK)}); wait for it to finish, or choose another `{field}`",
                              field=field) from None
        try:
            if os.stat(lock_file).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _only_locks(folder: Path) -> bool:
    for path in folder.iterdir():
        if not (_LOCK_NAME.fullmatch(path.name) or path.name == MANIFEST and path.stat().st_size == 0):
            return False
    return True
