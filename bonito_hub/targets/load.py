"""Evaluation targets: a labelled test set, its kind, and its five prompts.

A target is one of the paper's seven (data/evaluation/targets.yaml: Hub id, config, split and
fields) or a user's JSON Lines file. Either way its rows are normalised to one shape:

  classification  {"passage", "question", "choices": [...], "label": index into choices}
  exqa            {"passage", "question", "answers": [gold strings]}

A user's file holds one object a line: `passage`, `question` (or `hypothesis`), `answer`, and for
classification `choices` (the answer is one of them), or `options` for multiple choice, whose
prompts list the options under the question. Without either the file is extractive QA, and
`answer` is a string or a list of acceptable strings. The prompt family follows the file:
`hypothesis` nli, `options` options, else yes_no (classification) or exqa.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bonito_hub import resources
from bonito_hub.errors import InputError, cause

KINDS = ("classification", "exqa")


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str  # Jinja over a normalised row (bonito-hub's prompts) or over a raw row (the paper's)
    choices: tuple[str, ...] | None = None  # the words scored for each class, when not the row's
    answer_choices: str | None = None  # the paper's: promptsource's answer_choices ("yes ||| no ||| maybe")

    @property
    def key(self) -> str:
        """The prompt's name as it appears in task names and data fields."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


@dataclass
class Target:
    name: str
    title: str
    kind: str
    task_type: str
    prompts: list[Prompt]
    rows: list[dict] = field(repr=False)
    source: dict = field(default_factory=dict)  # where the rows came from, for the record
    classes: list[str] | None = None  # fixed answer choices of a built-in classification target
    protocol: str = "bonito-hub"  # "paper": the paper's prompts over `raw_rows`, as its code renders them
    raw_rows: list[dict] = field(default_factory=list, repr=False)  # a built-in target's rows as on the Hub

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"


def builtin_targets() -> dict[str, dict]:
    return yaml.safe_load(resources.read_text("evaluation/targets.yaml"))


def prompt_family(name: str) -> list[Prompt]:
    families = yaml.safe_load(resources.read_text("evaluation/prompts.yaml"))
    return [Prompt(p["name"], p["text"], tuple(p["choices"]) if p.get("choices") else None) for p in families[name]]


def _field(row: dict, dotted: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(f"a row has no field {dotted!r} (its fields: {', '.join(row)})")
        value = value[part]
    return value


def _text(value) -> str:
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value)
    return str(value)


def normalise_builtin(spec: dict, rows) -> list[dict]:
    """Rows of a built-in target's Hub test set in the normalised shape."""
    out = []
    for row in rows:
        item = {"passage": _text(_field(row, spec["passage"])), "question": _text(_field(row, spec["question"]))}
        if spec["kind"] == "classification":
            raw = _field(row, spec["label"])
            labels = spec["labels"]
            if raw not in labels:
                raise InputError(f"{spec['title']}: label {raw!r} is not one of {', '.join(map(str, labels))}")
            item.update(choices=list(spec["classes"]), label=labels[raw])
        else:
            answers = _field(row, spec["answers"])
            item["answers"] = [str(a) for a in (answers if isinstance(answers, list) else [answers])]
        out.append(item)
    return out


PROTOCOLS = ("paper", "bonito-hub")


def paper_prompts(name: str) -> list[Prompt]:
    from bonito_hub.targets.paper import paper_templates

    return [Prompt(t["name"], t["jinja"], answer_choices=t.get("answer_choices")) for t in paper_templates()[name]]


def load_builtin(name: str, data_files: str | None = None, protocol: str = "paper") -> Target:
    """A built-in target, read from the Hub (or from `data_files`, a local copy of its test split
    in the same schema: .parquet, .arrow, .json or .jsonl), with the paper's prompts (`protocol`
    "paper") or bonito-hub's ("bonito-hub")."""
    from datasets import load_dataset

    spec = builtin_targets()[name]
    if data_files:
        path = Path(data_files)
        if not path.exists():
            raise InputError(f"`data` {data_files}: no such file", field="data")
        builder = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json"}.get(path.suffix)
        if builder is None:
            raise InputError(f"`data` {data_files}: give a .parquet, .arrow, .json or .jsonl file", field="data")
        rows = load_dataset(builder, data_files=str(path), split="train")
        source = {"data_files": str(path)}  # as given: a record names no folder of this machine it was not given
    else:
        rows, source = _from_hub(name, spec["paper"] if protocol == "paper" and "paper" in spec else spec)
    prompts = paper_prompts(name) if protocol == "paper" else prompt_family(spec["prompts"])
    return Target(name=name, title=spec["title"], kind=spec["kind"], task_type=spec["task_type"], prompts=prompts,
                  rows=normalise_builtin(spec, rows), source=source, classes=list(spec.get("classes") or []) or None,
                  protocol=protocol, raw_rows=rows.to_list() if protocol == "paper" else [])


def _from_hub(name: str, where: dict):
    """A built-in target's rows from the Hub at the commit its revision points to, and the record
    of where they came from: repo, config (or data files), split, the revision asked for and the
    commit read."""
    from datasets import load_dataset

    from bonito_hub import hub

    commit = hub.dataset_commit(where["dataset"], where.get("revision"))
    try:
        files = {where["split"]: where["data_files"]} if where.get("data_files") else None
        rows = load_dataset(where["dataset"], where.get("config"), data_files=files, split=where["split"],
                            revision=commit or where.get("revision"))
    except Exception as exc:
        said = "is not in the local cache and HF_HUB_OFFLINE=1 is set" if hub.offline() else \
            f"could not be read from the Hub ({cause(exc)})"
        part = where.get("config") or where.get("data_files")
        raise InputError(f"`target` {name}: its test set {where['dataset']} ({part}) {said}; give a local copy of "
                         "it with `data`", field="target") from None
    source = {k: where[k] for k in ("dataset", "config", "data_files", "split", "revision") if where.get(k)}
    return rows, {**source, "commit": commit}


def _user_row(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: each line must be a JSON object")
    missing = [k for k in ("passage", "answer") if k not in obj]
    if missing or not ("question" in obj or "hypothesis" in obj):
        need = missing + ([] if ("question" in obj or "hypothesis" in obj) else ["question or hypothesis"])
        raise InputError(f"{where}: missing {', '.join(need)} (a target line holds passage, question or hypothesis, "
                         "answer, and for classification choices)")
    row = {"passage": str(obj["passage"]), "question": str(obj.get("question", obj.get("hypothesis")))}
    if "choices" in obj and "options" in obj:
        raise InputError(f"{where}: give choices (the answer words) or options (multiple choice), not both")
    if "choices" in obj or "options" in obj:
        choices = obj.get("choices", obj.get("options"))
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise InputError(f"{where}: {'choices' if 'choices' in obj else 'options'} must be a list of at least two "
                             "strings")
        if len({c.strip() for c in choices}) != len(choices):
            raise InputError(f"{where}: choices {choices} hold the same answer twice; a tie would be scored as right")
        if obj["answer"] not in choices:
            raise InputError(f"{where}: answer {obj['answer']!r} is not one of its choices {choices}")
        row.update(choices=choices, label=choices.index(obj["answer"]))
    else:
        answers = obj["answer"] if isinstance(obj["answer"], list) else [obj["answer"]]
        if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise InputError(f"{where}: answer must be a non-empty string or a list of them")
        row["answers"] = answers
    return row


def load_user(path: str | Path) -> Target:
    """A user's labelled JSON Lines file as a target."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"`target` {path}: no such file, and not a built-in target ({', '.join(builtin_targets())})",
                         field="target")
    rows, nli, options = [], False, set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path.name}, line {n}: not JSON ({exc.msg})") from None
            rows.append(_user_row(obj, f"{path.name}, line {n}"))
            nli = nli or (isinstance(obj, dict) and "hypothesis" in obj)
            options.add("options" in obj)
    if not rows:
        raise InputError(f"{path.name} holds no rows")
    kinds = {"classification" if "choices" in r else "exqa" for r in rows}
    if len(kinds) > 1:
        raise InputError(f"{path.name}: some lines have choices and some do not; a target is either classification "
                         "(every line has choices) or extractive QA (none has)")
    if len(options) > 1:
        raise InputError(f"{path.name}: some lines have options and some do not; a multiple-choice target gives "
                         "options on every line")
    kind = kinds.pop()
    family = "exqa" if kind == "exqa" else ("options" if options.pop() else "nli" if nli else "yes_no")
    task_type = {"exqa": "exqa", "nli": "nli", "yes_no": "ynqa", "options": "mcqa"}[family]
    return Target(name=path.stem, title=path.name, kind=kind, task_type=task_type, prompts=prompt_family(family),
                  rows=rows, source={"file": str(path)})


def load_target(target: str, data_files: str | None = None, protocol: str = "auto") -> Target:
    """`target`: a built-in name (see `builtin_targets()`) or the path of a JSON Lines file.
    `protocol`: "paper" (the paper's prompts; built-in targets only), "bonito-hub", or "auto"
    (the paper's for a built-in target, bonito-hub's for a file of your own)."""
    if protocol not in ("auto", *PROTOCOLS):
        raise InputError(f"`protocol` must be auto, {', '.join(PROTOCOLS)}, got {protocol!r}", field="protocol")
    if target in builtin_targets():
        return load_builtin(target, data_files, "paper" if protocol == "auto" else protocol)
    if data_files:
        raise InputError("`data` gives a local copy of a built-in target; for your own file pass it as `target`",
                         field="data")
    if protocol == "paper":
        raise InputError(f"`protocol` paper has prompts for the seven built-in targets only; {Path(target).name} "
                         "is evaluated with bonito-hub's prompts (`protocol` bonito-hub)", field="protocol")
    return load_user(target)
