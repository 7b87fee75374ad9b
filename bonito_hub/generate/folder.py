"""A generation run's folder: its chunks, their records and the funnel. No engine here: the Ray
driver (cluster.py) uses it as it is, and `GenerationRun` (run.py) adds the engine.

Output folder:
    run.json                       the run record: what identifies the run (options, model, input),
                                   versions, and at the end the seconds its chunks took and, per
                                   stage, those of the command that finished it (bonito_hub.timing)
    data/chunk-KKKKKK-<id>.parquet the kept rows of chunk K (none for a chunk that kept no row:
                                   datasets cannot read a Parquet file without rows); a run of
                                   several task types writes data/TYPE/chunk-KKKKKK-<id>.parquet,
                                   one a type, and its card has a config a type plus `all`
    chunks/chunk-KKKKKK.json       chunk K's funnel counts, data file and seconds per step; written
                                   last, so a chunk is done exactly when this file exists
    heldout/chunk-KKKKKK-<id>.parquet  with `holdout`: the kept rows of chunk K's held-out
                                   documents (with their passage), never training rows
    heldout/TYPE.jsonl             with `holdout`: the evaluation set of a task type, in the target
                                   schema `bonito evaluate --target` reads (bonito_hub.generate.heldout)
    funnel.json, README.md         written when every chunk is done

Chunks are runs of consecutive documents cut by a budget of about `chunk_tokens` passage tokens
(estimated as characters / 4, so the cut depends on the input alone, not on the model), or at
`chunk_docs` documents when that is set. The engine gets a whole chunk at once: a budget, not a
document count, keeps its length-sorted batches full whatever the documents' lengths. Chunk k's
sampling seed depends only on (seed, k), and a shard i/N takes the chunks with k % N == i, so a
killed run resumed, or a run split over machines, ends with the same rows as one uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from bonito_hub import records, tasks
from bonito_hub.console import get_logger
from bonito_hub.corpus import check_text_column, content_of
from bonito_hub.errors import RunError
from bonito_hub.folders import Manifest, beside, claim_output, remove_ours, write_atomic
from bonito_hub.generate.config import RunConfig
from bonito_hub.generate.funnel import Funnel
from bonito_hub.models import model_fingerprint
from bonito_hub.records import make_record, plain, read_record, write_record

RUN_FILE, FUNNEL_FILE = records.RUN, records.FUNNEL
CHARS_PER_TOKEN = 4
PACKAGES = ("torch", "transformers", "vllm", "datasets")
IDENTITY = ("options", "model", "model_fingerprint", "input")  # the record fields a resumed run must share
log = get_logger(__name__)


@dataclass(frozen=True)
class ChunkResult:
    """A chunk that was written: its counts, and whether an earlier attempt had already written
    it (a retried Ray task), in which case nothing was generated again."""

    chunk: int
    counts: dict
    retried: bool = False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what is saved and how to go on."""


def schema(fmt: str, heldout: bool = False):
    """The columns of the written rows for a format (trl_columns); a held-out row's file also
    holds its passage."""
    import pyarrow as pa

    fields = [("input", pa.string()), ("output", pa.string())]
    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    if fmt == "standard":
        fields += [("prompt", pa.string()), ("completion", pa.string())]
    elif fmt == "conversational":
        fields += [("prompt", message), ("completion", message)]
    else:
        fields += [("messages", message)]
    fields += [("task_type", pa.string()), ("doc_id", pa.string()), ("doc_index", pa.int64()),
               ("passage_index", pa.int32()), ("passage_start", pa.int64()), ("passage_end", pa.int64()),
               ("sample", pa.int32())]
    if heldout:
        fields.append(("passage", pa.string()))
    return pa.schema(fields)


def trl_columns(fmt: str, instruction: str, response: str) -> dict:
    """A task's columns in one of TRL's dataset formats: `standard` (prompt-completion strings),
    `conversational` (prompt-completion, each a list of messages) or `messages` (conversational
    language modeling: both turns in one list). TRL joins a standard prompt and its completion as
    they are, so the prompt ends as the plain prompt style does (the instruction, a blank line):
    the student trained on it is prompted as `bonito train --prompt-style plain` prompts it, and the
    instruction's last word never runs into the response's first."""
    from bonito_hub.format import styled

    user, assistant = {"role": "user", "content": instruction}, {"role": "assistant", "content": response}
    if fmt == "standard":
        return {"prompt": styled(instruction, "plain"), "completion": response}
    if fmt == "conversational":
        return {"prompt": [user], "completion": [assistant]}
    return {"messages": [user, assistant]}


def written_format(record: dict, output: Path, files: list[str] | None = None) -> str:
    """The format a run's rows were written in. Before `messages` was a format of its own, a run
    recorded `conversational` for the `messages` layout; its data files say which it was (`files`,
    relative to `output`: the finished chunks' data files unless given)."""
    fmt = record["options"].get("format", "standard")
    if fmt == "conversational":
        import pyarrow.parquet as pq

        files = data_files(finished_chunks(output)) if files is None else files
        for name in files[:1]:
            if (Path(output) / name).is_file() and "messages" in pq.read_schema(Path(output) / name).names:
                return "messages"
    return fmt


def _dropped_schema():
    import pyarrow as pa

    return pa.schema([("task_type", pa.string()), ("doc_id", pa.string()), ("doc_index", pa.int64()),
                      ("passage_index", pa.int32()), ("passage_start", pa.int64()), ("passage_end", pa.int64()),
                      ("sample", pa.int32()), ("reason", pa.string()), ("generation", pa.string()),
                      ("input", pa.string()), ("output", pa.string())])


def _passages_schema():
    import pyarrow as pa

    return pa.schema([("doc_id", pa.string()), ("doc_index", pa.int64()), ("passage_index", pa.int32()),
                      ("passage_start", pa.int64()), ("passage_end", pa.int64()), ("passage", pa.string())])


# the files kept for `bonito review` beside the rows: a generation dropped (with its reason and raw
# text), and each prompted passage
REVIEW_SCHEMAS = {"dropped": _dropped_schema, "passages": _passages_schema}


def run_record(config: RunConfig, model_name: str, texts, engine_name: str | None = None,
               server: dict | None = None, model_fingerprint: str | None = None,
               source_dataset: str | None = None) -> dict:
    """run.json: the options, model and input that identify the run, and what ran it (with a
    server: its host and the model's name there, never a key; an input read from the Hub: its
    repo id, which the card names as the source data set)."""
    extra = {"server": server} if server else {}
    if source_dataset:
        extra["source_dataset"] = source_dataset
    options = plain({f.name: getattr(config, f.name) for f in fields(config)})  # an n-gram index: its to_dict()
    for name in ("task_mix", "holdout", "exclude_overlap", "language_filter"):  # options a run of 0.1 did not have: absent when unset
        if options.get(name) is None:
            options.pop(name, None)
    options.pop("keep_for_review")  # what is kept for review decides no row: not part of the run's identity
    for name in ("keep_page_furniture",):  # what changes documents' text, recorded when on
        if not options.get(name):
            options.pop(name, None)
    return make_record(options, packages=PACKAGES, model=str(model_name), model_fingerprint=model_fingerprint,
                       engine=engine_name, **extra,
                       input={"fingerprint": getattr(texts, "_fingerprint", None), "content": content_of(texts),
                              "num_documents": len(texts)})


def claim(output: str | Path, clean: bool = True) -> dict | None:
    """The run record of `output` (None for a new or empty folder); an OutputError for a folder
    holding anything its manifest does not list. Needs no input: said before the input is read.
    `clean`: remove what killed writes left (not while other shards may be writing)."""
    return claim_output(output, RUN_FILE, f"a generation run ({RUN_FILE})", clean=clean)


def check_output(output: str | Path, record: dict, overwrite: bool) -> str:
    """What a run with `record` would do in `output`, decided before any model loads: "new"
    (a new or empty folder), "resume" (the same run, unfinished or finished), or "replace" (another
    run of ours, with overwrite). A folder holding anything else is refused (OutputError)."""
    return decide(output, claim(output, clean=False), record, overwrite)


def decide(output: str | Path, existing: dict | None, record: dict, overwrite: bool) -> str:
    """`check_output` for a folder already claimed (`existing`: what `claim` returned)."""
    if existing is None:
        return "new"
    if existing.get("options", {}).get("format") == "conversational":  # a run of the layout now called messages?
        existing = {**existing, "options": {**existing["options"], "format": written_format(existing, Path(output))}}
    if all(existing.get(k) == record[k] for k in IDENTITY):
        return "resume"
    if not overwrite:
        raise RunError(f"`output` {output} holds a different generation run ({_difference(existing, record)}); "
                       "`overwrite` replaces that run, or choose another `output`", field="output")
    return "replace"


def _difference(existing: dict, record: dict) -> str:
    """What makes two runs different, in a few words: content before names, since a changed model
    folder or input file keeps its name."""
    if existing.get("model") == record["model"] and existing.get("model_fingerprint") != record["model_fingerprint"]:
        return f"made by other weights under `model` {Path(record['model']).name}: its files changed since"
    before, now = existing.get("input") or {}, record["input"]
    if before.get("content") != now.get("content") and before.get("num_documents") is not None:
        return "made from another version of `input`: its content changed since"
    return "see its run.json"


def finished_chunks(output: Path) -> dict[int, dict]:
    """Chunk number -> its record, for every finished chunk."""
    return {int(p.stem.split("-")[1]): json.loads(p.read_text())
            for p in sorted((Path(output) / "chunks").glob("chunk-*.json"))}


def data_files(done: dict[int, dict]) -> list[str]:
    """The data files (relative to the output folder) of finished chunks, in chunk order (and, in a
    run of several task types, in the order of its types within a chunk)."""
    files = []
    for _, record in sorted(done.items()):
        if record.get("data_file"):
            files.append(record["data_file"])
        files += list((record.get("data_files") or {}).values())
    return files


_DATA_OF_CHUNK = re.compile(r"(?:data|heldout|dropped|passages)/(?:[^/]+/)?chunk-(\d{6})-[0-9a-f]{12}\.parquet")
REVIEW_FILES = ("dropped_file", "passages_file")  # a chunk record's files for `bonito review`
_TEMP_OF_CHUNK = re.compile(r"(?:.*/)?\.chunk-(\d{6})[-.].*\.tmp-[0-9a-f]{8}")


def remove_unfinished_data(output: Path, done: dict[int, dict], chunks: list[int]) -> None:
    """What a run killed inside our chunks left, as the manifest lists it: temporary files of a
    write, and data files that no chunk record names (killed between the two writes). Only these
    chunks': other shards may be writing theirs in the same folder."""
    named = set(data_files(done)) | {r[key] for r in done.values() for key in ("heldout_file", *REVIEW_FILES)
                                     if r.get(key)}
    manifest = Manifest(output)
    for relative, entry in manifest.entries().items():
        match = _TEMP_OF_CHUNK.fullmatch(relative) if entry.get("temp") else _DATA_OF_CHUNK.fullmatch(relative)
        if match and int(match.group(1)) in chunks and relative not in named:
            (output / relative).unlink(missing_ok=True)
            manifest.forget(relative)


def with_text(texts, column: str) -> list[int]:
    """The indices of the documents holding any text."""
    import pyarrow.compute as pc

    found, offset = [], 0
    for batch in texts.with_format("arrow").iter(batch_size=65_536):
        if len(batch):
            lengths = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(batch[column])), 0).to_numpy()
            found += (lengths.nonzero()[0] + offset).tolist()
        offset += len(batch)
    return found


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


class RunFolder:
    """The folder of a run over `texts` with `config`, by `model_name`: where each chunk's
    documents are, which chunks are done, and the funnel over them."""

    def __init__(self, texts, output, config: RunConfig, model_name: str, engine_name: str | None = None):
        check_text_column(texts, config.text_column)
        self.texts, self.config, self.output = texts, config, Path(output)
        self.model_name, self.engine_name = str(model_name), engine_name
        self.model_fingerprint = model_fingerprint(self.model_name)
        self.server: dict | None = None  # an OpenAI-compatible server's host and model name
        self.source_dataset: str | None = None  # the input's Hub repo id, when it was read from the Hub
        self.n_docs = len(texts)
        self.bounds = chunk_bounds(texts, config.text_column, config.chunk_tokens, config.chunk_docs)
        self.n_chunks = len(self.bounds) - 1
        self.types = config.types
        self.id_column = "id" if "id" in texts.column_names and config.text_column != "id" else None
        self.heldout: frozenset[int] = frozenset()
        self.decided: str | None = None  # what `check` decided for the folder
        if config.holdout:
            from bonito_hub.generate.heldout import document_groups, heldout_documents

            groups = document_groups(texts, config.text_column, with_text(texts, config.text_column))
            self.heldout = heldout_documents(groups, config.holdout, config.sampling.seed)

    def record(self) -> dict:
        return run_record(self.config, self.model_name, self.texts, self.engine_name, self.server,
                          self.model_fingerprint, self.source_dataset)

    def check(self, existing: dict | None, overwrite: bool = False) -> str:
        """What this run does in its folder ("new", "resume" or "replace"), before anything loads;
        `existing`: what `claim(output)` found there. `start` goes by this decision: the folder is
        claimed once a run (its writer holds the folder's lock meanwhile)."""
        self.decided = decide(self.output, existing, self.record(), overwrite)
        return self.decided

    def chunk_range(self, k: int) -> tuple[int, int]:
        return self.bounds[k], self.bounds[k + 1]

    def start(self, shard: tuple[int, int] = (0, 1), overwrite: bool = False) -> list[int]:
        """Claim the output (new, resumed or replaced) and clear what a killed run left in this
        shard's chunks; returns the shard's chunks still to generate."""
        index, count = shard
        record = self.record()
        state = self.decided or check_output(self.output, record, overwrite)
        if state == "replace":  # only what the manifest lists; a file edited by hand is kept and said
            remove_ours(self.output)
        Manifest(self.output).create()
        if not (self.output / RUN_FILE).exists():  # first, so that a folder we start is always recognisably ours
            write_record(self.output / RUN_FILE, record)
        for sub in ("data", "chunks"):
            (self.output / sub).mkdir(exist_ok=True)
        mine = [k for k in range(self.n_chunks) if k % count == index]
        done = self.finished()
        todo = [k for k in mine if k not in done]
        remove_unfinished_data(self.output, done, todo)
        if state == "resume":
            log.info("resuming the run in %s: %d of %d chunks were finished (%d rows kept)", self.output,
                     len(done), self.n_chunks, Funnel.aggregate(done, self.n_chunks).kept)
        docs = sum(self.chunk_range(k)[1] - self.chunk_range(k)[0] for k in todo)
        log.info("%d of %d chunks to generate (%d documents) with the %s engine", len(todo), len(mine), docs,
                 self.engine_name)
        return todo

    def finished(self) -> dict[int, dict]:
        return finished_chunks(self.output)

    def chunk_record(self, k: int) -> dict | None:
        """Chunk k's record, or None while it is not done."""
        return read_record(self.output / "chunks" / f"chunk-{k:06d}.json")

    def write_chunk(self, k: int, rows: list[dict], counts: dict, seconds: float, stages: dict | None = None,
                    review: dict | None = None) -> None:
        """Chunk k's rows, then its record (which marks it done); `stages`: its seconds per step;
        `review`: its dropped generations and prompted passages (GenerationRun.rows_from), kept in
        dropped/ and passages/ for `bonito review`."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def write(rows: list[dict], sub: str, top: str = "data") -> str:
            # a fresh name per write: datasets never serves a cached older file under the same name
            name = f"{sub}chunk-{k:06d}-{uuid.uuid4().hex[:12]}.parquet"
            table = pa.Table.from_pylist(rows, schema=REVIEW_SCHEMAS[top]() if top in REVIEW_SCHEMAS else
                                         schema(self.config.format, heldout=top == "heldout"))
            (self.output / top / sub).mkdir(parents=True, exist_ok=True)
            write_atomic(self.output / top / name, lambda path: pq.write_table(table, path))
            return f"{top}/{name}"

        held = [row for row in rows if row["doc_index"] in self.heldout]
        rows = [row for row in rows if row["doc_index"] not in self.heldout] if held else rows
        data_file, by_type = None, {}
        if len(self.types) == 1:
            data_file = write(rows, "") if rows else None
        else:  # a file a type, so that each type is a config of its own
            for short in self.types:
                full = tasks.full_name(short)
                mine = [row for row in rows if row["task_type"] == full]
                if mine:
                    by_type[short] = write(mine, f"{short}/")
        extra = {"data_files": by_type} if len(self.types) > 1 else {}
        if self.heldout:
            extra["heldout_file"] = write(held, "", "heldout") if held else None
        if review is not None:
            for top in ("dropped", "passages"):
                extra[f"{top}_file"] = write(review[top], "", top) if review[top] else None
        write_atomic(self.output / "chunks" / f"chunk-{k:06d}.json",
                     json.dumps({"chunk": k, "documents": list(self.chunk_range(k)), "data_file": data_file, **extra,
                                 "seconds": seconds, **({"stages": stages} if stages else {}), "counts": counts}))

    def funnel(self, done: dict[int, dict] | None = None) -> Funnel:
        return Funnel.aggregate(self.finished() if done is None else done, self.n_chunks)

    def data_files(self, relative: bool = False) -> list[str]:
        """The finished chunks' data files in chunk order (relative to the output folder, or absolute)."""
        files = data_files(self.finished())
        return files if relative else [str(self.output / f) for f in files]

    def write_card(self, funnel: Funnel, done: dict[int, dict], record: dict | None = None) -> None:
        """The card, whose `configs:` list the finished chunks' files: load_dataset(OUTPUT) opens a
        partial run too (the card says it is partial)."""
        from bonito_hub.generate.card import write_generation_card

        files = data_files(done)
        if files:
            record = record or read_record(self.output / RUN_FILE)
            write_generation_card(self.output, record, funnel, files, fmt=written_format(record, self.output, files))

    def heldout_rows(self, done: dict[int, dict]):
        """The kept rows of the held-out documents, chunk by chunk, with their type's short name."""
        import pyarrow.parquet as pq

        for _, record in sorted(done.items()):
            if record.get("heldout_file"):
                for row in pq.read_table(self.output / record["heldout_file"]).to_pylist():
                    yield {**row, "type": tasks.normalize(row["task_type"])}

    def training_texts(self, done: dict[int, dict]):
        """Every training row's instruction and response, as one text a row."""
        import pyarrow.parquet as pq

        for relative in data_files(done):
            table = pq.read_table(self.output / relative, columns=["input", "output"])
            for instruction, response in zip(table["input"].to_pylist(), table["output"].to_pylist()):
                yield f"{instruction}\n{response}"

    def write_evaluation_sets(self, done: dict[int, dict]) -> dict:
        """heldout/TYPE.jsonl from the held-out rows; returns each type's counts and file."""
        from bonito_hub.generate.heldout import evaluation_sets, write_sets

        sets, counts = evaluation_sets(self.heldout_rows(done), self.types, self.config.sampling.seed,
                                       training_texts=lambda: self.training_texts(done))
        files = write_sets(self.output, sets)
        for short, path in files.items():
            counts[short]["file"] = path
        return counts

    def interrupted(self) -> Interrupted:
        done = self.finished()
        where = f"{len(done)} of {self.n_chunks} chunks are saved in {self.output}" + \
            (" (their rows load with datasets.load_dataset)" if data_files(done) else "")
        return Interrupted(f"{where}; run the same command to resume")

    def remove_near_duplicates(self) -> dict[int, dict]:
        """The near_duplicate filter over the whole finished run (bonito_hub.generate.dedup): the
        training rows in (chunk, passage, sample) order, a row that nearly duplicates an earlier
        kept one taken out of its chunk's data file, counted in the chunk's record and kept with its
        reason in dropped/near_duplicate.jsonl. Under an exclusive lock, so that two shards finishing
        at once make one pass; a second pass finds nothing more. Returns the chunk records."""
        import fcntl

        fd = os.open(self.output / ".bonito.finish.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            done = self.finished()
            entries, found = self._near_duplicates(done)
            if any(d is not None for d in found):
                self._drop_rows(done, entries, found)
            return self.finished()
        finally:
            os.close(fd)
            (self.output / ".bonito.finish.lock").unlink(missing_ok=True)

    def _near_duplicates(self, done: dict[int, dict]) -> tuple[list[tuple], list[int | None]]:
        """Every training row as (chunk, file, row in file, row), in (chunk, passage, sample) order,
        and for each the index of the earlier kept row it nearly duplicates, or None."""
        import pyarrow.parquet as pq

        from bonito_hub.generate import dedup
        from bonito_hub.generate.heldout import question_of

        order = {tasks.full_name(t): i for i, t in enumerate(self.types)}
        extractive = tasks.full_name("exqa")
        columns = ["input", "output", "task_type", "doc_index", "passage_index", "passage_start", "passage_end",
                   "sample"]
        entries, passages, questions = [], [], []
        for k, record in sorted(done.items()):
            start, end = self.chunk_range(k)
            texts = self.texts.with_format("arrow")[start:end][self.config.text_column].to_pylist()
            rows = [(f, i, r) for f in data_files({k: record})
                    for i, r in enumerate(pq.read_table(self.output / f, columns=columns).to_pylist())]
            rows.sort(key=lambda e: (e[2]["doc_index"], e[2]["passage_index"], order.get(e[2]["task_type"], 0),
                                     e[2]["sample"]))
            for f, i, row in rows:
                passage = (texts[row["doc_index"] - start] or "")[row["passage_start"]:row["passage_end"]]
                question = question_of(row["input"], passage)
                if row["task_type"] == extractive:  # the same question with another answer is another task
                    question += "\n" + row["output"]
                entries.append((k, f, i, row))
                passages.append(passage)
                questions.append(question)
        return entries, dedup.near_duplicates(passages, questions, self.config.near_duplicate_threshold)

    def _drop_rows(self, done: dict[int, dict], entries: list[tuple], found: list[int | None]) -> None:
        import copy

        import pyarrow as pa
        import pyarrow.parquet as pq

        drops: dict[int, dict[str, set[int]]] = {}  # chunk -> its data file -> the rows to drop
        dropped = []
        for (k, f, i, row), duplicate in zip(entries, found):
            if duplicate is None:
                continue
            drops.setdefault(k, {}).setdefault(f, set()).add(i)
            kept = entries[duplicate][3]
            dropped.append({**row, "reason": "near_duplicate", "duplicate_of": {
                key: kept[key] for key in ("doc_index", "passage_index", "sample")}})
        manifest = Manifest(self.output)
        for k, files in sorted(drops.items()):
            record = copy.deepcopy(done[k])
            for f, rows in sorted(files.items()):
                table = pq.read_table(self.output / f)
                table = table.filter(pa.array([i not in rows for i in range(table.num_rows)]))
                sub = f.split("/", 1)[1].rsplit("chunk-", 1)[0]  # "" or "TYPE/"
                name = None  # a chunk left without rows has no data file, as one that kept none
                if table.num_rows:
                    name = f"data/{sub}chunk-{k:06d}-{uuid.uuid4().hex[:12]}.parquet"
                    write_atomic(self.output / name, lambda path, t=table: pq.write_table(t, path))
                if record.get("data_file") == f:
                    record["data_file"] = name
                for short, file in list((record.get("data_files") or {}).items()):
                    if file == f:
                        if name:
                            record["data_files"][short] = name
                        else:
                            del record["data_files"][short]
                        by_type = record["counts"].get("by_type", {}).get(short)
                        if by_type:
                            by_type["kept"] -= len(rows)
            n = sum(map(len, files.values()))
            counts = record["counts"]
            counts["kept"] -= n
            counts["dropped"] = dict(sorted({**counts["dropped"],
                                             "near_duplicate": counts["dropped"].get("near_duplicate", 0) + n}.items()))
            write_atomic(self.output / "chunks" / f"chunk-{k:06d}.json", json.dumps(record))
            for f in files:  # the record names the new files now
                (self.output / f).unlink(missing_ok=True)
                manifest.forget(f)
        (self.output / "dropped").mkdir(exist_ok=True)
        listing = self.output / "dropped" / "near_duplicate.jsonl"
        if listing.exists() and not manifest.owns("dropped/near_duplicate.jsonl"):  # a file of the user's
            log.warning("%s is not bonito-hub's: kept it, and wrote the rows dropped as near-duplicates beside it as "
                        "%s", listing, beside(listing).name)
            listing = beside(listing)
        ours = listing.is_file() and manifest.owns(listing.relative_to(self.output).as_posix())
        previous = listing.read_text(encoding="utf-8") if ours else ""  # an earlier pass's rows
        write_atomic(listing, previous + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in dropped))

    def finish(self, stages: dict | None = None) -> Funnel:
        """The funnel over every finished chunk; the card and funnel.json once all are done.
        `stages`: the seconds per stage of the command that finishes the run, for run.json."""
        done = self.finished()
        funnel = Funnel.aggregate(done, self.n_chunks)
        reviewed = any("review" in r for r in done.values())  # finished, passed and reviewed before: kept as it is
        if funnel.complete and "near_duplicate" in self.config.filters and not reviewed:
            done = self.remove_near_duplicates()
            funnel = Funnel.aggregate(done, self.n_chunks)
        if funnel.complete:
            record = read_record(self.output / RUN_FILE)
            if self.heldout:  # the evaluation sets, from every chunk's held-out rows
                funnel.heldout.evaluation = self.write_evaluation_sets(done)
            record["seconds"] = round(sum(r.get("seconds", 0) for r in done.values()), 1)
            if stages:
                record["stages"] = stages
            write_record(self.output / RUN_FILE, record)
            self.write_card(funnel, done, record)
            # funnel.json last: the run is complete exactly when it exists
            funnel.write(self.output)
        return funnel
