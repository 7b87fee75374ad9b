"""The data files bonito-hub ships: read from the installed package, never from a checkout.

They live in bonito_hub/data/ (the design's top-level folders, dataset_builders/ctga/ and
model_cards/, hold links to them, so they can be found and edited where the design puts them):
  task_types.yaml                the 16 task types, short name -> full name
  generation_presets.yaml        sampling and filter presets of `bonito generate`
  ctga/sources.yaml              CTGA's source registry
  ctga/task_types.yaml           our task-type table: every promptsource template of every source
  ctga/ctga_v1_task_types.csv    CTGA-v1's table as released with the paper
  cards/ctga.md, cards/generated.md, cards/adapter.md, cards/export.md   the card templates
  cards/hub_metadata.yaml        the Hub's licence ids, and each task type's task categories and ids
  throughput.yaml                generation rates measured per device class, for a dry run's time
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.resources.abc is Python 3.11+; we support 3.10
    from importlib.resources.abc import Traversable


def _data(relative: str, folder: bool) -> "Traversable":
    path = resources.files("bonito_hub") / "data"
    for part in relative.split("/"):
        path = path / part
    if not (path.is_dir() if folder else path.is_file()):
        raise FileNotFoundError(f"bonito-hub's data {'folder' if folder else 'file'} data/{relative} is missing from "
                                "the installed package (a broken install: reinstall bonito-hub)")
    return path


def data_file(relative: str) -> "Traversable":
    """The packaged data file at `relative` (a path under bonito_hub/data, with "/")."""
    return _data(relative, folder=False)


def data_dir(relative: str) -> "Traversable":
    """The packaged data folder at `relative`."""
    return _data(relative, folder=True)


def read_text(relative: str) -> str:
    return data_file(relative).read_text(encoding="utf-8")
