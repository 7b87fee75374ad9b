"""`bonito ctga build` end to end on the fixture sources."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from bonito_hub import tasks
from bonito_hub.cli import main
from bonito_hub.ctga.build import build
from bonito_hub.ctga.builder import CtgaConfig

SOURCES_DIR = Path(__file__).parent / "fixtures" / "sources"

INPUT_RE = re.compile(r"<\|tasktype\|>\n(?P<type>[a-z -]+)\n<\|context\|>\n(?P<passage>.+)\n<\|task\|>\n", re.S)


def _rows(folder, config=None, split="train"):
    return datasets.load_dataset(str(folder), config, split=split).to_list()


def _parquet_rows(folder: Path, split="train"):
    rows = []
    for path in sorted(folder.glob(f"data/*/{split}-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def _copy_sources(tmp_path) -> Path:
    dst = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, dst)
    return dst


def test_every_config_loads_and_follows_the_format(ctga_fixture_build):
    out, record = ctga_fixture_build
    card = (out / "README.md").read_text()
    present = list(record["rows_per_task_type"])
    assert len(present) >= 12
    total = 0
    for short in present:
        ds = datasets.load_dataset(str(out), short)
        assert set(ds) == {"train", "validation"} or set(ds) == {"train"} or set(ds) == {"validation"}
        for split in ds:
            for row in ds[split]:
                m = INPUT_RE.fullmatch(row["input"])
                assert m and m["type"] == tasks.full_name(short) == row["task_type"]
                assert m["passage"] == m["passage"].strip()
                instruction, response = row["output"].split("\n<|pipe|>\n")
                assert "{{context}}" in instruction and response.strip() and "<|pipe|>" not in response
            total += ds[split].num_rows
            assert ds[split].num_rows == record["rows_per_task_type"][short][split]
    everything = datasets.load_dataset(str(out))
    assert everything["train"].num_rows + everything["validation"].num_rows == total == record["rows"]
    assert set(everything["train"].column_names) == {"input", "output", "task_type", "dataset", "dataset_config", "template"}
    assert "configs:" in card and "config_name: exqa" in card
    assert "Rows and templates per task type" in card and "samsum: CC BY-NC-ND 4.0" in card
    assert "2,048 characters" in card


def test_rows_come_from_every_source(ctga_fixture_build):
    out, record = ctga_fixture_build
    assert len(record["sources"]) == 38
    sources = {(r["dataset"], r["dataset_config"]) for split in ("train", "validation") for r in _parquet_rows(out, split)}
    assert ("super_glue", "boolq") in sources and ("anli", None) in sources and len(sources) >= 35


def test_load_ctga_by_name_from_the_parent_folder(ctga_fixture_build, tmp_path, monkeypatch):
    out, _ = ctga_fixture_build
    shutil.copytree(out, tmp_path / "ctga")
    monkeypatch.chdir(tmp_path)
    assert datasets.load_dataset("ctga", "exqa", split="train").num_rows > 0


def test_same_rows_whatever_num_proc(promptsource_dir, tmp_path):
    def run(num_proc):
        out = tmp_path / f"np{num_proc}"
        build(CtgaConfig(sources_dir=str(SOURCES_DIR), promptsource_dir=promptsource_dir, validation_fraction=0.34, seed=7), out, num_proc=num_proc)
        return out

    one, two = run(1), run(2)
    for split in ("train", "validation"):
        assert _parquet_rows(one, split) == _parquet_rows(two, split)
    a = json.loads((one / "ctga_build.json").read_text())
    b = json.loads((two / "ctga_build.json").read_text())
    assert a["rows_per_template"] == b["rows_per_template"]


def test_refuses_a_folder_holding_another_build_and_overwrite_is_not_stale(promptsource_dir, tmp_path, capsys):
    out = tmp_path / "ctga"
    args = ["ctga", "build", "--output", str(out), "--sources-dir", str(SOURCES_DIR),
            "--promptsource-dir", promptsource_dir, "--validation-fraction", "0", "--task-types", "exqa", "nli"]
    # the same task types in both builds: only the file names can tell datasets' cache apart
    assert main(args + ["--seed", "1"]) == 0
    first = _rows(out)
    assert main(args + ["--seed", "2"]) == 2
    assert "already holds another CTGA build" in capsys.readouterr().err
    assert _rows(out) == first
    assert main(args + ["--seed", "2", "--overwrite"]) == 0
    second = _rows(out)
    assert second != first
    # what load_dataset serves is what is on disk now, not the cached first build
    assert sorted(map(str, second)) == sorted(map(str, _parquet_rows(out)))
    assert not list(tmp_path.glob(".ctga.*"))


def test_refuses_a_folder_with_other_files(promptsource_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["ctga", "build", "--output", str(out), "--sources-dir", str(SOURCES_DIR), "--promptsource-dir", promptsource_dir]
    for extra in ([], ["--overwrite"]):  # --overwrite cannot delete what bonito-hub did not write
        assert main(args + extra) == 2
        err = capsys.readouterr().err
        assert "holds files bonito-hub did not write (notes.txt)" in err and "--overwrite" not in err
        assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_a_build_beside_the_users_files_and_output_dot(promptsource_dir, tmp_path, capsys, monkeypatch):
    ours = tmp_path / "ctga"
    args = ["ctga", "build", "--sources-dir", str(SOURCES_DIR), "--promptsource-dir", promptsource_dir,
            "--task-types", "ynqa"]
    assert main(args + ["--output", str(ours)]) == 0
    (ours / "thesis.txt").write_text("my thesis")  # the user's file put into our folder
    assert main(args + ["--output", str(ours), "--overwrite"]) == 2
    assert "did not write (thesis.txt)" in capsys.readouterr().err and (ours / "thesis.txt").exists()
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.txt").write_text("my thesis")
    monkeypatch.chdir(work)
    assert main(args + ["--output", ".", "--overwrite"]) == 2
    assert "is the current folder" in capsys.readouterr().err and (work / "thesis.txt").read_text() == "my thesis"


def test_missing_source_is_named_and_nothing_is_left(promptsource_dir, tmp_path, capsys):
    src = _copy_sources(tmp_path)
    shutil.rmtree(src / "quartz")
    out = tmp_path / "ctga"
    rc = main(["ctga", "build", "--output", str(out), "--sources-dir", str(src), "--promptsource-dir", promptsource_dir])
    err = capsys.readouterr().err
    assert rc == 2 and "source quartz" in err and "--skip-missing" in err
    assert not out.exists() and not list(tmp_path.glob(".ctga*"))


def test_skip_missing_lists_the_source_in_the_card(promptsource_dir, tmp_path):
    src = _copy_sources(tmp_path)
    shutil.rmtree(src / "quartz")
    out = tmp_path / "ctga"
    record = build(CtgaConfig(sources_dir=str(src), promptsource_dir=promptsource_dir, skip_missing=True), out)
    assert list(record["skipped_sources"]) == ["quartz"]
    card = (out / "README.md").read_text()
    assert "Sources skipped" in card and "**quartz**" in card
    assert all(r["dataset"] != "quartz" for r in _parquet_rows(out))


def test_bad_rows_are_counted(promptsource_dir, tmp_path):
    src = _copy_sources(tmp_path)
    imdb = src / "imdb" / "train.jsonl"
    rows = [json.loads(line) for line in imdb.read_text().splitlines()]
    rows += [{"label": 1}, {"text": "   \n", "label": 0}, {"text": "", "label": 1}]
    imdb.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    apps = src / "app_reviews" / "train.jsonl"
    bad = [{"package_name": "p", "review": f"Review number {i}.", "date": "d", "star": None} for i in range(12)]
    apps.write_text("\n".join(json.dumps(r) for r in bad) + "\n")
    out = tmp_path / "ctga"
    record = build(CtgaConfig(sources_dir=str(src), promptsource_dir=promptsource_dir,
                              task_types=["sentiment"], validation_fraction=0), out)
    skipped = record["skipped_per_template"]
    assert skipped["imdb / -"] == {"missing_passage_field": 1, "empty_passage": 2}
    # two app_reviews templates index their choices by star - 1: with no star they fail, counted per template
    app_errors = {k: v["template_error"] for k, v in skipped.items() if k.startswith("app_reviews / ")}
    assert set(app_errors) <= {"app_reviews / categorize_rating_using_review", "app_reviews / convert_to_star_rating"}
    app_kept = sum(1 for r in _parquet_rows(out) if r["dataset"] == "app_reviews")
    assert sum(app_errors.values()) >= 1 and sum(app_errors.values()) + app_kept == 12
    card = (out / "README.md").read_text()
    assert "| imdb / - | empty_passage | 2 |" in card and "template_error" in card
    assert set(record["rows_per_task_type"]) == {"sentiment"}


def test_source_without_its_passage_column(promptsource_dir, tmp_path, capsys):
    src = _copy_sources(tmp_path)
    path = src / "imdb" / "train.jsonl"
    path.write_text('{"review": "fine", "label": 1}\n')
    rc = main(["ctga", "build", "--output", str(tmp_path / "ctga"), "--sources-dir", str(src),
               "--promptsource-dir", promptsource_dir, "--task-types", "sentiment"])
    err = capsys.readouterr().err
    assert rc == 2 and "source imdb has no passage column 'text' (columns: review, label)" in err


def test_task_type_selection_and_unknown_type(promptsource_dir, tmp_path, capsys):
    out = tmp_path / "ctga"
    record = build(CtgaConfig(sources_dir=str(SOURCES_DIR), promptsource_dir=promptsource_dir,
                              task_types=["Extractive Question Answering", "nli"]), out)
    assert set(record["rows_per_task_type"]) == {"exqa", "nli"}
    assert sorted(p.name for p in (out / "data").iterdir()) == ["exqa", "nli"]
    rc = main(["ctga", "build", "--output", str(tmp_path / "other"), "--sources-dir", str(SOURCES_DIR),
               "--promptsource-dir", promptsource_dir, "--task-types", "poetry"])
    assert rc == 2 and "unknown task type 'poetry'" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_max_per_source_and_no_truncate_are_recorded(promptsource_dir, tmp_path):
    out = tmp_path / "ctga"
    record = build(CtgaConfig(sources_dir=str(SOURCES_DIR), promptsource_dir=promptsource_dir,
                              max_per_source=1, truncate=False, validation_fraction=0), out)
    assert all(info["sampled"] == 1 for info in record["sources"].values())
    assert record["rows"] <= 38
    assert "whole passages are kept" in (out / "README.md").read_text()


@pytest.mark.slow
def test_console_script(promptsource_dir, tmp_path):
    out = tmp_path / "x" / "ctga"
    result = subprocess.run(
        [sys.executable, "-m", "bonito_hub.cli", "ctga", "build", "--output", str(out), "--sources-dir", str(SOURCES_DIR),
         "--promptsource-dir", promptsource_dir, "--task-types", "exqa"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "rows in" in result.stdout and "exqa" in result.stdout
    code = f"import datasets; print(datasets.load_dataset({str(out)!r}, 'exqa'))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "num_rows" in shown.stdout, shown.stderr


@pytest.mark.slow
def test_ctrl_c_while_workers_render_is_one_line(promptsource_dir, tmp_path):
    import os
    import signal
    import time

    from bonito_hub.testing.sources import write_sources

    write_sources(tmp_path / "sources", 3000)
    out = tmp_path / "ctga"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bonito_hub.cli", "ctga", "build", "--output", str(out), "--sources-dir",
         str(tmp_path / "sources"), "--promptsource-dir", promptsource_dir, "--num-proc", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = ""
    while "rendering" not in seen:  # the workers start right after this line
        line = proc.stderr.readline()
        assert line, f"the build ended before rendering: {proc.wait()}"
        seen += line
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert err == "bonito: interrupted; nothing was written; the output folder is as it was\n", err
    assert not out.exists() and not list(tmp_path.glob(".ctga*"))
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker is left behind
