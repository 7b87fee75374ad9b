"""Cards the Hub reads: the adapter card, and the size category every data set card states.

Cards are huggingface_hub card templates (bonito_hub/data/cards/) filled from a folder's run
record, with metadata in huggingface_hub's card-data classes, which validate it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from bonito_hub import hub, resources
from bonito_hub.errors import PushError
from bonito_hub.folders import write_atomic
from bonito_hub.options import option

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (10**12, "100B<n<1T")]


def size_category(rows: int) -> str:
    """The Hub's size category for a data set of `rows` rows."""
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1T")


@functools.cache
def hub_metadata() -> dict:
    """bonito_hub/data/cards/hub_metadata.yaml: the Hub's licence identifiers, and each task type's
    task categories and ids."""
    import yaml

    return yaml.safe_load(resources.read_text("cards/hub_metadata.yaml"))


def license_fields(license: str | None, name: str | None = None, link: str | None = None, *,
                   public: bool = False, field: str = "license") -> dict:
    """The card's licence metadata for a data set the user publishes: `license` a Hub licence
    identifier; `other` with `name` (an id of the user's choosing) and `link` (a URL, or a file in
    the repo). A public push needs a licence chosen; a private one without is `unknown`. A
    PushError names the option that is wrong, before any work."""
    if license is None:
        if public:
            raise PushError(f"a public data set needs a licence: pass `{field}` (a Hub licence id such as cc-by-4.0, "
                            "apache-2.0, or other with its name and link; `unknown` if you cannot say)", field=field)
        if name or link:
            raise PushError(f"`{field}_name` and `{field}_link` go with `{field}` other", field=f"{field}_name")
        return {"license": "unknown"}
    known = hub_metadata()["licenses"]
    if license not in known:
        close = [k for k in known if k.startswith(license.split("-")[0].lower())][:6]
        raise PushError(f"`{field}` {license!r} is not a licence id the Hub knows" +
                        (f" (close: {', '.join(close)})" if close else "") + "; give other with its name and link "
                        "for any other licence", field=field)
    if license == "other":
        if not name or not link:
            raise PushError(f"`{field}` other needs `{field}_name` (an id for it, e.g. my-licence-1.0) and "
                            f"`{field}_link` (its URL, or LICENSE for a file in the repo)",
                            field=f"{field}_name" if not name else f"{field}_link")
        return {"license": "other", "license_name": name, "license_link": link}
    if name or link:
        raise PushError(f"`{field}_name` and `{field}_link` go with `{field}` other only", field=f"{field}_name")
    return {"license": license}


@dataclass(kw_only=True)
class LicenseOptions:
    """The licence a pushed data set is published under (`bonito push dataset`, `bonito generate
    --push-to-hub`, `bonito adapt --push`): the user's to choose, since the rows are made from
    their documents."""

    license: str | None = option(None, metavar="ID", help="the data set's licence on the Hub: a Hub licence id "
                                 "(cc-by-4.0, apache-2.0, unknown...), or other with --license-name and "
                                 "--license-link; required for a public push (private default: unknown)")
    license_name: str | None = option(None, metavar="NAME", help="with --license other: an id for the licence "
                                      "(e.g. acme-internal-1.0)")
    license_link: str | None = option(None, metavar="URL", help="with --license other: the licence's URL (or "
                                      "LICENSE, a file you add to the repo)")

    def card_fields(self, public: bool) -> dict:
        return license_fields(self.license, self.license_name, self.license_link, public=public)


def task_metadata(types) -> dict:
    """The Hub's task_categories and task_ids for rows of these task types (short names), in the
    order of the types; text-generation always, since every row trains a model to write its response."""
    table = hub_metadata()["task_types"]
    categories, ids = [], []
    for short in types:
        categories += [c for c in table[short]["task_categories"] if c not in categories]
        ids += [i for i in table[short]["task_ids"] if i not in ids]
    if "text-generation" not in categories:
        categories.append("text-generation")
    return {"task_categories": categories, "task_ids": ids}


HF_TASKS = {"classification": "text-classification", "exqa": "question-answering"}


def model_license(*places) -> dict | None:
    """The licence fields of the first of `places` (a model folder, or a Hub id when the Hub can
    be reached) whose card states one; None when none does."""
    from huggingface_hub import ModelCard

    for place in places:
        if not place:
            continue
        try:
            if hub.is_local(place):
                readme = Path(place) / "README.md"
                if not readme.is_file():
                    continue
                card = ModelCard.load(readme)
            else:
                hub.check_reachable(f"the card of {place}")  # said at once when offline or unreachable
                card = ModelCard.load(place)
        except Exception:  # no card, an unreadable one, the Hub not answering: the next place
            continue
        data = card.data.to_dict()
        if data.get("license"):
            return {k: data[k] for k in ("license", "license_name", "license_link") if data.get(k)}
    return None


def eval_results(evaluation: dict | None, include_limited: bool = False) -> list:
    """The card's model-index: the adapter's mean scores (the `after` evaluation), one EvalResult a
    metric; an evaluation on the first rows only (`--limit`) is a quick look, not a result to
    index, unless `include_limited`."""
    from huggingface_hub import EvalResult

    after = (evaluation or {}).get("after")
    if not after or (after.get("limited") and not include_limited):
        return []
    target = after["target"]
    dataset = target["source"].get("dataset") or "local"
    return [EvalResult(task_type=HF_TASKS[target["kind"]], dataset_type=dataset, dataset_name=target["title"],
                       dataset_config=target["source"].get("config"), dataset_split=target["source"].get("split"),
                       dataset_revision=target["source"].get("commit") or target["source"].get("revision"),
                       metric_type=metric, metric_name=f"{metric} (mean of {len(target['prompts'])} prompts)",
                       metric_value=round(after["scores"]["mean"][metric], 2))
            for metric in after["metrics"]]


def write_adapter_card(folder: Path, base_model: str, adapter_config: dict, record: dict | None,
                       evaluation: dict | None = None, name: str | None = None, repo_id: str | None = None,
                       datasets: list[str] | None = None, index_limited: bool = False,
                       base_license: dict | None = None, language: list[str] | None = None) -> Path:
    """README.md of an adapter: library_name peft, its base model on the Hub (base_model_relation
    adapter) and that model's licence (`base_license`, bonito_hub.cards.model_license; None: a link
    to the base model's page, whose licence applies), what it was trained on and how (from
    training_record.json when present; `datasets`, Hub ids, when the training data is published;
    `language`, that data's), how to load it from `repo_id`, and its scores before and after
    adaptation (from evaluation.json, which `bonito adapt` writes), also as the model-index."""
    from huggingface_hub import ModelCard, ModelCardData

    options = (record or {}).get("options", {})
    script = options.get("script_args", {})
    training = options.get("training_args", {})
    data_name = script.get("dataset_name")
    objective = (record or {}).get("objective")
    # the targets as the recipe wrote them (all-linear), not the modules PEFT expanded them to
    targets = options.get("model_args", {}).get("lora_target_modules") or adapter_config.get("target_modules")
    if isinstance(targets, (list, tuple, set)):
        targets = ", ".join(sorted(targets))
    final_loss = (record or {}).get("metrics", {}).get("train_loss")
    data = ModelCardData(
        library_name="peft",
        base_model=base_model,
        base_model_relation="adapter",
        **(base_license or {"license": "other", "license_name": "base-model-license",
                            "license_link": f"https://huggingface.co/{base_model}"}),
        language=language or None,
        datasets=datasets or ([data_name] if data_name and not hub.is_local(data_name) else None),
        pipeline_tag="text-generation",
        tags=["bonito", "peft", "lora", "sft", "trl"] + ([objective] if objective else []),
        eval_results=eval_results(evaluation, index_limited) or None,
        model_name=(name or Path(folder).name) if evaluation else None,
    )
    card = ModelCard.from_template(
        data, template_str=resources.read_text("cards/adapter.md"), base_model=base_model, adapter=adapter_config,
        record=record, script=script, training=training, objective=objective, targets=targets,
        final_loss=None if final_loss is None else float(f"{final_loss:.4g}"), evaluation=evaluation or {},
        base_license=base_license,
        repo_id=repo_id or name or Path(folder).name, datasets=datasets or [],
        before_name=base_model,  # the model scored before: the base model, named by its Hub id
    )
    path = Path(folder) / "README.md"
    write_atomic(path, str(card))
    return path
