"""The paper's metrics: accuracy and macro F1 for ranked classification, SQuAD F1 and exact match
for extractive QA. lm-evaluation-harness computes accuracy itself (`acc`); these are the
aggregation and per-sample functions its task configs call (see harness.py).

SQuAD's answer normalisation: lower-case, drop punctuation, drop the articles a/an/the, collapse
whitespace. F1 is over the bags of normalised tokens; both scores take the best gold answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalise_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: str, gold: str) -> float:
    pred, ref = normalise_answer(prediction).split(), normalise_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_exact_match(prediction: str, gold: str) -> float:
    return float(normalise_answer(prediction) == normalise_answer(gold))


def squad_scores(prediction: str, answers: list[str]) -> dict:
    """F1 and exact match of one prediction against its gold answers (the best of them), in 0-1."""
    return {
        "f1": max(squad_f1(prediction, a) for a in answers),
        "exact_match": max(squad_exact_match(prediction, a) for a in answers),
    }


def macro_f1(golds: list[int], predictions: list[int]) -> float:
    """F1 averaged over the classes that occur as gold or prediction, each class counting once."""
    classes = sorted(set(golds) | set(predictions))
    scores = []
    for c in classes:
        tp = sum(1 for g, p in zip(golds, predictions) if g == c and p == c)
        fp = sum(1 for g, p in zip(golds, predictions) if g != c and p == c)
        fn = sum(1 for g, p in zip(golds, predictions) if g == c and p != c)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def majority_baseline(rows: list[dict]) -> dict:
    """What always giving one answer scores on classification rows ({"choices", "label"}), to read
    a model's scores against: the count of each gold answer, and the commonest one's accuracy and
    macro F1 in percent (`scores`). When the choices change from row to row (a held-out nli or mcqa
    set lists its own options), an answer is a position, whose meaning changes from row to row:
    the counts are of positions and the score is accuracy only (`choices`: "per_row")."""
    golds = [r["label"] for r in rows]
    if not golds:
        return {}
    counts = Counter(golds)
    pick = max(sorted(counts), key=counts.__getitem__)  # a tie goes to the earlier choice
    fixed = all(r["choices"] == rows[0]["choices"] for r in rows)
    name = (lambda i: rows[0]["choices"][i]) if fixed else (lambda i: f"option {i + 1}")
    scores = {"accuracy": 100 * counts[pick] / len(golds)}
    if fixed:
        scores["f1"] = 100 * macro_f1(golds, [pick] * len(golds))
    labels = range(len(rows[0]["choices"])) if fixed else sorted(counts)
    return {"answer": name(pick), "choices": "fixed" if fixed else "per_row",
            "labels": {name(i): counts.get(i, 0) for i in labels}, "scores": scores}


# --- the hooks lm-evaluation-harness calls (named in the task configs harness.py writes) ---

def macro_f1_aggregation(items) -> float:
    """lm-eval aggregation over (gold, prediction) pairs, as its multiple-choice `f1` metric passes them."""
    golds, predictions = zip(*items) if items else ((), ())
    return macro_f1(list(golds), list(predictions))


def squad_process_results(doc: dict, results: list[str]) -> dict:
    """lm-eval per-sample scores of a greedy generation: the stripped text against the gold answers."""
    return squad_scores(results[0].strip(), doc["answers"])
