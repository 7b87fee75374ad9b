"""An adapter on the Hub: its weights, config (naming the base model's Hub id), tokenizer, loss
history and bonito-hub's card, with the scores it was given; the upload itself is bonito_hub.push's."""

from __future__ import annotations

import json
from pathlib import Path

from bonito_hub import hub, records
from bonito_hub.cards import model_license, write_adapter_card
from bonito_hub.errors import PushError
from bonito_hub.models import same_model
from bonito_hub.push import Upload, check_repo_id, link_or_copy, upload
from bonito_hub.records import read_record

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json", records.TRAINING, "trainer_state.json",
                 "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                 "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")


def prepare_upload(source: Path, dest: Path, base_model: str | None = None, repo_id: str | None = None,
                   evaluation: dict | None = None, datasets: list[str] | None = None,
                   index_limited: bool = False) -> None:
    """Write into `dest` what a push of the adapter folder `source` uploads."""
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
            link_or_copy(source / name, dest / name)
    # the uploaded config names the base model on the Hub, which is what PEFT loads
    (dest / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": base_model}, indent=2))
    evaluation = evaluation or read_record(source / records.EVALUATION)
    if evaluation:  # what the card reports travels with the adapter
        (dest / records.EVALUATION).write_text(json.dumps(evaluation, indent=2, ensure_ascii=False) + "\n")
    record = read_record(source / records.TRAINING)
    write_adapter_card(dest, base_model, config, record, evaluation,
                       name=(repo_id or source.name).split("/")[-1], repo_id=repo_id, datasets=datasets,
                       index_limited=index_limited, base_license=model_license(trained_on, base_model),
                       language=data_languages(record))


def data_languages(record: dict | None) -> list[str] | None:
    """The languages of the data an adapter was trained on, when it was a `bonito generate` folder
    still on this machine (its funnel's)."""
    from bonito_hub.language import of_funnel

    name = ((record or {}).get("options", {}).get("script_args", {}) or {}).get("dataset_name")
    if not name or not hub.is_local(name) or not Path(name).is_dir():
        return None
    funnel = read_record(Path(name) / records.FUNNEL)  # funnel.json, as the run wrote it
    return of_funnel((funnel or {}).get("languages"), None) or None


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


def push_adapter(folder, repo_id: str, *, public: bool = False, dry_run: bool = False, keep=None,
                 base_model: str | None = None, evaluation: dict | None = None, scores: str | None = None,
                 baseline_scores: str | None = None, datasets: list[str] | None = None,
                 index_limited: bool = False) -> Upload:
    """Push an adapter folder to the model repo `repo_id` with its card, private unless `public`
    (bonito_hub.push.upload says what `dry_run` and `keep` do). The card reports `evaluation`
    ({"before": a scores.json record or None, "after": ...}), or the scores.json files `scores` (the
    adapter's) and `baseline_scores` (the base model's on the same target); `datasets` (Hub ids)
    are named as what it was trained on; `base_model` is the base model's Hub id when training
    loaded it from a folder."""
    check_repo_id(repo_id)
    if baseline_scores and not scores:
        raise PushError("`baseline_scores` goes with `scores`", field="baseline_scores")
    if scores:
        evaluation = {"before": load_scores(baseline_scores) if baseline_scores else None,
                      "after": load_scores(scores)}
        check_scores(evaluation, Path(folder))
    if base_model is not None:
        check_repo_id(base_model, field="base_model", owner_optional=True)
    return upload("adapter", folder, repo_id,
                  lambda source, dest: prepare_upload(source, dest, base_model, repo_id, evaluation, datasets,
                                                      index_limited),
                  repo_type="model", public=public, dry_run=dry_run, keep=keep)
