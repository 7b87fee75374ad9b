"""A generation run: passages in, filtered tasks out, written chunk by chunk so it can resume.

Output folder:
    run.json                       the run record: what identifies the run (options, model, input),
                                   versions, and at the end the seconds its chunks took
    data/chunk-KKKKKK-<id>.parquet the kept rows of chunk K (none for a chunk that kept no row:
                                   datasets cannot read a Parquet file without rows)
    chunks/chunk-KKKKKK.json       chunk K's funnel counts and data file; written last, so a chunk
                                   is done exactly when this file exists
    funnel.json, README.md         written when every chunk is done

Chunks are runs of consecutive documents cut by a budget of about `chunk_tokens` passage tokens
(estimated as characters / 4, so the cut depends on the input alone, not on the model), or at
`chunk_docs` documents when that is set. The engine gets a whole chunk at once: a budget, not a
document count, keeps its length-sorted batches full whatever the documents' lengths. Chunk k's
sampling seed depends only on (seed, k), and `--shard i/N` takes the chunks with k % N == i, so a
killed run resumed, or a run split over machines, ends with the same rows as one uninterrupted run.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bonito_hub import tasks
from bonito_hub.console import get_logger, progress_bar
from bonito_hub.corpus import check_text_column
from bonito_hub.errors import ConfigError, InputError, RunError
from bonito_hub.folders import claim_output, remove_folder, write_atomic
from bonito_hub.format import generator_input
from bonito_hub.generate.engines import Engine, SamplingConfig, derive_seed
from bonito_hub.generate.filters import DEFAULT_FILTERS, check_names, filter_generations
from bonito_hub.generate.passages import PassageSplitter
from bonito_hub.records import make_record, read_record, write_record

RUN_FILE = "run.json"
FUNNEL_FILE = "funnel.json"
FORMATS = ("prompt-completion", "messages")
# About a megabyte of text a chunk: a thousand passages of a thousand characters, minutes of work
# on one GPU, and enough prompts for the engines to keep their batches full.
CHUNK_TOKENS = 2**18
CHARS_PER_TOKEN = 4
PACKAGES = ("torch", "transformers", "vllm", "datasets")
log = get_logger(__name__)


@dataclass
class RunConfig:
    """The options of a generation run; with the model and the input they identify it, so a run
    is resumed only with the same ones.

    Args:
        task_type: short or full task-type name.
        text_column: the column of the input holding the documents.
        sampling: n, temperature, top_p, max_tokens and seed.
        filters: names of the filters applied (bonito_hub.generate.filters.FILTERS).
        format: "prompt-completion" or "messages": the columns written for TRL besides input/output.
        chunk_docs: close a chunk at this many documents as well (None: by tokens only).
        chunk_tokens: passage tokens a chunk holds, about 4 characters each.
        max_passage_tokens: cut documents into passages of at most this many tokens (None: what
            the model's context leaves after the prompt and max_tokens).
    """

    task_type: str
    text_column: str = "text"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    filters: tuple[str, ...] = DEFAULT_FILTERS
    format: str = "prompt-completion"
    chunk_docs: int | None = None
    chunk_tokens: int = CHUNK_TOKENS
    max_passage_tokens: int | None = None

    def __post_init__(self):
        self.task_type = tasks.normalize(self.task_type)
        self.filters = check_names(self.filters)
        if self.format not in FORMATS:
            raise ConfigError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.chunk_docs is not None and self.chunk_docs < 1:
            raise ConfigError("--chunk-size must be at least 1 document")
        if self.chunk_tokens < 1:
            raise ConfigError("--chunk-tokens must be at least 1")


def _schema(fmt: str):
    import pyarrow as pa

    fields = [("input", pa.string()), ("output", pa.string())]
    if fmt == "prompt-completion":
        fields += [("prompt", pa.string()), ("completion", pa.string())]
    else:
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        fields += [("messages", pa.list_(message))]
    fields += [("task_type", pa.string()), ("doc_id", pa.string()), ("doc_index", pa.int64()),
               ("passage_index", pa.int32()), ("passage_start", pa.int64()), ("passage_end", pa.int64()),
               ("sample", pa.int32())]
    return pa.schema(fields)


IDENTITY = ("options", "model", "input")  # the record fields a resumed run must share
OUR_ENTRIES = {RUN_FILE, FUNNEL_FILE, "README.md", "data", "chunks"}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what is saved and how to go on."""


def run_record(config: RunConfig, model_name: str, texts, engine_name: str | None = None) -> dict:
    """run.json: the options, model and input that identify the run, and what ran it."""
    return make_record(config, packages=PACKAGES, model=str(model_name), engine=engine_name,
                       input={"fingerprint": getattr(texts, "_fingerprint", None), "num_documents": len(texts)})


def _same_run(existing: dict | None, record: dict) -> bool:
    return existing is not None and all(existing.get(k) == record[k] for k in IDENTITY)


def check_output(output: str | Path, record: dict, overwrite: bool) -> str:
    """What a run with `record` would do in `output`, decided before any model loads: "new"
    (a new or empty folder), "resume" (the same run, unfinished or finished), or "replace" (another
    run of ours, with --overwrite). A folder holding anything else is refused (OutputError)."""
    existing = claim_output(output, RUN_FILE, OUR_ENTRIES, "a generation run (run.json)")
    if existing is None:
        return "new"
    if _same_run(existing, record):
        return "resume"
    if not overwrite:
        raise RunError(f"--output {output} holds a different generation run (see its run.json); pass --overwrite "
                       "to replace that run, or choose another --output")
    return "replace"


def _prepare_output(output: Path, record: dict, overwrite: bool) -> str:
    state = check_output(output, record, overwrite)
    if state == "replace":  # only our own entries: claim_output refused anything else
        for name in OUR_ENTRIES:
            path = output / name
            if path.is_dir():
                remove_folder(path)
            else:
                path.unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    if not (output / RUN_FILE).exists():  # first, so that a folder we start is always recognisably ours
        for leftover in output.glob(f".{RUN_FILE}.tmp-*"):  # a first write of run.json that was killed
            leftover.unlink(missing_ok=True)
        write_record(output / RUN_FILE, record)
    for sub in ("data", "chunks"):
        (output / sub).mkdir(exist_ok=True)
    return state


def finished_chunks(output: Path) -> dict[int, dict]:
    """Chunk number -> its record, for every finished chunk."""
    return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in sorted((output / "chunks").glob("chunk-*.json"))}


def data_files(done: dict[int, dict]) -> list[str]:
    """The data files (relative to the output folder) of finished chunks, in chunk order."""
    return [r["data_file"] for _, r in sorted(done.items()) if r["data_file"]]


_TEMP_OF_CHUNK = re.compile(r"\.chunk-(\d{6})[-.].*\.tmp-[0-9a-f]{8}")


def _remove_unfinished_data(output: Path, done: dict[int, dict], chunks: list[int]) -> None:
    """What a run killed inside our chunks left: temporary files of a write, and data files that no
    chunk record names (killed between the two writes). Only these chunks': other shards may be
    writing theirs in the same folder."""
    for sub in ("data", "chunks"):
        for path in (output / sub).glob(".chunk-*.tmp-*"):
            match = _TEMP_OF_CHUNK.fullmatch(path.name)
            if match and int(match.group(1)) in chunks:
                path.unlink(missing_ok=True)
    named = set(data_files(done))
    for path in (output / "data").glob("chunk-*.parquet"):
        if int(path.name.split("-")[1]) in chunks and f"data/{path.name}" not in named:
            path.unlink(missing_ok=True)


def _empty_counts() -> dict:
    return {"documents": 0, "empty_documents": 0, "passages": 0, "generations": 0, "kept": 0, "dropped": {}}


def _add(total: dict, part: dict) -> None:
    for key in ("documents", "empty_documents", "passages", "generations", "kept"):
        total[key] += part[key]
    dropped = Counter(total["dropped"])
    dropped.update(part["dropped"])
    total["dropped"] = dict(sorted(dropped.items()))


def aggregate(done: dict[int, dict], n_chunks: int) -> dict:
    """The funnel over the finished chunks' records (`finished_chunks`)."""
    total = _empty_counts()
    for record in done.values():
        _add(total, record["counts"])
    total["chunks_done"] = len(done)
    total["chunks"] = n_chunks
    total["complete"] = set(done) == set(range(n_chunks))
    return total


def chunk_bounds(texts, column: str, chunk_tokens: int, chunk_docs: int | None = None) -> list[int]:
    """Document indices where chunks start, and the end: [0, s1, s2, ..., n]. A chunk closes once
    its documents hold about `chunk_tokens` tokens (characters / CHARS_PER_TOKEN) or `chunk_docs`
    documents; a single longer document is a chunk of its own."""
    import pyarrow.compute as pc

    bounds, tokens, docs, index = [0], 0, 0, 0
    for batch in texts.with_format("arrow").iter(batch_size=65_536):
        lengths = pc.fill_null(pc.utf8_length(batch[column]), 0).to_pylist() if len(batch) else []
        for n in lengths:
            tokens += -(-n // CHARS_PER_TOKEN)
            docs += 1
            index += 1
            if tokens >= chunk_tokens or (chunk_docs is not None and docs >= chunk_docs):
                bounds.append(index)
                tokens = docs = 0
    if bounds[-1] != index:
        bounds.append(index)
    return bounds


class GenerationRun:
    """A run over `texts` into `output`. `engine` generates; a driver that hands its chunks to
    workers elsewhere (bonito_hub.generate.cluster) passes none, and names the model instead."""

    def __init__(self, engine: Engine | None, texts, output, settings: RunConfig, model_name: str | None = None,
                 engine_name: str | None = None):
        check_text_column(texts, settings.text_column)
        self.engine, self.texts, self.settings = engine, texts, settings
        self.model_name = str(engine.model_name) if engine is not None else str(model_name)
        self.engine_name = engine.name if engine is not None else engine_name
        self.output = Path(output)
        self.n_docs = len(texts)
        self.bounds = chunk_bounds(texts, settings.text_column, settings.chunk_tokens, settings.chunk_docs)
        self.n_chunks = len(self.bounds) - 1
        self.schema = _schema(settings.format)
        self.full_type = tasks.full_name(settings.task_type)
        self.id_column = "id" if "id" in texts.column_names and settings.text_column != "id" else None
        self._splitter = None
        if engine is not None:
            self.splitter  # built now, so its budget is logged when the run starts  # noqa: B018

    @property
    def splitter(self) -> PassageSplitter:
        """Passages of at most what the engine's context leaves (built with the engine, on first use)."""
        if self._splitter is None:
            settings, engine = self.settings, self.engine
            budget = settings.max_passage_tokens
            if budget is None:
                overhead = len(engine.tokenizer(generator_input(settings.task_type, "x"))["input_ids"])
                budget = engine.max_context - settings.sampling.max_tokens - overhead
            self._splitter = PassageSplitter(engine.tokenizer, budget)
            log.debug("passages of at most %d tokens; %d documents in %d chunks", budget, self.n_docs, self.n_chunks)
        return self._splitter

    def chunk_range(self, k: int) -> tuple[int, int]:
        return self.bounds[k], self.bounds[k + 1]

    def run(self, shard: tuple[int, int] = (0, 1), overwrite: bool = False, progress: bool = True) -> dict:
        todo = self.start(shard, overwrite)
        bar = progress_bar(unit="passage", desc=f"bonito generate {self.settings.task_type}", enabled=progress)
        try:
            with bar:
                for k in todo:
                    started = time.time()
                    rows, counts = self.process_chunk(k, progress=bar.update)
                    self._write_chunk(k, rows, counts, seconds=round(time.time() - started, 2))
                    done = finished_chunks(self.output)  # ours and, with shards, the other processes'
                    funnel = aggregate(done, self.n_chunks)
                    bar.set_postfix(kept=funnel["kept"], dropped=sum(funnel["dropped"].values()), refresh=False)
                    if not funnel["complete"]:  # the finished run's card is written by _finish
                        self._write_card(funnel, done)
        except KeyboardInterrupt:
            raise self.interrupted() from None
        return self.finish()

    def start(self, shard: tuple[int, int] = (0, 1), overwrite: bool = False) -> list[int]:
        """Claim the output (new, resumed or replaced) and clear what a killed run left in this
        shard's chunks; returns the shard's chunks still to generate."""
        index, count = shard
        if not 0 <= index < count:
            raise ConfigError(f"shard {index}/{count}: need 0 <= i < N")
        record = run_record(self.settings, self.model_name, self.texts, self.engine_name)
        state = _prepare_output(self.output, record, overwrite)
        mine = [k for k in range(self.n_chunks) if k % count == index]
        done = finished_chunks(self.output)
        todo = [k for k in mine if k not in done]
        _remove_unfinished_data(self.output, done, todo)
        so_far = aggregate(done, self.n_chunks)
        if state == "resume":
            log.info("resuming the run in %s: %d of %d chunks were finished (%d rows kept)", self.output,
                     so_far["chunks_done"], self.n_chunks, so_far["kept"])
        docs = sum(self.chunk_range(k)[1] - self.chunk_range(k)[0] for k in todo)
        log.info("%d of %d chunks to generate (%d documents) with the %s engine", len(todo), len(mine), docs,
                 self.engine_name)
        return todo

    def interrupted(self) -> Interrupted:
        done = finished_chunks(self.output)
        where = f"{len(done)} of {self.n_chunks} chunks are saved in {self.output}" + \
            (" (their rows load with datasets.load_dataset)" if data_files(done) else "")
        return Interrupted(f"{where}; run the same command to resume")

    def finish(self) -> dict:
        """The funnel over every finished chunk; the card and funnel.json once all are done."""
        done = finished_chunks(self.output)
        funnel = aggregate(done, self.n_chunks)
        if funnel["complete"]:
            self._finish(funnel, done)
        return funnel

    def data_files(self, relative: bool = False) -> list[str]:
        """The finished chunks' data files in chunk order (relative to the output folder, or absolute)."""
        files = data_files(finished_chunks(self.output))
        return files if relative else [str(self.output / f) for f in files]

    def process_chunk(self, k: int, progress=None) -> tuple[list[dict], dict]:
        """Chunk k's rows and counts; `progress(n)` is called as the engine finishes n passages."""
        start, end = self.chunk_range(k)
        col, s = self.settings.text_column, self.settings
        table = self.texts.with_format("arrow")[start:end]
        texts = table[col].to_pylist()
        ids = table[self.id_column].to_pylist() if self.id_column else None
        counts = _empty_counts()
        counts["documents"] = end - start
        passages = []  # (doc index, doc id, passage index, start, end, text)
        for j, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise InputError(f"row {start + j}: text column {col!r} holds {type(text).__name__}, not a string")
            if text is None or not text.strip():
                counts["empty_documents"] += 1
                continue
            doc_id = str(ids[j]) if ids is not None else str(start + j)
            for p_index, p in enumerate(self.splitter.split(text)):
                passages.append((start + j, doc_id, p_index, p.start, p.end, text[p.start:p.end]))
        counts["passages"] = len(passages)
        prompts = [generator_input(s.task_type, p[5]) for p in passages]
        generations = self.engine.generate(prompts, s.sampling, seed=derive_seed(s.sampling.seed, k),
                                           progress=progress) if prompts else []
        rows, dropped = [], Counter()
        for (doc_index, doc_id, p_index, a, b, passage), gens in zip(passages, generations):
            counts["generations"] += len(gens)
            kept, why = filter_generations(gens, passage, s.task_type, s.filters)
            dropped.update(why)
            for task in kept:
                row = {"input": task.input, "output": task.output, "task_type": self.full_type, "doc_id": doc_id,
                       "doc_index": doc_index, "passage_index": p_index, "passage_start": a, "passage_end": b,
                       "sample": task.sample}
                if s.format == "prompt-completion":
                    row["prompt"], row["completion"] = task.input, task.output
                else:
                    row["messages"] = [{"role": "user", "content": task.input},
                                       {"role": "assistant", "content": task.output}]
                rows.append(row)
        counts["kept"] = len(rows)
        counts["dropped"] = dict(sorted(dropped.items()))
        return rows, counts

    def _write_chunk(self, k: int, rows: list[dict], counts: dict, seconds: float) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data_file = None
        if rows:
            # a fresh name per write: datasets never serves a cached older file under the same name
            name = f"chunk-{k:06d}-{uuid.uuid4().hex[:12]}.parquet"
            table = pa.Table.from_pylist(rows, schema=self.schema)
            write_atomic(self.output / "data" / name, lambda path: pq.write_table(table, path))
            data_file = f"data/{name}"
        write_atomic(self.output / "chunks" / f"chunk-{k:06d}.json",
                     json.dumps({"chunk": k, "documents": list(self.chunk_range(k)), "data_file": data_file,
                                 "seconds": seconds, "counts": counts}))

    def _write_card(self, funnel: dict, done: dict[int, dict], record: dict | None = None) -> None:
        """The card, whose `configs:` list the finished chunks' files: load_dataset(OUTPUT) opens a
        partial run too (the card says it is partial)."""
        from bonito_hub.generate.card import write_generation_card

        files = data_files(done)
        if files:
            write_generation_card(self.output, record or read_record(self.output / RUN_FILE), funnel, files)

    def _finish(self, funnel: dict, done: dict[int, dict]) -> None:
        record = read_record(self.output / RUN_FILE)
        record["seconds"] = round(sum(r.get("seconds", 0) for r in done.values()), 1)
        write_record(self.output / RUN_FILE, record)
        self._write_card(funnel, done, record)
        # funnel.json last: the run is complete exactly when it exists
        write_atomic(self.output / FUNNEL_FILE, json.dumps(funnel, indent=2) + "\n")
