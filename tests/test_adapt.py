"""`bonito adapt` (the loop as one resumable command) and `bonito demo`."""

import json
import subprocess
import sys

import pytest

from bonito_hub import adapt
from bonito_hub.adapt import loop
from bonito_hub.adapt import AdaptConfig, Adaptation, summary_table
from bonito_hub.demo import ARTIFACTS
from bonito_hub.errors import OutputError, RunError

TARGET = [
    {"passage": "The harbour town of Ellmere sits at the mouth of a slow brown river.", "question": "Is the river slow?",
     "choices": ["yes", "no"], "answer": "yes"},
    {"passage": "This contract is governed by the laws of the state.", "question": "Is the pier made of stone?",
     "choices": ["yes", "no"], "answer": "no"},
]


@pytest.fixture()
def config(tmp_path, docs_jsonl, tiny_bonito, tiny_llama):
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps(r) + "\n" for r in TARGET))
    return AdaptConfig(corpus=docs_jsonl, task_type="exqa", generator=tiny_bonito, student=tiny_llama,
                       target=str(target), recipe="smoke/student", recipe_args=["--max_steps", "2"], max_tokens=24,
                       backend="transformers", push="me/tiny-student", dry_run=True, base_model="org/tiny-llama")


def test_adapt_resumes_at_the_step_that_failed(config, tmp_path, monkeypatch):
    functions = {"generate": "generate_tasks", "before": "evaluate_before", "train": "train_student"}
    calls = {step: 0 for step in functions}
    real = {step: getattr(loop, name) for step, name in functions.items()}

    def counting(step):
        def run(run):
            calls[step] += 1
            if step == "train" and calls["train"] == 1:
                raise RunError("the GPU fell over")  # the step is made to fail once
            return real[step](run)
        return run

    for step, name in functions.items():
        monkeypatch.setattr(loop, name, counting(step))
    out = tmp_path / "run"
    with pytest.raises(RunError, match="fell over"):
        Adaptation(config, out, progress=False).run()
    record = json.loads((out / "adapt.json").read_text())
    assert record["steps"]["generate"]["status"] == "done" and record["steps"]["before"]["status"] == "done"
    assert record["steps"]["train"] == {**record["steps"]["train"], "status": "failed", "error": "the GPU fell over"}
    assert "after" not in record["steps"] and not (out / "after").exists()
    generated = (out / "generated" / "funnel.json").read_text()

    record = Adaptation(config, out, progress=False).run()  # the same command again
    assert calls == {"generate": 1, "before": 1, "train": 2}  # generation and the first evaluation are not redone
    assert (out / "generated" / "funnel.json").read_text() == generated
    assert [record["steps"][s]["status"] for s in adapt.STEP_NAMES] == ["done"] * 6
    assert (out / "student" / "adapter_config.json").is_file() and (out / "after" / "target" / "scores.json").is_file()
    summary = record["summary"]
    assert summary["examples_kept"] > 0 and set(summary["scores"]) == {"before", "after"}
    table = summary_table(record)
    assert "before" in table and "after" in table and f"examples kept: {summary['examples_kept']}" in table
    assert "answers: yes 50%, no 50%" in table and "always yes" in table  # the target's majority baseline (a tie)
    # the adapter's card carries the scores, also as the model-index, beside the majority baseline
    card = (out / "push" / "adapter" / "README.md").read_text()
    assert "model-index:" in card and "name: tiny-student" in card and "## Evaluation" in card
    assert 'always "yes"' in card and "(yes: 1, no: 1)" in card
    after = json.loads((out / "after" / "target" / "scores.json").read_text())
    assert f"value: {round(after['scores']['mean']['f1'], 2)}" in card
    assert (out / "push" / "dataset" / "README.md").is_file()
    push = json.loads((out / "push" / "push.json").read_text())
    assert push["dry_run"] and push["adapter"]["repo_id"] == "me/tiny-student"
    assert push["dataset"]["repo_id"] == "me/tiny-student-tasks"


def test_adapt_refuses_to_write_into_a_folder_of_the_users(config, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        Adaptation(config, tmp_path / "mine", progress=False).run()
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_adapt_checks_the_recipe_before_generating(config, tmp_path):
    from bonito_hub.errors import BonitoError

    config.recipe_overrides = {"lerning_rate": "1"}
    with pytest.raises(BonitoError, match="did you mean 'learning_rate'"):
        Adaptation(config, tmp_path / "run", progress=False).run()
    assert not (tmp_path / "run" / "generated").exists()
    config.recipe_overrides = {}
    config.recipe = "student/nope"
    with pytest.raises(BonitoError, match="not a packaged recipe"):
        Adaptation(config, tmp_path / "run2", progress=False).run()


@pytest.mark.slow
def test_demo_finishes_and_writes_every_artifact(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "demo", "--output", str(tmp_path / "demo"),
                             "--no-progress"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "mean nothing" in out and "BatsResearch/bonito-v1" in out
    assert "before" in out and "after" in out and "accuracy" in out and "(MISSING)" not in out
    record = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert record["adapt"]["examples_kept"] > 0
    assert all(item["exists"] for item in record["artifacts"]) and len(record["artifacts"]) == len(ARTIFACTS)
    # no labels needed: the held-out documents' table, marked as generated
    assert "held-out ynqa: 4 rows, generated from your held-out documents, not human-labelled" in out
    assert "overlap: 100.0% of target.jsonl's rows share a 13-word n-gram with the corpus" in out
    for item in record["artifacts"]:
        assert item["path"] in out


def test_adapt_checks_its_inputs_before_any_step(config, tmp_path):
    from bonito_hub.errors import BonitoError

    cases = {"corpus": (str(tmp_path / "nope.jsonl"), "`corpus` .*: no such file"),
             "student": (str(tmp_path / "no-model"), "`student` .*: no such folder"),
             "target": (str(tmp_path / "no-target.jsonl"), "not a built-in target")}
    for i, (field, (value, message)) in enumerate(cases.items()):
        bad = AdaptConfig(**{**config.__dict__, field: value})
        with pytest.raises(BonitoError, match=message):
            Adaptation(bad, tmp_path / f"run{i}", progress=False).run()
        assert not (tmp_path / f"run{i}" / "generated").exists()


def test_adapt_without_a_target_scores_the_held_out_documents(tmp_path, tiny_bonito, tiny_llama, capsys):
    """No labels at all: the student is scored before and after on tasks about documents it never
    trained on, and the table says plainly that those were generated, not labelled."""
    from bonito_hub.cli import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": f"Record {i} of the harbour. In 1894 a storm "
                                          "destroyed the old wooden pier."}) + "\n" for i in range(10)))
    out = tmp_path / "run"
    assert main(["adapt", "--corpus", str(corpus), "--task-type", "exqa", "--generator", tiny_bonito, "--student",
                 tiny_llama, "--recipe", "smoke/student", "--recipe-arg", "max_steps=2",
                 "--backend", "transformers", "--holdout", "0.2", "--output", str(out), "--push", "me/tiny",
                 "--dry-run", "--base-model", "org/tiny-llama", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "held-out exqa: 2 rows, generated from your held-out documents, not human-labelled" in printed
    table = printed.split("held-out exqa:", 1)[1]
    assert "before" in table and "after" in table and "exact_match" in table
    assert "of held-out exqa's rows with the training rows" in printed
    record = json.loads((out / "adapt.json").read_text())
    assert [e["name"] for e in record["summary"]["evaluations"]] == ["heldout-exqa"]
    assert record["summary"]["scores"] == {}  # no labelled target
    assert (out / "before" / "heldout-exqa" / "scores.json").is_file() and not (out / "before" / "target").exists()
    assert record["summary"]["heldout"] == {"documents": 2, "kept": 2}
    held = {json.loads(line)["doc_id"] for line in (out / "generated" / "heldout" / "exqa.jsonl").read_text().splitlines()}
    import datasets

    assert held.isdisjoint(datasets.load_dataset(str(out / "generated"), split="train")["doc_id"])
    card = (out / "push" / "adapter" / "README.md").read_text()
    assert "## Evaluation on held-out documents" in card and "not by people" in card.replace("\n", " ")
    assert "model-index:" not in card  # generated labels are no benchmark result
    assert "the training rows (8 rows" in card


def test_adapt_on_one_document_refuses_before_writing_anything_naming_holdout(tmp_path, tiny_bonito, tiny_llama,
                                                                              capsys):
    from bonito_hub.cli import main

    corpus = tmp_path / "one.jsonl"
    corpus.write_text(json.dumps({"text": "The harbour town of Ellmere sits at the mouth of a slow brown river."}) + "\n")
    out = tmp_path / "run"
    assert main(["adapt", "--corpus", str(corpus), "--task-type", "ynqa", "--generator", tiny_bonito, "--student",
                 tiny_llama, "--output", str(out), "--recipe", "smoke/student", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("bonito: error:") == 1 and "set --holdout 0" in err and "at least two documents" in err
    assert not out.exists()


def test_no_gain_is_shown_on_a_held_out_set_sharing_text_with_training():
    evaluation = {"name": "heldout-ynqa", "title": "held-out ynqa", "generated": True, "rows": 8,
                  "metrics": ["accuracy"], "before": {"accuracy": 40.0}, "after": {"accuracy": 55.0}}
    record = {"summary": {"examples_kept": 10, "generations": 12, "evaluations": [evaluation],
                          "overlap": {"ngram": 13, "training": {"heldout-ynqa": {"evaluation": "held-out ynqa",
                                                                                 "share": 0.5}}},
                          "seconds": {}}}
    table = summary_table(record)
    assert "no gain shown: 50.0% of its rows share a 13-word n-gram with the training rows" in table
    assert "+15.0" not in table
    record["summary"]["overlap"]["training"]["heldout-ynqa"]["share"] = 0.0
    assert "+15.0" in summary_table(record)


def test_one_row_of_the_paper_is_one_command_and_its_plan_needs_nothing(tmp_path, capsys, monkeypatch):
    """`bonito adapt --paper pubmedqa --plan` prints every step with its settings, offline, and
    loads, reads and writes nothing (`--dry-run` also reads and cuts the corpus: tests/test_estimate.py)."""
    from bonito_hub.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "runs" / "pubmedqa"
    assert main(["adapt", "--paper", "pubmedqa", "--plan", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "BatsResearch/bonito-experiment:unannotated_pubmed_qa" in printed and "BatsResearch/bonito-v1" in printed
    assert "mistralai/Mistral-7B-v0.1" in printed and "temperature 0.95, top_p 0.5" in printed
    assert "10,000 steps, or one epoch if the set holds fewer than 160,000 examples" in printed
    assert "the paper's baseline row" in printed and "prompted as it trained (bonito)" in printed
    assert [line.split()[0] for line in printed.splitlines()[1:]] == ["generate", "overlap", "before", "train", "after"]
    assert not out.exists() and not (tmp_path / "runs").exists()
    from bonito_hub.adapt import paper_row

    row = paper_row("contractnli")
    assert row["corpus"] == "BatsResearch/bonito-experiment:unannotated_contract_nli" and row["task_type"] == "nli"


def test_the_paper_row_gives_way_to_what_was_given():
    cfg = AdaptConfig(paper="vitaminc", student="my/student", max_tokens=64, recipe_args=["--max_steps", "5"])
    assert (cfg.student, cfg.generator, cfg.target) == ("my/student", "BatsResearch/bonito-v1", "vitaminc")
    assert cfg.generation.sampling.preset == "paper" and cfg.generation.sampling.max_tokens == 64
    assert cfg.generation.tasks.task_type == "nli" and cfg.generation.tasks.holdout is None
    from bonito_hub.errors import ConfigError

    with pytest.raises(ConfigError, match="`corpus` is required"):
        AdaptConfig(generator="g", student="s", task_type="exqa")


def test_the_paper_step_rule_follows_the_generated_set(tmp_path, monkeypatch):
    from bonito_hub.generate import Funnel

    def argv_for(kept: int, **given) -> list[str]:
        run = Adaptation(AdaptConfig(paper="pubmedqa", **given), tmp_path / f"run{kept}", progress=False)
        Funnel(kept=kept, chunks=1, chunks_done=1, complete=True).write(_mkdir(run.folder("generate")))
        return loop.paper_steps(run)

    assert argv_for(500) == ["--num_train_epochs", "1", "--max_steps", "-1"]
    assert argv_for(200_000) == ["--max_steps", "10000"]
    assert argv_for(500, recipe_args=["--max_steps", "3"]) == []  # given: the rule gives way
    plain = Adaptation(AdaptConfig(corpus="c", generator="g", student="s", task_type="exqa"), tmp_path / "p",
                       progress=False)
    assert loop.paper_steps(plain) == []


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_the_paper_row_gives_way_to_options_given_on_the_command_line(tmp_path, capsys, monkeypatch):
    from bonito_hub.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["adapt", "--paper", "pubmedqa", "--plan", "--output", str(tmp_path / "r"), "--task-type", "exqa",
                 "--holdout", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "writes exqa tasks" in printed and "held out: 0.2" in printed and "preset paper" in printed
    assert main(["adapt", "--paper", "pubmedqa", "--plan", "--output", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "writes ynqa tasks" in printed and "held out: none" in printed and "preset paper" in printed


@pytest.mark.slow
def test_adapt_trains_on_the_reviewed_rows(config, tmp_path):
    """A review of the generated set changes the rows the student trains on: the steps that read
    them are refused until redone, and redone they read the reviewed rows."""
    from dataclasses import replace

    from bonito_hub.generate import review

    config = replace(config, push=None, dry_run=False, base_model=None)
    out = tmp_path / "run"
    Adaptation(config, out, progress=False).run()
    trained = json.loads((out / "student" / "training_record.json").read_text())["data"]["rows"]
    generated = out / "generated"
    kept = [t for t in review.tasks_of(generated)["tasks"] if t["status"] == "kept"]
    review.Decisions(generated).add([{"id": kept[0]["id"], "decision": "reject"}])
    with pytest.raises(OutputError, match="its overlap step was made with .*review.*pass `redo` overlap"):
        Adaptation(config, out, progress=False).run()
    Adaptation(replace(config, redo="overlap"), out, progress=False).run()
    assert json.loads((out / "student" / "training_record.json").read_text())["data"]["rows"] == trained - 1
    assert json.loads((generated / "funnel.json").read_text())["dropped"]["rejected_by_review"] == 1
