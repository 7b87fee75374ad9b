"""Cards the Hub reads: the adapter card, and the size category every data set card states.

Cards are huggingface_hub card templates (bonito_hub/data/cards/) filled from a folder's run
record, with metadata in huggingface_hub's card-data classes, which validate it.
"""

from __future__ import annotations

from pathlib import Path

from bonito_hub import hub, resources
from bonito_hub.folders import write_atomic

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


def size_category(rows: int) -> str:
    """The Hub's size category for a data set of `rows` rows."""
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1B")


HF_TASKS = {"classification": "text-classification", "exqa": "question-answering"}


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
                       datasets: list[str] | None = None, index_limited: bool = False) -> Path:
    """README.md of an adapter: library_name peft, its base model on the Hub, what it was trained on
    and how (from training_record.json when present; `datasets`, Hub ids, when the training data
    is published), how to load it from `repo_id`, and its scores before and after adaptation (from
    evaluation.json, which `bonito adapt` writes), also as the model-index."""
    from huggingface_hub import ModelCard, ModelCardData

    options = (record or {}).get("options", {})
    script = options.get("script_args", {})
    training = options.get("training_args", {})
    data_name = script.get("dataset_name")
    objective = (record or {}).get("objective")
    data = ModelCardData(
        library_name="peft",
        base_model=base_model,
        datasets=datasets or ([data_name] if data_name and not hub.is_local(data_name) else None),
        pipeline_tag="text-generation",
        tags=["bonito", "peft", "lora", "sft", "trl"] + ([objective] if objective else []),
        eval_results=eval_results(evaluation, index_limited) or None,
        model_name=(name or Path(folder).name) if evaluation else None,
    )
    card = ModelCard.from_template(
        data, template_str=resources.read_text("cards/adapter.md"), base_model=base_model, adapter=adapter_config,
        record=record, script=script, training=training, objective=objective,
        final_loss=(record or {}).get("metrics", {}).get("train_loss"), evaluation=evaluation or {},
        repo_id=repo_id or name or Path(folder).name, datasets=datasets or [],
        before_name=base_model,  # the model scored before: the base model, named by its Hub id
    )
    path = Path(folder) / "README.md"
    write_atomic(path, str(card))
    return path
