"""A corpus of hostile files (a zip bomb, headings 20,000 deep, binary data named .html, links out
of the folder and into /proc, a FIFO) is read in seconds under a 2 GB memory cap, each file
reported by name and reason (bonito_hub.documents, bonito_hub.corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from bonito_hub.documents import FORM_FEED, Limits, read_document
from bonito_hub.errors import BadDocument

pytest.importorskip("docx")


def zip_bomb(path, unpacked_mb: int = 64):
    """A Word file whose document.xml unpacks to `unpacked_mb` MB from about a thousandth of that."""
    import docx

    docx.Document().save(str(path))
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    body = parts["word/document.xml"]
    padding = b" " * (unpacked_mb * 1_000_000)
    parts["word/document.xml"] = body.replace(b"<w:body>", b"<w:body>" + padding, 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def hostile_corpus(folder):
    folder.mkdir()
    (folder / "fine.txt").write_text("In 1894 a storm destroyed the old wooden pier of the harbour town.")
    zip_bomb(folder / "bomb.docx")
    (folder / "deep.html").write_text("<html><body>" + "<h1>" * 20_000 + "deep text" + "</body></html>")
    (folder / "noise.html").write_bytes(os.urandom(200_000))
    (folder / "fake.pdf").write_text("not a PDF at all, only words")
    (folder / "env.txt").symlink_to("/proc/self/environ")
    outside = folder.parent / "outside.txt"
    outside.write_text("a file beside the corpus, not in it")
    (folder / "out.txt").symlink_to(outside)
    os.mkfifo(folder / "pipe.txt")
    return folder


READ = textwrap.dedent("""
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    started = time.time()
    from bonito_hub.corpus import load_texts
    texts = load_texts(sys.argv[1], skip_bad_files=True)
    print(json.dumps({"rows": {r["id"]: [r["skipped"], len(r["text"] or "")] for r in texts},
                      "seconds": time.time() - started}))
""")


def test_a_hostile_corpus_is_read_in_seconds_under_a_2_gb_cap(tmp_path):
    folder = hostile_corpus(tmp_path / "docs")
    started = time.time()
    done = subprocess.run([sys.executable, "-c", READ, str(folder)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert time.time() - started < 60
    rows = report["rows"]
    assert rows["fine.txt"] == [None, 66]
    assert rows["bomb.docx"][0] == "zip bomb"
    assert rows["deep.html"] == [None, len("deep text")]
    assert rows["noise.html"][0] == "not what its name says"
    assert rows["fake.pdf"][0] == "not what its name says"
    assert rows["env.txt"][0] == "not a regular file" and rows["pipe.txt"][0] == "not a regular file"
    assert rows["out.txt"][0] == "link outside the folder"


def test_without_skip_bad_files_each_hostile_file_is_one_line_naming_it(tmp_path):
    from bonito_hub.corpus import load_texts
    from bonito_hub.errors import InputError

    cases = {"bomb.docx": "bomb.docx: zip bomb", "noise.html": "noise.html: not what its name says",
             "fake.pdf": "fake.pdf: not what its name says"}
    folder = hostile_corpus(tmp_path / "docs")
    for name, message in cases.items():
        single = tmp_path / name.replace(".", "-")
        single.mkdir()
        os.replace(folder / name, single / name)
        with pytest.raises(InputError, match=message) as caught:
            load_texts(str(single))
        assert "\n" not in str(caught.value)


def test_html_parsing_is_linear_and_unclosed_headings_do_not_nest(tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text("<h1>" * 40_000 + "x")
    started = time.time()
    assert read_document(deep) == "x"
    assert time.time() - started < 5
    sloppy = tmp_path / "sloppy.html"
    sloppy.write_text("<body><h2>Intro<p>First part.<h2>Method<p>Second part.<h2>Results<p>Third part.</body>")
    sections = read_document(sloppy).split(FORM_FEED)
    assert sections == ["Intro\n\nFirst part.", "Method\n\nSecond part.", "Results\n\nThird part."]


def test_a_document_over_its_limits_is_refused_by_name(tmp_path):
    page = tmp_path / "big.html"
    page.write_text("<p>" + "word " * 300_000 + "</p>")
    with pytest.raises(BadDocument, match="big.html: too large"):
        read_document(page, Limits(max_mb=1))
    bomb = zip_bomb(tmp_path / "bomb.docx", unpacked_mb=4)
    with pytest.raises(BadDocument, match="zip bomb"):
        read_document(bomb)
    with pytest.raises(BadDocument, match="too large"):
        read_document(bomb, Limits(max_mb=2, max_ratio=10**9))
