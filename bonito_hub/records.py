"""The JSON record each stage writes beside its output (ctga_build.json, run.json,
training_record.json): when it was made, how long it took, with which package versions and
options, plus what the stage adds (counts, fingerprints of its inputs). Cards are written from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bonito_hub.folders import write_atomic

# Every record's file name, in one place: a stage that reads another stage's folder names the file
# from here, never by importing that stage.
CTGA_BUILD = "ctga_build.json"          # a CTGA build
RUN = "run.json"                        # a generation run: what identifies it
FUNNEL = "funnel.json"                  # a generation run, once complete: its counts
TRAINING = "training_record.json"       # a trained adapter or model
SCORES = "scores.json"                  # an evaluation
EVALUATIONS = "evaluations.json"        # `bonito adapt` before/ and after/: the evaluation sets scored there
OVERLAP = "overlap.json"                # `bonito adapt` overlap/: n-grams shared by training and evaluation text
EVALUATION = "evaluation.json"          # beside an adapter: its scores before and after, for its card
ADAPT = "adapt.json"                    # a `bonito adapt` run
PUSH = "push.json"                      # what `bonito adapt` pushed
DEMO = "demo.json"                      # a `bonito demo` folder


def package_versions(*names: str) -> dict:
    """Installed versions of `names` (None for one that is not installed); bonito-hub's first."""
    out = {}
    for name in ("bonito-hub", *names):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def plain(value):
    """Options as JSON values: dataclasses and objects with `to_dict` (TRL's configs) become dicts,
    also inside a dict of them; anything else JSON cannot hold becomes its string."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    return json.loads(json.dumps(value, default=str))


def make_record(options, packages: tuple[str, ...] = (), started: float | None = None, **fields) -> dict:
    """A record: created (UTC), seconds since `started` (None while unknown), versions, options,
    then the stage's own fields."""
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": None if started is None else round(time.time() - started, 1),
        "versions": package_versions(*packages),
        "options": plain(options),
        **fields,
    }


def write_record(path: str | Path, record: dict) -> Path:
    return write_atomic(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")


def read_record(path: str | Path) -> dict | None:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
