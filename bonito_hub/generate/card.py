"""The card of a generation folder: YAML `configs:` for load_dataset, the funnel and the settings."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from bonito_hub import resources, tasks
from bonito_hub.language import of_funnel
from bonito_hub.folders import write_atomic


def write_generation_card(folder: Path, record: dict, funnel, data_files: list[str],
                          examples: list[dict] | None = None, language: list[str] | None = None,
                          where: str | None = None) -> Path:
    """README.md of a run, from its record (run.json) and funnel. The corpus is not quoted, unless
    `examples` (rows to show, for `bonito push --include-examples`) are given. `language`: the
    card's `language:` (`bonito push --language`); None: the languages detected in the documents."""
    from bonito_hub.cards import size_category
    from bonito_hub.generate.funnel import Funnel

    funnel = funnel.to_dict() if isinstance(funnel, Funnel) else funnel  # the card shows what funnel.json holds
    run = record["options"]
    language = language or of_funnel(funnel.get("languages"), run.get("language_filter"))  # the push's wins
    types = tasks.parse_types(run["task_type"])
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": data_files}]}]
    if len(types) > 1:  # data/TYPE/...: a config a type, and all of them together
        configs = [{"config_name": "all", "data_files": [{"split": "train", "path": data_files}], "default": True}]
        for short in types:
            mine = [f for f in data_files if f.startswith(f"data/{short}/")]
            if mine:
                configs.append({"config_name": short, "data_files": [{"split": "train", "path": mine}]})
    data = DatasetCardData(
        language=language,
        license="other",
        task_categories=["text-generation"],
        size_categories=[size_category(funnel["kept"])],
        tags=["bonito", "synthetic", *types],
        generator_model=record["model"],
        # Explicit file names, not a pattern: datasets keys its cache on the configs, and a pattern
        # that stays the same while the files change would serve an older run from the cache.
        configs=configs,
    )
    card = DatasetCard.from_template(
        data, template_str=resources.read_text("cards/generated.md"), run=run, funnel=funnel,
        model=record["model"], server=record.get("server"), num_documents=record["input"]["num_documents"], partial=not funnel["complete"],
        fingerprint=record["input"].get("fingerprint"), examples=examples,
        task_type_full=", ".join(tasks.full_name(t) for t in types), types=types, mix=run.get("task_mix"),
        config_names=[c["config_name"] for c in configs] if len(types) > 1 else None, where=where or Path(folder).name,
        prompt_columns="`prompt`/`completion`" if run["format"] == "standard" else "`messages`",
        language_filter=run.get("language_filter"),
    )
    path = Path(folder) / "README.md"
    write_atomic(path, str(card))
    return path
