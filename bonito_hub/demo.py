"""`bonito demo`: the whole loop, offline, on a CPU, in about fifteen seconds.

Everything it uses ships with bonito-hub (bonito_hub/data/demo/) or is built on the spot:
  corpus.jsonl  16 unannotated passages (minutes of a made-up harbour council), written for the demo
  ctga.jsonl    8 CTGA rows in the real format (yes-no question answering), written for the demo
  target.jsonl  8 labelled yes/no questions about the corpus: the toy labelled target (its passages
                are corpus passages, which the overlap check reports: with a real target they must not be)
  models        a word-level tokenizer over these texts and two tiny random Llamas

Steps: train the tiny generator on the CTGA rows (recipes/smoke/generator.yaml, full weights),
then `bonito adapt`: generate tasks from the corpus with a quarter of its documents held out,
count the n-grams evaluation and training text share, evaluate the tiny student on the held-out
documents' tasks and on the target, train a LoRA adapter on the tasks (recipes/smoke/student.yaml),
evaluate again, and write both cards with a dry-run push. Models this small write meaningless text: the demo shows the machinery, not quality.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from bonito_hub import records, resources
from bonito_hub.adapt import AdaptConfig, Adaptation
from bonito_hub.console import get_logger
from bonito_hub.folders import Manifest, claim_output, lock, remove_ours
from bonito_hub.records import make_record, write_record

RECORD_NAME = records.DEMO
GENERATOR_STEPS = 40
STUDENT_STEPS = 16
HOLDOUT = 0.25  # 4 of the 16 documents: a held-out set of a few rows rather than one or two
DEMO_REPO = "bonito-demo/harbour-student"  # only named in the dry-run cards; nothing is sent
log = get_logger(__name__)

REAL_RUN = """\
A real run (a GPU, the paper's generator and student, your corpus and target):

  bonito adapt --corpus my_corpus.jsonl --task-type ynqa \\
      --generator BatsResearch/bonito-v1 --student mistralai/Mistral-7B-v0.1 \\
      --recipe student/mistral-7b-qlora --target pubmedqa --output runs/pubmedqa \\
      --push my-org/mistral-7b-bonito-pubmedqa

or step by step: bonito generate ..., bonito train --recipe student/mistral-7b-qlora ...,
bonito evaluate ..., bonito push ... (see the README)."""


def _demo_texts() -> str:
    texts = []
    for name in ("corpus.jsonl", "ctga.jsonl", "target.jsonl"):
        for line in resources.read_text(f"demo/{name}").splitlines():
            texts += [v if isinstance(v, str) else " ".join(map(str, v)) for v in json.loads(line).values()]
    return " ".join(texts)


def build_models(folder: Path) -> dict:
    """The tokenizer over the demo's texts and prompts, a tiny generator to train, a tiny student."""
    from bonito_hub.testing import make_tiny_llama, make_tokenizer

    prompts = resources.read_text("evaluation/prompts.yaml")
    tokenizer = make_tokenizer(extra_text=_demo_texts() + " " + prompts)
    paths = {"generator_init": folder / "generator-init", "student": folder / "student"}
    make_tiny_llama(paths["generator_init"], hidden_size=64, layers=2, heads=4, tokenizer=tokenizer)
    make_tiny_llama(paths["student"], hidden_size=32, layers=2, heads=4, tokenizer=tokenizer, seed=1,
                    initializer_range=0.3)
    return paths


def train_generator(init: Path, output: Path, progress: bool = True) -> None:
    from bonito_hub import sft

    argv = ["--config", str(resources.data_file("recipes/smoke/generator.yaml")), "--model_name_or_path", str(init),
            "--dataset_name", str(resources.data_file("demo/ctga.jsonl")), "--dataset_config", "null",
            "--output_dir", str(output), "--use_peft", "false", "--max_steps", str(GENERATOR_STEPS),
            "--learning_rate", "1e-2", "--per_device_train_batch_size", "8", "--logging_steps", "10"]
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log lines; stdout is for results
        sft.main(*sft.parse(argv), progress=progress)


def run_demo(output: str | Path = "bonito-demo", progress: bool = True) -> dict:
    """Run the demo into `output` (replacing an earlier demo of ours there: a folder holding
    anything else, at any depth, is refused); returns its record."""
    with lock(output):
        return _run_demo(Path(output), progress)


def _run_demo(output: Path, progress: bool) -> dict:
    started = time.time()
    if claim_output(output, RECORD_NAME, f"an earlier demo ({RECORD_NAME})"):
        remove_ours(output)
    Manifest(output).create()
    record = make_record({"output": str(output)}, started=started, steps={})
    write_record(output / RECORD_NAME, record)  # marks the folder as ours from the start

    t = time.time()
    models = build_models(output / "models")
    Manifest(output).record_all()  # the tiny models, saved by transformers
    record["steps"]["build tiny models"] = round(time.time() - t, 1)
    t = time.time()
    generator = output / "models" / "generator"
    train_generator(models["generator_init"], generator, progress=progress)
    record["steps"]["train generator on CTGA rows"] = round(time.time() - t, 1)

    config = AdaptConfig(
        corpus=str(resources.data_file("demo/corpus.jsonl")), task_type="ynqa", generator=str(generator),
        student=str(models["student"]), target=str(resources.data_file("demo/target.jsonl")),
        recipe="smoke/student", recipe_args=["--max_steps", str(STUDENT_STEPS)], max_tokens=48, holdout=HOLDOUT,
        backend="transformers", push=DEMO_REPO, dry_run=True, base_model="bonito-demo/tiny-llama",
    )
    adapt_record = Adaptation(config, output / "adapt", progress=progress).run()
    record.update(adapt=adapt_record["summary"], seconds=round(time.time() - started, 1))
    record["artifacts"] = artifacts(output)
    write_record(output / RECORD_NAME, record)
    return record


ARTIFACTS = [
    ("models/generator", "the tiny task generator, trained on the CTGA rows"),
    ("adapt/generated", "generated instruction-tuning set (datasets.load_dataset reads it), funnel.json, card"),
    ("adapt/generated/heldout/ynqa.jsonl", "the held-out documents' tasks: an evaluation set, generated, not labelled"),
    ("adapt/overlap/overlap.json", "n-grams the target shares with the corpus, and every evaluation set with training"),
    ("adapt/before/heldout-ynqa/scores.json", "the student's scores on the held-out set before adaptation"),
    ("adapt/before/target/scores.json", "the student's scores on the labelled target before adaptation"),
    ("adapt/student", "the LoRA adapter, its training record and loss history"),
    ("adapt/after/target/scores.json", "the scores with the adapter (and after/heldout-ynqa/)"),
    ("adapt/after/target/tasks", "the lm-eval task folder that ran (lm_eval --include_path ... works on it)"),
    ("adapt/push/adapter/README.md", "the adapter's card (dry run: nothing was sent)"),
    ("adapt/push/dataset/README.md", "the generated set's card (dry run)"),
    ("adapt/adapt.json", "the run's record: steps, times, summary"),
]


def artifacts(output: Path) -> list[dict]:
    return [{"path": str(output / rel), "about": about, "exists": (output / rel).exists()} for rel, about in ARTIFACTS]
