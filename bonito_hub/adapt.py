"""`bonito adapt`: the whole loop as one resumable command.

    generate -> overlap -> before (evaluate the student as it is) -> train -> after -> push

Generation holds out a share of the documents (10% by default): their tasks become evaluation
sets, so that a corpus without labels still tells whether adaptation helped. The student is
scored before and after on each of them and on the labelled `target` when one is given, each in
its own folder (before/heldout-TYPE/, before/target/, the same under after/). The overlap step
counts the n-grams the corpus shares with the target and the training rows share with every
evaluation set (bonito_hub.overlap): an "after" score on text the student trained on says little.

The steps are `steps()`, a list of `Step`s the run walks in order, each a named function of this
module. Each writes its own folder under the output folder (generated/, overlap/, before/,
student/, after/, push/), and records in adapt.json the inputs that shaped it (the options it read). A step
is reused only when it finished (its record is there and adapt.json says "done") and its inputs
are the same as now; a step that failed or was interrupted is resumed (generation at its first
unfinished chunk, training at its last checkpoint) when its inputs are the same, and started
again when they are not. A finished step whose inputs changed is refused in one line naming the
difference, unless `redo` names it (or an earlier step): then it and every step after it are made
again. So adapt.json always describes what is on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from bonito_hub import records
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, OutputError, RunError
from bonito_hub.folders import Manifest, claim_output, lock, remove_folder
from bonito_hub.generate import DEFAULT_HOLDOUT, EVALUABLE, check_fraction
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = records.ADAPT
# a held-out set whose rows share text with the training rows beyond this share shows no gain: its
# documents were not unseen (the generation leaves such rows out; this catches what gets past it)
MAX_HELDOUT_OVERLAP = 0.05
DEFAULT_RECIPE = "student/mistral-7b-qlora"
STEP_NAMES = ("generate", "overlap", "before", "train", "after", "push")
# recipe keys adapt sets itself: a --recipe-arg for one of them would train something else than
# what the run records, or write where the run does not look
SET_BY_ADAPT = {"model_name_or_path": "student", "dataset_name": "the generated folder",
                "output_dir": "the run's student/ folder", "objective": "student"}
log = get_logger(__name__)


@dataclass
class AdaptConfig:
    corpus: str
    task_type: str | None  # one type, several joined by commas, or all-applicable (None with task_mix)
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
    base_model: str | None = None  # the student's Hub id for the adapter card, when the student is a folder
    eval_limit: int | None = None
    redo: str | None = None  # make this step and every step after it again
    task_mix: Any = None  # {type: share} or "exqa=0.5,ynqa=0.5": one type a passage, instead of task_type
    holdout: float | None = DEFAULT_HOLDOUT  # share of documents whose tasks evaluate, never train (0: none)
    exclude_overlap: bool = False  # leave out passages sharing an n-gram with the target before generation
    encoding: str = "utf-8"  # of text corpora
    skip_bad_files: bool = False  # documents with no text, links out of the corpus folder, non-regular files: skipped
    follow_links: bool = False  # read files that links in the corpus folder point to outside it

    def __post_init__(self):
        from bonito_hub import hub, tasks
        from bonito_hub.push import check_repo_id

        self.holdout = self.holdout or None  # 0: every document trains
        check_fraction(self.holdout)
        if self.exclude_overlap and not self.target:
            raise ConfigError("`exclude_overlap` leaves out the passages a `target` shares; give the target",
                              field="exclude_overlap")

        if self.task_mix is not None:  # an unknown type, a mix not summing to 1: refused now, not after the checks
            self.task_mix = tasks.parse_mix(self.task_mix)
        else:
            tasks.parse_types(self.task_type or "")
        if self.push:
            check_repo_id(self.push, field="push")
            if self.base_model:
                check_repo_id(self.base_model, field="base_model", owner_optional=True)
            elif hub.is_local(self.student):
                raise ConfigError(f"`push`: the student {Path(self.student).name!r} is a local folder; name its Hub "
                                  "id with `base_model` so that others can load the adapter", field="base_model")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"`eval_limit` must be at least 1 row, got {self.eval_limit}", field="eval_limit")
        if self.redo is not None and self.redo not in STEP_NAMES:
            raise ConfigError(f"`redo` must be one of {', '.join(STEP_NAMES)}, got {self.redo!r}", field="redo")
        for i, arg in enumerate(self.recipe_args[::2]):
            key = arg.lstrip("-").split("=", 1)[0]
            if key in SET_BY_ADAPT:
                raise ConfigError(f"`recipe_args` {key}: adapt sets it itself (to {SET_BY_ADAPT[key]}); leave it "
                                  "out", field="recipe_args")


@dataclass(frozen=True)
class EvaluationSet:
    """What a student is scored on: the labelled `target` (folder "target") or the tasks of a held-out
    task type (folder "heldout-TYPE", `generated`), as `bonito evaluate --target` takes it."""

    name: str
    target: str
    data: str | None = None
    generated: bool = False

    @property
    def title(self) -> str:
        """How tables name it: "held-out TYPE", a built-in target's name, or a file's name (never its folder)."""
        return f"held-out {self.name.removeprefix('heldout-')}" if self.generated else Path(self.target).name


@dataclass(frozen=True)
class Step:
    """A step of the loop: its name, the folder it writes under the run, the record whose presence
    marks it done, the function that runs it, the inputs that shape it, and whether a config
    wants it."""

    name: str
    folder: str
    record: str
    run: Callable[["Adaptation"], None]
    inputs: Callable[["Adaptation"], dict]
    wanted: Callable[[AdaptConfig], bool] = lambda config: True


def generate_tasks(run: "Adaptation") -> None:
    """Generate the instruction-tuning set from the corpus (bonito_hub.generate.generate)."""
    from bonito_hub.generate import GenerateConfig, generate

    c = run.config
    exclude = None
    if c.exclude_overlap:
        from bonito_hub.overlap import target_index

        exclude = target_index(c.target, c.target_data)
    result = generate(GenerateConfig(model=c.generator, input=c.corpus, task_type=c.task_type, task_mix=c.task_mix,
                                     output=run.folder("generate"), text_column=c.text_column, preset=c.preset,
                                     max_tokens=c.max_tokens, backend=c.backend, progress=run.progress,
                                     overwrite=True, exclude=(run.output,), holdout=c.holdout,
                                     exclude_overlap=exclude, skip_bad_files=c.skip_bad_files,
                                     follow_links=c.follow_links, encoding=c.encoding))
    if not result.funnel["kept"]:
        raise OutputError(f"generation kept no example (funnel in {run.folder('generate')}/funnel.json); "
                          "nothing to train the student on")


def check_contamination(run: "Adaptation") -> None:
    """The n-grams the corpus shares with the target, and the training rows with every evaluation
    set (bonito_hub.overlap), into overlap/overlap.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.evaluation import load_target
    from bonito_hub.overlap import NGRAM, NgramIndex, check_overlap, describe, overlap_report

    c, folder = run.config, run.folder("overlap")
    report: dict = {"ngram": NGRAM}
    if c.target:
        report["corpus"] = check_overlap(c.corpus, c.target, c.target_data, c.text_column, progress=run.progress,
                                         exclude=(run.output,), skip_bad_files=c.skip_bad_files,
                                         follow_links=c.follow_links, encoding=c.encoding)
        log.info("adapt: overlap: %s", describe(report["corpus"]))
    generated = run.folder("generate")
    files = [generated / f for f in data_files(generated)]
    table = pa.concat_tables([pq.read_table(f, columns=["input", "output", "doc_id"]) for f in files])
    texts = [f"{i}\n{o}" for i, o in zip(table["input"].to_pylist(), table["output"].to_pylist())]
    report["training"] = {}
    for es in run.evaluation_sets():
        rows = load_target(es.target, es.data, protocol="bonito-hub").rows
        index = NgramIndex.from_rows(rows, NGRAM, name=es.title)
        found = overlap_report(index, index.scan(texts), rows, table["doc_id"].to_pylist(), evaluation=es.title,
                               corpus="the training rows")
        report["training"][es.name] = found
        log.info("adapt: overlap: %s", describe(found))
    if folder.exists():
        remove_folder(folder)
    folder.mkdir(parents=True)
    write_record(folder / records.OVERLAP, report)


def data_files(generated: Path) -> list[str]:
    from bonito_hub.generate.folder import data_files as files, finished_chunks

    return files(finished_chunks(generated))


def evaluate_before(run: "Adaptation") -> None:
    """Score the student as it is, on every evaluation set."""
    run.evaluate_all("before", adapter=None)


def train_student(run: "Adaptation") -> None:
    """Train the student's adapter with the recipe (bonito_hub.sft), resuming at its last checkpoint."""
    from transformers.trainer_utils import get_last_checkpoint

    from bonito_hub import sft

    folder = run.folder("train")
    argv = list(run.recipe_argv)
    checkpoint = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if checkpoint:
        log.info("adapt: training resumes from %s", Path(checkpoint).relative_to(run.output))
        argv += ["--resume_from_checkpoint", checkpoint]
    elif folder.exists():
        remove_folder(folder)  # a start that died before its first checkpoint
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log lines; stdout is for results
        sft.main(*sft.parse(argv), progress=run.progress)


def evaluate_after(run: "Adaptation") -> None:
    """Score the student with its adapter on every evaluation set; the adapter's card then reports
    them before and after, with the overlap figures (evaluation.json beside the adapter)."""
    run.evaluate_all("after", adapter=str(run.folder("train")))
    sets = run.evaluation_sets()
    scores = {es.name: {s: read_record(run.folder(s) / es.name / records.SCORES) for s in ("before", "after")}
              for es in sets}
    same_style = all(r["before"]["prompt_style"] == r["after"]["prompt_style"] for r in scores.values())
    if scores and same_style and all(_predictions(run.folder("before") / n) == _predictions(run.folder("after") / n)
                                     for n in scores):
        raise RunError("the adapter changed no prediction at all: its weights did not reach the model (on vLLM, "
                       "check that max_lora_rank holds the adapter's rank) or training did not move them")
    evaluation: dict = dict(scores.get("target", {}))  # the labelled target as "before"/"after", as cards read it
    heldout = {es.name.removeprefix("heldout-"): scores[es.name] for es in sets if es.generated}
    if heldout:
        evaluation["heldout"] = heldout
    overlap = read_record(run.folder("overlap") / records.OVERLAP)
    if overlap:
        evaluation["overlap"] = overlap_summary(overlap)
    if evaluation:  # evaluation.json beside the adapter: what its card reports
        write_record(run.folder("train") / records.EVALUATION, evaluation)


def overlap_summary(report: dict) -> dict:
    """The overlap figures a card gives: shares and counts, no text of any row."""
    keep = ("evaluation", "ngram", "evaluation_rows", "overlapping_rows", "share", "corpus_texts", "overlapping_texts")
    out = {"ngram": report["ngram"], "training": {name: {k: r[k] for k in keep}
                                                 for name, r in report.get("training", {}).items()}}
    if "corpus" in report:
        out["corpus"] = {k: report["corpus"][k] for k in keep}
    return out


def _predictions(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((folder / "predictions").glob("*.jsonl"))}


def push_results(run: "Adaptation") -> None:
    """Push the adapter to ORG/NAME and the generated set to ORG/NAME-tasks (or, dry, keep both)."""
    from bonito_hub.generate import push_dataset
    from bonito_hub.training import push_adapter

    c, folder = run.config, run.folder("push")
    if folder.exists():
        remove_folder(folder)
    folder.mkdir(parents=True)
    keep = {kind: folder / kind if c.dry_run else None for kind in ("adapter", "dataset")}  # a dry run shows them
    uploads = {
        "adapter": push_adapter(run.folder("train"), c.push, public=c.public, dry_run=c.dry_run,
                                keep=keep["adapter"], base_model=c.base_model, datasets=[f"{c.push}-tasks"]),
        "dataset": push_dataset(run.folder("generate"), f"{c.push}-tasks", public=c.public, dry_run=c.dry_run,
                                keep=keep["dataset"]),
    }
    result = {}
    for kind, upload in uploads.items():
        result[kind] = {"repo_id": upload.repo_id, "files": upload.files, "url": upload.url,
                        **({"folder": f"push/{kind}"} if c.dry_run else {})}
    write_record(folder / records.PUSH, {"dry_run": c.dry_run, "public": c.public, **result})


def _recipe_digest(recipe: str) -> str:
    from bonito_hub import training

    return hashlib.sha256(Path(training.recipe_path(recipe)).read_bytes()).hexdigest()[:16]


def _evaluation_inputs(run: "Adaptation", step: str) -> dict:
    c = run.config
    style = "auto" if step == "before" and run.evaluation_style("before") == "auto" else run.training_args[0].prompt_style
    return {"student": c.student, "target": c.target, "target_data": c.target_data, "eval_limit": c.eval_limit,
            "prompt_style": style}


def steps() -> list[Step]:
    """The loop, in order."""
    evaluated = lambda config: bool(config.target or config.holdout)  # noqa: E731
    return [
        Step("generate", "generated", records.FUNNEL, generate_tasks,
             lambda run: {k: v for k, v in asdict(run.config).items()
                          if k in ("corpus", "task_type", "generator", "text_column", "preset", "max_tokens", "backend",
                                   "holdout")
                          or (k in ("task_mix", "exclude_overlap", "skip_bad_files", "follow_links") and v)
                          or (k == "encoding" and v != "utf-8")}),  # absent unless set
        Step("overlap", "overlap", records.OVERLAP, check_contamination,
             lambda run: {"target": run.config.target, "target_data": run.config.target_data}, evaluated),
        Step("before", "before", records.EVALUATIONS, evaluate_before, lambda run: _evaluation_inputs(run, "before"),
             evaluated),
        Step("train", "student", records.TRAINING, train_student,
             lambda run: {"student": run.config.student, "recipe": run.config.recipe,
                          "recipe_sha256": _recipe_digest(run.config.recipe), "recipe_args": run.config.recipe_args}),
        Step("after", "after", records.EVALUATIONS, evaluate_after, lambda run: _evaluation_inputs(run, "after"),
             evaluated),
        Step("push", "push", records.PUSH, push_results,
             lambda run: {k: v for k, v in asdict(run.config).items() if k in ("push", "public", "dry_run", "base_model")},
             lambda config: bool(config.push)),
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

    def finished(self, step: Step) -> bool:
        """The step ran to its end: its record is there and adapt.json says so."""
        entry = self.record.get("steps", {}).get(step.name, {})
        return entry.get("status") == "done" and (self.output / step.folder / step.record).is_file()

    # --- the run ---

    def run(self) -> dict:
        with lock(self.output):
            return self._run()

    def _run(self) -> dict:
        earlier = claim_output(self.output, RECORD_NAME, f"an adaptation ({RECORD_NAME})")
        self._check_inputs()  # what can be checked in seconds is, before hours of generation
        self.training_args = self._parse_recipe()
        self.record = earlier or make_record(self.config, steps={})
        plan = self._plan()  # refuses a changed step before anything is written
        Manifest(self.output).create()
        self.record["options"] = records.plain(self.config)
        for step, inputs, action in plan:
            entry = self.record["steps"].setdefault(step.name, {})
            if action == "reuse":
                log.info("adapt: %s is done (%s)", step.name, step.folder)
                continue
            if action == "redo":
                log.info("adapt: %s is made again (%s)", step.name, step.folder)
                remove_folder(self.output / step.folder)
            elif entry.get("inputs") not in (None, inputs):  # an unfinished attempt with other inputs
                remove_folder(self.output / step.folder)
            log.info("adapt: %s -> %s", step.name, step.folder)
            started = time.time()
            entry.clear()
            entry.update(status="running", inputs=inputs)
            self._save()
            try:
                step.run(self)
            except BaseException as exc:
                entry.update(status="failed", error=str(exc) or type(exc).__name__,
                             seconds=round(time.time() - started, 1))
                self._save()
                raise
            entry.update(status="done", seconds=round(time.time() - started, 1))
            self._save()
        self.record["summary"] = self.summary()
        self._save()
        return self.record

    def _plan(self) -> list[tuple[Step, dict, str]]:
        """Each step with its inputs and what to do: "reuse" it, "run" it (new, or an unfinished
        attempt to resume) or "redo" it; a finished step whose inputs changed is refused unless
        `redo` covers it. Everything after a step that runs or is redone runs again too."""
        plan, downstream = [], False
        redo_from = STEP_NAMES.index(self.config.redo) if self.config.redo else len(STEP_NAMES)
        for step in self.steps:
            inputs = records.plain(step.inputs(self))
            finished = self.finished(step)
            if not finished:
                downstream = True
                plan.append((step, inputs, "run"))
                continue
            recorded = self.record["steps"][step.name].get("inputs")
            if downstream or STEP_NAMES.index(step.name) >= redo_from:
                plan.append((step, inputs, "redo"))
                downstream = True
            elif recorded != inputs:
                raise OutputError(f"`output` {self.output}: its {step.name} step was made with "
                                  f"{_difference(recorded or {}, inputs)}; pass `redo` {step.name} to make it and every "
                                  "step after it again, or choose another `output`", field="output")
            else:
                plan.append((step, inputs, "reuse"))
        return plan

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
        if c.holdout and hub.is_local(c.corpus):  # a corpus too small to hold out from: said before any file is written
            from bonito_hub.corpus import load_texts
            from bonito_hub.generate.folder import with_text
            from bonito_hub.generate import check_holdout

            texts = load_texts(c.corpus, exclude=(self.output,), skip_bad_files=c.skip_bad_files,
                               follow_links=c.follow_links, encoding=c.encoding)
            if c.text_column in texts.column_names:
                check_holdout(len(with_text(texts, c.text_column)), c.holdout)
        if c.target and (c.target not in builtin_targets() or c.target_data):
            load_target(c.target, c.target_data)  # a user's file is read (and checked) now
        elif c.target:
            hub.check_reachable(f"`target` {c.target}")
        if c.push and not c.dry_run:
            hub.check_can_push(f"`push` {c.push}")

    def _save(self) -> None:
        write_record(self.output / RECORD_NAME, self.record)

    def _parse_recipe(self):
        from bonito_hub import sft, training

        recipe = training.recipe_path(self.config.recipe)
        objective = training.recipe_objective(recipe)
        if objective not in (None, "auto", "student"):
            raise ConfigError(f"`recipe` {self.config.recipe} trains the {objective} (objective: {objective}); adapt "
                              "trains the student: use a student recipe (student/mistral-7b-qlora, smoke/student) "
                              "or a YAML file of your own", field="recipe")
        argv = ["--config", recipe, "--model_name_or_path", self.config.student,
                "--dataset_name", str(self.folder("generate")), "--output_dir", str(self.folder("train")),
                "--objective", "student", *self.config.recipe_args]
        parsed = sft.parse(argv)
        training.check_model(parsed[2], parsed[1])
        self.recipe_argv = argv
        return parsed

    def evaluation_style(self, step: str) -> str:
        """After: as the student is trained. Before: on one of the paper's targets as the paper
        prompts a model it did not adapt (auto: instruct, or the chat template); on a target of the
        user's, as the student will be trained, so that only the adapter differs."""
        from bonito_hub.evaluation import builtin_targets

        if step == "before" and self.config.target in builtin_targets():
            return "auto"
        return self.prompt_style()

    def evaluation_sets(self) -> list[EvaluationSet]:
        """The held-out sets the generation wrote (one a task type that can be scored), then the target."""
        funnel = read_record(self.folder("generate") / records.FUNNEL) or {}
        sets = [EvaluationSet(f"heldout-{short}", str(self.folder("generate") / counts["file"]), generated=True)
                for short, counts in (funnel.get("heldout") or {}).get("evaluation", {}).items() if counts.get("file")]
        if self.config.target:
            sets.append(EvaluationSet("target", self.config.target, self.config.target_data))
        return sets

    def evaluate_all(self, step: str, adapter: str | None) -> None:
        """Score the student (with `adapter`) on every evaluation set, each into STEP/NAME/; then
        STEP/evaluations.json, which marks the step done."""
        from bonito_hub.evaluation import EvaluationConfig, evaluate

        folder, done = self.folder(step), {}
        sets = self.evaluation_sets()
        if not sets:
            log.warning("adapt: no evaluation set: the held-out documents kept no task that can be scored (task "
                        "types %s) and no --target was given", ", ".join(EVALUABLE))
        for es in sets:
            style = self.evaluation_style(step) if es.name == "target" else self.prompt_style()
            config = EvaluationConfig(target=es.target, model=self.config.student, adapter=adapter, data=es.data,
                                      prompt_style=style, limit=self.config.eval_limit)
            record = evaluate(config, folder / es.name, overwrite=True, progress=self.progress)
            done[es.name] = {"title": es.title, "generated": es.generated, "rows": record["target"]["rows"],
                             "mean": record["scores"]["mean"]}
        write_record(folder / records.EVALUATIONS, done)

    def prompt_style(self) -> str:
        """The prompt style the recipe trains the student with (and evaluation prompts it with)."""
        from bonito_hub import training

        if self._prompt_style is None:
            script_args, _, model_args = self.training_args
            self._prompt_style = training.prompt_style(script_args, training.load_tokenizer(model_args))
        return self._prompt_style

    # --- the report ---

    def summary(self) -> dict:
        """examples kept; each evaluation set's rows and mean scores before and after (`scores` and
        `metrics`: the labelled target's); the overlap figures; seconds per step."""
        funnel = read_record(self.folder("generate") / records.FUNNEL) or {}
        evaluations = []
        for es in self.evaluation_sets():
            scored = {s: read_record(self.folder(s) / es.name / records.SCORES) for s in ("before", "after")}
            if any(scored.values()):
                first = next(r for r in scored.values() if r)
                evaluations.append({"name": es.name, "title": es.title, "generated": es.generated,
                                    "rows": first["target"]["rows"], "metrics": first["metrics"],
                                    **{s: r["scores"]["mean"] for s, r in scored.items() if r}})
        target = next((e for e in evaluations if e["name"] == "target"), None)
        heldout = funnel.get("heldout")
        overlap = read_record(self.folder("overlap") / records.OVERLAP)
        return {
            "examples_kept": funnel.get("kept"),
            "generations": funnel.get("generations"),
            **({"heldout": {k: heldout[k] for k in ("documents", "kept")}} if heldout else {}),
            "evaluations": evaluations,
            "scores": {s: target[s] for s in ("before", "after") if s in target} if target else {},
            "metrics": target["metrics"] if target else [],
            **({"overlap": overlap_summary(overlap)} if overlap else {}),
            "seconds": {s.name: self.record["steps"].get(s.name, {}).get("seconds") for s in self.steps},
        }


def _difference(recorded: dict, now: dict) -> str:
    said = [f"{k} {recorded.get(k)!r}, now {now.get(k)!r}" for k in dict.fromkeys([*recorded, *now])
            if recorded.get(k) != now.get(k)]
    return "; ".join(said) or "other inputs"


def adapt(config: AdaptConfig, output: str | Path, progress: bool = True) -> dict:
    """Run (or resume) the loop `config` describes in the folder `output`; returns adapt.json's record."""
    return Adaptation(config, output, progress=progress).run()


def summary_table(record: dict) -> str:
    """The table that ends a run: examples kept; scores before and after on each evaluation set,
    the held-out ones marked as generated; the overlap figures; time per step."""
    summary = record.get("summary") or {}
    lines = [f"examples kept: {summary.get('examples_kept')} of {summary.get('generations')} generations"]
    if summary.get("heldout"):
        held = summary["heldout"]
        lines[0] += f" ({held['kept']} more from {held['documents']} held-out documents, kept for evaluation)"
    training_overlap = (summary.get("overlap") or {}).get("training", {})
    for e in summary.get("evaluations") or []:
        what = "generated from your held-out documents, not human-labelled" if e["generated"] else "labelled"
        lines.append(f"{e['title']}: {e['rows']} rows, {what}")
        share = (training_overlap.get(e["name"]) or {}).get("share", 0)
        if e["generated"] and share > MAX_HELDOUT_OVERLAP:
            lines.append(f"  no gain shown: {100 * share:.1f}% of its rows share a 13-word n-gram with the training "
                         "rows, so these documents were not unseen (does the corpus hold copies of its documents?)")
            continue
        lines.append(f"  {'metric':<14}{'before':>10}{'after':>10}{'change':>10}")
        for m in e["metrics"]:
            b, a = ((e.get(s) or {}).get(m) for s in ("before", "after"))
            change = f"{a - b:+10.1f}" if a is not None and b is not None else f"{'':>10}"
            lines.append(f"  {m:<14}" + "".join(f"{v:>10.1f}" if v is not None else f"{'-':>10}" for v in (b, a))
                         + change)
    overlap = summary.get("overlap")
    if overlap:
        said = []
        if "corpus" in overlap:
            c = overlap["corpus"]
            said.append(f"{100 * c['share']:.1f}% of {c['evaluation']}'s rows share a {overlap['ngram']}-word n-gram "
                        f"with the corpus ({c['overlapping_texts']} documents)")
        for r in overlap.get("training", {}).values():
            said.append(f"{100 * r['share']:.1f}% of {r['evaluation']}'s rows with the training rows")
        lines.append("overlap: " + "; ".join(said))
    lines.append("  " + ", ".join(f"{step} {s if s is not None else '(done earlier)'} s"
                                  for step, s in (summary.get("seconds") or {}).items()))
    return "\n".join(lines)
