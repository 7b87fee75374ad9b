"""`bonito export`: each layout checked against its trainer's documented schema (LLaMA-Factory's
data/README.md, Axolotl's chat_template datasets, ShareGPT, Alpaca), loaded back with datasets'
JSON loader as those trainers load local files, and the folder rules kept."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import yaml

from bonito_hub.cli import main

from conftest import error_line  # noqa: E402

# LLaMA-Factory's dataset_info.json keys (data/README.md)
LF_ENTRY = {"hf_hub_url", "ms_hub_url", "script_url", "file_name", "formatting", "ranking", "subset", "folder",
            "columns", "tags"}
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "chosen", "rejected",
              "kto_tag"}
LF_TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}


@pytest.fixture(scope="module")
def run(tiny_bonito, tmp_path_factory, docs):
    base = tmp_path_factory.mktemp("export")
    corpus = base / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"{t} ({i})"}) + "\n" for i, t in enumerate(docs * 4) if t.strip()))
    out = base / "generated"
    assert main(["generate", "--model", tiny_bonito, "--input", str(corpus), "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "24", "--num-samples", "2", "--holdout", "0.3", "--no-progress"]) == 0
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["kept"] > 0 and funnel["heldout"]["kept"] > 0
    return out, funnel


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _pairs(run_folder: Path) -> tuple[list, list]:
    """The run's training and held-out (instruction, response) pairs."""
    train = datasets.load_dataset(str(run_folder), split="train")
    held = datasets.Dataset.from_parquet([str(p) for p in sorted((run_folder / "heldout").glob("*.parquet"))])
    return list(zip(train["input"], train["output"])), list(zip(held["input"], held["output"]))


@pytest.mark.parametrize("to", ["llamafactory", "axolotl", "sharegpt", "alpaca"])
def test_each_layout_is_its_trainers_schema(run, tmp_path, capsys, to):
    folder, funnel = run
    out = tmp_path / to
    assert main(["export", str(folder), "--to", to, "--output", str(out), "--name", "my_set"]) == 0
    printed = capsys.readouterr().out
    assert f"exported {funnel['kept']} training rows, {funnel['heldout']['kept']} test (held-out) rows" in printed
    train, test = _pairs(folder)
    rows = {"train": _lines(out / "train.jsonl"), "test": _lines(out / "test.jsonl")}
    if to == "alpaca":
        for split, pairs in (("train", train), ("test", test)):
            assert all(set(r) == {"instruction", "input", "output"} and r["input"] == "" for r in rows[split])
            assert [(r["instruction"], r["output"]) for r in rows[split]] == pairs
    elif to in ("sharegpt", "llamafactory"):
        tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
        if to == "llamafactory":
            info = json.loads((out / "dataset_info.json").read_text())
            assert set(info) == {"my_set", "my_set_test"}
            for key, entry in info.items():
                assert set(entry) <= LF_ENTRY and set(entry["columns"]) <= LF_COLUMNS and set(entry["tags"]) <= LF_TAGS
                assert entry["formatting"] == "sharegpt" and (out / entry["file_name"]).is_file()
                assert entry["file_name"] == ("train.jsonl" if key == "my_set" else "test.jsonl")
            tags = info["my_set"]["tags"]  # the files must use exactly these tags
            column = info["my_set"]["columns"]["messages"]
        else:
            column = "conversations"
        for split, pairs in (("train", train), ("test", test)):
            got = []
            for r in rows[split]:
                turns = r[column]
                assert all(set(t) == {tags["role_tag"], tags["content_tag"]} for t in turns)
                # LLaMA-Factory: the user's turns at odd positions, the assistant's at even ones
                assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
                got.append(tuple(t[tags["content_tag"]] for t in turns))
            assert got == pairs
    else:
        config = yaml.safe_load((out / "axolotl.yaml").read_text())
        for block, split in ((config["datasets"][0], "train"), (config["test_datasets"][0], "test")):
            assert block["type"] == "chat_template" and block["ds_type"] == "json"
            assert (out / block["path"]).is_file() and block["path"] == f"{split}.jsonl"
            mapping = block["message_property_mappings"]
            assert block["roles_to_train"] == ["assistant"]
            got = []
            for r in _lines(out / block["path"]):
                turns = r[block["field_messages"]]
                assert [t[mapping["role"]] for t in turns] == ["user", "assistant"]
                got.append(tuple(t[mapping["content"]] for t in turns))
            assert got == (train if split == "train" else test)
    loaded = datasets.load_dataset("json", data_files={"train": str(out / "train.jsonl"),
                                                       "test": str(out / "test.jsonl")})
    assert (loaded["train"].num_rows, loaded["test"].num_rows) == (funnel["kept"], funnel["heldout"]["kept"])
    readme = (out / "README.md").read_text()
    assert f"--to {to}" in readme and "tiny-bonito" in readme
    for path in out.rglob("*"):  # nothing of this machine: no path, in any file written
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert str(tmp_path) not in text and str(folder.parent) not in text, path.name


def test_an_export_keeps_the_users_files_and_says_each_problem_in_one_line(run, tmp_path, capsys):
    folder, _ = run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["export", str(folder), "--to", "alpaca", "--output", str(mine)]) == 2
    assert "holds files bonito-hub did not write (notes.txt)" in error_line(capsys)
    assert (mine / "notes.txt").read_text() == "mine"
    out = tmp_path / "e"
    assert main(["export", str(folder), "--to", "alpaca", "--output", str(out)]) == 0
    (out / "README.md").write_text("my notes")
    assert main(["export", str(folder), "--to", "sharegpt", "--output", str(out)]) == 0  # our earlier export, replaced
    assert (out / "README.md").read_text() == "my notes" and (out / "README.new.md").is_file()
    assert "conversations" in _lines(out / "train.jsonl")[0]
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nothing"), "--to", "alpaca", "--output", str(tmp_path / "x")]) == 2
    assert "is not a `bonito generate` folder" in error_line(capsys)
    assert main(["export", str(folder), "--to", "alpaca", "--output", str(folder / "inside")]) == 2
    assert "is inside the run's folder" in error_line(capsys)
    assert main(["export", str(folder), "--to", "alpaca", "--output", str(tmp_path / "y"), "--name", "a b"]) == 2
    assert "--name 'a b'" in error_line(capsys)
