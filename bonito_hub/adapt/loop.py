"""`bonito adapt`: the whole loop as one resumable command.

    generate -> overlap -> before (evaluate the student as it is) -> train -> after -> push

Generation holds out a share of the documents (10% by default): their tasks become evaluation
sets, so that a corpus without labels still tells whether adaptation helped. The student is
scored before and after on each of them and on the labelled `target` when one is given, each in
its own folder (before/heldout-TYPE/, before/target/, the same under after/). The overlap step
counts the n-grams the corpus shares with the target and the training rows share with every
evaluation set (bonito_hub.overlap): an "after" score on text the student trained on says little.

The steps are `steps()`, a list of runner.Step the run walks in order (runner.StepRunner: reuse,
resume, redo or refuse), each a named function of this module. Each writes its own folder under the
output folder (generated/, overlap/, before/, student/, after/, push/) and records in adapt.json the
inputs that shaped it (the options it read); a step that failed or was interrupted resumes where it
stopped (generation at its first unfinished chunk, training at its last checkpoint).
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from bonito_hub import records
from bonito_hub.adapt.config import STEP_NAMES, AdaptConfig
from bonito_hub.adapt.report import overlap_summary, summary
from bonito_hub.adapt.runner import Step, StepRunner
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, OutputError, RunError
from bonito_hub.folders import Manifest, claim_output, lock, remove_folder
from bonito_hub.generate import EVALUABLE, Funnel
from bonito_hub.options import default_of
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = records.ADAPT
log = get_logger(__name__)
# generation options always in the generate step's inputs (as adapt.json of 0.1 has them); any other
# is there only when it differs from its default, so that a run made before an option existed resumes
ALWAYS_RECORDED = ("task_type", "text_column", "preset", "max_tokens", "holdout")


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


def generation_config(c, output: Path, progress: bool = True):  # output: the adaptation's folder
    """The GenerateConfig of the generation step: every generation option the run was given, the
    overlap with the target left out when asked, and the run's token budget."""
    from bonito_hub.generate import GenerateConfig

    exclude = None
    if c.exclude_overlap:
        from bonito_hub.overlap import target_index

        exclude = target_index(c.target, c.target_data)
    folder = Path(output) / next(s.folder for s in steps() if s.name == "generate")
    return GenerateConfig(model=c.generator, input=c.corpus, output=folder,
                          options=c.generation, exclude_overlap=exclude, overwrite=True, exclude=(Path(output),),
                          progress=progress, max_tokens_budget=c.max_tokens_budget)


def estimate_generation(c, output) -> list[str]:
    """What `bonito adapt --dry-run` prints of the generation step: bonito_hub.generate.forecast's
    lines, and a refusal (ConfigError) when the run is over its token budget."""
    from bonito_hub.generate import check_budget, estimate

    found = estimate(generation_config(c, output, progress=False), c)
    check_budget(found, c.max_tokens_budget)
    return ["generation step, estimated (the corpus read and cut with the generator's tokenizer; nothing was "
            "generated or written):", *("  " + line for line in found.lines())]


def generate_tasks(run: "Adaptation") -> None:
    """Generate the instruction-tuning set from the corpus (bonito_hub.generate.generate), with every
    generation option the run was given."""
    from bonito_hub.generate import generate

    result = generate(generation_config(run.config, run.output, run.progress))
    if not result.funnel.kept:
        raise OutputError(f"generation kept no example (funnel in {run.folder('generate')}/funnel.json); "
                          "nothing to train the student on")


def generation_inputs(run: "Adaptation") -> dict:
    """What shapes the generated rows: the corpus, the generator, the backend, and the options of how
    documents are read, which tasks are made and how they are sampled (an engine's own options, such
    as its batch size or concurrency, make the same rows and are left out)."""
    c = run.config
    g = c.generation
    inputs = {"corpus": c.corpus, "generator": c.generator, "backend": g.engine.backend}
    for part in (g.documents, g.tasks, g.sampling):
        for f in fields(part):
            value = getattr(part, f.name)
            if f.name in ALWAYS_RECORDED or value != default_of(f):
                inputs[f.name] = value
    if c.exclude_overlap:
        inputs["exclude_overlap"] = True
    return inputs


def check_contamination(run: "Adaptation") -> None:
    """The n-grams the corpus shares with the target, and the training rows with every evaluation
    set (bonito_hub.overlap), into overlap/overlap.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.documents import ocr_available
    from bonito_hub.evaluation import load_target
    from bonito_hub.overlap import NGRAM, NgramIndex, check_overlap, describe, overlap_report

    c, folder = run.config, run.folder("overlap")
    d = c.generation.documents
    report: dict = {"ngram": NGRAM}
    if c.target:
        report["corpus"] = check_overlap(c.corpus, c.target, c.target_data, d.text_column, split=d.split,
                                         progress=run.progress, exclude=(run.output,),
                                         skip_bad_files=d.skip_bad_files, follow_links=d.follow_links,
                                         encoding=d.encoding, config=d.input_config, clean=not d.keep_page_furniture,
                                         ocr=d.ocr == "auto" and ocr_available())
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
    argv = list(run.recipe_argv) + paper_steps(run)
    checkpoint = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if checkpoint:
        log.info("adapt: training resumes from %s", Path(checkpoint).relative_to(run.output))
        argv += ["--resume_from_checkpoint", checkpoint]
    elif folder.exists():
        remove_folder(folder)  # a start that died before its first checkpoint
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log lines; stdout is for results
        sft.main(*sft.parse(argv), progress=run.progress)


def paper_steps(run: "Adaptation") -> list[str]:
    """With `paper`, the paper's step rule as recipe arguments: one epoch when the generated set holds
    fewer than 160,000 examples, else 10,000 steps (unless the steps were given)."""
    from bonito_hub.adapt.config import paper_experiment

    c = run.config
    if not c.paper or {"max_steps", "num_train_epochs"} & set(c.recipe_overrides):
        return []
    rule, kept = paper_experiment(), (Funnel.read(run.folder("generate")) or Funnel()).kept
    if kept < rule["one_epoch_below"]:
        log.info("adapt: the paper's step rule: %d examples, fewer than %d: one epoch", kept, rule["one_epoch_below"])
        return ["--num_train_epochs", "1", "--max_steps", "-1"]
    log.info("adapt: the paper's step rule: %d examples: %d steps", kept, rule["max_steps"])
    return ["--max_steps", str(rule["max_steps"])]


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
                                keep=keep["dataset"], license=c.license, license_name=c.license_name,
                                license_link=c.license_link),
    }
    result = {}
    for kind, upload in uploads.items():
        result[kind] = {"repo_id": upload.repo_id, "files": upload.files, "url": upload.url,
                        **({"folder": f"push/{kind}"} if c.dry_run else {})}
    write_record(folder / records.PUSH, {"dry_run": c.dry_run, "public": c.public, **result})


def _recipe_digest(recipe: str) -> str:
    from bonito_hub import training

    return hashlib.sha256(Path(training.recipe_path(recipe)).read_bytes()).hexdigest()[:16]


def _reviewed(run: "Adaptation") -> dict:
    """{"review": the decisions' hash} where `bonito review` changed the generated rows (applied
    first), else {}: a step that read the rows before a review is made again, or refused."""
    from bonito_hub.generate import review

    generated = run.folder("generate")
    found = review.digest(generated) if (generated / records.FUNNEL).is_file() else None
    return {"review": found} if found else {}


def _evaluation_inputs(run: "Adaptation", step: str) -> dict:
    c = run.config
    style = "auto" if step == "before" and run.evaluation_style("before") == "auto" else run.training_args[0].prompt_style
    return {"student": c.student, "target": c.target, "target_data": c.target_data, "eval_limit": c.eval_limit,
            "prompt_style": style}


def steps() -> list[Step]:
    """The loop, in order."""
    evaluated = lambda config: bool(config.target or config.generation.tasks.holdout)  # noqa: E731
    return [
        Step("generate", "generated", records.FUNNEL, generate_tasks, generation_inputs),
        Step("overlap", "overlap", records.OVERLAP, check_contamination,
             lambda run: {"target": run.config.target, "target_data": run.config.target_data, **_reviewed(run)},
             evaluated),
        Step("before", "before", records.EVALUATIONS, evaluate_before, lambda run: _evaluation_inputs(run, "before"),
             evaluated),
        Step("train", "student", records.TRAINING, train_student,
             lambda run: {"student": run.config.student, "recipe": run.config.recipe,
                          "recipe_sha256": _recipe_digest(run.config.recipe), "recipe_args": run.config.recipe_args,
                          **({"step_rule": "paper"} if run.config.paper else {}), **_reviewed(run)}),
        Step("after", "after", records.EVALUATIONS, evaluate_after, lambda run: _evaluation_inputs(run, "after"),
             evaluated),
        Step("push", "push", records.PUSH, push_results,
             lambda run: {k: getattr(run.config, k) for k in ("push", "public", "dry_run", "base_model")},
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

    # --- the run ---

    def run(self) -> dict:
        with lock(self.output):
            return self._run()

    def _run(self) -> dict:
        earlier = claim_output(self.output, RECORD_NAME, f"an adaptation ({RECORD_NAME})")
        self._check_inputs()  # what can be checked in seconds is, before hours of generation
        self.training_args = self._parse_recipe()
        self.record = earlier or make_record(self.config, steps={})
        runner = StepRunner(self.output, self.steps, self.record, self._save, redo=self.config.redo,
                            order=STEP_NAMES)
        plan = runner.plan(self)  # refuses a changed step before anything is written
        Manifest(self.output).create()
        self.record["options"] = records.plain(self.config)
        runner.execute(plan, self)
        self.record["summary"] = summary(self)
        self._save()
        return self.record

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
        d, holdout = c.generation.documents, c.generation.tasks.holdout
        if holdout and hub.is_local(c.corpus):  # a corpus too small to hold out from: said before any file is written
            from bonito_hub.corpus import load_texts
            from bonito_hub.generate.folder import with_text
            from bonito_hub.generate import check_holdout

            texts = load_texts(c.corpus, split=d.split, exclude=(self.output,), skip_bad_files=d.skip_bad_files,
                               follow_links=d.follow_links, encoding=d.encoding, config=d.input_config)
            if d.text_column in texts.column_names:
                check_holdout(len(with_text(texts, d.text_column)), holdout)
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
        funnel = Funnel.read(self.folder("generate")) or Funnel()
        sets = [EvaluationSet(f"heldout-{short}", str(self.folder("generate") / counts["file"]), generated=True)
                for short, counts in funnel.evaluation.items() if counts.get("file")]
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
                             "mean": record["scores"]["mean"],
                             **({"baseline": record["baseline"]} if record.get("baseline") else {})}
        write_record(folder / records.EVALUATIONS, done)

    def prompt_style(self) -> str:
        """The prompt style the recipe trains the student with (and evaluation prompts it with)."""
        from bonito_hub import training

        if self._prompt_style is None:
            script_args, _, model_args = self.training_args
            self._prompt_style = training.prompt_style(script_args, training.load_tokenizer(model_args))
        return self._prompt_style

def plan(config: AdaptConfig, output: str | Path) -> list[str]:
    """What a run would do, step by step, with the settings each step reads: read from the config
    alone (no model is loaded, nothing is read or written)."""
    from bonito_hub.adapt.config import paper_experiment
    from bonito_hub.generate import GenerateConfig
    from bonito_hub.generate.presets import SAMPLING_KEYS

    c, g = config, config.generation
    run = GenerateConfig(model=c.generator, input=c.corpus, output=str(output), options=g).run  # as generate resolves it
    sampling, filters = {k: getattr(run.sampling, k) for k in SAMPLING_KEYS}, run.filters
    kinds = g.tasks.task_mix or g.tasks.task_type
    paper = c.target in _builtin()
    trained_style = _recipe_style(c.recipe)
    sets = ([f"held-out documents ({g.tasks.holdout:g} of them)"] if g.tasks.holdout else []) + \
        ([f"{c.target} ({'the paper' if paper else 'your'} protocol)"] if c.target else [])
    steps_rule = "the recipe's steps"
    if c.paper and not {"max_steps", "num_train_epochs"} & set(c.recipe_overrides):
        rule = paper_experiment()
        steps_rule = f"{rule['max_steps']:,} steps, or one epoch if the set holds fewer than {rule['one_epoch_below']:,} " \
            "examples (the paper's rule)"
    said = {
        "generate": f"{c.generator} ({g.engine.backend} backend) writes {kinds} tasks from {c.corpus}; preset "
                    f"{g.sampling.preset}: " + ", ".join(f"{k} {v}" for k, v in sampling.items()) +
                    f"; filters: {', '.join(filters) or 'none (the parse rule only)'}; held out: "
                    f"{g.tasks.holdout or 'none'}",
        "overlap": "13-word n-grams the corpus shares with " + (c.target or "no target") +
                   ", and the training rows with each evaluation set",
        "before": f"{c.student} as it is, on " + "; ".join(sets) +
                  ("; prompted as the paper prompts a model it did not adapt (instruct, or the chat template): "
                   "the paper's baseline row" if paper else ""),
        "train": f"recipe {c.recipe} on the generated set, from {c.student}; {steps_rule}" +
                 (f"; overrides: {' '.join(c.recipe_args)}" if c.recipe_args else ""),
        "after": f"the student with its adapter, on the same sets, prompted as it trained ({trained_style})",
        "push": f"the adapter to {c.push} and the set to {c.push}-tasks ({'written, not sent' if c.dry_run else 'sent'}"
                f", {'public' if c.public else 'private'})",
    }
    lines = [f"bonito adapt: the plan for {output} (nothing was loaded, read or written)"]
    lines += [f"  {step.name:<9} {said[step.name]}" for step in steps() if step.wanted(c)]
    return lines


def _recipe_style(recipe: str) -> str:
    """The prompt style a recipe trains with, from its file (auto: the chat template, else plain)."""
    import yaml

    from bonito_hub import training

    try:
        return str(yaml.safe_load(Path(training.recipe_path(recipe)).read_text()).get("prompt_style") or "auto")
    except Exception:  # a recipe that cannot be read is said when the run checks it
        return "the recipe's prompt_style"


def _builtin() -> dict:
    from bonito_hub.targets import builtin_targets

    return builtin_targets()


def adapt(config: AdaptConfig, output: str | Path, progress: bool = True) -> dict:
    """Run (or resume) the loop `config` describes in the folder `output`; returns adapt.json's record."""
    return Adaptation(config, output, progress=progress).run()


