"""Nothing stale is reused: a run's identity is its inputs' content (bonito_hub.generate.folder,
bonito_hub.models.model_fingerprint, bonito_hub.corpus), not their names, sizes or times."""

from __future__ import annotations

import json
import os
import shutil

import datasets

from bonito_hub.cli import main

from conftest import error_line, generate_args  # noqa: E402
from bonito_hub.corpus import load_texts
from bonito_hub.models import model_fingerprint
from safetensors.torch import load_file, save




def replace_keeping_times(path, content: bytes) -> None:
    """Write new content with the old size and modification time (as cp -p, rsync -a, tar x do)."""
    stat = path.stat()
    assert len(content) == stat.st_size
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_new_weights_under_the_same_name_are_refused_on_resume(tiny_bonito, docs_jsonl, tmp_path, capsys):
    model = tmp_path / "generator"
    shutil.copytree(tiny_bonito, model)
    out = tmp_path / "out"
    assert main(generate_args(model, docs_jsonl, out)) == 0
    before = model_fingerprint(str(model))
    weights = model / "model.safetensors"  # trained further: the same tensors, other values
    replace_keeping_times(weights, save({k: v + 0.01 for k, v in load_file(weights).items()}, metadata={"format": "pt"}))
    assert model_fingerprint(str(model)) != before
    capsys.readouterr()
    assert main(generate_args(model, docs_jsonl, out)) == 2
    assert "made by other weights under --model generator: its files changed since" in error_line(capsys)


def test_an_input_edited_with_its_size_and_time_kept_is_read_again(tiny_bonito, tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"text": "The old wooden pier was destroyed by a storm in 1894."}) + "\n")
    assert load_texts(str(path))[0]["text"].startswith("The old wooden pier")
    replace_keeping_times(path, path.read_bytes().replace(b"old wooden", b"new timber"))
    assert load_texts(str(path))[0]["text"].startswith("The new timber pier")  # not the cached old rows
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("The old wooden pier was destroyed.")
    assert load_texts(str(folder))[0]["text"] == "The old wooden pier was destroyed."
    replace_keeping_times(folder / "a.txt", b"The new timber pier was destroyed.")
    assert load_texts(str(folder))[0]["text"] == "The new timber pier was destroyed."


def test_a_resume_with_an_edited_input_is_refused(tiny_bonito, docs_jsonl, tmp_path, capsys):
    from pathlib import Path

    out = tmp_path / "out"
    assert main(generate_args(tiny_bonito, docs_jsonl, out)) == 0
    text = Path(docs_jsonl).read_bytes()
    replace_keeping_times(Path(docs_jsonl), text.replace(b"harbour", b"HARBOUR"))
    capsys.readouterr()
    assert main(generate_args(tiny_bonito, docs_jsonl, out)) == 2
    assert "made from another version of --input: its content changed since" in error_line(capsys)
    assert datasets.load_dataset(str(out), split="train") is not None  # the earlier run is untouched
