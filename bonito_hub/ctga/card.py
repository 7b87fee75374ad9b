"""The CTGA data set card: YAML `configs:` that `load_dataset` reads, plus the build's counts."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from bonito_hub.paths import card_template


def write_card(folder: Path, record: dict) -> Path:
    data = DatasetCardData(
        language="en",
        license="other",
        pretty_name="CTGA (built by bonito-hub)",
        task_categories=["text-generation"],
        tags=["bonito", "synthetic-instruction-tuning", "ctga"],
        configs=record["configs"],
    )
    card = DatasetCard.from_template(data, template_path=str(card_template("ctga.md")), **record)
    path = Path(folder) / "README.md"
    card.save(path)
    return path
