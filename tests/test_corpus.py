"""Reading the corpus: one decoding rule for every text input, and a clear line for each bad file."""

from __future__ import annotations

import json

import pytest

from bonito_hub.cli import main
from bonito_hub.corpus import load_texts
from bonito_hub.errors import InputError

LATIN1 = "Caf\u00e9 cr\u00e8me in S\u00e3o Paulo."


def _jsonl(path, texts, encoding="utf-8"):
    """One {"text": ...} a line; the line `{"text": "Caf` is 13 bytes before its first non-ASCII byte."""
    path.write_bytes("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts).encode(encoding))
    return path


def test_a_non_utf8_line_is_named_and_latin1_reads_with_encoding(tmp_path):
    path = _jsonl(tmp_path / "docs.jsonl", ["plain ascii", LATIN1], encoding="latin-1")
    with pytest.raises(InputError, match=r"docs.jsonl, line 2 \(byte 37\): not valid utf-8 .*`encoding`"):
        load_texts(str(path))
    assert load_texts(str(path), encoding="latin-1")["text"] == ["plain ascii", LATIN1]


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "notes.txt is a binary file, not text"),
    ("empty.jsonl", b"", "empty.jsonl is empty"),
    ("blank.jsonl", b"\n\n  \n", "blank.jsonl holds no text"),
    ("latin.txt", LATIN1.encode("latin-1"), "latin.txt, line 1 (byte 3): not valid utf-8"),
    ("cut.csv", "text\nS\u00e3".encode()[:-1], "cut.csv: ends inside a utf-8 character"),
])
def test_bad_files(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError) as error:
        load_texts(str(tmp_path / name))
    assert message in str(error.value)


def test_a_bad_file_in_a_folder_of_documents_is_named(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "good.txt").write_text("A good document.")
    (docs / "sub" / "old.md").write_bytes(LATIN1.encode("latin-1"))
    with pytest.raises(InputError, match=r"sub/old.md, line 1 \(byte 3\): not valid utf-8"):
        load_texts(str(docs))
    assert sorted(load_texts(str(docs), encoding="latin-1")["text"]) == sorted(["A good document.", LATIN1])


def test_the_cli_stops_before_the_model_and_writes_nothing(tmp_path, capsys):
    path = _jsonl(tmp_path / "docs.jsonl", [LATIN1], encoding="latin-1")
    out = tmp_path / "out"
    rc = main(["generate", "--model", str(tmp_path / "no-model-needed"), "--input", str(path), "--task-type", "exqa",
               "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "docs.jsonl, line 1 (byte 13): not valid utf-8" in err
    assert not out.exists()
