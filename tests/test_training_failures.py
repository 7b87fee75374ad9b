"""Every failure of training is one line that says what is kept and how to go on: a full disk
(torch's own serializer error included) removes the half-written checkpoint; Ctrl-C in `bonito
train` says what is kept; `-q` is quiet; no warning shows a path of this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bonito_hub import sft
from bonito_hub.errors import BonitoError


@pytest.fixture(scope="module")
def tasks(tmp_path_factory, docs):
    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.testing.engines import ScriptedEngine

    base = tmp_path_factory.mktemp("tasks")
    corpus = base / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs * 4))
    out = base / "generated"
    generate(GenerateConfig(model=None, input=str(corpus), task_type="exqa", output=out, progress=False, n=2,
                            filters=()), engine=ScriptedEngine())
    return out


def recipe(tiny_llama, tasks, out, *extra):
    return ["--config", "smoke/student", "--model_name_or_path", tiny_llama, "--dataset_name", str(tasks),
            "--output_dir", str(out), *extra]


def test_a_full_disk_is_one_line_and_the_half_written_checkpoint_is_removed(tiny_llama, tasks, tmp_path,
                                                                            monkeypatch):
    import torch

    out = tmp_path / "student"
    real = torch.save
    saves = {"n": 0}

    def save(obj, f, *args, **kwargs):  # the second checkpoint's optimizer state does not fit
        if "optimizer" in str(f):
            saves["n"] += 1
            if saves["n"] == 2:
                raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 3072 vs 2994: "
                                   "PytorchStreamWriter failed writing file data/0: file write failed")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(BonitoError) as caught:
        sft.main(*sft.parse(recipe(tiny_llama, tasks, out, "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2")), progress=False)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("no space left on device while training (checkpoint-4, half "
                                                      "written, removed)")
    assert "the last checkpoint (checkpoint-2) is kept" in message and "resume_from_checkpoint=" in message
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-2"]
    monkeypatch.setattr(torch, "save", real)  # room again: the same command resumes
    sft.main(*sft.parse(recipe(tiny_llama, tasks, out, "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2",
                               "--resume_from_checkpoint", str(out / "checkpoint-2"))), progress=False)
    assert (out / "training_record.json").is_file()


def _train(tiny_llama, tasks, out, *flags, steps="400"):
    return [sys.executable, "-m", "bonito_hub.cli", "train", *flags, "--recipe", "smoke/student",
            f"model_name_or_path={tiny_llama}", f"dataset_name={tasks}", f"output_dir={out}", f"max_steps={steps}",
            "save_strategy=steps", "save_steps=2"]


@pytest.mark.slow
def test_ctrl_c_in_train_says_what_is_kept(tiny_llama, tasks, tmp_path):
    out = tmp_path / "student"
    env = {**os.environ, "BONITO_LOG_EVERY": "0.2"}
    process = subprocess.Popen(_train(tiny_llama, tasks, out, "--no-progress"), stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and not list(out.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("bonito: interrupted")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert "is kept in" in lines[0] and "resume_from_checkpoint=" in lines[0]


@pytest.mark.slow
def test_train_quiet_prints_nothing_but_problems(tiny_llama, tasks, tmp_path):
    result = subprocess.run(_train(tiny_llama, tasks, tmp_path / "student", "-q", steps="2"), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.strip() == "" and result.stdout.strip() == "", (result.stdout, result.stderr)


def test_no_warning_names_a_file_of_this_machine():
    import warnings

    from bonito_hub import console

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        console.silence_known_noise()
        line = warnings.formatwarning("something to know", UserWarning, "/home/alice/venv/lib/torch/x.py", 3)
        warnings.warn_explicit("'pin_memory' argument is set as true but no accelerator is found, then device "
                               "pinned memory won't be used.", UserWarning, filename="/home/alice/venv/dataloader.py",
                               lineno=9)
    assert line == "UserWarning: something to know\n" and not caught
