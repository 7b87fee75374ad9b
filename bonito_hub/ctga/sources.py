"""The registry of CTGA's source data sets, and loading one from the Hub or a local folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bonito_hub import resources
from bonito_hub.errors import ConfigError, SourceError, cause

LOCAL_SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass(frozen=True)
class Source:
    name: str  # P3 name, e.g. "super_glue/boolq"
    passage: str
    repo: str
    config: str | None = None
    revision: str | None = None
    data_dir: str | None = None
    split: str = "train"
    license: str | None = None

    @property
    def dataset(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def dataset_config(self) -> str | None:
        return self.name.split("/", 1)[1] if "/" in self.name else None


REGISTRY = "ctga/sources.yaml"


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Source]:
    """The sources of `path`, a YAML list in sources.yaml's format, or of the packaged registry."""
    if path:
        if not Path(path).is_file():
            raise ConfigError(f"`registry` {path}: no such file", field="registry")
        entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    else:
        path = f"bonito_hub/data/{REGISTRY}"
        entries = yaml.safe_load(resources.read_text(REGISTRY))
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of sources")
    known = set(Source.__dataclass_fields__)
    registry = {}
    for i, entry in enumerate(entries):
        missing = {"name", "passage", "repo"} - set(entry or {})
        unknown = set(entry or {}) - known
        if missing or unknown:
            raise ConfigError(f"{path}: entry {i + 1} has missing keys {sorted(missing)} or unknown keys {sorted(unknown)}")
        src = Source(**{k: (str(v) if v is not None else None) for k, v in entry.items()})
        if src.name in registry:
            raise ConfigError(f"{path}: source {src.name} is listed twice")
        registry[src.name] = src
    return registry


def local_file(source: Source, sources_dir: str | os.PathLike) -> Path | None:
    base = Path(sources_dir) / source.name
    for suffix in LOCAL_SUFFIXES:
        candidate = base / f"{source.split}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_source(source: Source, sources_dir: str | os.PathLike | None = None, cache_dir: str | None = None):
    """The source's split as a `datasets.Dataset` (memory-mapped Arrow), or SourceError."""
    import datasets

    try:
        if sources_dir is not None:
            path = local_file(source, sources_dir)
            if path is None:
                raise SourceError(
                    f"source {source.name}: no {source.split}{{{','.join(LOCAL_SUFFIXES)}}} under "
                    f"{Path(sources_dir) / source.name}"
                )
            builder = "parquet" if path.suffix == ".parquet" else "json"
            return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache_dir)
        return datasets.load_dataset(
            source.repo, name=source.config, revision=source.revision, data_dir=source.data_dir,
            split=source.split, cache_dir=cache_dir,
        )
    except SourceError:
        raise
    except Exception as exc:
        where = f"{source.repo}" + (f" config={source.config}" if source.config else "") + (
            f" revision={source.revision}" if source.revision else "") + (
            f" data_dir={source.data_dir}" if source.data_dir else "")
        raise SourceError(f"source {source.name} ({where}, split {source.split}): {cause(exc)}") from exc
