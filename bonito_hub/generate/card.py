"""The card of a generation folder: YAML `configs:` for load_dataset, the funnel and the settings."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from bonito_hub import resources, tasks
from bonito_hub.language import of_funnel
from bonito_hub.folders import write_atomic


PROMPT_COLUMNS = {"standard": "`prompt`/`completion`, strings",
                  "conversational": "`prompt`/`completion`, the user's and the assistant's turns as messages",
                  "messages": "`messages`, the user's turn and the assistant's"}


def kept_by_type(funnel: dict, types) -> dict[str, int]:
    """Rows kept of each task type of the run."""
    if funnel.get("by_type"):
        return {short: funnel["by_type"].get(short, {}).get("kept", 0) for short in types}
    return {types[0]: funnel["kept"]}


def write_generation_card(folder: Path, record: dict, funnel, data_files: list[str],
                          examples: list[dict] | None = None, language: list[str] | None = None,
                          where: str | None = None, license: dict | None = None, fmt: str | None = None) -> Path:
    """README.md of a run, from its record (run.json) and funnel. The corpus is not quoted, unless
    `examples` (rows to show, for `bonito push --include-examples`) are given. `language`: the
    card's `language:` (`bonito push --language`); None: the languages detected in the documents.
    `license`: the licence fields the user chose (bonito_hub.cards.license_fields; None: unknown).
    The Hub's task categories are those of the types that kept rows. `fmt`: the format the rows were
    written in (bonito_hub.generate.folder.written_format; None: the one the run records)."""
    from bonito_hub.cards import size_category, task_metadata
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
    kept = kept_by_type(funnel, types)
    fmt = fmt or run["format"]
    source = record.get("source_dataset")
    data = DatasetCardData(
        language=language,
        **(license or {"license": "unknown"}),
        annotations_creators=["machine-generated"],
        language_creators=["found"],
        source_datasets=[f"extended|{source}" if source else "original"],
        **task_metadata([t for t in types if kept[t]]),
        size_categories=[size_category(funnel["kept"])],
        pretty_name=f"Bonito tasks: {', '.join(tasks.full_name(t) for t in types)}",
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
        prompt_columns=PROMPT_COLUMNS[fmt], fmt=fmt, empty_types=[t for t in types if not kept[t]],
        source_dataset=source,
        language_filter=run.get("language_filter"),
    )
    path = Path(folder) / "README.md"
    write_atomic(path, str(card))
    return path
