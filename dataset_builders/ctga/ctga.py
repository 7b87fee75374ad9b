"""CTGA (Conditional Task Generation with Attributes) as a `datasets` builder.

`datasets` 4+ runs no loading scripts, so this builder is run by the library:
`bonito ctga build --output DIR` (bonito_hub.ctga.build) prepares it and publishes Parquet with
a card whose `configs:` make `load_dataset(DIR)` and `load_dataset(DIR, "exqa")` work.
Configs: `all`, and one per task type named by its short name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from bonito_hub import tasks
from bonito_hub.ctga import build

FEATURES = datasets.Features(
    {
        "input": datasets.Value("string"),
        "output": datasets.Value("string"),
        "task_type": datasets.Value("string"),
        "dataset": datasets.Value("string"),
        "dataset_config": datasets.Value("string"),
        "template": datasets.Value("string"),
    }
)


@dataclass
class CtgaConfig(datasets.BuilderConfig):
    task_types: list[str] | None = None  # short names; None for all 16
    options: dict = field(default_factory=dict)  # bonito_hub.ctga.build.BuildOptions as a dict


class Ctga(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = CtgaConfig
    BUILDER_CONFIGS = [CtgaConfig(name="all", description="All 16 task types.")] + [
        CtgaConfig(name=short, task_types=[short], description=tasks.full_name(short)) for short in tasks.short_names()
    ]
    DEFAULT_CONFIG_NAME = "all"

    def _info(self):
        return datasets.DatasetInfo(
            description="Meta-templated P3 examples for training Bonito task generators.",
            features=FEATURES,
            homepage="https://arxiv.org/abs/2402.18334",
        )

    def _split_generators(self, dl_manager):
        self.plan = build.make_plan(build.BuildOptions.from_dict(self.config.options), self.config.task_types)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"units": units})
            for split, units in self.plan.units.items()
            if units
        ]

    def _generate_examples(self, units):
        yield from build.render_units(units, build.BuildOptions.from_dict(self.config.options), self.config.task_types)
