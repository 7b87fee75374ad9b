"""`bonito ctga build`: check, plan, render and publish CTGA into one folder.

    check    options, the output folder and every selected meta-template, before any source loads;
    plan     the builder loads each source and samples its rows (bonito_hub.ctga.plan);
    render   the builder renders them, in --num-proc processes (bonito_hub.ctga.render);
    publish  kept rows to Parquet, the record and the card (bonito_hub.ctga.publish).
All of it happens in a folder beside the output, swapped into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bonito_hub import hub, records, resources
from bonito_hub.console import get_logger
from bonito_hub.ctga import promptsource
from bonito_hub.ctga.builder import Ctga, CtgaConfig
from bonito_hub.ctga.catalog import CTGA_V1_SOURCE, load_table, table_differences
from bonito_hub.ctga.plan import meta_templates, templates, templates_per_task_type
from bonito_hub.ctga.publish import configs, write_card, write_parquet
from bonito_hub.ctga.render import compile_all
from bonito_hub.errors import ConfigError, CtgaBuildError
from bonito_hub.folders import claim_output, lock, staged
from bonito_hub.options import option
from bonito_hub.records import make_record, write_record

RECORD_NAME = records.CTGA_BUILD
MAX_ROWS_PER_SHARD = 200_000
log = get_logger(__name__)


@dataclass(kw_only=True)
class BuildArgs:
    """What `bonito ctga build` takes besides the CtgaConfig a build depends on."""

    output: str = option(help="folder to write (Parquet shards and README.md card)")
    num_proc: int = option(1, help="processes rendering rows")
    overwrite: bool = option(False, help="replace a folder that holds another build")


def build(config: CtgaConfig, output: str | Path, *, num_proc: int = 1, overwrite: bool = False,
          max_rows_per_shard: int = MAX_ROWS_PER_SHARD) -> dict:
    """Build CTGA as `config` says into `output`; returns the build record (also in
    OUTPUT/ctga_build.json).

    Example:
        >>> record = build(CtgaConfig(task_types=["exqa"], sources_dir="sources"), "ctga")
        >>> record["rows_per_task_type"]["exqa"]
        {'train': ..., 'validation': ...}
    """
    output = Path(output).resolve()
    if num_proc < 1:
        raise ConfigError(f"`num_proc` must be at least 1, got {num_proc}", field="num_proc")
    if Path.cwd().resolve().is_relative_to(output):
        raise ConfigError(f"`output` {output} is the current folder or holds it; a build replaces its folder as a "
                          "whole, so give a new subfolder (for example `output` ctga)", field="output")
    with lock(output):
        return _build(config, output, num_proc, overwrite, max_rows_per_shard)


def _build(config: CtgaConfig, output: Path, num_proc: int, overwrite: bool, max_rows_per_shard: int) -> dict:
    import datasets

    _check(config, output, overwrite)
    if config.sources_dir is None:
        hub.check_reachable("reading CTGA's sources (without `sources_dir`)")
    compile_all(config)
    started = time.time()
    build_id = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
    with staged(output) as folder:
        builder = Ctga(cache_dir=str(folder / "_cache"), config_name="all", **config.options())
        rows = sum(len(u.indices) for units in builder.plan.units.values() for u in units)
        log.info("rendering %d sampled rows of %d sources in %d process(es)", rows, len(builder.plan.sources), num_proc)
        with _interruptible_workers():
            builder.download_and_prepare(num_proc=num_proc if num_proc > 1 else None,
                                         download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD)
        counts = builder.counts()
        kept = sum(sum(n.values()) for n in counts["rows_per_task_type"].values())
        log.info("rendered %d rows; writing Parquet", kept)
        files = write_parquet(builder, folder, build_id, max_rows_per_shard)
        plan = builder.plan
        del builder
        shutil.rmtree(folder / "_cache", ignore_errors=True)
        if not files:
            raise CtgaBuildError("the build produced no rows (every row was skipped; see the counts above)")
        record = make_record(
            {**config.options(), "num_proc": num_proc, "max_rows_per_shard": max_rows_per_shard},
            packages=("datasets", "jinja2", "pyarrow"), started=started,
            build_id=build_id,
            promptsource={"version": promptsource.VERSION, "sha256": promptsource.ARCHIVE_SHA256},
            task_table=_table_record(config),
            templates_per_task_type=templates_per_task_type(config),
            templates_per_source={s: len(a) for s, a in meta_templates(config).items() if s in plan.sources},
            sources=plan.sources, skipped_sources=plan.skipped,
            files=files, configs=configs(files, build_id), **counts, rows=kept,
        )
        write_record(folder / RECORD_NAME, record)
        write_card(folder, record, where=Path(output).name)
    return record


_workers_ignore_sigint = {"on": False}


def _ignore_sigint_in_child() -> None:
    if _workers_ignore_sigint["on"]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # When the build stops, datasets shuts its queue down before it ends the pool, and a worker
        # writing to it has its generator closed mid-`finally`: Python then prints "Exception ignored
        # ... generator ignored GeneratorExit" from the worker. A worker's real errors reach the
        # main process through the pool; these teardown notices are only noise.
        sys.unraisablehook = lambda unraisable: None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ignore_sigint_in_child)


@contextmanager
def _interruptible_workers():
    """Ctrl-C during rendering stops the build as one KeyboardInterrupt: worker processes forked
    meanwhile ignore SIGINT (the terminal sends it to all of them; the pool is terminated when the
    main process stops), and whatever the pool raises while it is torn down (datasets' pool
    raises a TimeoutError from its cleanup) is reported as the interrupt it is."""
    interrupted = []
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGINT, on_sigint)
    _workers_ignore_sigint["on"] = True
    try:
        yield
    except BaseException:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        _workers_ignore_sigint["on"] = False
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def _check(config: CtgaConfig, output: Path, overwrite: bool) -> None:
    ours = claim_output(output, RECORD_NAME, f"a CTGA build ({RECORD_NAME})")
    if ours is not None and not overwrite:
        raise CtgaBuildError(f"{output} already holds another CTGA build; pass `overwrite` to replace it",
                             field="overwrite")
    resources.data_file("cards/ctga.md")


def _table_record(config: CtgaConfig) -> dict:
    """Which task table a build used, and how it differs from ours."""
    record = {"name": config.task_table, "source": CTGA_V1_SOURCE if config.task_table == "ctga-v1" else None}
    if config.task_table != "bonito-hub":
        ours = load_table("bonito-hub")
        theirs = load_table(config.task_table, templates(config.promptsource_dir, config.registry))
        record["differences_from_bonito_hub"] = table_differences(ours, theirs)
    return record
