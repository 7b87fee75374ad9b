"""`bonito push`: a generated data set, an adapter or a CTGA build to the Hub, with its card,
private unless asked otherwise.

Each push first writes the exact folder it would upload (only the files a reader needs, and a card
rendered from the folder's run record); `--dry-run` stops there and shows it. The upload is one
commit of that folder: an interrupted push leaves the repo as it was, and running it again sends
what the Hub does not already hold. The token comes from huggingface_hub's usual places (a login,
HF_TOKEN) and is never printed, logged or written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bonito_hub import hub, records
from bonito_hub.models import same_model
from bonito_hub.privacy import find_tokens, make_public
from bonito_hub.console import get_logger
from bonito_hub.errors import PushError, cause
from bonito_hub.folders import nearest_manifest
from bonito_hub.records import read_record

KINDS = ("dataset", "adapter", "ctga")
REPO_TYPES = {"dataset": "dataset", "ctga": "dataset", "adapter": "model"}
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json", records.TRAINING, "trainer_state.json",
                 "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                 "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")
log = get_logger(__name__)


@dataclass
class Upload:
    kind: str
    repo_id: str
    folder: Path | None  # the exact folder uploaded (None once a dry run's folder is removed)
    files: list[str] = field(default_factory=list)
    url: str | None = None
    card: str = ""  # its README.md


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # data files can be large: a hard link costs nothing
    except OSError:
        shutil.copy2(src, dst)


def _record(folder: Path, name: str, what: str) -> dict:
    record = read_record(folder / name)
    if record is None:
        raise PushError(f"{folder} is not {what} (no {name} in it)")
    return record


def _prepare_dataset(source: Path, dest: Path, include_examples: bool, generator: str | None = None,
                     language: list[str] | None = None, repo_id: str | None = None, **_) -> None:
    from bonito_hub.generate.card import write_generation_card
    from bonito_hub.generate.folder import FUNNEL_FILE, RUN_FILE, data_files, finished_chunks

    record = _record(source, RUN_FILE, "a `bonito generate` folder")
    funnel = read_record(source / FUNNEL_FILE)
    if funnel is None:
        raise PushError(f"{source} holds an unfinished generation run; finish it (run the same `bonito generate` "
                        "command again) before pushing")
    files = data_files(finished_chunks(source))
    if not files:
        raise PushError(f"{source}: the run kept no rows, so there is nothing to push")
    for name in (RUN_FILE, FUNNEL_FILE, *files):
        _link_or_copy(source / name, dest / name)
    examples = None
    if include_examples:
        import pyarrow.parquet as pq

        examples = pq.read_table(source / files[0], columns=["input", "output"]).slice(0, 3).to_pylist()
    # A generator loaded from a folder is named by the folder's name only: its full path can say
    # more about the user's machine than they mean to publish.
    model = generator or (Path(record["model"]).name if hub.is_local(record["model"]) else record["model"])
    write_generation_card(dest, {**record, "model": model}, funnel, files, examples=examples, language=language,
                          where=repo_id)


def _prepare_ctga(source: Path, dest: Path, repo_id: str | None = None, **_) -> None:
    from bonito_hub.ctga.publish import write_card

    record = _record(source, records.CTGA_BUILD, "a CTGA build")
    for name in [records.CTGA_BUILD] + [p for files in record["files"].values() for ps in files.values() for p in ps]:
        _link_or_copy(source / name, dest / name)
    write_card(dest, record, where=repo_id)


def _prepare_adapter(source: Path, dest: Path, base_model: str | None = None, repo_id: str | None = None,
                     evaluation: dict | None = None, datasets: list[str] | None = None, index_limited: bool = False,
                     **_) -> None:
    from bonito_hub.cards import write_adapter_card

    config_path = source / "adapter_config.json"
    if not config_path.is_file():
        raise PushError(f"{source} is not an adapter folder (no adapter_config.json in it)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    trained_on = config.get("base_model_name_or_path")
    if base_model is None:
        if not trained_on or hub.is_local(trained_on):
            raise PushError(f"the adapter was trained on {trained_on!r}, a local folder; name its Hub id with "
                            "`base_model` ORG/NAME so that others can load the adapter", field="base_model")
        base_model = trained_on
    for name in ADAPTER_FILES:
        if (source / name).is_file() and name != "adapter_config.json":
            _link_or_copy(source / name, dest / name)
    # the uploaded config names the base model on the Hub, which is what PEFT loads
    (dest / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": base_model}, indent=2))
    evaluation = evaluation or read_record(source / records.EVALUATION)
    if evaluation:  # what the card reports travels with the adapter
        (dest / records.EVALUATION).write_text(json.dumps(evaluation, indent=2, ensure_ascii=False) + "\n")
    write_adapter_card(dest, base_model, config, read_record(source / records.TRAINING), evaluation,
                       name=(repo_id or source.name).split("/")[-1], repo_id=repo_id, datasets=datasets,
                       index_limited=index_limited)


PREPARE = {"dataset": _prepare_dataset, "adapter": _prepare_adapter, "ctga": _prepare_ctga}


def prepare(kind: str, folder, dest, *, base_model: str | None = None, include_examples: bool = False,
            generator: str | None = None, language: list[str] | None = None, repo_id: str | None = None,
            evaluation: dict | None = None, datasets: list[str] | None = None, index_limited: bool = False) -> Upload:
    """Write into `dest` (a new folder) exactly what `push` would upload for `folder`: its files,
    a card, and public copies of its records (bonito_hub.privacy: no path of this machine, no
    token). An adapter's `evaluation` ({"before": scores.json record or None, "after": ...}) goes
    into its card, and `datasets` (Hub ids) are named as what it was trained on."""
    if kind not in KINDS:
        raise PushError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    source, dest = Path(folder), Path(dest)
    if not source.is_dir():
        raise PushError(f"{source}: no such folder")
    dest.mkdir(parents=True, exist_ok=True)
    if base_model is not None:
        check_repo_id(base_model, field="base_model", owner_optional=True)
    if language:
        check_languages(language)
    PREPARE[kind](source, dest, base_model=base_model, include_examples=include_examples, generator=generator,
                  language=language, repo_id=repo_id, evaluation=evaluation, datasets=datasets,
                  index_limited=index_limited)
    make_public(dest, base=source)
    found = find_tokens(dest)
    if found is not None:
        where = found[0] + (f", column {found[1]}" if found[1] else "")
        raise PushError(f"{where} holds a token or key of this machine (HF_TOKEN, the Hub's token file, or a variable "
                        "named like a key); nothing was sent. It came from the folder's own data: remove it there "
                        "(for a generated set, from the input, then generate again) before pushing")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    return Upload(kind, "", dest, files, card=(dest / "README.md").read_text(encoding="utf-8"))


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


def load_scores(path: str) -> dict:
    """A `bonito evaluate` scores.json, or a PushError saying why it is not one."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PushError(f"{path}: not a readable scores.json ({exc})") from None
    if not isinstance(record, dict) or "scores" not in record or "target" not in record:
        raise PushError(f"{path} is not a `bonito evaluate` scores.json (no scores or target in it)")
    return record


def check_scores(evaluation: dict, adapter: Path) -> None:
    """Scores a card may report as this adapter's: `after` scored this adapter, and `before`, when
    given, scored its base model alone on the same target."""
    after, before = evaluation["after"], evaluation.get("before")
    if not after.get("adapter") or not same_model(after["adapter"], str(adapter)):
        who = f"the adapter {Path(after['adapter']).name!r}" if after.get("adapter") else "the base model alone"
        raise PushError(f"`scores` are of {who}, not of the adapter {adapter.name!r}: evaluate it with "
                        f"`bonito evaluate --adapter {adapter.name}`", field="scores")
    if before is None:
        return
    if before.get("adapter"):
        raise PushError("`baseline_scores` are of an adapter; give the base model's scores alone (`bonito evaluate` "
                        "without --adapter)", field="baseline_scores")
    if (before["target"]["name"], before["target"]["kind"]) != (after["target"]["name"], after["target"]["kind"]):
        raise PushError(f"`baseline_scores` are on {before['target']['name']!r} and `scores` on "
                        f"{after['target']['name']!r}: a card compares scores on one target", field="baseline_scores")


def push(kind: str, folder, repo_id: str, *, public: bool = False, dry_run: bool = False, keep=None,
         base_model: str | None = None, include_examples: bool = False, generator: str | None = None,
         language: list[str] | None = None, evaluation: dict | None = None, scores: str | None = None,
         baseline_scores: str | None = None, datasets: list[str] | None = None, index_limited: bool = False) -> Upload:
    """Push `folder` (a `bonito generate` output, an adapter from recipes/sft.py, or a CTGA build)
    to `repo_id`, created private unless `public`. With `dry_run`, send nothing: the Upload says
    which files and which card would go, and the folder that would be uploaded is kept only when
    `keep` names where (a new folder). An adapter's card reports `evaluation` ({"before": a
    scores.json record or None, "after": ...}), or the scores.json files `scores` (the adapter's)
    and `baseline_scores` (the base model's on the same target).

    Example:
        >>> push("dataset", "generated/", "me/my-synthetic-set", dry_run=True).files
        ['README.md', 'data/chunk-000000-....parquet', 'funnel.json', 'run.json']
    """
    check_repo_id(repo_id)
    if baseline_scores and not scores:
        raise PushError("`baseline_scores` goes with `scores`", field="baseline_scores")
    if scores:
        evaluation = {"before": load_scores(baseline_scores) if baseline_scores else None,
                      "after": load_scores(scores)}
        check_scores(evaluation, Path(folder))
    if keep is not None and not dry_run:
        raise PushError("`keep` goes with `dry_run`", field="keep")
    if keep is not None and Path(keep).exists() and (not Path(keep).is_dir() or any(Path(keep).iterdir())):
        raise PushError(f"`keep` {keep} exists and is not an empty folder", field="keep")
    if not dry_run:
        hub.check_can_push(f"pushing to {repo_id}")  # offline, unreachable, no token: before any work
    source = Path(folder).resolve()
    staging = Path(tempfile.mkdtemp(prefix=f"push-{os.getpid()}-", dir=_staging_root(source)))
    try:
        upload = prepare(kind, source, staging, base_model=base_model, include_examples=include_examples,
                         generator=generator, language=language, repo_id=repo_id, evaluation=evaluation,
                         datasets=datasets, index_limited=index_limited)
        upload.repo_id = repo_id
        if dry_run and keep is not None:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(str(staging), keep)
            manifest = nearest_manifest(Path(keep) / "README.md")  # kept inside a folder of ours (adapt's push/)
            if manifest is not None:
                for path in sorted(p for p in Path(keep).rglob("*") if p.is_file()):
                    manifest.written(path)
            upload.folder = Path(keep)
        elif dry_run:
            upload.folder = None
        else:
            upload.url = _send(upload, public)
        return upload
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
    repo_type = REPO_TYPES[upload.kind]
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
