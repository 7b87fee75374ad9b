"""The options of a generation, validated where they are made.

    GenerateConfig   every option of `bonito generate` (and of `Bonito.generate_tasks`): what
                     `bonito_hub.generate.generate(config)` takes
    RunConfig        the part that decides which rows a run writes: with the model and the input
                     it identifies a run, so a folder is resumed only with the same ones
    SamplingConfig   n, temperature, top_p, max_tokens and the seed

A value out of range is a ConfigError whose `field` names the option in these classes' words
(`chunk_docs must be at least 1, got 0`); the command line says its own flag instead.

Vocabulary, as TRL's dataset formats: the `format` of the written rows is `standard` (columns
`prompt` and `completion`, strings: TRL's standard prompt-completion type) or `conversational`
(a `messages` column of user and assistant turns: TRL's conversational language-modeling type);
`input` and `output` are always there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from bonito_hub import tasks
from bonito_hub.console import deprecated
from bonito_hub.errors import ConfigError
from bonito_hub.generate.filters import DEFAULT_FILTERS, check_names

# About a megabyte of text a chunk: a thousand passages of a thousand characters, minutes of work
# on one GPU, and enough prompts for the engines to keep their batches full.
CHUNK_TOKENS = 2**18
FORMATS = ("standard", "conversational")
FORMAT_ALIASES = {"prompt-completion": "standard", "messages": "conversational"}  # until 0.2


def _require(ok: bool, name: str, allowed: str, value) -> None:
    if not ok:
        raise ConfigError(f"`{name}` must be {allowed}, got {value}", field=name)


@dataclass(frozen=True)
class SamplingConfig:
    """The sampling settings of a run; defaults are those of the released Bonito examples."""

    n: int = 1
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0

    def __post_init__(self):
        _require(self.n >= 1, "n", "at least 1", self.n)
        _require(self.max_tokens >= 1, "max_tokens", "at least 1", self.max_tokens)
        _require(self.temperature >= 0, "temperature", "0 or more (0 is greedy)", self.temperature)
        _require(0 < self.top_p <= 1, "top_p", "in (0, 1]", self.top_p)

    @classmethod
    def from_any(cls, params: Any = None) -> "SamplingConfig":
        """From None, a mapping, or an object with the same attributes (vLLM's SamplingParams)."""
        if params is None:
            return cls()
        if isinstance(params, cls):
            return params
        if isinstance(params, Mapping):
            unknown = set(params) - {f.name for f in fields(cls)}
            if unknown:
                raise ConfigError(f"unknown sampling parameters {sorted(unknown)}; known: n, temperature, top_p, "
                                  "max_tokens, seed")
            return cls(**params)
        return cls(**{f.name: getattr(params, f.name) for f in fields(cls) if getattr(params, f.name, None) is not None})


def canonical_format(value: str) -> str:
    """`standard` or `conversational`; the spellings of 0.1 (prompt-completion, messages) with a
    deprecation warning."""
    if value in FORMAT_ALIASES:
        deprecated(f"`format` {value!r} is now called {FORMAT_ALIASES[value]!r}; the old name goes in 0.2")
        return FORMAT_ALIASES[value]
    if value not in FORMATS:
        raise ConfigError(f"`format` must be one of {', '.join(FORMATS)}, got {value!r}", field="format")
    return value


@dataclass
class RunConfig:
    """The options that decide a run's rows; with the model and the input they identify it, so a
    run is resumed only with the same ones.

    Args:
        task_type: a short or full task-type name, several joined by commas ("exqa,ynqa"), or
            "all-applicable": each passage gets tasks of every type listed.
        task_mix: {type: share} (or "exqa=0.5,ynqa=0.5"): each passage gets one type, drawn with
            these shares by a generator seeded with (seed, document, passage), instead.
        text_column: the column of the input holding the documents.
        sampling: n, temperature, top_p, max_tokens and seed.
        filters: names of the filters applied (bonito_hub.generate.filters.FILTERS).
        format: "standard" or "conversational": the columns written for TRL besides input/output.
        chunk_docs: close a chunk at this many documents as well (None: by tokens only).
        chunk_tokens: passage tokens a chunk holds, about 4 characters each.
        max_passage_tokens: cut documents into passages of at most this many tokens (None: what
            the model's context leaves after the prompt and max_tokens).
        holdout: the share of the documents set aside (seeded; bonito_hub.generate.heldout): their tasks
            become evaluation sets, not training rows. None: every document trains.
        exclude_overlap: an evaluation set's n-grams (bonito_hub.overlap.NgramIndex): a passage
            sharing one with it is dropped before generation and counted.
    """

    task_type: str
    text_column: str = "text"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    filters: tuple[str, ...] = DEFAULT_FILTERS
    format: str = "standard"
    chunk_docs: int | None = None
    chunk_tokens: int = CHUNK_TOKENS
    max_passage_tokens: int | None = None
    task_mix: dict | None = None
    holdout: float | None = None
    exclude_overlap: Any = None

    def __post_init__(self):
        from bonito_hub.generate.heldout import check_fraction

        check_fraction(self.holdout)
        if self.task_mix is not None:
            self.task_mix = tasks.parse_mix(self.task_mix)
            if self.task_type and set(tasks.parse_types(self.task_type)) != set(self.task_mix):
                raise ConfigError("give `task_type` or `task_mix`, not both (the mix names its types)",
                                  field="task_mix")
            self.task_type = ",".join(self.task_mix)
        elif not self.task_type:
            raise ConfigError("`task_type` is required (or `task_mix`)", field="task_type")
        self.task_type = ",".join(tasks.parse_types(self.task_type))
        self.filters = check_names(self.filters)
        self.format = canonical_format(self.format)
        if self.chunk_docs is not None:
            _require(self.chunk_docs >= 1, "chunk_docs", "at least 1", self.chunk_docs)
        _require(self.chunk_tokens >= 1, "chunk_tokens", "at least 1", self.chunk_tokens)
        if self.max_passage_tokens is not None:
            _require(self.max_passage_tokens >= 8, "max_passage_tokens", "at least 8", self.max_passage_tokens)

    @property
    def types(self) -> tuple[str, ...]:
        """The short names of the run's task types, in the order given."""
        return tuple(self.task_type.split(","))


def parse_shard(shard) -> tuple[int, int]:
    """(i, N) from "i/N" or a pair, with 0 <= i < N."""
    if isinstance(shard, str):
        try:
            shard = tuple(int(x) for x in shard.split("/"))
        except ValueError:
            raise ConfigError(f"`shard` takes i/N (for example 0/4), got {shard!r}", field="shard") from None
    if len(shard) != 2:
        raise ConfigError(f"`shard` takes i/N (for example 0/4), got {shard!r}", field="shard")
    index, count = shard
    if not 0 <= index < count:
        raise ConfigError(f"`shard` {index}/{count}: need 0 <= i < N", field="shard")
    return int(index), int(count)


# The engine options of a config; each engine takes some of them (backends.ENGINE_TAKES) and
# make_engine refuses one that the chosen engine does not take.
ENGINE_OPTIONS = ("batch_size", "tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype",
                  "engine_args", "batching", "base_url", "api_key_env", "concurrency", "tokenizer", "request_timeout")
RAY_OPTIONS = ("ray_address", "workers", "gpus_per_worker")


@dataclass
class GenerateConfig:
    """Everything a generation takes: `bonito generate`'s options, one field each.

    Args:
        model: the task generator, a local folder or a Hub id (None when an engine is handed to
            `generate`).
        input: the corpus: a file, a folder, a Hub data set id, or a `datasets.Dataset`.
        task_type: a short or full task-type name, several joined by commas, or "all-applicable"
            (each passage gets every type); None with `task_mix`.
        output: the folder to write; the same config resumes an interrupted run there.
        text_column, split, encoding: where the documents are and how text files decode.
        task_mix: {type: share} or "exqa=0.5,ynqa=0.5": one type a passage, drawn with these shares.
        skip_bad_files: a PDF, HTML or Word file with no text to read (no text layer, encrypted,
            corrupt), a link out of the input folder and a file that is not a regular one are skipped
            and counted by reason, instead of stopping the run.
        follow_links: read the files that links in the input folder point to outside it.
        max_document_mb, max_document_pages: what one document may take: its size (a Word file's
            parts unpacked, the text read) and a PDF's pages; a document over them is refused (or
            skipped with `skip_bad_files`).
        holdout: the share of documents (0 to 1) set aside before generation; their tasks are
            written as evaluation sets (heldout/TYPE.jsonl), not as training rows.
        exclude_overlap: a target (a built-in name or a JSON Lines file of the `bonito evaluate`
            schema, or a bonito_hub.overlap.NgramIndex): passages sharing a 13-word n-gram with
            its passages or questions are dropped before generation.
        preset: named sampling and filter settings (bonito_hub/data/generation_presets.yaml).
        n, temperature, top_p, max_tokens: sampling; None takes the preset's value.
        seed: sampling seed; chunk k samples with a seed derived from (seed, k).
        filters: the filters on (None: the preset's); no_filter: filters switched off on top.
        format: "standard" (prompt/completion) or "conversational" (messages).
        chunk_docs, chunk_tokens, max_passage_tokens: how the corpus is cut (see RunConfig).
        shard: (i, N) or "i/N": only the chunks k with k % N == i.
        backend: "auto", "transformers", "vllm" or "openai" (a server); batch_size ...
            request_timeout: engine options, each only for the engines that take it (None: not set;
            bonito_hub.generate.backends.ENGINE_TAKES). The transformers engine's `batching` is
            auto, continuous (transformers' generate_batch) or padded. The openai engine takes base_url (the API
            root), api_key_env (the variable holding the key), concurrency (requests in flight),
            tokenizer (the served model's, to cut passages), max_model_len and request_timeout.
        overwrite: replace a folder holding another run of ours.
        push_to_hub, public: push the finished run to this repo (private unless public).
        ray, ray_address, workers, gpus_per_worker, cpus_per_worker: run the chunks on Ray.
        progress: draw a progress bar (on a terminal).
        exclude: folders inside the input folder that are not part of the corpus; the output
            folder never is.
    """

    model: str | None
    input: Any
    task_type: str | None
    output: str | Path
    text_column: str = "text"
    split: str = "train"
    encoding: str = "utf-8"
    skip_bad_files: bool = False
    follow_links: bool = False
    max_document_mb: float = 256
    max_document_pages: int = 10_000
    task_mix: Any = None
    holdout: float | None = None
    exclude_overlap: Any = None
    preset: str = "default"
    n: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int = 0
    filters: tuple[str, ...] | None = None
    no_filter: tuple[str, ...] = ()
    format: str = "standard"
    chunk_docs: int | None = None
    chunk_tokens: int = CHUNK_TOKENS
    max_passage_tokens: int | None = None
    shard: Any = (0, 1)
    backend: str = "auto"
    batch_size: int | None = None
    tensor_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    dtype: str | None = None
    engine_args: dict | None = None
    batching: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    tokenizer: Any = None
    request_timeout: float | None = None
    overwrite: bool = False
    push_to_hub: str | None = None
    public: bool = False
    ray: bool = False
    ray_address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1
    progress: bool = True
    exclude: tuple = ()  # folders inside the input folder that are not documents (besides `output`)
    run: RunConfig = field(init=False, repr=False)

    def __post_init__(self):
        from bonito_hub.generate.presets import resolve
        from bonito_hub.models import GENERATION_BACKENDS

        self.shard = parse_shard(self.shard)
        _require(self.max_document_mb > 0, "max_document_mb", "more than 0", self.max_document_mb)
        _require(self.max_document_pages >= 1, "max_document_pages", "at least 1", self.max_document_pages)
        if self.backend not in GENERATION_BACKENDS:
            raise ConfigError(f"`backend` must be one of {', '.join(GENERATION_BACKENDS)}, got {self.backend!r}",
                              field="backend")
        if self.concurrency is not None:
            _require(self.concurrency >= 1, "concurrency", "at least 1", self.concurrency)
        if self.request_timeout is not None:
            _require(self.request_timeout > 0, "request_timeout", "more than 0", self.request_timeout)
        sampling, preset_filters = resolve(self.preset, {"n": self.n, "temperature": self.temperature,
                                                         "top_p": self.top_p, "max_tokens": self.max_tokens},
                                           self.no_filter)
        filters = preset_filters if self.filters is None else \
            tuple(f for f in self.filters if f not in set(self.no_filter))
        self.run = RunConfig(task_type=self.task_type, task_mix=self.task_mix, text_column=self.text_column,
                             sampling=SamplingConfig(**sampling, seed=self.seed), filters=filters, format=self.format,
                             chunk_docs=self.chunk_docs, chunk_tokens=self.chunk_tokens,
                             max_passage_tokens=self.max_passage_tokens, holdout=self.holdout)
        self.format = self.run.format
        self.task_type, self.task_mix = self.run.task_type, self.run.task_mix
        if self.ray:
            if self.shard != (0, 1):
                raise ConfigError("`ray` schedules every chunk itself; leave `shard` out", field="shard")
            if self.workers is not None:
                _require(self.workers >= 1, "workers", "at least 1", self.workers)
            if self.gpus_per_worker is not None:
                _require(self.gpus_per_worker >= 0, "gpus_per_worker", "0 or more", self.gpus_per_worker)
            _require(self.cpus_per_worker > 0, "cpus_per_worker", "more than 0", self.cpus_per_worker)
        else:
            given = [name for name in RAY_OPTIONS if getattr(self, name) is not None]
            if given:
                raise ConfigError(f"{', '.join(f'`{name}`' for name in given)} {'go' if len(given) > 1 else 'goes'} "
                                  "with `ray`", field=given[0])

    @property
    def sampling(self) -> SamplingConfig:
        return self.run.sampling

    def engine_options(self) -> dict:
        """The engine options that were set (make_engine refuses one the chosen engine does not take)."""
        return {name: getattr(self, name) for name in ENGINE_OPTIONS if getattr(self, name) is not None}
