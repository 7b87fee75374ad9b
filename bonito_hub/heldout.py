"""A held-out evaluation built from the user's own documents, for a corpus without labels.

    heldout_documents(...)   a seeded share of the documents, set aside before generation: the
                             training rows come from the others only
    evaluation_rows(...)     the tasks generated from the held-out documents, as rows of the
                             target schema `bonito evaluate` reads (evaluation/targets.py)

A held-out task counts when it passed the run's filters and, for its type, can be scored:

    ynqa                          the answer is yes or no: choices [yes, no]
    nli, te, mcqa                 the instruction lists its options ("- yes", "A) ...", "(b) ...")
                                  and the answer is one of them: those are the choices
    exqa                          the answer is a span of the held-out passage

The question is the instruction with the passage taken out when it quotes it (Bonito's
instructions do), so that the evaluation prompts show the passage once. Other task types have no
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


def heldout_documents(with_text: list[int], fraction: float, seed: int) -> frozenset[int]:
    """The documents held out: `fraction` of those with text (their indices, `with_text`), at least
    one, drawn by a generator seeded with `seed`; the same for the same corpus and seed, in every
    process (a string seed is hashed with SHA-512, not with Python's per-process hash)."""
    check_fraction(fraction)
    if len(with_text) < 2:
        raise ConfigError(f"`holdout` needs at least two documents with text (one to train on, one to hold out); "
                          f"the corpus has {len(with_text)}", field="holdout")
    k = min(len(with_text) - 1, max(1, round(fraction * len(with_text))))
    return frozenset(random.Random(f"holdout/{seed}").sample(with_text, k))


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
    return {"passage": passage, "question": question, "choices": choices, "answer": picked[0]}, None


def evaluation_sets(rows, types: tuple[str, ...], seed: int) -> tuple[dict[str, list[dict]], dict]:
    """The evaluation rows of each task type from the held-out rows (dicts with input, output,
    task_type's short name as `type`, passage, doc_id, passage_start, passage_end), and their counts:
    tasks, rows (at most MAX_ROWS a type, drawn with `seed`), and why the others were not used."""
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
        key = (short, item["passage"], item["question"])
        if key in seen:
            mine["dropped"]["duplicate_question"] += 1
            continue
        seen.add(key)
        item.update(doc_id=row["doc_id"], passage_start=row["passage_start"], passage_end=row["passage_end"])
        sets[short].append(item)
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
