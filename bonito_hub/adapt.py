"""`bonito adapt`: the whole loop as one resumable command.

    generate  ->  before (evaluate the student as it is)  ->  train  ->  after  ->  push

Each step writes its own folder under the output folder (generated/, before/, student/, after/,
push/), and a step is done when its folder holds its record (run.json with every chunk finished,
scores.json, training_record.json, push.json). Running the same command again after a failure
starts at the first unfinished step: generation resumes at its first unfinished chunk and
training at its last checkpoint. adapt.json holds the identity of the run (corpus, task type,
generator, student, target), which a rerun must match, and each step's time and outcome.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, OutputError
from bonito_hub.folders import claim_output
from bonito_hub.records import make_record, read_record, write_record

RECORD_NAME = "adapt.json"
STEPS = ("generate", "before", "train", "after", "push")
FOLDERS = {"generate": "generated", "before": "before", "train": "student", "after": "after", "push": "push"}
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

    def identity(self) -> dict:
        return {k: getattr(self, k) for k in self.IDENTITY}


def recipe_path(recipe: str) -> str:
    """A packaged recipe by name (student/mistral-7b-qlora, smoke/student) or a YAML file's path."""
    from bonito_hub import resources

    if Path(recipe).is_file():
        return str(recipe)
    name = recipe[:-5] if recipe.endswith(".yaml") else recipe
    try:
        return str(resources.data_file(f"recipes/{name}.yaml"))
    except FileNotFoundError:
        raise ConfigError(f"--recipe {recipe}: no such file, and not a packaged recipe (student/mistral-7b-qlora, "
                          "smoke/student)") from None


class Adaptation:
    """One `bonito adapt` run over the folder `output`."""

    def __init__(self, config: AdaptConfig, output: str | Path, progress: bool = True):
        self.config, self.output, self.progress = config, Path(output), progress
        self.folders = {step: self.output / name for step, name in FOLDERS.items()}
        self.record: dict = {}
        self._format: str | None = None

    # --- the run ---

    def steps(self) -> list[str]:
        return [s for s in STEPS if (s not in ("before", "after") or self.config.target)
                and (s != "push" or self.config.push)]

    def done(self, step: str) -> bool:
        folder = self.folders[step]
        if step == "generate":
            return bool((read_record(folder / "funnel.json") or {}).get("complete"))
        name = {"before": "scores.json", "after": "scores.json", "train": "training_record.json", "push": "push.json"}
        return (folder / name[step]).is_file()

    def run(self) -> dict:
        self._claim()
        self._check_inputs()  # what can be checked in seconds is, before hours of generation
        self.training_args = self._parse_recipe()
        for step in self.steps():
            entry = self.record["steps"].setdefault(step, {})
            if self.done(step):
                entry.setdefault("status", "done")
                log.info("adapt: %s is done (%s)", step, self.folders[step])
                continue
            log.info("adapt: %s -> %s", step, self.folders[step])
            started = time.time()
            entry.update(status="running")
            self._save()
            try:
                getattr(self, f"_{step}")()
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
        earlier = claim_output(self.output, RECORD_NAME, {RECORD_NAME, *FOLDERS.values()}, f"an adaptation ({RECORD_NAME})")
        identity = self.config.identity()
        if earlier:
            differs = {k: (earlier["identity"].get(k), v) for k, v in identity.items() if earlier["identity"].get(k) != v}
            if differs:
                said = "; ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in differs.items())
                raise OutputError(f"--output {self.output} holds an adaptation of something else ({said}); "
                                  "resume it with the same arguments or choose another --output")
            self.record = earlier
            self.record["options"] = json.loads(json.dumps(asdict(self.config), default=str))
            log.info("adapt: resuming %s", self.output)
        else:
            self.output.mkdir(parents=True, exist_ok=True)
            self.record = make_record(self.config, identity=identity, steps={})

    def _check_inputs(self) -> None:
        from bonito_hub import hub
        from bonito_hub.errors import InputError
        from bonito_hub.evaluation.targets import builtin_targets, load_target
        from bonito_hub.models import check_model_available

        c = self.config
        check_model_available(c.generator, "--generator")
        check_model_available(c.student, "--student")
        if hub.is_local(c.corpus) and not Path(c.corpus).exists():
            raise InputError(f"--corpus {c.corpus}: no such file or folder")
        if c.target and (c.target not in builtin_targets() or c.target_data):
            load_target(c.target, c.target_data)  # a user's file is read (and checked) now
        elif c.target:
            hub.check_reachable(f"--target {c.target}")

    def _save(self) -> None:
        write_record(self.output / RECORD_NAME, self.record)

    # --- the steps ---

    def _parse_recipe(self):
        from bonito_hub import sft, training

        argv = ["--config", recipe_path(self.config.recipe), "--model_name_or_path", self.config.student,
                "--dataset_name", str(self.folders["generate"]), "--output_dir", str(self.folders["train"]),
                "--objective", "student", *self.config.recipe_args]
        parsed = sft.parse(argv)
        training.check_model(parsed[2], parsed[1])
        self.recipe_argv = argv
        return parsed

    def _generate(self) -> None:
        from bonito_hub.corpus import load_texts
        from bonito_hub.generate.engines import SamplingConfig, make_engine
        from bonito_hub.generate.presets import resolve
        from bonito_hub.generate.run import GenerationRun, RunConfig

        sampling, filters = resolve(self.config.preset, {"max_tokens": self.config.max_tokens})
        run_config = RunConfig(task_type=self.config.task_type, text_column=self.config.text_column,
                               sampling=SamplingConfig.from_any(sampling), filters=filters)
        texts = load_texts(self.config.corpus)
        engine = make_engine(self.config.generator, self.config.backend)
        funnel = GenerationRun(engine, texts, self.folders["generate"], run_config).run(progress=self.progress)
        if not funnel["kept"]:
            raise OutputError(f"generation kept no example (funnel in {self.folders['generate']}/funnel.json); "
                              "nothing to train the student on")

    def _evaluate(self, step: str, adapter: str | None) -> None:
        from bonito_hub.evaluation.run import EvaluationConfig, evaluate

        fmt = self._prompt_format()
        config = EvaluationConfig(target=self.config.target, model=self.config.student, adapter=adapter,
                                  data=self.config.target_data, prompt_format=fmt, limit=self.config.eval_limit)
        evaluate(config, self.folders[step], overwrite=True)

    def _prompt_format(self) -> str:
        """Before and after are prompted the same way: as the student is (or will be) trained."""
        from bonito_hub import training

        if self._format is None:
            script_args, _, model_args = self.training_args
            self._format = training.student_format(script_args, training.load_tokenizer(model_args))
        return self._format

    def _before(self) -> None:
        self._evaluate("before", None)

    def _after(self) -> None:
        self._evaluate("after", str(self.folders["train"]))
        self._write_evaluation_into_adapter()

    def _train(self) -> None:
        from bonito_hub import sft

        folder = self.folders["train"]
        checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) \
            if folder.is_dir() else []
        argv = list(self.recipe_argv)
        if checkpoints:
            log.info("adapt: training resumes from %s", checkpoints[-1])
            argv += ["--resume_from_checkpoint", str(checkpoints[-1])]
        elif folder.exists():
            shutil.rmtree(folder)  # a start that died before its first checkpoint
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log lines; stdout is for results
            sft.main(*sft.parse(argv))

    def _write_evaluation_into_adapter(self) -> None:
        """The adapter's card reports the scores: evaluation.json beside the adapter, before and after."""
        scores = {s: read_record(self.folders[s] / "scores.json") for s in ("before", "after")}
        if any(scores.values()):
            write_record(self.folders["train"] / "evaluation.json", scores)

    def _push(self) -> None:
        from bonito_hub.push import push

        repo, folder = self.config.push, self.folders["push"]
        uploads = {
            "adapter": push("adapter", self.folders["train"], repo, public=self.config.public,
                            dry_run=self.config.dry_run, base_model=self.config.base_model),
            "dataset": push("dataset", self.folders["generate"], f"{repo}-tasks", public=self.config.public,
                            dry_run=self.config.dry_run, generator=None),
        }
        folder.mkdir(parents=True, exist_ok=True)
        result = {}
        for kind, upload in uploads.items():
            entry = {"repo_id": upload.repo_id, "files": upload.files, "url": upload.url}
            if self.config.dry_run:  # keep what would have been sent, cards included, under push/
                dest = folder / kind
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.move(str(upload.folder), dest)
                entry["folder"] = str(dest)
            result[kind] = entry
        write_record(folder / "push.json", {"dry_run": self.config.dry_run, "public": self.config.public, **result})

    # --- the report ---

    def summary(self) -> dict:
        funnel = read_record(self.folders["generate"] / "funnel.json") or {}
        scores = {s: read_record(self.folders[s] / "scores.json") for s in ("before", "after")}
        return {
            "examples_kept": funnel.get("kept"),
            "generations": funnel.get("generations"),
            "scores": {s: (r or {}).get("scores", {}).get("mean") for s, r in scores.items() if r},
            "metrics": next((r["metrics"] for r in scores.values() if r), []),
            "seconds": {s: self.record["steps"].get(s, {}).get("seconds") for s in self.steps()},
        }


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
