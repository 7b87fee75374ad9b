"""`bonito generate --ray`: the chunks of a generation run on a Ray cluster, through Ray Data.

The unit of work stays the chunk (run.py): its documents, its sampling seed derived from (seed, k),
its files. The driver claims the output folder and cuts the chunks exactly as a single-process
run does, then makes a Ray Dataset of the chunk numbers still to do and maps it with `map_batches`
over a pool of actors (`ActorPoolStrategy`): each actor loads the engine once (vLLM on the GPUs
Ray gives it, transformers elsewhere) and generates one whole chunk a call, writing the chunk's
Parquet file and record into the shared output folder exactly as a single process would. So a
Ray run writes the same rows, records, funnel and card as a run without Ray, and either can
resume the other.

Why Ray Data's actor pool and not `ray.data.llm`: our work item is a chunk, not a prompt. A chunk
is split into passages with the generator's tokenizer, sampled with its own seed, filtered and
written as one file whose record marks it done; a per-prompt pipeline would scatter a chunk over
workers and lose both the per-chunk seed (the same rows as a single-process run) and the
one-record-per-chunk resume. The actor pool keeps those and still gives Ray's scheduling,
placement on GPUs, and retries: Ray Data restarts a dead actor and retries its task
(max_restarts and max_task_retries -1 for actor pools), and a chunk is counted once because the
funnel is summed over chunk records, one file per chunk, written last and atomically. A retried
chunk that had already been written is not generated again; a data file a dead worker left
without a record is removed when the run ends.

Workers read the corpus themselves: the driver sends them the `datasets.Dataset` it cut the
chunks from, which a memory-mapped data set pickles as the path of its Arrow cache, so on one
machine (or a shared filesystem) no document passes through the driver or Ray's object store.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from bonito_hub.console import get_logger, progress_bar
from bonito_hub.errors import ConfigError, RunError, cause
from bonito_hub.generate.config import GenerateConfig, RunConfig
from bonito_hub.generate.folder import ChunkResult, RunFolder, remove_unfinished_data

log = get_logger(__name__)
CONNECT_TIMEOUT_S = 5


class ChunkWorker:
    """A Ray Data actor: the engine loaded once, then one whole chunk a call."""

    def __init__(self, model: str, backend: str, engine_options: dict, texts, output: str, settings: RunConfig):
        import ray

        from bonito_hub import console
        from bonito_hub.generate.backends import make_engine
        from bonito_hub.generate.run import GenerationRun

        console.configure(verbosity=-1, progress=False)
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus and not ray.get_gpu_ids():
            import torch

            torch.set_num_threads(max(1, int(cpus)))  # a CPU worker uses the cores Ray gave it, not all of them
        self.run = GenerationRun(make_engine(model, backend, **engine_options), texts, output, settings)

    def __call__(self, batch: dict) -> dict:
        out = {"chunk": [], "kept": [], "passages": [], "documents": [], "retried": []}
        for k in batch["chunk"]:
            result = self.run.do_chunk(int(k))
            for key, value in (("chunk", result.chunk), ("kept", result.counts["kept"]),
                               ("passages", result.counts["passages"]), ("documents", result.counts["documents"]),
                               ("retried", result.retried)):
                out[key].append(value)
        return out


def check_address(address: str | None) -> None:
    """An address given with `ray_address` answers within seconds, or a RunError says so."""
    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"`ray_address` {address!r}: give HOST:PORT (a cluster's GCS, e.g. 10.0.0.1:6379) or "
                          "ray://HOST:PORT (Ray Client)", field="ray_address")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RunError(f"`ray_address` {address}: no Ray cluster answers there ({exc.strerror or exc}); start one "
                       "with `ray start --head` or leave `ray_address` out to start a local Ray",
                       field="ray_address") from None


def _connect(address: str | None):
    import ray

    check_address(address)
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RunError(f"could not {'join the Ray cluster at ' + address if address else 'start a local Ray'}: "
                       f"{cause(exc)}") from None
    return True


def run_on_ray(folder: RunFolder, config: GenerateConfig, on_chunk=None) -> dict:
    """Generate `folder`'s unfinished chunks on Ray with `config`'s model, engine options and Ray
    options, and finish the run; returns the funnel.

    Workers: `config.workers` actors (default: the cluster's GPUs / gpus_per_worker where it has
    GPUs, else its CPUs / cpus_per_worker). `on_chunk(result)` is called on the driver as each
    chunk ends."""
    import ray

    started_ray = _connect(config.ray_address)
    gpus_per_worker, cpus_per_worker = config.gpus_per_worker, config.cpus_per_worker
    todo: list[int] = []
    try:
        todo = folder.start((0, 1), config.overwrite)
        resources = ray.cluster_resources()
        if gpus_per_worker is None:
            gpus_per_worker = 1 if resources.get("GPU") else 0
        workers = config.workers
        if workers is None:
            workers = int(resources.get("GPU", 0) // gpus_per_worker) if gpus_per_worker else \
                int(resources.get("CPU", 1) // cpus_per_worker)
        if workers < 1:
            raise ConfigError(f"the Ray cluster has {resources.get('GPU', 0):g} GPUs and {resources.get('CPU', 0):g} "
                              f"CPUs: not enough for one worker of {gpus_per_worker:g} GPU(s) and "
                              f"{cpus_per_worker:g} CPU(s); lower `gpus_per_worker` or `cpus_per_worker`")
        workers = min(workers, len(todo)) or 1  # no worker to load a model for no chunk
        log.info("Ray: %d workers (%g GPU, %g CPU each) for %d chunks", workers, gpus_per_worker, cpus_per_worker,
                 len(todo))
        if todo:
            _generate(folder, todo, config, workers, gpus_per_worker, on_chunk)
    except KeyboardInterrupt:
        raise folder.interrupted() from None
    finally:
        if started_ray:
            ray.shutdown()
    remove_unfinished_data(folder.output, folder.finished(), todo)  # what a worker killed mid-write left
    return folder.finish()


def _generate(folder: RunFolder, todo: list[int], config: GenerateConfig, workers: int, gpus: float,
              on_chunk) -> None:
    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its plan and timing lines; our bar says the same
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # one bar, ours, on the driver
    context.execution_options.preserve_order = False
    chunks = ray.data.from_items([{"chunk": k} for k in todo], override_num_blocks=len(todo))
    results = chunks.map_batches(
        ChunkWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_gpus=gpus or None,
        num_cpus=config.cpus_per_worker,
        fn_constructor_kwargs={"model": config.model, "backend": config.backend,
                               "engine_options": config.engine_options(), "texts": folder.texts,
                               "output": str(Path(folder.output).absolute()), "settings": folder.config},
    )
    kept, t0 = folder.funnel().kept, time.time()
    bar = progress_bar(total=len(todo), unit="chunk", desc=f"bonito generate {folder.config.task_type} (Ray)",
                       enabled=config.progress)
    with bar:
        for result in results.iter_rows():
            kept += 0 if result["retried"] else result["kept"]
            bar.update(1)
            rate = bar.n / max(time.time() - t0, 1e-9)
            bar.set_postfix(kept=kept, chunks_per_min=f"{60 * rate:.1f}", refresh=False)
            if on_chunk is not None:
                on_chunk(ChunkResult(result["chunk"], {k: result[k] for k in ("documents", "passages", "kept")},
                                     result["retried"]))
