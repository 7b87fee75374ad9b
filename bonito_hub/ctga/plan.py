"""Planning a CTGA build: which meta-templates apply, and which rows of each source are rendered.

The rows sampled from a source depend only on (seed, source size): a permutation drawn with
`seed`, cut at `max_per_source`, the first `validation_fraction` of it held out. They are cut
into units of UNIT_ROWS rows whose order is fixed here, before any worker starts, so the build
is the same row for row whatever --num-proc is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from bonito_hub.console import get_logger, progress_bar
from bonito_hub.ctga import promptsource
from bonito_hub.ctga.catalog import Assigned, Catalog, build_catalog
from bonito_hub.ctga.sources import Source, load_registry, load_source
from bonito_hub.errors import CtgaBuildError, SourceError

UNIT_ROWS = 2000
log = get_logger(__name__)


@dataclass
class Unit:
    """Rows of one source, rendered together by one worker."""

    id: str  # "<split>-NNNNNN"
    source: str
    files: list[str]  # the source's Arrow cache files
    indices: list[int]


@dataclass
class Plan:
    units: dict[str, list[Unit]] = field(default_factory=lambda: {"train": [], "validation": []})
    sources: dict[str, dict] = field(default_factory=dict)  # name -> rows, sampled, fingerprint, origin
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was left out


# Filled in the main process before workers fork, so workers share them.
@lru_cache(maxsize=4)
def templates(promptsource_dir: str | None, registry: str | None) -> dict:
    names = set(load_registry(registry))
    # multi_news has templates but is no CTGA source; the table still accounts for them.
    return promptsource.load_templates(promptsource_dir, names | {"multi_news"})


@lru_cache(maxsize=4)
def catalog(promptsource_dir: str | None, registry: str | None, task_table: str) -> Catalog:
    return build_catalog(templates(promptsource_dir, registry), list(load_registry(registry)), task_table)


def meta_templates(config) -> dict[str, list[Assigned]]:
    """Source name -> the meta-templates a build with `config` (a CtgaConfig) draws from."""
    return catalog(config.promptsource_dir, config.registry, config.task_table).for_task_types(config.task_types)


def make_plan(config) -> Plan:
    """Load each source the config needs, sample its rows, cut them into ordered units."""
    import datasets

    registry = load_registry(config.registry)
    selected = meta_templates(config)
    names = [name for name in registry if name in selected]
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per source file is noise; the plan has its own
    try:
        plan = Plan()
        for name in progress_bar(names, desc="CTGA sources", unit="source"):
            _plan_source(plan, registry[name], config)
    finally:
        if bars:
            datasets.enable_progress_bars()
    if not plan.sources:
        raise CtgaBuildError("no source could be loaded for the requested task types")
    return plan


def _plan_source(plan: Plan, source: Source, config) -> None:
    import numpy as np

    try:
        ds = load_source(source, config.sources_dir)
    except SourceError as exc:
        if not config.skip_missing:
            raise CtgaBuildError(f"{exc} (pass `skip_missing` to build without it)") from None
        log.warning("skipping source %s: %s", source.name, exc)
        plan.skipped[source.name] = str(exc)
        return
    if source.passage not in ds.column_names:
        problem = f"source {source.name} has no passage column {source.passage!r} (columns: {', '.join(ds.column_names)})"
        if not config.skip_missing:
            raise CtgaBuildError(problem)
        log.warning("skipping source %s: %s", source.name, problem)
        plan.skipped[source.name] = problem
        return
    files = [f["filename"] for f in ds.cache_files]
    n = len(ds)
    # datasets' own shuffle(seed=...) draws this same permutation.
    order = np.random.default_rng(config.seed).permutation(n)[: min(n, config.max_per_source)]
    n_val = int(round(len(order) * config.validation_fraction))
    local = config.sources_dir is not None
    plan.sources[source.name] = {
        "rows": n, "sampled": int(len(order)), "validation": n_val, "fingerprint": ds._fingerprint,
        "repo": None if local else source.repo, "revision": source.revision, "data_dir": source.data_dir,
        "config": source.config, "split": source.split,
        "local_file": (files[0] if files else None) if local else None, "license": source.license,
    }
    log.debug("source %s: %d rows, %d sampled", source.name, n, len(order))
    for split, rows in (("validation", np.sort(order[:n_val])), ("train", np.sort(order[n_val:]))):
        for start in range(0, len(rows), UNIT_ROWS):
            units = plan.units[split]
            units.append(Unit(f"{split}-{len(units):06d}", source.name, files, rows[start:start + UNIT_ROWS].tolist()))


def templates_per_task_type(config) -> dict[str, int]:
    return dict(Counter(a.task_type for items in meta_templates(config).values() for a in items))
