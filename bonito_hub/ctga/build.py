"""Building CTGA: sample source rows, render them with meta-templates, publish Parquet + card.

Determinism: the rows sampled from a source depend only on (seed, source size); the meta-template
chosen for a row and every random choice inside it depend only on (seed, source, row index).
Work is cut into units of rows whose order is fixed before any process starts, so the output is
the same row for row whatever --num-proc is.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from bonito_hub import tasks
from bonito_hub.ctga import promptsource
from bonito_hub.ctga.catalog import Catalog, build_catalog
from bonito_hub.ctga.meta_template import Renderer, RenderSkip
from bonito_hub.ctga.sources import SourceError, load_registry, load_source
from bonito_hub.format import generator_input, generator_target
from bonito_hub.versions import package_versions

UNIT_ROWS = 2000
RECORD_NAME = "ctga_build.json"


class BuildError(RuntimeError):
    """A build that cannot start or finish; the message says why in one line."""


@dataclass
class BuildOptions:
    output: str
    sources_dir: str | None = None
    registry: str | None = None
    promptsource_dir: str | None = None
    skip_missing: bool = False
    max_per_source: int = 100_000
    task_types: list[str] | None = None
    seed: int = 42
    num_proc: int = 1
    validation_fraction: float = 0.01
    truncate: bool = True
    task_table: str = "bonito-hub"  # or "ctga-v1", or a YAML file in our table's format
    overwrite: bool = False
    max_rows_per_shard: int = 200_000
    staging: str | None = None  # set by build()

    @classmethod
    def from_dict(cls, d: dict) -> "BuildOptions":
        return cls(**d)

    @property
    def stats_dir(self) -> Path:
        return Path(self.staging) / "_stats"


@dataclass
class Plan:
    units: dict[str, list[dict]]
    sources: dict[str, dict] = field(default_factory=dict)  # name -> rows, sampled, fingerprint, ...
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why


# Both caches are filled in the main process before workers fork, so workers share them.
@lru_cache(maxsize=4)
def _templates(promptsource_dir: str | None, registry: str | None) -> dict:
    names = list(load_registry(registry))
    # multi_news has templates but is no CTGA source; the table still accounts for them.
    return promptsource.load_templates(promptsource_dir, set(names) | {"multi_news"})


@lru_cache(maxsize=4)
def _catalog(promptsource_dir: str | None, registry: str | None, task_table: str = "bonito-hub") -> Catalog:
    return build_catalog(_templates(promptsource_dir, registry), list(load_registry(registry)), task_table)


def _catalog_of(options: BuildOptions) -> Catalog:
    return _catalog(options.promptsource_dir, options.registry, options.task_table)


def _table_record(options: BuildOptions) -> dict:
    """Which task table a build used, and how it differs from ours."""
    from bonito_hub.ctga.catalog import CTGA_V1_SOURCE, load_table, table_differences

    record = {"name": options.task_table, "source": CTGA_V1_SOURCE if options.task_table == "ctga-v1" else None}
    if options.task_table != "bonito-hub":
        templates = _templates(options.promptsource_dir, options.registry)
        record["differences_from_bonito_hub"] = table_differences(load_table("bonito-hub"),
                                                                  load_table(options.task_table, templates))
    return record


@lru_cache(maxsize=2)
def _renderer(truncate: bool) -> Renderer:
    return Renderer(truncate=truncate)


def _warm(options: BuildOptions) -> None:
    """Compile every selected meta-template once, before any worker starts."""
    registry = load_registry(options.registry)
    renderer = _renderer(options.truncate)
    for name, items in _catalog_of(options).for_task_types(options.task_types).items():
        for a in items:
            renderer.compile(a.template, registry[name].passage)


def make_plan(options: BuildOptions, task_types: list[str] | None) -> Plan:
    """Load each needed source, sample its rows, and cut them into ordered units."""
    import datasets

    registry = load_registry(options.registry)
    selected = _catalog_of(options).for_task_types(task_types)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per source file is noise; the build has its own
    try:
        return _plan_sources(options, registry, selected)
    finally:
        if bars:
            datasets.enable_progress_bars()


def _plan_sources(options: BuildOptions, registry, selected) -> Plan:
    import numpy as np

    plan = Plan(units={"train": [], "validation": []})
    for name in registry:
        if name not in selected:
            continue
        source = registry[name]
        try:
            ds = load_source(source, options.sources_dir)
        except SourceError as exc:
            if not options.skip_missing:
                raise BuildError(f"{exc} (pass --skip-missing to build without it)") from None
            plan.skipped[name] = str(exc)
            continue
        if source.passage not in ds.column_names:
            problem = f"source {name} has no passage column {source.passage!r} (columns: {', '.join(ds.column_names)})"
            if not options.skip_missing:
                raise BuildError(problem)
            plan.skipped[name] = problem
            continue
        files = [f["filename"] for f in ds.cache_files]
        n = len(ds)
        # datasets' own shuffle(seed=...) draws this same permutation.
        order = np.random.default_rng(options.seed).permutation(n)[: min(n, options.max_per_source)]
        n_val = int(round(len(order) * options.validation_fraction))
        split_rows = {"validation": np.sort(order[:n_val]), "train": np.sort(order[n_val:])}
        plan.sources[name] = {
            "rows": n, "sampled": int(len(order)), "validation": n_val, "fingerprint": ds._fingerprint,
            "repo": source.repo if options.sources_dir is None else None,
            "revision": source.revision, "data_dir": source.data_dir, "config": source.config, "split": source.split,
            "local_file": None if options.sources_dir is None else files[0] if files else None,
            "license": source.license,
        }
        for split, rows in split_rows.items():
            for start in range(0, len(rows), UNIT_ROWS):
                unit_id = f"{split}-{len(plan.units[split]):06d}"
                plan.units[split].append({"id": unit_id, "source": name, "files": files,
                                          "indices": rows[start:start + UNIT_ROWS].tolist()})
    if not plan.sources:
        raise BuildError("no source could be loaded for the requested task types")
    return plan


def _passage_empty(value) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not any(isinstance(v, str) and v.strip() for v in value)
    return False


@lru_cache(maxsize=8)
def _source_table(files: tuple[str, ...]):
    """A source's memory-mapped Arrow table, opened once per process."""
    import datasets
    import pyarrow as pa

    return pa.concat_tables([datasets.Dataset.from_file(f).data.table for f in files])


def render_units(units: list[dict], options: BuildOptions, task_types: list[str] | None):
    """Yield (key, example) for every row of the units, writing each unit's counts to the stats dir."""
    registry = load_registry(options.registry)
    selected = _catalog_of(options).for_task_types(task_types)
    renderer = _renderer(options.truncate)
    full_names = {s: tasks.full_name(s) for s in tasks.short_names()}
    options.stats_dir.mkdir(parents=True, exist_ok=True)
    for unit in units:
        name = unit["source"]
        source = registry[name]
        candidates = selected[name]
        table = _source_table(tuple(unit["files"]))
        kept, skipped = Counter(), Counter()
        indices = unit["indices"]
        for start in range(0, len(indices), 500):
            chunk = indices[start:start + 500]
            for idx, row in zip(chunk, table.take(chunk).to_pylist()):
                rng = random.Random(f"{options.seed}/{name}/{idx}")
                chosen = candidates[rng.randrange(len(candidates))]
                tname = chosen.template.name
                if row.get(source.passage) is None:  # a row without a value for the passage field
                    skipped[("-", "missing_passage_field")] += 1
                    continue
                if _passage_empty(row[source.passage]):
                    skipped[("-", "empty_passage")] += 1
                    continue
                try:
                    r = renderer.render(chosen.template, source.passage, row, rng)
                except RenderSkip as skip:
                    skipped[(tname, skip.reason)] += 1
                    continue
                kept[(chosen.task_type, tname)] += 1
                yield f"{name}/{idx}", {
                    "input": generator_input(chosen.task_type, r.passage),
                    "output": generator_target(r.instruction, r.response),
                    "task_type": full_names[chosen.task_type],
                    "dataset": source.dataset,
                    "dataset_config": source.dataset_config,
                    "template": tname,
                }
        stats = {"source": name, "kept": [[*k, v] for k, v in kept.items()],
                 "skipped": [[*k, v] for k, v in skipped.items()]}
        (options.stats_dir / f"{unit['id']}.json").write_text(json.dumps(stats))


def _collect_stats(stats_dir: Path) -> dict:
    per_task = Counter()
    per_source = Counter()
    per_template = Counter()
    skipped_per_template = defaultdict(Counter)
    skipped_rows = Counter()
    for path in sorted(stats_dir.glob("*.json")):
        s = json.loads(path.read_text())
        split = path.stem.split("-")[0]
        for task_type, tname, n in s["kept"]:
            per_task[(task_type, split)] += n
            per_source[(s["source"], split)] += n
            per_template[(s["source"], tname)] += n
        for tname, reason, n in s["skipped"]:
            skipped_per_template[f"{s['source']} / {tname}"][reason] += n
            skipped_rows[reason] += n
    return {
        "rows_per_task_type": {t: {sp: per_task[(t, sp)] for sp in ("train", "validation")}
                               for t in tasks.short_names() if per_task[(t, "train")] + per_task[(t, "validation")]},
        "rows_per_source": {s: {sp: n for (s2, sp), n in per_source.items() if s2 == s} for s, _ in per_source},
        "rows_per_template": {f"{s} / {t}": n for (s, t), n in sorted(per_template.items())},
        "skipped_per_template": {k: dict(v) for k, v in sorted(skipped_per_template.items())},
        "skipped_by_reason": dict(skipped_rows),
    }


def _write_parquet(builder, staging: Path, build_id: str, max_rows: int) -> dict[str, dict[str, list[str]]]:
    """Stream the builder's Arrow splits into data/<task type>/<split>-<build id>-NNNNN.parquet."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    short_of = {tasks.full_name(s): s for s in tasks.short_names()}
    files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for split in ("train", "validation"):
        if split not in builder.info.splits:
            continue
        ds = builder.as_dataset(split=split)
        writers: dict[str, tuple] = {}  # short -> (writer, rows in current file, shard number)

        def open_writer(short: str, shard: int, schema):
            rel = f"data/{short}/{split}-{build_id}-{shard:05d}.parquet"
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            files[short][split].append(rel)
            return pq.ParquetWriter(staging / rel, schema)

        for batch in ds.with_format("arrow").iter(batch_size=10_000):
            for full in pc.unique(batch["task_type"]).to_pylist():
                part = batch.filter(pc.equal(batch["task_type"], full))
                short = short_of[full]
                writer, count, shard = writers.get(short, (None, 0, -1))
                if writer is None or count >= max_rows:
                    if writer is not None:
                        writer.close()
                    shard += 1
                    writer, count = open_writer(short, shard, part.schema), 0
                writer.write_table(part)
                writers[short] = (writer, count + part.num_rows, shard)
        for writer, _, _ in writers.values():
            writer.close()
        del ds
    return {k: dict(v) for k, v in files.items()}


def _configs(files: dict[str, dict[str, list[str]]], build_id: str) -> list[dict]:
    # The build id is in every pattern: datasets keys its cache on the configs, so a pattern that
    # stayed the same across builds would let it serve the previous build's rows.
    def split_files(shorts):
        out = []
        for split in ("train", "validation"):
            paths = [f"data/{s}/{split}-{build_id}-*.parquet" for s in shorts if files.get(s, {}).get(split)]
            if paths:
                out.append({"split": split, "path": paths if len(paths) > 1 else paths[0]})
        return out

    present = [s for s in tasks.short_names() if s in files]
    configs = [{"config_name": "all", "data_files": split_files(present), "default": True}]
    configs += [{"config_name": s, "data_files": split_files([s])} for s in present]
    return configs


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise BuildError(f"{output} exists and is not a folder")
    if output.exists() and any(output.iterdir()) and not overwrite:
        record = output / RECORD_NAME
        what = "another CTGA build" if record.exists() else "other files"
        raise BuildError(f"{output} already holds {what}; pass --overwrite to replace it")


def build(options: BuildOptions, progress=print) -> dict:
    """Build CTGA into options.output and return the build record."""
    import datasets

    from bonito_hub.ctga.card import write_card
    from bonito_hub.ctga.builder_module import load_builder_class

    output = Path(options.output).resolve()
    if options.task_types:
        options.task_types = [tasks.normalize(t) for t in options.task_types]
    if not 0 <= options.validation_fraction < 1:
        raise BuildError("--validation-fraction must be in [0, 1)")
    if options.max_per_source < 1:
        raise BuildError("--max-per-source must be at least 1")
    if options.sources_dir is not None and not Path(options.sources_dir).is_dir():
        raise BuildError(f"--sources-dir {options.sources_dir} is not a folder")
    _check_output(output, options.overwrite)
    # Fail on a broken table or a bad promptsource before touching any source.
    _warm(options)

    build_id = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
    staging = output.parent / f".{output.name}.partial-{build_id}"
    staging.mkdir(parents=True)
    options.staging = str(staging)
    started = time.time()
    try:
        Ctga = load_builder_class()
        builder = Ctga(cache_dir=str(staging / "_cache"), config_name="all",
                       task_types=options.task_types, options=asdict(options))
        builder.download_and_prepare(num_proc=options.num_proc if options.num_proc > 1 else None,
                                     download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD)
        files = _write_parquet(builder, staging, build_id, options.max_rows_per_shard)
        stats = _collect_stats(options.stats_dir)
        plan = builder.plan
        del builder
        shutil.rmtree(staging / "_cache", ignore_errors=True)
        shutil.rmtree(options.stats_dir, ignore_errors=True)
        if not files:
            raise BuildError("the build produced no rows (every row was skipped; see the counts above)")
        catalog = _catalog_of(options)
        selected = catalog.for_task_types(options.task_types)
        record = {
            "build_id": build_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - started, 1),
            "options": {k: v for k, v in asdict(options).items() if k not in ("staging", "overwrite", "output")},
            "promptsource": {"version": promptsource.VERSION, "sha256": promptsource.ARCHIVE_SHA256},
            "task_table": _table_record(options),
            "versions": package_versions("bonito-hub", "datasets", "jinja2", "pyarrow"),
            "templates_per_task_type": dict(Counter(a.task_type for items in selected.values() for a in items)),
            "templates_per_source": {s: len(a) for s, a in selected.items() if s in plan.sources},
            "sources": plan.sources,
            "skipped_sources": plan.skipped,
            "files": files,
            "configs": _configs(files, build_id),
            **stats,
        }
        record["rows"] = sum(sum(v.values()) for v in stats["rows_per_task_type"].values())
        (staging / RECORD_NAME).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        write_card(staging, record)
        _swap_into_place(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def _swap_into_place(staging: Path, output: Path) -> None:
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(output, old)
    os.replace(staging, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

