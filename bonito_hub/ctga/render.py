"""Rendering a CTGA plan's units: every sampled row becomes a generator example, or a skip with
its reason.

The meta-template chosen for a row, and every random choice inside it, depend only on
(seed, source, row index). A row that gives no example is still yielded, with `skip_reason` set
(and the template it was given, or "-" when the row has no passage): the prepared data then
accounts for every sampled row, and the build counts kept and skipped rows from it alone, with
no side channel out of the worker processes. Only rows without a skip reason are published.
"""

from __future__ import annotations

import random
from functools import lru_cache

from bonito_hub import tasks
from bonito_hub.ctga.meta_template import Renderer, RenderSkip
from bonito_hub.ctga.plan import Unit, meta_templates
from bonito_hub.ctga.sources import load_registry
from bonito_hub.format import generator_input, generator_target

TAKE_ROWS = 500  # rows converted from Arrow to Python at a time


@lru_cache(maxsize=2)
def renderer(truncate: bool) -> Renderer:
    return Renderer(truncate=truncate)


def compile_all(config) -> None:
    """Compile every selected meta-template once, before any worker starts: a broken table or
    template fails here, before any source is loaded."""
    registry = load_registry(config.registry)
    r = renderer(config.truncate)
    for name, items in meta_templates(config).items():
        for a in items:
            r.compile(a.template, registry[name].passage)


@lru_cache(maxsize=8)
def _source_table(files: tuple[str, ...]):
    """A source's memory-mapped Arrow table, opened once per process."""
    import datasets
    import pyarrow as pa

    return pa.concat_tables([datasets.Dataset.from_file(f).data.table for f in files])


def _passage_empty(value) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not any(isinstance(v, str) and v.strip() for v in value)
    return False


def render_units(units: list[Unit], config):
    """Yield (key, example) for every row of the units, in order."""
    registry = load_registry(config.registry)
    selected = meta_templates(config)
    r = renderer(config.truncate)
    full_names = {s: tasks.full_name(s) for s in tasks.short_names()}
    for unit in units:
        source = registry[unit.source]
        candidates = selected[unit.source]
        table = _source_table(tuple(unit.files))
        for start in range(0, len(unit.indices), TAKE_ROWS):
            chunk = unit.indices[start:start + TAKE_ROWS]
            for idx, row in zip(chunk, table.take(chunk).to_pylist()):
                rng = random.Random(f"{config.seed}/{unit.source}/{idx}")
                chosen = candidates[rng.randrange(len(candidates))]
                example = {"input": "", "output": "", "task_type": full_names[chosen.task_type],
                           "dataset": source.dataset, "dataset_config": source.dataset_config,
                           "template": chosen.template.name, "skip_reason": None}
                passage = row.get(source.passage)
                if passage is None or _passage_empty(passage):
                    example["template"] = "-"
                    example["skip_reason"] = "missing_passage_field" if passage is None else "empty_passage"
                else:
                    try:
                        rendered = r.render(chosen.template, source.passage, row, rng)
                        example["input"] = generator_input(chosen.task_type, rendered.passage)
                        example["output"] = generator_target(rendered.instruction, rendered.response)
                    except RenderSkip as skip:
                        example["skip_reason"] = skip.reason
                yield f"{unit.source}/{idx}", example
