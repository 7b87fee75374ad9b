"""CTGA (Conditional Task Generation with Attributes) as a `datasets` builder.

Shaped like `datasets`' packaged builders: a typed `CtgaConfig` carries everything a build
depends on, and `Ctga` plans (`plan`), generates (`_generate_examples`) and counts (`counts`)
from it. `datasets` 4 and later run no loading scripts, so the library runs the builder itself:

    >>> from bonito_hub.ctga.builder import Ctga
    >>> builder = Ctga(config_name="exqa", sources_dir="my_sources", cache_dir="/tmp/ctga-cache")
    >>> builder.download_and_prepare()
    >>> builder.counts()["rows_per_task_type"]
    {'exqa': {'train': ..., 'validation': ...}}

`bonito ctga build` (bonito_hub.ctga.build) does this and publishes Parquet with a card whose
`configs:` make `load_dataset(DIR)` and `load_dataset(DIR, "exqa")` work. The prepared data holds
one row per sampled source row; a row that gives no example has `skip_reason` set, and is counted
but never published.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from pathlib import Path

import datasets

from bonito_hub import tasks
from bonito_hub.ctga import plan as planning
from bonito_hub.ctga.render import render_units
from bonito_hub.options import option

SPLITS = ("train", "validation")
EXAMPLE_COLUMNS = ("input", "output", "task_type", "dataset", "dataset_config", "template")
FEATURES = datasets.Features({name: datasets.Value("string") for name in EXAMPLE_COLUMNS + ("skip_reason",)})


BASE_FIELDS = {f.name for f in fields(datasets.BuilderConfig)}


@dataclass
class CtgaConfig(datasets.BuilderConfig):
    """What a CTGA build depends on: each field an option of `bonito ctga build`, its help beside it
    (task_types None: all 16; truncate: cut fields at 2,048 characters, as CTGA-v1 did)."""

    task_types: list[str] | None = option(None, metavar="TYPE", help="only these task types (short or full names; "
                                          "bonito tasks lists them)")
    seed: int = option(42, help="draws rows, templates and choices inside them")
    max_per_source: int = option(100_000, help="rows sampled per source")
    validation_fraction: float = option(0.01, help="share of each source's sample held out")
    truncate: bool = option(True, flag="--no-truncate", help="keep whole fields (CTGA-v1 cut them at 2,048 "
                                                             "characters)")
    task_table: str = option("bonito-hub", help="which templates, with which task types: bonito-hub (ours, default), "
                             "ctga-v1 (exactly CTGA-v1's, from the table released with the paper), or a YAML file in "
                             "our table's format")
    registry: str | None = option(None, help="a sources.yaml to use instead of the packaged one "
                                  "(dataset_builders/ctga/sources.yaml)")
    sources_dir: str | None = option(None, help="read sources from SRC/<name>/<split>.jsonl|.parquet instead of the "
                                     "Hub")
    promptsource_dir: str | None = option(None, help="folder with promptsource's templates or its sdist (default: "
                                          "fetch with pip)")
    skip_missing: bool = option(False, help="build without sources that fail to load (listed in the card)")

    def __post_init__(self):
        from bonito_hub.errors import ConfigError

        super().__post_init__()
        if self.task_types:
            self.task_types = [tasks.normalize(t) for t in self.task_types]
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"`validation_fraction` must be in [0, 1), got {self.validation_fraction}",
                              field="validation_fraction")
        if self.max_per_source < 1:
            raise ConfigError(f"`max_per_source` must be at least 1, got {self.max_per_source}", field="max_per_source")
        if self.sources_dir is not None and not Path(self.sources_dir).is_dir():
            raise ConfigError(f"`sources_dir` {self.sources_dir} is not a folder", field="sources_dir")

    def options(self) -> dict:
        """The fields a build depends on (those of CtgaConfig, not of datasets' BuilderConfig)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in BASE_FIELDS}


class Ctga(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = CtgaConfig
    BUILDER_CONFIGS = [CtgaConfig(name="all", description="All 16 task types.")] + [
        CtgaConfig(name=short, task_types=[short], description=tasks.full_name(short)) for short in tasks.short_names()
    ]
    DEFAULT_CONFIG_NAME = "all"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.task_types:  # keyword overrides of a named config skip CtgaConfig.__post_init__
            self.config.task_types = [tasks.normalize(t) for t in self.config.task_types]

    def _info(self):
        return datasets.DatasetInfo(
            description="Meta-templated P3 examples for training Bonito task generators.",
            features=FEATURES,
            homepage="https://arxiv.org/abs/2402.18334",
        )

    @property
    def plan(self) -> planning.Plan:
        """The sources loaded and the rows sampled from each, made once per builder."""
        if getattr(self, "_plan", None) is None:
            self._plan = planning.make_plan(self.config)
        return self._plan

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=split, gen_kwargs={"units": units})
                for split, units in self.plan.units.items() if units]

    def _generate_examples(self, units):
        yield from render_units(units, self.config)

    def counts(self) -> dict:
        """Kept rows per task type, source and template, and skipped rows per template and reason,
        counted from the prepared data."""
        return count_rows({split: self.as_dataset(split=split) for split in SPLITS if split in self.info.splits})


def count_rows(splits: dict) -> dict:
    """The counts of `Ctga.counts` from prepared splits ({split: Dataset})."""
    per_task, per_source, per_template = Counter(), Counter(), Counter()
    skipped_per_template, skipped_rows = defaultdict(Counter), Counter()
    short_of = {tasks.full_name(s): s for s in tasks.short_names()}
    columns = ["task_type", "dataset", "dataset_config", "template", "skip_reason"]
    for split, ds in splits.items():
        table = ds.with_format("arrow").select_columns(columns)[:]
        grouped = table.group_by(columns, use_threads=False).aggregate([([], "count_all")])
        for task_type, dataset, config, template, reason, n in zip(*(grouped[c].to_pylist() for c in columns),
                                                                   grouped["count_all"].to_pylist()):
            source = dataset if config is None else f"{dataset}/{config}"
            if reason is None:
                per_task[(short_of[task_type], split)] += n
                per_source[(source, split)] += n
                per_template[(source, template)] += n
            else:
                skipped_per_template[f"{source} / {template}"][reason] += n
                skipped_rows[reason] += n
    return {
        "rows_per_task_type": {t: {sp: per_task[(t, sp)] for sp in SPLITS}
                               for t in tasks.short_names() if per_task[(t, "train")] + per_task[(t, "validation")]},
        "rows_per_source": {s: {sp: n for (s2, sp), n in per_source.items() if s2 == s} for s, _ in per_source},
        "rows_per_template": {f"{s} / {t}": n for (s, t), n in sorted(per_template.items())},
        "skipped_per_template": {k: dict(v) for k, v in sorted(skipped_per_template.items())},
        "skipped_by_reason": dict(skipped_rows),
    }
