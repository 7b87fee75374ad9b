"""The Hub's card metadata rules, checked offline: the vocabulary in
tests/fixtures/hub_metadata/card_schema.json (vendored from the Hub's documentation and
huggingface.js), applied to a card as huggingface_hub parses it."""

from __future__ import annotations

import json
import re
from pathlib import Path

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "hub_metadata" / "card_schema.json").read_text())
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
LICENSE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


def _listed(data: dict, key: str, allowed, errors: list) -> None:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not value:
        errors.append(f"{key}: not a non-empty list ({value!r})")
        return
    bad = [v for v in value if v not in allowed]
    if bad:
        errors.append(f"{key}: {bad} not among the Hub's values")


def _license(data: dict, errors: list) -> None:
    license = data.get("license")
    if license is None:
        errors.append("no license")
    elif license not in SCHEMA["licenses"]:
        errors.append(f"license {license!r} is not a Hub licence id")
    elif license == "other":
        if not data.get("license_name") or not LICENSE_NAME.fullmatch(data["license_name"]):
            errors.append(f"license other without a license_name id ({data.get('license_name')!r})")
        if not data.get("license_link"):
            errors.append("license other without a license_link")


def card_errors(text: str, kind: str) -> list[str]:
    """What in the card `text` (README.md) the Hub's metadata rules refuse; `kind` dataset or model."""
    from huggingface_hub import DatasetCard, ModelCard

    card = (DatasetCard if kind == "dataset" else ModelCard)(text, ignore_metadata_errors=False)
    data = card.data.to_dict()
    errors: list[str] = []
    _license(data, errors)
    languages = data.get("language")
    languages = [languages] if isinstance(languages, str) else languages  # the Hub takes a code or a list
    if languages is not None and not all(isinstance(c, str) and LANGUAGE.fullmatch(c) for c in languages):
        errors.append(f"language: {languages} holds a code that is not ISO 639")
    subtasks = {s for subs in SCHEMA["pipelines"].values() for s in subs}
    if kind == "dataset":
        for key in ("annotations_creators", "language_creators", "size_categories", "task_categories", "task_ids",
                    "source_datasets", "pretty_name"):
            if not data.get(key):
                errors.append(f"no {key}")
        _listed(data, "annotations_creators", SCHEMA["annotations_creators"], errors)
        _listed(data, "language_creators", SCHEMA["language_creators"], errors)
        _listed(data, "size_categories", SCHEMA["size_categories"], errors)
        _listed(data, "task_categories", SCHEMA["pipelines"], errors)
        if data.get("task_ids") is not None:
            _listed(data, "task_ids", subtasks, errors)
        for source in data.get("source_datasets") or []:
            if not (source in ("original", "extended") or (source.startswith("extended|")
                                                           and REPO_ID.fullmatch(source.split("|", 1)[1]))):
                errors.append(f"source_datasets: {source!r} is not original or extended|ORG/NAME")
        for config in data.get("configs") or []:
            if not config.get("config_name") or not config.get("data_files"):
                errors.append(f"configs: {config} lacks config_name or data_files")
    else:
        if data.get("base_model_relation") not in SCHEMA["base_model_relation"]:
            errors.append(f"base_model_relation {data.get('base_model_relation')!r}")
        if not data.get("base_model"):
            errors.append("no base_model")
        if data.get("pipeline_tag") not in SCHEMA["pipelines"]:
            errors.append(f"pipeline_tag {data.get('pipeline_tag')!r}")
        _listed(data, "datasets", [d for d in data.get("datasets") or [] if REPO_ID.fullmatch(d)], errors)
    return errors
