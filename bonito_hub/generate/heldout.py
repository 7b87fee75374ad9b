"""A held-out evaluation built from the user's own documents, for a corpus without labels.

    heldout_documents(...)   a seeded share of the documents, set aside before generation: the
                             training rows come from the others only
    evaluation_rows(...)     the tasks generated from the held-out documents, as rows of the
                             target schema `bonito evaluate` reads (bonito_hub/targets)

A held-out task counts when it passed the run's filters and, for its type, can be scored:

    ynqa                          the answer is yes or no: choices [yes, no]
    nli, te, mcqa                 the instruction lists its options ("- yes", "A) ...", "(b) ...")
                                  and the answer is one of them: those are the choices
    exqa                          the answer is a span of the held-out passage

The question is the instruction with the passage taken out when it quotes it (Bonito's
instructions do), so that the evaluation prompts show the passage once. Each type is prompted in
its own family: ynqa as yes/no questions (`question`, `choices` yes/no); nli and te as premise and
hypothesis (`hypothesis`: the instruction's last quoted statement when it quotes one, without its
option lines; `choices`: its options); mcqa as multiple choice (`question` without its option
lines, `options`: the options, listed again by the prompts). nli, te and mcqa options change from
row to row, so their sets are scored on accuracy alone. Other task types have no
answer to score against and get no evaluation set. These labels were written by the generator,
not by people: the scores say whether the student learned the generator's tasks on documents it
never saw, not whether it is right.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

from bonito_hub.errors import ConfigError

DEFAULT_FRACTION = 0.1
MAX_ROWS = 1000  # per task type: an evaluation that takes minutes, not hours, on a 7B student
CLASSIFICATION = ("ynqa", "nli", "te", "mcqa")
EVALUABLE = (*CLASSIFICATION, "exqa")
_OPTION = re.compile(r"^\s*(?:[-*•]|\(?[A-Za-z0-9]\)|[A-Za-z0-9][.:])\s+(.+?)\s*$")


def check_fraction(fraction, field: str = "holdout") -> None:
    if fraction is not None and not 0 < fraction < 1:
        raise ConfigError(f"`{field}` is the share of documents held out, more than 0 and less than 1, got "
                          f"{fraction}", field=field)


# Documents sharing text stay on one side of the split: two documents are linked when they are the
# same text, or share one of the 13-word n-grams each keeps by winnowing (the smallest hash of
# every WINDOW consecutive n-grams: any run of 13 + WINDOW - 1 words two documents share gives both
# the same kept n-gram, and about a fifth of the n-grams are kept). An n-gram in more than
# BOILERPLATE documents (a footer, a licence) links none: a held-out row made from such text is
# caught later, against the training rows.
WINDOW, BOILERPLATE = 8, 20


def check_holdout(n_with_text: int, fraction) -> None:
    if fraction and n_with_text < 2:
        raise ConfigError(f"`holdout` needs at least two documents with text (one to train on, one to hold out); "
                          f"the corpus has {n_with_text}: set `holdout` 0", field="holdout")


def document_groups(texts, column: str, with_text: list[int], n: int = 13) -> list[list[int]]:
    """The documents of `with_text` in groups that share text (see WINDOW), each group sorted,
    groups in the order of their first document."""
    import hashlib

    import numpy as np

    from bonito_hub.overlap import _hashes, _normal, _powers, word_hashes

    powers = _powers(n)
    keys, docs = [], []
    chosen = set(with_text)
    index = 0
    for batch in texts.with_format("arrow").iter(batch_size=4096):
        for text in batch[column].to_pylist():
            if index in chosen:
                normal = " ".join(_normal(text or "").split())
                whole = int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "little")
                h, _ = _hashes(word_hashes(normal), n, powers)
                if len(h) > WINDOW:
                    h = np.lib.stride_tricks.sliding_window_view(h, WINDOW).min(axis=1)
                h = np.unique(h) & ~np.uint64(1)  # n-grams even, whole texts odd
                keys.append(np.concatenate([np.array([whole | 1], dtype=np.uint64), h]))  # whole texts are odd
                docs.append(np.full(len(keys[-1]), index, dtype=np.int64))
            index += 1
    parent = {d: d for d in with_text}

    def root(d):
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    if keys:
        keys_all, docs_all = np.concatenate(keys), np.concatenate(docs)
        order = np.argsort(keys_all, kind="stable")
        keys_all, docs_all = keys_all[order], docs_all[order]
        starts = np.flatnonzero(np.concatenate([[True], keys_all[1:] != keys_all[:-1]]))
        ends = np.append(starts[1:], len(keys_all))
        for start, end in zip(starts.tolist(), ends.tolist()):
            if 1 < end - start <= BOILERPLATE or (end - start > 1 and keys_all[start] & np.uint64(1)):
                first = root(int(docs_all[start]))
                for d in docs_all[start + 1:end].tolist():
                    other = root(d)
                    if other != first:
                        parent[max(first, other)] = min(first, other)
                        first = min(first, other)
    groups: dict[int, list[int]] = {}
    for d in with_text:
        groups.setdefault(root(d), []).append(d)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def heldout_documents(groups: list[list[int]], fraction: float, seed: int) -> frozenset[int]:
    """The documents held out: about `fraction` of the documents in `groups` (document_groups), at
    least one, never all, whole groups only, drawn by a generator seeded with `seed`; the same for
    the same corpus and seed, in every process (a string seed is hashed with SHA-512, not with
    Python's per-process hash). When no group is small enough to hold out, a ConfigError."""
    check_fraction(fraction)
    total = sum(len(g) for g in groups)
    check_holdout(total, fraction)
    k = min(total - 1, max(1, round(fraction * total)))
    order = list(range(len(groups)))
    random.Random(f"holdout/{seed}").shuffle(order)
    held: list[int] = []
    for i in order:  # whole groups until about k: a group may take the share past it, never all documents
        if len(held) + len(groups[i]) <= k:
            held += groups[i]
        if len(held) == k:
            break
    for i in order:
        if held or len(groups[i]) >= total:
            break
        held = list(groups[i])  # every group is larger than k: the first one drawn that leaves some to train on
    if not held:
        raise ConfigError(f"`holdout` cannot set documents aside: all {total} documents share text, so a held-out "
                          "document would have its text in training too; set `holdout` 0", field="holdout")
    return frozenset(held)


def _norm(text: str) -> str:
    from bonito_hub.generate.filters import normalise

    return normalise(text).rstrip(".!")


def question_of(instruction: str, passage: str) -> str:
    """The instruction without the passage, when it quotes it; else the instruction."""
    quoted = passage.strip()
    if quoted and quoted in instruction:
        rest = instruction.replace(quoted, "\n", 1).strip()
        if rest:
            return rest
    return instruction.strip()


def options_of(question: str) -> list[str]:
    """The options an instruction lists, one a line ("- yes", "A) Paris", "(b) no", "1. red")."""
    found = []
    for line in question.splitlines():
        match = _OPTION.match(line)
        if match and _norm(match.group(1)) not in {_norm(o) for o in found}:
            found.append(match.group(1))
    return found if len(found) >= 2 else []


_OPTIONS_HEADER = re.compile(r"^\s*(?:options|choices|answer choices|choose (?:your answer )?from)\s*:?\s*$", re.I)
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,})[\"”]")


def stem_of(question: str) -> str:
    """The question without the lines that list its options (and an "Options:" line above them)."""
    lines = [line for line in question.splitlines() if not _OPTION.match(line) and not _OPTIONS_HEADER.match(line)]
    return "\n".join(lines).strip() or question.strip()


def hypothesis_of(stem: str) -> str:
    """An nli instruction's hypothesis: the last statement it quotes ("... can we conclude that
    \"X\"?"), else the instruction itself."""
    quoted = _QUOTED.findall(stem)
    return quoted[-1].strip() if quoted else stem


def evaluation_row(task_type: str, instruction: str, answer: str, passage: str) -> tuple[dict | None, str | None]:
    """A held-out task as a target row ({passage, question, answer, choices for classification}),
    or None and why it cannot be scored."""
    from bonito_hub.generate.filters import is_span, yes_no

    question = question_of(instruction, passage)
    if task_type == "exqa":
        if not is_span(answer, passage):
            return None, "not_a_span"
        return {"passage": passage, "question": question, "answer": answer.strip()}, None
    if task_type == "ynqa":
        word = yes_no(answer)
        if word is None:
            return None, "not_yes_no"
        return {"passage": passage, "question": question, "choices": ["yes", "no"], "answer": word}, None
    choices = options_of(question)
    if not choices:
        return None, "no_options"
    picked = [c for c in choices if _norm(c) == _norm(answer)]
    if not picked:
        return None, "answer_not_an_option"
    stem = stem_of(question)
    if task_type == "mcqa":
        return {"passage": passage, "question": stem, "options": choices, "answer": picked[0]}, None
    return {"passage": passage, "hypothesis": hypothesis_of(stem), "choices": choices, "answer": picked[0]}, None


def evaluation_sets(rows, types: tuple[str, ...], seed: int, training_texts=None) -> tuple[dict[str, list[dict]], dict]:
    """The evaluation rows of each task type from the held-out rows (dicts with input, output,
    task_type's short name as `type`, passage, doc_id, passage_start, passage_end), and their counts:
    tasks, rows (at most MAX_ROWS a type, drawn with `seed`), and why the others were not used.
    `training_texts`: a function giving the training rows' texts again; a row whose passage or
    question shares a 13-word n-gram with one of them is no unseen text and is left out
    (`overlaps_training`)."""
    sets: dict[str, list[dict]] = {t: [] for t in types if t in EVALUABLE}
    counts = {t: {"tasks": 0, "rows": 0, "dropped": Counter()} for t in sets}
    seen: set = set()
    for row in rows:
        short = row["type"]
        if short not in sets:
            continue
        mine = counts[short]
        mine["tasks"] += 1
        item, why = evaluation_row(short, row["input"], row["output"], row["passage"])
        if item is None:
            mine["dropped"][why] += 1
            continue
        key = (short, item["passage"], item.get("question") or item.get("hypothesis"))
        if key in seen:
            mine["dropped"]["duplicate_question"] += 1
            continue
        seen.add(key)
        item.update(doc_id=row["doc_id"], passage_start=row["passage_start"], passage_end=row["passage_end"])
        sets[short].append(item)
    if training_texts is not None:
        from bonito_hub.overlap import NGRAM, NgramIndex

        for short, items in sets.items():
            if not items:
                continue
            import numpy as np

            index = NgramIndex.from_rows(items, NGRAM)
            found = index.scan(training_texts()).found  # the evaluation n-grams some training row holds
            hit = set(index.pairs[1][np.isin(index.pairs[0], list(found))].tolist())
            if hit:
                counts[short]["dropped"]["overlaps_training"] = len(hit)
                sets[short] = [item for i, item in enumerate(items) if i not in hit]
    for short, items in sets.items():
        if len(items) > MAX_ROWS:
            keep = sorted(random.Random(seed).sample(range(len(items)), MAX_ROWS))
            counts[short]["dropped"]["over_max_rows"] = len(items) - MAX_ROWS
            sets[short] = [items[i] for i in keep]
        counts[short]["rows"] = len(sets[short])
        counts[short]["dropped"] = dict(sorted(counts[short]["dropped"].items()))
    return sets, counts


def write_sets(folder: Path, sets: dict[str, list[dict]]) -> dict[str, str]:
    """heldout/TYPE.jsonl for each type with rows; returns {type: path relative to `folder`}."""
    from bonito_hub.folders import write_atomic

    written = {}
    for short, items in sets.items():
        if not items:
            continue
        relative = f"heldout/{short}.jsonl"
        write_atomic(folder / relative, "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
        written[short] = relative
    return written
