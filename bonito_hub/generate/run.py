"""A generation run: passages in, filtered tasks out, one chunk at a time into its RunFolder.

The unit of work is `GenerationRun.do_chunk(k)`: the single-process run calls it for each of
its chunks, a Ray worker (cluster.py) for each chunk it is handed. A chunk goes through three
steps kept apart, as in distilabel's tasks (format the input, call the LLM, format the output):

    chunk_passages(k)                 the chunk's documents cut into passages, with their spans
    assign(passages)                  each passage with its task types: every type of the run, or
                                      one drawn from `task_mix` (seeded by seed, document, passage)
    engine.generate(prompts(...))     one call over all of the chunk's prompts, seeded by (seed, k)
    rows_from(items, generations)     parse, filter and count: the rows written and the funnel

The folder's layout, the chunks' bounds and records, and the funnel are folder.py's.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass

from bonito_hub import language, tasks
from bonito_hub.console import get_logger, progress_bar
from bonito_hub.errors import InputError
from bonito_hub.format import generator_input
from bonito_hub.generate.config import RunConfig
from bonito_hub.generate.engines import Engine, derive_seed
from bonito_hub.generate.filters import filter_generations
from bonito_hub.generate.folder import ChunkResult, RunFolder, trl_columns
from bonito_hub.generate.funnel import empty_counts
from bonito_hub.generate.passages import PassageSplitter
from bonito_hub.timing import StageTimer

log = get_logger(__name__)


@dataclass(frozen=True)
class DocumentPassage:
    """A passage and where it is: its document (index and id), its number in the document, and
    its character span there."""

    doc_index: int
    doc_id: str
    index: int
    start: int
    end: int
    text: str


class GenerationRun:
    """A run of `engine` over `texts` into `output`, with `config`."""

    def __init__(self, engine: Engine, texts, output, config: RunConfig, folder: RunFolder | None = None,
                 timer: StageTimer | None = None):
        """`folder`: the run's RunFolder when the caller has made it already (its chunks are cut
        once, not again). `timer`: where the seconds of each stage go (bonito_hub.timing)."""
        self.engine, self.config = engine, config
        self.timer = timer or StageTimer(since_process_start=False)
        self.folder = folder or RunFolder(texts, output, config, engine.model_name, engine.name)
        self.folder.engine_name = engine.name
        describe = getattr(engine, "describe", None)
        self.folder.server = describe() if describe is not None else None
        budget = config.max_passage_tokens
        if budget is None:
            overhead = max(len(engine.tokenizer(generator_input(t, "x"))["input_ids"]) for t in config.types)
            budget = engine.max_context - config.sampling.max_tokens - overhead
        self.splitter = PassageSplitter(engine.tokenizer, budget, config.min_passage_words)
        log.debug("passages of at most %d tokens; %d documents in %d chunks", budget, self.folder.n_docs,
                  self.folder.n_chunks)

    @property
    def output(self):
        return self.folder.output

    def run(self, shard: tuple[int, int] = (0, 1), overwrite: bool = False, progress: bool = True,
            on_chunk=None) -> dict:
        """Generate this shard's unfinished chunks; returns the funnel over every finished chunk.
        `on_chunk(ChunkResult)` is called as each chunk is written."""
        folder = self.folder
        todo = folder.start(shard, overwrite)
        unit = "passage" if len(self.config.types) == 1 else "prompt"  # several types: a prompt a passage and type
        bar = progress_bar(unit=unit, desc=f"bonito generate {self.config.task_type}", enabled=progress)
        try:
            with bar:
                for k in todo:
                    result = self.do_chunk(k, progress=bar.update)
                    done = folder.finished()  # ours and, with shards, the other processes'
                    funnel = folder.funnel(done)
                    bar.set_postfix(kept=funnel.kept, dropped=sum(funnel.dropped.values()), refresh=False)
                    if not funnel["complete"]:  # the finished run's card is written by finish()
                        with self.timer.stage("write"):
                            folder.write_card(funnel, done)
                    if on_chunk is not None:
                        on_chunk(result)
        except KeyboardInterrupt:
            raise folder.interrupted() from None
        with self.timer.stage("write"):
            return folder.finish(stages=self.timer.as_dict())

    def do_chunk(self, k: int, progress=None) -> ChunkResult:
        """Generate, filter and write chunk k, unless it is done already (an attempt that died
        after writing it, retried). `progress(n)` is called as the engine finishes n passages."""
        earlier = self.folder.chunk_record(k)
        if earlier is not None:
            return ChunkResult(k, earlier["counts"], retried=True)
        started = time.time()
        stages = StageTimer(since_process_start=False)
        rows, counts, review = self.process_chunk(k, progress, stages)  # held-out rows too: write_chunk sets them apart
        with stages.stage("write"):
            self.folder.write_chunk(k, rows, counts, seconds=round(time.time() - started, 2),
                                    stages={name: round(s, 2) for name, s in stages.seconds.items()}, review=review)
        for name, seconds in stages.seconds.items():
            self.timer.add(name, seconds)
        return ChunkResult(k, counts)

    def process_chunk(self, k: int, progress=None, timer: StageTimer | None = None) -> tuple[list[dict], dict, dict]:
        """Chunk k's rows, counts and what `bonito review` shows of it (`rows_from`), written
        nowhere; the seconds of each step go to `timer`."""
        timer = timer or StageTimer(since_process_start=False)
        with timer.stage("split"):
            passages, counts = self.chunk_passages(k)
            items = self.assign(passages)
            prompts = self.prompts(items)
        with timer.stage("generate"):
            generations = self.engine.generate(prompts, self.config.sampling, progress=progress,
                                               seed=derive_seed(self.config.sampling.seed, k)) if prompts else []
        with timer.stage("filter"):
            rows, generated, review = self.rows_from(items, generations)
        return rows, {**counts, **generated}, review

    def assign(self, passages: list[DocumentPassage]) -> list[tuple[DocumentPassage, str]]:
        """(passage, task type) for each prompt: every type of the run for each passage, or with
        `task_mix` one type a passage, drawn by a generator seeded with (seed, document, passage),
        so a resumed or sharded run draws the same."""
        mix = self.config.task_mix
        if not mix:
            return [(p, t) for p in passages for t in self.config.types]
        import random

        names, shares = list(mix), list(mix.values())
        return [(p, random.Random(derive_seed(self.config.sampling.seed, "mix", p.doc_index, p.index))
                 .choices(names, weights=shares)[0]) for p in passages]

    def chunk_passages(self, k: int) -> tuple[list[DocumentPassage], dict]:
        """Chunk k's documents cut into passages; the counts of documents, empty ones and passages,
        and of each language's documents and passages (those the language filter leaves out apart)."""
        start, end = self.folder.chunk_range(k)
        column, id_column = self.config.text_column, self.folder.id_column
        table = self.folder.texts.with_format("arrow")[start:end]
        texts = table[column].to_pylist()
        ids = table[id_column].to_pylist() if id_column else None
        skipped = table["skipped"].to_pylist() if "skipped" in table.column_names else [None] * len(texts)
        cleaned = table["cleaned"].to_pylist() if "cleaned" in table.column_names else [None] * len(texts)
        counts = empty_counts()
        counts["documents"] = end - start
        passages = []
        for j, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise InputError(f"row {start + j}: text column {column!r} holds {type(text).__name__}, not a string")
        too_short: list[int] = []
        split = self.splitter.split_many([text or "" for text in texts], too_short)
        removed, joined, ocr_pages = Counter(), Counter(), 0
        languages: dict[str, dict] = {}
        wanted = self.config.language_filter
        left_out = {"documents": 0, "passages": 0}
        for j, (text, pieces) in enumerate(zip(texts, split)):
            if skipped[j]:  # a document with no text to read (corpus.load_texts with skip_bad_files)
                by_reason = counts.setdefault("skipped_files", {})
                by_reason[skipped[j]] = by_reason.get(skipped[j], 0) + 1
                continue
            if text is None or not text.strip():
                counts["empty_documents"] += 1
                continue
            if cleaned[j]:  # what the documents' clean-up removed and joined (bonito_hub.documents)
                report = json.loads(cleaned[j])
                removed.update(report.get("removed", {}))
                joined.update(report.get("joined", {}))
                ocr_pages += report.get("ocr_pages", 0)
            removed["too_short"] += too_short[j]
            code = language.detect(text)
            by = languages.setdefault(code, {"documents": 0, "passages": 0})
            by["documents"] += 1
            by["passages"] += len(pieces)
            if wanted is not None and code not in wanted:  # counted, never prompted
                left_out["documents"] += 1
                left_out["passages"] += len(pieces)
                continue
            doc_id = str(ids[j]) if ids is not None else str(start + j)
            for index, p in enumerate(pieces):
                passages.append(DocumentPassage(start + j, doc_id, index, p.start, p.end, text[p.start:p.end]))
        counts["languages"] = dict(sorted(languages.items()))
        if +removed:
            counts["removed"] = dict(sorted((+removed).items()))
        if joined:
            counts["joined"] = dict(sorted(joined.items()))
        if ocr_pages:
            counts["ocr_pages"] = ocr_pages
        if wanted is not None:
            counts["language_filtered"] = left_out
        counts["passages"] = len(passages)
        index = self.config.exclude_overlap
        if index is not None:  # passages sharing an n-gram with the evaluation set: never prompted
            overlapping = index.overlapping([p.text for p in passages])
            counts["overlapping_passages"] = sum(overlapping)
            passages = [p for p, o in zip(passages, overlapping) if not o]
        return passages, counts

    def prompts(self, items: list[tuple[DocumentPassage, str]]) -> list[str]:
        return [generator_input(task_type, p.text) for p, task_type in items]

    def rows_from(self, items: list[tuple[DocumentPassage, str]],
                  generations: list[list[str]]) -> tuple[list[dict], dict, dict | None]:
        """The kept rows of each prompt's generations, and the counts of generations, kept and
        dropped (by reason); with several task types, the generations and kept rows of each. With
        `keep_for_review`, also {"dropped": a row a generation dropped, with its reason and raw
        text; "passages": each prompted passage's text}, for `bonito review`; else None."""
        config, heldout = self.config, self.folder.heldout
        rows, dropped, n_generations = [], Counter(), 0
        review = {"dropped": [], "passages": {}} if config.keep_for_review else None
        by_type = {t: {"generations": 0, "kept": 0} for t in config.types}
        held = {"documents": set(), "passages": set(), "generations": 0, "kept": 0}
        for (passage, task_type), texts in zip(items, generations):
            n_generations += len(texts)
            drops = [] if review is not None else None
            kept, why = filter_generations(texts, passage.text, task_type, config.filters, drops=drops)
            dropped.update(why)
            where = {"task_type": tasks.full_name(task_type), "doc_id": passage.doc_id, "doc_index": passage.doc_index,
                     "passage_index": passage.index, "passage_start": passage.start, "passage_end": passage.end}
            if review is not None:
                review["passages"][(passage.doc_index, passage.index)] = {
                    key: where[key] for key in ("doc_id", "doc_index", "passage_index", "passage_start",
                                                "passage_end")} | {"passage": passage.text}
                review["dropped"] += [{**where, "sample": d.sample, "reason": d.reason, "generation": d.generation,
                                       "input": d.input, "output": d.output} for d in drops]
            if passage.doc_index in heldout:  # an evaluation task: counted apart, never a training row
                held["documents"].add(passage.doc_index)
                held["passages"].add((passage.doc_index, passage.index))
                held["generations"] += len(texts)
                held["kept"] += len(kept)
            else:
                by_type[task_type]["generations"] += len(texts)
                by_type[task_type]["kept"] += len(kept)
            for task in kept:
                row = {"input": task.input, "output": task.output, "task_type": tasks.full_name(task_type),
                       "doc_id": passage.doc_id, "doc_index": passage.doc_index, "passage_index": passage.index,
                       "passage_start": passage.start, "passage_end": passage.end, "sample": task.sample}
                row.update(trl_columns(config.format, task.input, task.output))
                if passage.doc_index in heldout:
                    row["passage"] = passage.text
                rows.append(row)
        counts = {"generations": n_generations, "kept": len(rows) - held["kept"],
                  "dropped": dict(sorted(dropped.items()))}
        if heldout:
            counts["heldout"] = {"documents": len(held["documents"]), "passages": len(held["passages"]),
                                 "generations": held["generations"], "kept": held["kept"]}
        if len(config.types) > 1:
            counts["by_type"] = by_type
        if review is not None:
            review["passages"] = list(review["passages"].values())
        return rows, counts, review
