"""Upload plumbing for `bonito push`: a folder to the Hub with its card, private unless asked
otherwise. What a kind of folder uploads (its files, its card) belongs to the stage that wrote it:
bonito_hub.generate.push_dataset, bonito_hub.training.push_adapter, bonito_hub.ctga.push_ctga; each
hands this module a preparer. Here: staging, the repo checks, the public copies of records and the
token scan, and the send.

Each push first writes the exact folder it would upload (only the files a reader needs, and a card
rendered from the folder's run record); `--dry-run` stops there and shows it. The upload is one
commit of that folder: an interrupted push leaves the repo as it was, and running it again sends
what the Hub does not already hold. The token comes from huggingface_hub's usual places (a login,
HF_TOKEN) and is never printed, logged or written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bonito_hub import hub
from bonito_hub.console import get_logger
from bonito_hub.errors import PushError, cause
from bonito_hub.folders import nearest_manifest
from bonito_hub.privacy import find_tokens, make_public
from bonito_hub.records import read_record

log = get_logger(__name__)


@dataclass
class Upload:
    kind: str
    repo_id: str
    folder: Path | None  # the exact folder uploaded (None once a dry run's folder is removed)
    files: list[str] = field(default_factory=list)
    url: str | None = None
    card: str = ""  # its README.md
    repo_type: str = "dataset"


def link_or_copy(src: Path, dst: Path) -> None:
    """`src` at `dst` in an upload being prepared: a hard link (data files can be large), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def required_record(folder: Path, name: str, what: str) -> dict:
    """The record `name` of `folder`, or a PushError saying the folder is not `what`."""
    record = read_record(folder / name)
    if record is None:
        raise PushError(f"{folder} is not {what} (no {name} in it)")
    return record


_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")


def check_languages(codes: list[str]) -> None:
    """Language codes as the Hub's card metadata takes them (ISO 639-1/2/3, with a region or
    script after a hyphen: en, fr, en-GB, zh-Hant)."""
    bad = [c for c in codes if not _LANGUAGE.fullmatch(c)]
    if bad:
        raise PushError(f"`language` {', '.join(map(repr, bad))}: not a language code (ISO 639, such as en, fr, "
                        "de, en-GB)", field="language")


def check_repo_id(repo_id: str, field: str = "repo_id", owner_optional: bool = False) -> None:
    """A Hub repo id of the form ORG/NAME (or NAME alone with `owner_optional`: a model such as
    gpt2), or a PushError naming the option `field` and saying what is wrong."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PushError(f"`{field}` {repo_id!r} is not a Hub repo id (ORG/NAME): {cause(exc)}", field=field) from None
    if "/" not in repo_id and not owner_optional:
        raise PushError(f"`{field}` {repo_id!r}: give ORG/NAME (your user name or an organisation, then the repo)",
                        field=field)


def stage(kind: str, folder, dest, prepare: Callable[[Path, Path], None], repo_type: str = "dataset") -> Upload:
    """Write into `dest` (a new folder) exactly what a push of `folder` would upload: `prepare(source,
    dest)` (the stage's own: its files and its card), then the public copies of its records
    (bonito_hub.privacy: no path of this machine, no token); refused when any file of it holds a
    token or key of this machine."""
    source, dest = Path(folder), Path(dest)
    if not source.is_dir():
        raise PushError(f"{source}: no such folder")
    dest.mkdir(parents=True, exist_ok=True)
    prepare(source, dest)
    make_public(dest, base=source)
    found = find_tokens(dest)
    if found is not None:
        where = found[0] + (f", column {found[1]}" if found[1] else "")
        raise PushError(f"{where} holds a token or key of this machine (HF_TOKEN, the Hub's token file, or a variable "
                        "named like a key); nothing was sent. It came from the folder's own data: remove it there "
                        "(for a generated set, from the input, then generate again) before pushing")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    return Upload(kind, "", dest, files, card=(dest / "README.md").read_text(encoding="utf-8"), repo_type=repo_type)


def upload(kind: str, folder, repo_id: str, prepare: Callable[[Path, Path], None], *, repo_type: str = "dataset",
           public: bool = False, dry_run: bool = False, keep=None) -> Upload:
    """Push `folder` to `repo_id` (a `repo_type` repo, created private unless `public`): the folder
    `stage` prepares with `prepare`, in one commit. With `dry_run`, send nothing: the Upload says
    which files and which card would go, and the folder that would be uploaded is kept only when
    `keep` names where (a new folder). Each kind's own push (bonito_hub.generate.push_dataset,
    bonito_hub.training.push_adapter, bonito_hub.ctga.push_ctga) calls this with its preparer."""
    check_repo_id(repo_id)
    if keep is not None and not dry_run:
        raise PushError("`keep` goes with `dry_run`", field="keep")
    if keep is not None and Path(keep).exists() and (not Path(keep).is_dir() or any(Path(keep).iterdir())):
        raise PushError(f"`keep` {keep} exists and is not an empty folder", field="keep")
    if not dry_run:
        hub.check_can_push(f"pushing to {repo_id}")  # offline, unreachable, no token: before any work
    source = Path(folder).resolve()
    staging = Path(tempfile.mkdtemp(prefix=f"push-{os.getpid()}-", dir=_staging_root(source)))
    try:
        result = stage(kind, source, staging, prepare, repo_type)
        result.repo_id = repo_id
        if dry_run and keep is not None:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(str(staging), keep)
            manifest = nearest_manifest(Path(keep) / "README.md")  # kept inside a folder of ours (adapt's push/)
            if manifest is not None:
                for path in sorted(p for p in Path(keep).rglob("*") if p.is_file()):
                    manifest.written(path)
            result.folder = Path(keep)
        elif dry_run:
            result.folder = None
        else:
            result.url = _send(result, public)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_root(source: Path) -> str | None:
    """Where an upload is prepared: never inside the user's folders (a push killed there would leave
    a folder in a run of ours). Under huggingface_hub's home when it is on the same disk as the
    folder, so that data files are hard links, not copies; else the system's temporary folder.
    What a killed push left there (its process gone) is removed first."""
    from huggingface_hub import constants

    root = Path(constants.HF_HOME) / "bonito-hub" / "push"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if root.stat().st_dev != source.stat().st_dev:
            return None
    except OSError:
        return None
    for old in root.glob("push-*-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return str(root)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


NETWORK_MODULES = {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3", "h11"}


def _from_the_network(exc: Exception) -> bool:
    """An error of the HTTP stack huggingface_hub runs on (which one depends on its version)."""
    return any(cls.__module__.split(".")[0] in NETWORK_MODULES for cls in type(exc).__mro__)


def _send(upload: Upload, public: bool) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=hub.endpoint())
    repo_type = upload.repo_type
    try:
        url = api.create_repo(upload.repo_id, repo_type=repo_type, private=not public, exist_ok=True)
        if not public and not api.repo_info(upload.repo_id, repo_type=repo_type).private:
            raise PushError(f"{upload.repo_id} already exists and is public; pass `public` to push there, or "
                            "choose another `repo_id`")
        log.info("uploading %d files to %s (%s)", len(upload.files), upload.repo_id, "public" if public else "private")
        api.upload_folder(repo_id=upload.repo_id, repo_type=repo_type, folder_path=str(upload.folder),
                          commit_message=f"bonito push {upload.kind}")
    except Exception as exc:
        if not (isinstance(exc, (HfHubHTTPError, OSError)) or _from_the_network(exc)):
            raise  # a bug, not the Hub or the network: keep its traceback
        raise PushError(_explain(exc, upload.repo_id)) from None
    return str(url)


def _explain(exc: Exception, repo_id: str) -> str:
    """The Hub's refusal, or a broken connection, as one line that says what to do."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return (f"the Hub refused the credentials pushing to {repo_id} (401): log in with `hf auth login` or set "
                "HF_TOKEN to a token with write access")
    if status == 403:
        return f"no write access to {repo_id} (403): use a token with write access to its owner, or another `repo_id`"
    if status == 404:
        return f"{repo_id} was not found (404): check the owner name, and that the token can see it"
    if status == 429:
        return "the Hub is rate-limiting these requests (429); wait a few minutes and run the same command again"
    if status is not None:
        return f"the Hub answered {status} pushing to {repo_id}: {cause(exc)}"
    return (f"the connection to the Hub broke while pushing to {repo_id} ({cause(exc)}); nothing was committed: "
            "run the same command again")
