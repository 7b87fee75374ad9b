"""Where the project's data files live: the builder folder and the card templates."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CTGA_BUILDER_DIR = REPO_ROOT / "dataset_builders" / "ctga"
MODEL_CARDS_DIR = REPO_ROOT / "model_cards"


def ctga_file(name: str) -> Path:
    path = CTGA_BUILDER_DIR / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: bonito-hub reads its CTGA tables from the repository checkout; "
            "install it with `pip install -e .` from a clone"
        )
    return path


def card_template(name: str) -> Path:
    path = MODEL_CARDS_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"card template {path} not found")
    return path
