"""What a new user must be able to trust: a step is reused only if it was made from the same
inputs; a folder is ours only if every file in it, at every depth, is one we wrote; nothing we
upload holds a path of this machine or a token; every mistake is one line before the expensive
work, with advice in the flags of the command that ran; quiet means quiet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bonito_hub.cli import main

from conftest import TOKEN  # noqa: E402  (the token the Hub stand-in's fixture sets)

TARGET = [
    {"passage": "The harbour town of Ellmere sits at the mouth of a slow brown river.", "question": "Is the river slow?",
     "choices": ["yes", "no"], "answer": "yes"},
    {"passage": "This contract is governed by the laws of the state.", "question": "Is the pier made of stone?",
     "choices": ["yes", "no"], "answer": "no"},
]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("bonito: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("target") / "target.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TARGET))
    return str(path)


def adapt_args(out, corpus, generator, student, target, *extra):
    return ["adapt", "--corpus", corpus, "--task-type", "exqa", "--generator", generator, "--student", student,
            "--target", target, "--recipe", "smoke/student", "--recipe-arg", "max_steps=2", "--output", str(out),
            "--backend", "transformers", "--push", "me/tiny-student", "--dry-run", "--base-model", "org/tiny-llama",
            "--no-progress", *extra]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_bonito, tiny_llama, target):
    """A finished `bonito adapt` run (tiny models, a dry-run push), and the arguments that made it."""
    base = tmp_path_factory.mktemp("adapt")
    corpus = base / "docs.jsonl"
    from bonito_hub.testing import BASE_TEXT

    lines = [line.strip() for line in BASE_TEXT.strip().splitlines()]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines * 3))
    out = base / "run"
    args = lambda out, *extra: adapt_args(out, str(corpus), tiny_bonito, tiny_llama, target, *extra)  # noqa: E731
    assert main(args(out)) == 0
    return out, args


@pytest.fixture()
def run_copy(finished_run, tmp_path):
    out, args = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    return copy, args


# --- a step is reused only if it was made from the same inputs ---------------------------------

@pytest.mark.parametrize("extra, step, said", [
    (["--recipe-arg", "learning_rate=0.1"], "train", "recipe_args ['--max_steps', '2'], now ['--max_steps', '2', "
                                                     "'--learning_rate', '0.1']"),
    (["--preset", "paper"], "generate", "preset 'default', now 'paper'"),
    (["--eval-limit", "1"], "before", "eval_limit None, now 1"),
    (["--holdout", "0.3"], "generate", "holdout 0.1, now 0.3"),
])
def test_a_rerun_with_other_options_is_refused_naming_the_difference(run_copy, capsys, extra, step, said):
    out, args = run_copy
    record = (out / "adapt.json").read_bytes()
    capsys.readouterr()
    assert main(args(out, *extra)) == 2
    line = one_error_line(capsys)
    assert f"its {step} step was made with" in line and said in line and f"pass --redo {step}" in line
    assert (out / "adapt.json").read_bytes() == record  # adapt.json still says what is on disk


def test_redo_makes_that_step_and_every_later_one_again(run_copy, capsys):
    out, args = run_copy
    before = json.loads((out / "adapt.json").read_text())
    scores_before = (out / "before" / "target" / "scores.json").read_bytes()
    assert main(args(out, "--recipe-arg", "learning_rate=0.1", "--redo", "train")) == 0
    after = json.loads((out / "adapt.json").read_text())
    assert after["steps"]["train"]["inputs"]["recipe_args"] == ["--max_steps", "2", "--learning_rate", "0.1"]
    assert after["options"]["recipe_overrides"] == {"max_steps": "2", "learning_rate": "0.1"}
    trained = json.loads((out / "student" / "training_record.json").read_text())
    assert trained["options"]["training_args"]["learning_rate"] == 0.1
    assert (out / "before" / "target" / "scores.json").read_bytes() == scores_before  # before the redone step: reused
    assert after["steps"]["generate"] == before["steps"]["generate"]
    assert after["steps"]["after"]["seconds"] is not None and (out / "after" / "target" / "scores.json").is_file()
    assert main(args(out, "--recipe-arg", "learning_rate=0.1")) == 0  # now the same inputs: everything reused
    assert "is done" in capsys.readouterr().err


def test_a_failed_step_is_never_reused(run_copy, monkeypatch):
    from bonito_hub.adapt import loop

    out, args = run_copy
    real, calls = loop.evaluate_after, []

    def fails_after_writing(run):
        calls.append(1)
        real(run)  # scores.json is written ...
        if len(calls) == 1:
            raise RuntimeError("killed after writing its scores")  # ... and the step still fails

    monkeypatch.setattr(loop, "evaluate_after", fails_after_writing)
    with pytest.raises(RuntimeError):
        main(args(out, "--redo", "after"))
    assert json.loads((out / "adapt.json").read_text())["steps"]["after"]["status"] == "failed"
    assert main(args(out)) == 0 and len(calls) == 2  # made again, not reused


def test_keys_adapt_sets_itself_and_other_objectives_are_refused(run_copy, capsys):
    out, args = run_copy
    for extra, said in [(["--recipe-arg", "model_name_or_path=other/model"], "adapt sets it itself (to student)"),
                        (["--recipe-arg", "output_dir=elsewhere"], "adapt sets it itself"),
                        (["--recipe", "smoke/generator"], "trains the generator (objective: generator)")]:
        argv = args(out, *extra)
        if "--recipe" in extra:
            argv[argv.index("smoke/student")] = "smoke/generator"
            argv = argv[:-2]
        assert main(argv) == 2
        assert said in one_error_line(capsys)


def test_evaluate_refuses_an_adapter_of_another_base_model(finished_run, tiny_bonito, target, tmp_path, capsys):
    out, _ = finished_run
    assert main(["evaluate", "--model", tiny_bonito, "--adapter", str(out / "student"), "--target", target,
                 "--output", str(tmp_path / "e")]) == 2
    line = one_error_line(capsys)
    assert "was trained on" in line and "Pass --force" in line and not (tmp_path / "e").exists()


# --- ownership at every depth ------------------------------------------------------------------

def refused_and_kept(capsys, argv, user_file: Path) -> None:
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text("the user's own")
    assert main(argv) == 2, user_file
    line = one_error_line(capsys)
    assert "did not write" in line and user_file.name in line
    assert user_file.read_text() == "the user's own"
    user_file.unlink()


def test_adapt_refuses_a_user_file_at_any_depth(run_copy, capsys):
    out, args = run_copy
    capsys.readouterr()
    for relative in ("notes.txt", "generated/notes.txt", "generated/data/notes.txt", "generated/chunks/notes.txt",
                     "before/notes.txt", "before/predictions/notes.txt", "before/target/predictions/notes.txt",
                     "after/target/tasks/notes.txt", "overlap/notes.txt", "generated/heldout/notes.txt",
                     "student/notes.txt", "student/checkpoint-2/notes.txt", "push/notes.txt",
                     "push/adapter/notes.txt", "push/dataset/data/notes.txt"):
        refused_and_kept(capsys, args(out), out / relative)
        refused_and_kept(capsys, args(out, "--redo", "generate"), out / relative)


def test_generate_overwrite_refuses_a_user_file_at_any_depth(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "12", "--no-progress"]
    assert main(base) == 0
    for relative in ("notes.txt", "data/notes.txt", "chunks/notes.txt", "data/deeper/notes.txt"):
        refused_and_kept(capsys, base + ["--seed", "5", "--overwrite"], out / relative)
        refused_and_kept(capsys, base, out / relative)  # a resume too


def test_evaluate_overwrite_refuses_a_user_file_at_any_depth(tiny_llama, target, tmp_path, capsys):
    out = tmp_path / "eval"
    base = ["evaluate", "--model", tiny_llama, "--target", target, "--output", str(out), "--no-progress"]
    assert main(base) == 0
    for relative in ("notes.txt", "predictions/notes.txt", "tasks/notes.txt", "tasks/__pycache__/notes.pyc"):
        refused_and_kept(capsys, base + ["--overwrite"], out / relative)


def test_ctga_overwrite_refuses_a_user_file_at_any_depth(ctga_fixture_build, tmp_path, capsys, sources_dir,
                                                         promptsource_dir):
    out = tmp_path / "ctga"
    shutil.copytree(ctga_fixture_build[0], out)
    base = ["ctga", "build", "--output", str(out), "--sources-dir", str(sources_dir), "--promptsource-dir",
            promptsource_dir, "--overwrite", "--no-progress"]
    for relative in ("notes.txt", "data/notes.txt", "data/exqa/notes.txt"):
        refused_and_kept(capsys, base, out / relative)


def test_a_training_output_dir_of_the_users_is_refused(tiny_llama, tmp_path):
    from bonito_hub import sft
    from bonito_hub.errors import RecipeError

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my notes")
    with pytest.raises(RecipeError, match=r"output_dir .*mine holds files bonito-hub did not write \(README.md\)"):
        sft.main(*sft.parse(["--config", "smoke/student", "--model_name_or_path", tiny_llama, "--dataset_name",
                             str(tmp_path), "--output_dir", str(mine)]))
    assert (mine / "README.md").read_text() == "my notes"


# --- no path of this machine leaves it ----------------------------------------------------------

@pytest.mark.slow
def test_a_push_from_a_deep_folder_uploads_no_byte_of_its_path(hub_server, tmp_path, tiny_bonito, tiny_llama, target,
                                                              ctga_fixture_build, capsys):
    import os

    deep = tmp_path / "home" / "alice-private" / "projects" / "secret-client" / "bonito"
    deep.mkdir(parents=True)
    models = deep / "models"
    shutil.copytree(tiny_bonito, models / "tiny-bonito")
    shutil.copytree(tiny_llama, models / "tiny-llama")
    shutil.copy(target, deep / "target.jsonl")
    from bonito_hub.testing import BASE_TEXT

    lines = [line.strip() for line in BASE_TEXT.strip().splitlines()]
    (deep / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in lines * 3))
    argv = adapt_args(deep / "run", str(deep / "docs.jsonl"), str(models / "tiny-bonito"), str(models / "tiny-llama"),
                      str(deep / "target.jsonl"))
    argv.remove("--dry-run")
    assert main(argv) == 0
    shutil.copytree(ctga_fixture_build[0], deep / "ctga")
    assert main(["push", "ctga", str(deep / "ctga"), "--repo-id", "me/ctga"]) == 0
    capsys.readouterr()
    uploaded = {(kind, repo): files for (kind, repo), r in hub_server.repos.items() for files in [r["files"]]}
    assert set(uploaded) == {("model", "me/tiny-student"), ("dataset", "me/tiny-student-tasks"), ("dataset", "me/ctga")}
    names = {path for files in uploaded.values() for path in files}
    assert {"training_record.json", "evaluation.json", "run.json", "ctga_build.json", "README.md"} <= names
    forbidden = [str(deep), str(tmp_path), "alice-private", "secret-client", TOKEN, os.path.expanduser("~"),
                 str(Path(ctga_fixture_build[0]).parent)]  # where the CTGA build read its sources
    for (kind, repo), files in uploaded.items():
        for path, content in files.items():
            for word in forbidden:
                assert word.encode() not in content, (repo, path, word)
    card = uploaded[("model", "me/tiny-student")]["README.md"].decode()
    assert 'from_pretrained("me/tiny-student")' in card and "me/tiny-student-tasks" in card
    assert "REPO_ID" not in card and "PATH_OR_REPO" not in uploaded[("dataset", "me/ctga")]["README.md"].decode()


def test_the_records_at_home_keep_what_resuming_needs(finished_run):
    out, _ = finished_run
    run = json.loads((out / "generated" / "run.json").read_text())
    assert Path(run["model"]).is_dir()  # the local record still names the model as it was given


# --- every mistake is one line, before the expensive work -----------------------------------------

def test_push_prechecks_run_before_any_step(tiny_bonito, tiny_llama, target, docs_jsonl, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = adapt_args(out, docs_jsonl, tiny_bonito, tiny_llama, target)
    no_base = [a for a in argv if a not in ("--base-model", "org/tiny-llama")]
    assert main(no_base) == 2
    assert "the student 'tiny-llama' is a local folder; name its Hub id with --base-model" in one_error_line(capsys)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    real_push = [a for a in argv if a != "--dry-run"]
    assert main(real_push) == 2
    assert "HF_HUB_OFFLINE=1 is set; unset it to push" in one_error_line(capsys)
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "gen"), "--push-to-hub", "me/set"]) == 2
    assert "--push-to-hub me/set needs the Hugging Face Hub, and HF_HUB_OFFLINE=1 is set" in one_error_line(capsys)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # as a process started online
    from bonito_hub import hub

    monkeypatch.setattr(hub, "_reachable", {})
    assert main(real_push) == 2
    line = one_error_line(capsys)
    assert "cannot be reached" in line and "run the same command again once it can be reached" in line
    assert "HF_HUB_OFFLINE" not in line
    assert not out.exists() and not (tmp_path / "gen").exists()  # no empty run folder either


def test_adapt_says_its_own_flags_and_evaluate_no_generation_advice(finished_run, target, tiny_llama, tmp_path, capsys,
                                                                   monkeypatch):
    out, args = finished_run
    assert main(args(tmp_path / "new", "--eval-limit", "0")) == 2
    assert one_error_line(capsys).endswith("--eval-limit must be at least 1 row, got 0")
    import errno

    from bonito_hub.evaluation import run as evaluation

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(evaluation, "staged", full)
    assert main(["evaluate", "--model", tiny_llama, "--target", target, "--output", str(tmp_path / "e"),
                 "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "No space left on device" in line and "generation" not in line and "nothing was written" in line


def test_the_paper_recipe_on_a_cpu_advises_adapt_flags_each_time(tiny_bonito, tiny_llama, target, docs_jsonl, tmp_path,
                                                                 capsys):
    out = tmp_path / "run"
    argv = ["adapt", "--corpus", docs_jsonl, "--task-type", "exqa", "--generator", tiny_bonito, "--student",
            tiny_llama, "--target", target, "--output", str(out), "--no-progress"]  # the default: the paper's recipe
    advice = []
    for _ in range(3):
        assert main(argv) == 2
        line = one_error_line(capsys)
        fix = line.split("set ")[-1] if "set --recipe-arg" in line else line.split("(")[-1].rstrip(")")
        assert fix.startswith("--recipe-arg "), line
        advice.append(fix)
        argv += fix.split()
    assert advice == ["--recipe-arg bf16=false", "--recipe-arg load_in_4bit=false", "--recipe-arg optim=adamw_torch"]
    assert not out.exists()


def test_a_malformed_recipe_is_one_line(tmp_path, tiny_llama, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: student\nlearning_rate: [1e-4\n")
    result = subprocess.run([sys.executable, "-m", "bonito_hub.sft", "--config", str(bad), "--model_name_or_path",
                             tiny_llama], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"recipe {bad}: not valid YAML" in result.stderr and "line 3" in result.stderr


def test_ray_without_the_extra_is_one_line(tiny_bonito, docs_jsonl, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "o"), "--ray"]) == 2
    assert "--ray needs Ray Data: pip install 'bonito-hub[ray]'" in one_error_line(capsys)
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "o"), "--ray", "--workers", "0"]) == 2
    assert one_error_line(capsys).endswith("--workers must be at least 1, got 0")


def test_an_engine_option_the_model_does_not_take_is_named(tiny_bonito, docs_jsonl, tmp_path, capsys):
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "o"), "--engine-arg", "badkey=1"]) == 2
    line = one_error_line(capsys)
    assert "--engine-arg badkey: the model does not take it" in line and "could not load" not in line


def test_a_full_disk_in_the_demo_is_one_line(tmp_path, capsys, monkeypatch):
    import transformers.modeling_utils
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space '
                              'left on device" })')

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full)  # the writer the models are saved with
    assert main(["demo", "--output", str(tmp_path / "demo"), "--no-progress"]) == 2
    assert "no space left on device" in one_error_line(capsys)


def test_ctrl_c_in_the_demo_says_what_is_kept(tmp_path, capsys, monkeypatch):
    from bonito_hub import demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "train_generator", interrupted)
    assert main(["demo", "--output", str(tmp_path / "demo"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "nothing was saved" not in err and "what was finished is in the output folder" in err


def test_bad_hub_ids_and_language_codes_never_reach_a_card(finished_run, tmp_path, capsys):
    out, _ = finished_run
    assert main(["push", "adapter", str(out / "student"), "--repo-id", "me/a", "--base-model", "bad id!!",
                 "--dry-run"]) == 2
    assert "--base-model 'bad id!!' is not a Hub repo id" in one_error_line(capsys)
    assert main(["push", "dataset", str(out / "generated"), "--repo-id", "me/d", "--language", "english!",
                 "--dry-run"]) == 2
    assert "--language 'english!': not a language code" in one_error_line(capsys)


def test_scores_of_another_model_or_target_are_refused(finished_run, tmp_path, capsys):
    out, _ = finished_run
    base = ["push", "adapter", str(out / "student"), "--repo-id", "me/a", "--dry-run"]
    assert main(base + ["--scores", str(out / "before" / "target" / "scores.json")]) == 2
    assert "are of the base model alone, not of the adapter 'student'" in one_error_line(capsys)
    other = json.loads((out / "before" / "target" / "scores.json").read_text())
    other["target"]["name"] = "pubmedqa"
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(base + ["--scores", str(out / "after" / "target" / "scores.json"), "--baseline-scores",
                        str(tmp_path / "other.json")]) == 2
    assert "--baseline-scores are on 'pubmedqa'" in one_error_line(capsys)


def test_an_output_inside_the_input_folder_is_not_read_as_documents(tiny_bonito, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("In 1894 a storm destroyed the old wooden pier.")
    argv = ["generate", "--model", tiny_bonito, "--input", str(docs), "--task-type", "exqa", "--output",
            str(docs / "out"), "--max-tokens", "12", "--no-progress"]
    assert main(argv) == 0 and (docs / "out" / "funnel.json").is_file()
    assert main(argv) == 0  # the same run again: nothing in its folder is a document, so it is the same run
    assert json.loads((docs / "out" / "funnel.json").read_text())["documents"] == 1


# --- quiet means quiet; logs mean logs ---------------------------------------------------------------

@pytest.mark.slow
def test_quiet_is_quiet_and_a_log_gets_progress_lines(tmp_path):
    import os

    env = {**os.environ, "BONITO_LOG_EVERY": "0"}
    quiet = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "demo", "--output", str(tmp_path / "q"), "-q"],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    logged = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "demo", "--output", str(tmp_path / "l"),
                             "--no-progress"], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    err = logged.stderr
    assert logged.returncode == 0 and "it/s]" not in err and "\r" not in err
    assert "bonito: train: step" in err and "passages/s" in err  # progress as log lines, not bars
    assert "FutureWarning" not in err and "fatal: not a git repository" not in err
    assert "{'loss'" not in err and "'train_runtime'" not in err  # no line per logging step
