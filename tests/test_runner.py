"""The resumable-step runner of `bonito adapt` (bonito_hub.adapt.runner), with fake steps: what is
reused, resumed, made again or refused, and what the record says of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bonito_hub.adapt.runner import Step, StepRunner
from bonito_hub.errors import OutputError
from bonito_hub.folders import Manifest, write_atomic


class Fake:
    """Three steps a, b, c, each writing FOLDER/done.json (b may fail once), with inputs from `given`."""

    def __init__(self, output: Path):
        self.output = output
        self.given = {"a": 1, "b": 1, "c": 1}
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.record: dict = {}

    def step(self, name: str) -> Step:
        def run(context: "Fake") -> None:
            context.calls.append(name)
            folder = context.output / name
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / "partial", f"made with {context.given[name]}")
            if name in context.fail:
                context.fail.discard(name)
                raise RuntimeError(f"{name} fell over")
            write_atomic(folder / "done.json", json.dumps(context.given[name]))

        return Step(name, name, "done.json", run, lambda context: {"value": context.given[name]})

    def run(self, redo: str | None = None) -> list[str]:
        self.calls = []
        Manifest(self.output).create()  # what the steps write is listed: theirs to remove
        runner = StepRunner(self.output, [self.step(n) for n in "abc"], self.record, lambda: None, redo=redo)
        runner.execute(runner.plan(self), self)
        return self.calls


@pytest.fixture()
def fake(tmp_path) -> Fake:
    return Fake(tmp_path / "run")


def test_a_finished_run_is_reused_whole(fake):
    assert fake.run() == ["a", "b", "c"]
    assert fake.run() == []
    assert {n: e["status"] for n, e in fake.record["steps"].items()} == {"a": "done", "b": "done", "c": "done"}


def test_a_failed_step_resumes_there_and_is_never_reused(fake):
    fake.fail.add("b")
    with pytest.raises(RuntimeError, match="b fell over"):
        fake.run()
    assert fake.record["steps"]["b"]["status"] == "failed" and "c" not in fake.record["steps"]
    assert (fake.output / "b" / "partial").exists()  # what it left is kept for it to resume
    assert fake.run() == ["b", "c"]


def test_a_finished_step_with_other_inputs_is_refused_naming_the_difference(fake):
    fake.run()
    fake.given["b"] = 2
    with pytest.raises(OutputError, match=r"its b step was made with value 1, now 2; pass `redo` b"):
        fake.run()
    assert json.loads((fake.output / "b" / "done.json").read_text()) == 1  # nothing was touched


def test_redo_makes_the_step_and_every_later_one_again(fake):
    fake.run()
    fake.given["b"] = 2
    assert fake.run(redo="b") == ["b", "c"]
    assert json.loads((fake.output / "b" / "done.json").read_text()) == 2
    assert fake.record["steps"]["b"]["inputs"] == {"value": 2}
    assert fake.run() == []


def test_an_unfinished_attempt_with_other_inputs_starts_again_from_nothing(fake, monkeypatch):
    fake.fail.add("b")
    with pytest.raises(RuntimeError):
        fake.run()
    fake.given["b"] = 3
    (fake.output / "b" / "notes.txt").write_text("the user's")
    removed = []
    import bonito_hub.adapt.runner as runner

    real = runner.remove_folder
    monkeypatch.setattr(runner, "remove_folder", lambda folder: (removed.append(folder.name), real(folder)))
    assert fake.run() == ["b", "c"]
    assert removed == ["b"]  # the attempt's own files went before the step started again ...
    assert (fake.output / "b" / "partial").read_text() == "made with 3"
    assert (fake.output / "b" / "notes.txt").read_text() == "the user's"  # ... and a file of the user's stayed


def test_a_step_whose_record_file_is_gone_runs_again(fake):
    fake.run()
    (fake.output / "c" / "done.json").unlink()
    assert fake.run() == ["c"]
