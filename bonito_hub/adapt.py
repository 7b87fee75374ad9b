"""`bonito adapt`: the whole loop as one resumable command.

    generate  ->  before (evaluate the student as it is)  ->  train  ->  after  ->  push

The steps are `steps()`, a list of `Step`s the run walks in order, each a named function of this
module. Each writes its own folder under the output folder (generated/, before/, student/, after/,
push/), and a step is done when its folder holds its record (funnel.json, written once every
chunk is finished; scores.json; training_record.json; push.json). Running the same command again
after a failure starts at the first unfinished step: generation resumes at its first unfinished
chunk and training at its last checkpoint. adapt.json holds the identity of the run (corpus,
task type, generator, student, target), which a rerun must match, and each step's time and
outcome.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from bonito_hub import records
from bonito_hub.console import get_logger
from bonito_hub.errors import OutputError
from bonito_hub.folders import claim_output
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = records.ADAPT
DEFAULT_RECIPE = "student/mistral-7b-qlora"
log = get_logger(__name__)


@dataclass
class AdaptConfig:
    corpus: str
    task_type: str
    generator: str
    student: str
    target: str | None = None
    target_data: str | None = None  # a local copy of a built-in target's test split
    recipe: str = DEFAULT_RECIPE  # a packaged recipe name (student/..., smoke/...) or a YAML path
    recipe_args: list[str] = field(default_factory=list)  # extra `--key value` arguments for the recipe
    text_column: str = "text"
    preset: str = "default"
    max_tokens: int | None = None
    backend: str = "auto"
    push: str | None = None  # ORG/NAME: the adapter goes there, the generated set to ORG/NAME-tasks
    public: bool = False
    dry_run: bool = False  # push: write what would be uploaded, with its cards; send nothing
    base_model: str | None = None  # the student's Hub id for the adapter card, when --student is a folder
    eval_limit: int | None = None

    IDENTITY = ("corpus", "task_type", "generator", "student", "target", "target_data")

    def __post_init__(self):
        from bonito_hub import tasks
        from bonito_hub.errors import ConfigError

        tasks.normalize(self.task_type)  # an unknown type is refused now, not after the checks
        if self.push:
            from bonito_hub.push import check_repo_id

            check_repo_id(self.push, field="push")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"`eval_limit` must be at least 1 row, got {self.eval_limit}", field="eval_limit")

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k in self.IDENTITY}


@dataclass(frozen=True)
class Step:
    """A step of the loop: its name, the folder it writes under the run, the record whose presence
    marks it done, the function that runs it, and whether a config wants it."""

    name: str
    folder: str
    record: str
    run: Callable[["Adaptation"], None]
    wanted: Callable[[AdaptConfig], bool] = lambda config: True


def generate_tasks(run: "Adaptation") -> None:
    """Generate the instruction-tuning set from the corpus (bonito_hub.generate.generate)."""
    from bonito_hub.generate import GenerateConfig, generate

    c = run.config
    result = generate(GenerateConfig(model=c.generator, input=c.corpus, task_type=c.task_type,
                                     output=run.folder("generate"), text_column=c.text_column, preset=c.preset,
                                     max_tokens=c.max_tokens, backend=c.backend, progress=run.progress))
    if not result.funnel["kept"]:
        raise OutputError(f"generation kept no example (funnel in {run.folder('generate')}/funnel.json); "
                          "nothing to train the student on")


def evaluate_before(run: "Adaptation") -> None:
    """Score the student as it is."""
    run.evaluate("before", adapter=None)


def train_student(run: "Adaptation") -> None:
    """Train the student's adapter with the recipe (bonito_hub.sft), resuming at its last checkpoint."""
    from transformers.trainer_utils import get_last_checkpoint

    from bonito_hub import sft

    folder = run.folder("train")
    argv = list(run.recipe_argv)
    checkpoint = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if checkpoint:
        log.info("adapt: training resumes from %s", checkpoint)
        argv += ["--resume_from_checkpoint", checkpoint]
    elif folder.exists():
        shutil.rmtree(folder)  # a start that died before its first checkpoint
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log lines; stdout is for results
        sft.main(*sft.parse(argv))


def evaluate_after(run: "Adaptation") -> None:
    """Score the student with its adapter; the adapter's card then reports both evaluations."""
    run.evaluate("after", adapter=str(run.folder("train")))
    scores = {s: read_record(run.folder(s) / records.SCORES) for s in ("before", "after")}
    if any(scores.values()):  # evaluation.json beside the adapter: what its card reports
        write_record(run.folder("train") / records.EVALUATION, scores)


def push_results(run: "Adaptation") -> None:
    """Push the adapter to ORG/NAME and the generated set to ORG/NAME-tasks (or, dry, keep both)."""
    from bonito_hub.push import push

    c, folder = run.config, run.folder("push")
    uploads = {
        "adapter": push("adapter", run.folder("train"), c.push, public=c.public, dry_run=c.dry_run,
                        base_model=c.base_model),
        "dataset": push("dataset", run.folder("generate"), f"{c.push}-tasks", public=c.public, dry_run=c.dry_run),
    }
    folder.mkdir(parents=True, exist_ok=True)
    result = {}
    for kind, upload in uploads.items():
        entry = {"repo_id": upload.repo_id, "files": upload.files, "url": upload.url}
        if c.dry_run:  # keep what would have been sent, cards included, under push/
            dest = folder / kind
            if dest.exists():
                shutil.rmtree(dest)
            shutil.move(str(upload.folder), dest)
            entry["folder"] = str(dest)
        result[kind] = entry
    write_record(folder / records.PUSH, {"dry_run": c.dry_run, "public": c.public, **result})


def steps() -> list[Step]:
    """The loop, in order."""
    with_target = lambda config: bool(config.target)  # noqa: E731
    return [
        Step("generate", "generated", records.FUNNEL, generate_tasks),
        Step("before", "before", records.SCORES, evaluate_before, with_target),
        Step("train", "student", records.TRAINING, train_student),
        Step("after", "after", records.SCORES, evaluate_after, with_target),
        Step("push", "push", records.PUSH, push_results, lambda config: bool(config.push)),
    ]


class Adaptation:
    """One `bonito adapt` run over the folder `output`."""

    def __init__(self, config: AdaptConfig, output: str | Path, progress: bool = True):
        self.config, self.output, self.progress = config, Path(output), progress
        self.steps = [step for step in steps() if step.wanted(config)]
        self.record: dict = {}
        self._prompt_style: str | None = None

    def folder(self, step: str) -> Path:
        return self.output / next(s.folder for s in steps() if s.name == step)

    def done(self, step: Step) -> bool:
        return (self.output / step.folder / step.record).is_file()

    # --- the run ---

    def run(self) -> dict:
        self._claim()
        self._check_inputs()  # what can be checked in seconds is, before hours of generation
        self.training_args = self._parse_recipe()
        for step in self.steps:
            entry = self.record["steps"].setdefault(step.name, {})
            if self.done(step):
                entry.setdefault("status", "done")
                log.info("adapt: %s is done (%s)", step.name, self.output / step.folder)
                continue
            log.info("adapt: %s -> %s", step.name, self.output / step.folder)
            started = time.time()
            entry.update(status="running")
            self._save()
            try:
                step.run(self)
            except BaseException as exc:
                entry.update(status="failed", error=str(exc) or type(exc).__name__,
                             seconds=round(time.time() - started, 1))
                self._save()
                raise
            entry.update(status="done", seconds=round(time.time() - started, 1), error=None)
            self._save()
        self.record["summary"] = self.summary()
        self._save()
        return self.record

    def _claim(self) -> None:
        earlier = claim_output(self.output, RECORD_NAME, {RECORD_NAME, *(s.folder for s in steps())},
                               f"an adaptation ({RECORD_NAME})")
        identity = self.config.identity()
        if earlier:
            differs = {k: (earlier["identity"].get(k), v) for k, v in identity.items() if earlier["identity"].get(k) != v}
            if differs:
                said = "; ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in differs.items())
                raise OutputError(f"`output` {self.output} holds an adaptation of something else ({said}); "
                                  "resume it with the same arguments or choose another `output`", field="output")
            self.record = earlier
            self.record["options"] = json.loads(json.dumps(asdict(self.config), default=str))
            log.info("adapt: resuming %s", self.output)
        else:
            self.output.mkdir(parents=True, exist_ok=True)
            self.record = make_record(self.config, identity=identity, steps={})

    def _check_inputs(self) -> None:
        from bonito_hub import hub
        from bonito_hub.errors import InputError
        from bonito_hub.evaluation import builtin_targets, load_target
        from bonito_hub.models import check_model_available

        c = self.config
        check_model_available(c.generator, "`generator`")
        check_model_available(c.student, "`student`")
        if hub.is_local(c.corpus) and not Path(c.corpus).exists():
            raise InputError(f"`corpus` {c.corpus}: no such file or folder", field="corpus")
        if c.target and (c.target not in builtin_targets() or c.target_data):
            load_target(c.target, c.target_data)  # a user's file is read (and checked) now
        elif c.target:
            hub.check_reachable(f"`target` {c.target}")

    def _save(self) -> None:
        write_record(self.output / RECORD_NAME, self.record)

    def _parse_recipe(self):
        from bonito_hub import sft, training

        argv = ["--config", training.recipe_path(self.config.recipe), "--model_name_or_path", self.config.student,
                "--dataset_name", str(self.folder("generate")), "--output_dir", str(self.folder("train")),
                "--objective", "student", *self.config.recipe_args]
        parsed = sft.parse(argv)
        training.check_model(parsed[2], parsed[1])
        self.recipe_argv = argv
        return parsed

    def evaluate(self, step: str, adapter: str | None) -> None:
        """Before and after are prompted the same way: as the student is (or will be) trained."""
        from bonito_hub.evaluation import EvaluationConfig, evaluate

        config = EvaluationConfig(target=self.config.target, model=self.config.student, adapter=adapter,
                                  data=self.config.target_data, prompt_style=self.prompt_style(),
                                  limit=self.config.eval_limit)
        evaluate(config, self.folder(step), overwrite=True)

    def prompt_style(self) -> str:
        """The prompt style the recipe trains the student with (and evaluation prompts it with)."""
        from bonito_hub import training

        if self._prompt_style is None:
            script_args, _, model_args = self.training_args
            self._prompt_style = training.prompt_style(script_args, training.load_tokenizer(model_args))
        return self._prompt_style

    # --- the report ---

    def summary(self) -> dict:
        funnel = read_record(self.folder("generate") / records.FUNNEL) or {}
        scores = {s: read_record(self.folder(s) / records.SCORES) for s in ("before", "after")}
        return {
            "examples_kept": funnel.get("kept"),
            "generations": funnel.get("generations"),
            "scores": {s: (r or {}).get("scores", {}).get("mean") for s, r in scores.items() if r},
            "metrics": next((r["metrics"] for r in scores.values() if r), []),
            "seconds": {s.name: self.record["steps"].get(s.name, {}).get("seconds") for s in self.steps},
        }


def adapt(config: AdaptConfig, output: str | Path, progress: bool = True) -> dict:
    """Run (or resume) the loop `config` describes in the folder `output`; returns adapt.json's record."""
    return Adaptation(config, output, progress=progress).run()


def summary_table(record: dict) -> str:
    """The table that ends a run: scores before and after, examples kept, time per step."""
    summary = record.get("summary") or {}
    lines = [f"examples kept: {summary.get('examples_kept')} of {summary.get('generations')} generations"]
    scores, metrics = summary.get("scores") or {}, summary.get("metrics") or []
    if scores:
        lines.append(f"  {'metric':<14}{'before':>10}{'after':>10}{'change':>10}")
        for m in metrics:
            b, a = ((scores.get(s) or {}).get(m) for s in ("before", "after"))
            change = f"{a - b:+10.1f}" if a is not None and b is not None else f"{'':>10}"
            lines.append(f"  {m:<14}" + "".join(f"{v:>10.1f}" if v is not None else f"{'-':>10}" for v in (b, a))
                         + change)
    lines.append("  " + ", ".join(f"{step} {s if s is not None else '(done earlier)'} s"
                                  for step, s in (summary.get("seconds") or {}).items()))
    return "\n".join(lines)
