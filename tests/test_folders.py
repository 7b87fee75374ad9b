"""A folder's files are ours only if its manifest says we wrote them, and one writer holds a
folder at a time (bonito_hub.folders)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bonito_hub.cli import main

from conftest import error_line, generate_args  # noqa: E402
from bonito_hub.errors import OutputError
from bonito_hub.folders import MANIFEST, Manifest, foreign_files, lock, remove_ours, write_atomic




# --- the manifest -------------------------------------------------------------------------------------

def test_a_file_is_ours_only_if_listed_whatever_its_name(tmp_path):
    manifest = Manifest(tmp_path).create()
    write_atomic(tmp_path / "run.json", "{}")
    (tmp_path / "data").mkdir()
    write_atomic(tmp_path / "data" / "chunk-000000-0123456789ab.parquet", b"rows")
    (tmp_path / "data" / "chunk-000000-my-backup.parquet").write_bytes(b"the user's")
    assert foreign_files(tmp_path) == ["data/chunk-000000-my-backup.parquet"]
    assert set(manifest.entries()) == {"run.json", "data/chunk-000000-0123456789ab.parquet"}
    assert remove_ours(tmp_path) == ["data/chunk-000000-my-backup.parquet"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == \
        ["data/chunk-000000-my-backup.parquet"]


def test_a_file_edited_by_hand_is_kept_and_a_fresh_one_written_beside_it(tmp_path, caplog):
    Manifest(tmp_path).create()
    write_atomic(tmp_path / "README.md", "our card")
    (tmp_path / "README.md").write_text("my notes on this run")
    assert foreign_files(tmp_path) == []  # still ours to name, but not ours to replace
    written = write_atomic(tmp_path / "README.md", "our fresh card")
    assert written.name == "README.new.md" and written.read_text() == "our fresh card"
    assert (tmp_path / "README.md").read_text() == "my notes on this run"
    assert "README.md was changed by hand" in caplog.text
    assert remove_ours(tmp_path) == ["README.md"] and (tmp_path / "README.md").exists()


def test_a_file_no_manifest_lists_is_never_written_over(tmp_path, caplog):
    """A user's file where bonito-hub writes (inside a folder of ours) is kept as it is; the fresh
    one goes beside it, said in one line."""
    Manifest(tmp_path).create()
    (tmp_path / "review").mkdir()
    mine = tmp_path / "review" / "notes.md"
    mine.write_text("my notes")
    written = write_atomic(mine, "ours")
    assert mine.read_text() == "my notes" and written.name == "notes.new.md" and written.read_text() == "ours"
    assert "is not a file bonito-hub wrote: kept it" in caplog.text
    assert foreign_files(tmp_path) == ["review/notes.md"]


def test_a_manifest_line_cut_by_a_crash_lists_nothing(tmp_path):
    manifest = Manifest(tmp_path).create()
    write_atomic(tmp_path / "a.json", "{}")
    with open(tmp_path / MANIFEST, "a") as f:
        f.write('{"path": "b.json", "si')
    (tmp_path / "b.json").write_text("mine")
    assert foreign_files(tmp_path) == ["b.json"] and set(manifest.entries()) == {"a.json"}


@pytest.mark.parametrize("killed", ["before the rename", "after the rename"])
def test_a_write_killed_at_any_point_leaves_nothing_foreign_and_nothing_edited(tmp_path, monkeypatch, killed):
    """A kill -9 between the steps of a write (a card rewritten after each chunk, say) must leave
    neither a file no manifest lists nor one of ours that looks edited by hand: the resumed run
    would refuse the folder, or keep a stale card and write README.new.md beside it."""
    class Killed(BaseException):
        """kill -9: nothing after it runs"""

    Manifest(tmp_path).create()
    write_atomic(tmp_path / "README.md", "the card after chunk 1")
    step = {"before the rename": "replacing", "after the rename": "replaced"}[killed]
    real = getattr(Manifest, step)

    def then_die(self, *args, **kwargs):
        if step == "replacing":
            real(self, *args, **kwargs)  # listed, then killed before the rename
        raise Killed

    monkeypatch.setattr(Manifest, step, then_die)
    with pytest.raises(Killed):
        write_atomic(tmp_path / "README.md", "the card after chunk 2, longer")
    monkeypatch.setattr(Manifest, step, real)
    assert foreign_files(tmp_path) == [] and not Manifest(tmp_path).edited("README.md")
    assert write_atomic(tmp_path / "README.md", "the card after chunk 3").name == "README.md"
    assert not (tmp_path / "README.new.md").exists()


def test_overwrite_keeps_user_files_named_like_ours(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(generate_args(tiny_bonito, docs_jsonl, out, "--holdout", "0.3")) == 0
    mine = {out / "heldout" / "my_labels.jsonl": "{}\n", out / "data" / "chunk-000000-my-backup.parquet": "x"}
    for path, text in mine.items():
        path.write_text(text)
    capsys.readouterr()
    assert main(generate_args(tiny_bonito, docs_jsonl, out, "--holdout", "0.3", "--seed", "1", "--overwrite")) == 2
    assert "holds files bonito-hub did not write (data/chunk-000000-my-backup.parquet, heldout/my_labels.jsonl)" \
        in error_line(capsys)
    assert all(path.read_text() == text for path, text in mine.items())


def test_rerunning_a_finished_run_keeps_a_hand_edited_card(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(generate_args(tiny_bonito, docs_jsonl, out)) == 0
    if not (out / "README.md").exists():
        pytest.skip("the tiny generator kept no row, so no card was written")
    (out / "README.md").write_text("---\nlicense: mit\n---\nMy own description of this data set.\n")
    assert main(generate_args(tiny_bonito, docs_jsonl, out)) == 0
    assert (out / "README.md").read_text().endswith("My own description of this data set.\n")
    assert "README.md was changed by hand" in capsys.readouterr().err
    assert (out / "README.new.md").is_file()


# --- one writer per folder ----------------------------------------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from bonito_hub.folders import lock
    with lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.fixture()
def held(tmp_path):
    """A folder another process holds (as a command running there would)."""
    processes = []

    def hold(folder):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "held"
        processes.append(process)
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_second_process_gets_one_line_naming_the_holder(held, tmp_path):
    folder = tmp_path / "out"
    holder = held(folder)
    with pytest.raises(OutputError, match=rf"being written by another bonito-hub process \(pid {holder.pid}: "):
        with lock(folder):
            pass
    with pytest.raises(OutputError, match="is inside .*which another bonito-hub process is writing"):
        with lock(folder / "generated"):
            pass
    holder.kill()
    holder.wait()
    with lock(folder):  # the lock died with its process: nothing stale to remove
        pass


def test_every_command_refuses_a_folder_another_process_writes(held, tiny_bonito, tiny_llama, docs_jsonl, tmp_path,
                                                               capsys, promptsource_dir, sources_dir):
    target = tmp_path / "target.jsonl"
    target.write_text(json.dumps({"passage": "The pier.", "question": "Is it stone?", "answer": "yes",
                                  "choices": ["yes", "no"]}) + "\n")
    commands = {
        "generate": generate_args(tiny_bonito, docs_jsonl, tmp_path / "g"),
        "adapt": ["adapt", "--corpus", docs_jsonl, "--task-type", "exqa", "--generator", tiny_bonito, "--student",
                  tiny_llama, "--output", str(tmp_path / "a"), "--recipe", "smoke/student", "--holdout", "0",
                  "--no-progress"],
        "evaluate": ["evaluate", "--model", tiny_llama, "--target", str(target), "--output", str(tmp_path / "e"),
                     "--no-progress"],
        "ctga": ["ctga", "build", "--promptsource-dir", promptsource_dir, "--sources-dir", str(sources_dir),
                 "--output", str(tmp_path / "c"), "--task-types", "ynqa", "--no-progress"],
    }
    for name, argv in commands.items():
        folder = tmp_path / argv[argv.index("--output") + 1].rsplit("/", 1)[-1]
        holder = held(folder)
        assert main(argv) == 2, name
        assert f"is being written by another bonito-hub process (pid {holder.pid}:" in error_line(capsys), name
        holder.kill()
        holder.wait()


def test_two_generate_processes_on_one_folder_never_both_finish_mixed(tiny_bonito, docs_jsonl, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "bonito_hub.cli"]
    first = subprocess.Popen(argv + generate_args(tiny_bonito, docs_jsonl, out), stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv + generate_args(tiny_bonito, docs_jsonl, out, "--seed", "7", "--overwrite"),
                              stderr=subprocess.PIPE, text=True)
    codes = [first.wait(timeout=300), second.wait(timeout=300)]
    errors = [first.stderr.read(), second.stderr.read()]
    record = json.loads((out / "run.json").read_text())
    chunks = [json.loads(p.read_text()) for p in sorted((out / "chunks").glob("chunk-*.json"))]
    named = {f for c in chunks for f in [c.get("data_file")] if f}
    on_disk = {p.relative_to(out).as_posix() for p in (out / "data").glob("*.parquet")}
    assert on_disk == named  # no orphan file of the other run
    if codes == [0, 0]:  # one after the other: the second replaced the first whole
        assert record["options"]["sampling"]["seed"] == 7
    else:
        assert sorted(codes) == [0, 2] and any("being written by another bonito-hub process" in e for e in errors)
