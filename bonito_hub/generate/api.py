"""`Bonito`: the Python API, a superset of the released bonito-llm package's. It builds a
GenerateConfig and calls `generate`, as the command line does."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import fields
from pathlib import Path

from bonito_hub.errors import ConfigError
from bonito_hub.generate.engine_options import EngineOptions
from bonito_hub.generate.config import CHUNK_TOKENS, GenerateConfig, SamplingConfig
from bonito_hub.options import flags
from bonito_hub.generate.filters import DEFAULT_FILTERS


class Bonito:
    """A task generator.

    >>> bonito = Bonito("BatsResearch/bonito-v1")                 # vLLM on a GPU, transformers elsewhere
    >>> served = Bonito("BatsResearch/bonito-v1", backend="openai", base_url="http://127.0.0.1:8000/v1")
    >>> synthetic = bonito.generate_tasks(texts, context_col="text", task_type="exqa",
    ...                                   sampling_params={"max_tokens": 256, "top_p": 0.95, "temperature": 0.5})
    """

    def __init__(self, model, backend: str = "auto", engine=None, ray: bool = False, **engine_kwargs):
        """The engine loads here, once for every `generate_tasks` call (`engine_kwargs` go to it);
        with `ray`, none loads here: each Ray worker loads its own, with the same options."""
        from bonito_hub.generate.backends import make_engine

        self.model, self.backend, self.ray, self.engine_kwargs = model, backend, ray, engine_kwargs
        if ray:
            known = [name for name in flags(EngineOptions) if name != "backend"]  # what a worker can be sent
            unknown = set(engine_kwargs) - set(known)
            if unknown:
                raise ConfigError(f"with `ray`, the engine options are {', '.join(known)}; got "
                                  f"{', '.join(sorted(unknown))}", field=sorted(unknown)[0])
        self.engine = None if ray else engine if engine is not None else make_engine(model, backend, **engine_kwargs)
        self.funnel = None  # a Funnel once generate_tasks ran

    def generate_tasks(self, text_dataset, context_col: str, task_type: str, sampling_params=None, *,
                       output_dir: str | Path | None = None, filters=DEFAULT_FILTERS, format: str = "standard",
                       chunk_docs: int | None = None, chunk_tokens: int = CHUNK_TOKENS,
                       max_passage_tokens: int | None = None, shard: tuple[int, int] = (0, 1),
                       overwrite: bool = False, progress: bool = True, ray_address: str | None = None,
                       workers: int | None = None, gpus_per_worker: float | None = None,
                       min_passage_words: int = 0):
        """Generate tasks of `task_type` from the `context_col` of `text_dataset` (a Dataset, or
        anything `bonito generate --input` accepts). Returns a `datasets.Dataset` with `input`,
        `output` and provenance columns; `.funnel` on this object holds the counts.

        With `output_dir` the run is written there chunk by chunk and resumes when called again.
        A `Bonito(..., ray=True)` runs the chunks on Ray (a local one, or the cluster at
        `ray_address`) with `workers` workers of `gpus_per_worker` GPUs: the same rows.
        `min_passage_words`: 0 (every context is prompted, as bonito-llm did); `bonito generate`
        leaves out passages under 8 words."""
        import datasets

        from bonito_hub.generate.generation import generate

        sampling = SamplingConfig.from_any(sampling_params)
        scratch = None
        if output_dir is None:
            scratch = Path(tempfile.mkdtemp(prefix="bonito-generate-"))
            output_dir = scratch / "out"
        try:
            config = GenerateConfig(
                model=self.model, input=text_dataset, task_type=task_type, output=output_dir, text_column=context_col,
                **{f.name: getattr(sampling, f.name) for f in fields(sampling)}, filters=tuple(filters), format=format,
                chunk_docs=chunk_docs, chunk_tokens=chunk_tokens, max_passage_tokens=max_passage_tokens, shard=shard,
                backend=self.backend, overwrite=overwrite, progress=progress, ray=self.ray, ray_address=ray_address,
                workers=workers, gpus_per_worker=gpus_per_worker, **(self.engine_kwargs if self.ray else {}),
                min_passage_words=min_passage_words)
            result = generate(config, engine=self.engine)
            self.funnel = result.funnel
            if not result.data_files:  # every generation was dropped: an empty set with the run's columns
                from bonito_hub.generate.folder import schema

                return datasets.Dataset(schema(config.format).empty_table())
            return datasets.Dataset.from_parquet(result.data_files, keep_in_memory=scratch is not None)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
