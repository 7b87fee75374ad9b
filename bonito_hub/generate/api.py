"""`Bonito`: the Python API, a superset of the released bonito-llm package's."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bonito_hub.generate.filters import DEFAULT_FILTERS
from bonito_hub.generate.engines import SamplingConfig, make_engine
from bonito_hub.corpus import load_texts
from bonito_hub.generate.run import CHUNK_TOKENS, GenerationRun, RunConfig


class Bonito:
    """A task generator.

    >>> bonito = Bonito("BatsResearch/bonito-v1")                 # vLLM on a GPU, transformers elsewhere
    >>> synthetic = bonito.generate_tasks(texts, context_col="text", task_type="exqa",
    ...                                   sampling_params={"max_tokens": 256, "top_p": 0.95, "temperature": 0.5})
    """

    def __init__(self, model, backend: str = "auto", engine=None, ray: bool = False, **engine_kwargs):
        """With `ray`, no engine loads here: each Ray worker loads its own (generate_tasks(ray_...))."""
        self.model, self.backend, self.engine_kwargs = model, backend, engine_kwargs
        self.engine = None if ray else engine if engine is not None else make_engine(model, backend, **engine_kwargs)

    def generate_tasks(self, text_dataset, context_col: str, task_type: str, sampling_params=None, *,
                       output_dir: str | Path | None = None, filters=DEFAULT_FILTERS, format: str = "prompt-completion",
                       chunk_docs: int | None = None, chunk_tokens: int = CHUNK_TOKENS,
                       max_passage_tokens: int | None = None, shard: tuple[int, int] = (0, 1),
                       overwrite: bool = False, progress: bool = True, ray_address: str | None = None,
                       workers: int | None = None, gpus_per_worker: float | None = None):
        """Generate tasks of `task_type` from the `context_col` of `text_dataset` (a Dataset, or
        anything `bonito generate --input` accepts). Returns a `datasets.Dataset` with `input`,
        `output` and provenance columns; `.funnel` on this object holds the counts.

        With `output_dir` the run is written there chunk by chunk and resumes when called again.
        A `Bonito(..., ray=True)` runs the chunks on Ray (a local one, or the cluster at
        `ray_address`) with `workers` workers of `gpus_per_worker` GPUs: the same rows."""
        import datasets

        config = RunConfig(task_type=task_type, text_column=context_col,
                                      sampling=SamplingConfig.from_any(sampling_params), filters=tuple(filters),
                                      format=format, chunk_docs=chunk_docs, chunk_tokens=chunk_tokens,
                                      max_passage_tokens=max_passage_tokens)
        texts = load_texts(text_dataset)
        scratch = None
        if output_dir is None:
            scratch = Path(tempfile.mkdtemp(prefix="bonito-generate-"))
            output_dir = scratch / "out"
        try:
            if self.engine is None:
                from bonito_hub.generate.cluster import run_on_ray

                run = GenerationRun(None, texts, output_dir, config, model_name=self.model, engine_name=self.backend)
                self.funnel = run_on_ray(run, self.model, self.backend, self.engine_kwargs, address=ray_address,
                                         workers=workers, gpus_per_worker=gpus_per_worker, overwrite=overwrite,
                                         progress=progress)
            else:
                run = GenerationRun(self.engine, texts, output_dir, config)
                self.funnel = run.run(shard=shard, overwrite=overwrite, progress=progress)
            files = run.data_files()
            if not files:  # every generation was dropped: an empty set with the run's columns
                return datasets.Dataset(run.schema.empty_table())
            return datasets.Dataset.from_parquet(files, keep_in_memory=scratch is not None)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
