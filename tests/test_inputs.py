"""Inputs never leave their folder (bonito_hub.corpus): a symbolic link out of the input folder is
refused (or skipped and counted, or read with --follow-links), anything that is not a regular file
(/proc, devices, FIFOs) is refused whatever the flags, and a generation run's folder is no corpus."""

from __future__ import annotations

import json
import os

import pytest

from bonito_hub.cli import main

from conftest import error_line  # noqa: E402
from bonito_hub.corpus import load_texts
from bonito_hub.errors import InputError


def corpus(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("In 1894 a storm destroyed the old wooden pier of the harbour town.")
    return docs


def gen(model, inp, out, *extra):
    return ["generate", "--model", model, "--input", str(inp), "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "12", "--no-progress", *extra]



def test_a_link_to_proc_environ_is_refused_and_no_token_reaches_a_row(tiny_bonito, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecretsecret123")
    docs = corpus(tmp_path)
    (docs / "env.txt").symlink_to("/proc/self/environ")
    out = tmp_path / "out"
    assert main(gen(tiny_bonito, docs, out)) == 2
    line = error_line(capsys)
    assert "env.txt is not a regular file" in line and "--skip-bad-files" in line
    assert not out.exists()
    # --follow-links does not open /proc either
    assert main(gen(tiny_bonito, docs, out, "--follow-links")) == 2
    assert "env.txt is not a regular file" in error_line(capsys)
    # skipped and counted; nothing of the environment in any file written
    assert main(gen(tiny_bonito, docs, out, "--skip-bad-files")) == 0
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["skipped_files"] == {"not a regular file": 1} and funnel["documents"] == 2
    for path in out.rglob("*"):
        if path.is_file():
            assert b"hf_secretsecret" not in path.read_bytes(), path


def test_a_link_out_of_the_folder_is_refused_unless_follow_links(tmp_path):
    docs = corpus(tmp_path)
    outside = tmp_path / "private.txt"
    outside.write_text("A private note kept outside the corpus folder, about the old pier.")
    (docs / "note.txt").symlink_to(outside)
    with pytest.raises(InputError, match="note.txt is a symbolic link to a file outside the input folder"):
        load_texts(str(docs))
    skipped = load_texts(str(docs), skip_bad_files=True)
    assert {r["id"]: r["skipped"] for r in skipped} == {"a.txt": None, "note.txt": "link outside the folder"}
    followed = load_texts(str(docs), follow_links=True)
    assert "private note" in {r["id"]: r["text"] for r in followed}["note.txt"]
    # a link inside the folder is read as any file
    (docs / "again.txt").symlink_to(docs / "a.txt")
    assert len(load_texts(str(docs), skip_bad_files=True)) == 3


def test_a_fifo_is_refused_without_being_opened(tmp_path):
    docs = corpus(tmp_path)
    os.mkfifo(docs / "pipe.txt")  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError, match="pipe.txt is not a regular file"):
        load_texts(str(docs))
    with pytest.raises(InputError, match="is not a regular file"):
        load_texts(str(docs / "pipe.txt"))
    with pytest.raises(InputError, match="is not a regular file"):
        load_texts("/proc/self/environ")
    with pytest.raises(InputError, match="is not a regular file"):
        load_texts("/dev/zero")


def test_a_data_set_folder_with_a_link_out_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"text": "a row of the data set"}\n')
    (tmp_path / "other.jsonl").write_text('{"text": "a row from elsewhere"}\n')
    (data / "more.jsonl").symlink_to(tmp_path / "other.jsonl")
    with pytest.raises(InputError, match="more.jsonl is a symbolic link to a file outside the input folder"):
        load_texts(str(data))


def test_a_generation_folder_is_no_corpus_but_check_overlap_reads_its_rows(tiny_bonito, docs_jsonl, tmp_path,
                                                                           capsys):
    import pyarrow.parquet as pq

    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.testing.engines import ScriptedEngine

    out = tmp_path / "out"
    generate(GenerateConfig(model=None, input=docs_jsonl, task_type="exqa", output=out, progress=False, n=2,
                            filters=()), engine=ScriptedEngine())
    assert main(gen(tiny_bonito, out, tmp_path / "again")) == 2
    assert "is a folder bonito generate wrote (run.json), not documents" in error_line(capsys)
    texts = load_texts(str(out), run_folder="rows")
    rows = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(texts) == len(rows) > 0
    assert texts[0]["text"] == f"{rows[0]['input']}\n{rows[0]['output']}"
    # check-overlap on the run folder reads those rows, not its card: the rows quote the corpus
    assert main(["check-overlap", "--corpus", str(out), "--target", str(_target(tmp_path, rows[0])),
                 "--no-progress"]) == 0
    assert "1 of 1 rows of target.jsonl (100.0%)" in capsys.readouterr().out


def _target(tmp_path, row):
    path = tmp_path / "target.jsonl"
    path.write_text(json.dumps({"passage": row["input"], "question": "Is it so?", "answer": "yes",
                                "choices": ["yes", "no"]}) + "\n")
    return path


def test_a_data_set_config_is_read_from_a_flag_or_after_a_colon(tmp_path, monkeypatch):
    """The paper's corpus is one configuration of a data set with several
    (BatsResearch/bonito-experiment, unannotated_pubmed_qa): --input-config NAME, or REPO:CONFIG."""
    import datasets

    from bonito_hub.corpus import load_texts
    from bonito_hub.errors import InputError

    folder = tmp_path / "experiment"
    for name, text in (("pubmed", "A trial of aspirin."), ("privacy", "We share your data.")):
        (folder / name).mkdir(parents=True)
        datasets.Dataset.from_list([{"text": text}]).to_parquet(str(folder / name / "train.parquet"))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: pubmed\n  data_files: pubmed/*.parquet\n"
                                      "- config_name: privacy\n  data_files: privacy/*.parquet\n---\n")
    assert load_texts(str(folder), config="privacy")["text"] == ["We share your data."]
    assert load_texts(str(folder), config="pubmed")["text"] == ["A trial of aspirin."]

    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: asked.append(a) or datasets.DatasetDict(
        {"train": datasets.Dataset.from_list([{"text": "x"}])}))
    load_texts("BatsResearch/bonito-experiment:unannotated_pubmed_qa")
    assert asked == [("BatsResearch/bonito-experiment", "unannotated_pubmed_qa")]

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("A document.")
    with pytest.raises(InputError, match="`input_config` pubmed names a configuration of a data set") as caught:
        load_texts(str(docs), config="pubmed")
    assert caught.value.field == "input_config"


def test_the_config_flag_reaches_generation(tmp_path, capsys):
    from bonito_hub.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("A document.")
    assert main(["generate", "--model", "m", "--input", str(docs), "--input-config", "pubmed", "--task-type", "exqa",
                 "--output", str(tmp_path / "out"), "--backend", "transformers"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bonito: error: --input-config pubmed names a configuration") and "\n" not in err
    assert "--input " in err and not (tmp_path / "out").exists()
