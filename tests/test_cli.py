"""The `bonito` command's own behaviour: version, how much it says, bars, one-line errors."""

from __future__ import annotations

import pytest

from bonito_hub import __version__
from bonito_hub.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"bonito-hub {__version__}"


def _generate(tiny_bonito, docs_jsonl, out, *flags):
    return main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa",
                 "--output", str(out), "--max-tokens", "16", *flags])


def test_info_by_default_quiet_with_q_debug_with_v(tiny_bonito, docs_jsonl, tmp_path, capsys):
    assert _generate(tiny_bonito, docs_jsonl, tmp_path / "a") == 0
    captured = capsys.readouterr()
    assert "bonito: 1 of 1 chunks to generate" in captured.err and "funnel (transformers engine)" in captured.out
    assert "passages of at most" not in captured.err
    # stderr is not a terminal here: no bar is drawn, ours or the libraries' (weights loading)
    assert "it/s]" not in captured.err and "doc/s" not in captured.err

    assert _generate(tiny_bonito, docs_jsonl, tmp_path / "b", "-q") == 0
    captured = capsys.readouterr()
    assert "bonito:" not in captured.err and "funnel (transformers engine)" in captured.out

    assert _generate(tiny_bonito, docs_jsonl, tmp_path / "b", "-v") == 0  # the same run again: resumed
    err = capsys.readouterr().err
    assert "bonito: resuming the run in" in err and "bonito: passages of at most" in err


def test_a_user_error_is_one_line(tiny_bonito, docs_jsonl, tmp_path, capsys):
    assert _generate(tiny_bonito, docs_jsonl, tmp_path / "c", "--shard", "4/2") == 2
    err = capsys.readouterr().err
    assert err == "bonito: error: --shard 4/2: need 0 <= i < N\n"


def test_an_unreachable_hub_is_one_fast_line_naming_offline_mode(docs_jsonl, tmp_path, capsys, monkeypatch):
    import time

    from bonito_hub import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # as a process started online
    monkeypatch.setattr(hub, "_reachable", {})
    started = time.time()
    rc = main(["generate", "--model", "BatsResearch/bonito-v1", "--input", docs_jsonl, "--task-type", "exqa",
               "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and time.time() - started < 10 and err.count("\n") == 1
    assert "--model BatsResearch/bonito-v1 needs the Hugging Face Hub, and http://127.0.0.1:9 cannot be reached" in err
    assert "set HF_HUB_OFFLINE=1" in err and not (tmp_path / "out").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline mode asks nothing: the library's own error follows
    assert main(["generate", "--model", "BatsResearch/bonito-v1", "--input", docs_jsonl, "--task-type", "exqa",
                 "--output", str(tmp_path / "out")]) == 2
    assert "could not load model 'BatsResearch/bonito-v1'" in capsys.readouterr().err


def test_an_output_under_a_file_is_refused_before_the_model(docs_jsonl, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    rc = main(["generate", "--model", str(tmp_path / "model-not-needed-yet"), "--input", docs_jsonl, "--task-type",
               "exqa", "--output", str(tmp_path / "afile" / "out")])
    assert rc == 2 and capsys.readouterr().err == \
        f"bonito: error: --output {tmp_path / 'afile' / 'out'}: cannot write in {tmp_path / 'afile'} (Not a directory)\n"


def test_a_long_document_is_split_without_the_tokenizers_length_warning(tiny_bonito, tmp_path):
    import json
    import subprocess
    import sys

    from bonito_hub.testing import BASE_TEXT

    long = " ".join([BASE_TEXT.replace("\n", " ")] * 40)  # far beyond the model's 512 positions
    (tmp_path / "long.jsonl").write_text(json.dumps({"text": long}) + "\n")
    # a process of its own: transformers warns once per tokenizer, through a handler pytest does not capture
    result = subprocess.run([sys.executable, "-m", "bonito_hub.cli", "generate", "--model", tiny_bonito, "--input",
                             str(tmp_path / "long.jsonl"), "--task-type", "exqa", "--output", str(tmp_path / "out"),
                             "--max-tokens", "8"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sequence length is longer than the specified maximum" not in result.stderr
    assert "documents 1 (empty 0) -> passages" in result.stdout and "-> passages 1 " not in result.stdout


def test_help_documents_every_option_and_lists_the_task_types(capsys):
    import argparse

    from bonito_hub import tasks
    from bonito_hub.cli import build_parser

    def undocumented(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    yield from undocumented(subparser, f"{name} {sub}")
            elif not action.help:
                yield f"{name} {action.option_strings}"

    assert list(undocumented(build_parser(), "bonito")) == []
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the help to the terminal's width
    assert [short for short in tasks.short_names() if short not in shown] == []
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 16 and out[0].split(None, 1) == ["exqa", "extractive question answering"]


def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes(tiny_bonito, docs_jsonl, tmp_path, capsys, monkeypatch):
    import errno

    from bonito_hub.generate import folder as run

    real, calls = run.write_atomic, []

    def fills_up(path, content):
        calls.append(path)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, content)

    monkeypatch.setattr(run, "write_atomic", fills_up)
    out = tmp_path / "out"
    assert _generate(tiny_bonito, docs_jsonl, out, "--chunk-size", "2") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("bonito: error: No space left on device (") and "run the same command" in err[-1]
    monkeypatch.setattr(run, "write_atomic", real)
    assert _generate(tiny_bonito, docs_jsonl, out, "--chunk-size", "2") == 0
    assert "resuming the run" in capsys.readouterr().err and (out / "funnel.json").exists()
