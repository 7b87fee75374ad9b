"""PDF, HTML and Word files as input (bonito_hub.documents, the `documents` extra): the test writes
its own files (fpdf2 for PDFs, python-docx for Word), reads them through `bonito generate`, and
traces every row to its document, passage and character span."""

from __future__ import annotations

import json

import pytest

from bonito_hub.cli import main
from bonito_hub.corpus import load_texts
from bonito_hub.documents import FORM_FEED, read_document
from bonito_hub.errors import BadDocument, InputError
from bonito_hub.generate import GenerateConfig, generate
from bonito_hub.testing.engines import ScriptedEngine

PAGES = ["The harbour town of Ellmere sits at the mouth of a slow brown river. In 1894 a storm destroyed the old pier.",
         "The council built a stone one. Tourists now come in summer to watch the boats and the stone pier."]


def write_pdf(path, pages=PAGES, password: str | None = None):
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        if text:
            pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


def write_docx(path):
    import docx

    document = docx.Document()
    document.add_heading("Confidentiality", 1)
    document.add_paragraph("The parties agree to keep all information confidential for five years.")
    document.add_heading("Governing law", 1)
    document.add_paragraph("This contract is governed by the laws of the state.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Term", "Five years"
    document.save(str(path))
    return path


HTML = """<html><head><title>Trial</title><style>p {color: red}</style><script>var tracking = 1;</script></head>
<body><nav>Home | About | Contact</nav><main><h1>Asthma trial</h1>
<p>Patients with asthma were given the drug twice a day for six weeks.</p><ul><li>Dose: <b>twice</b> a day</li></ul>
<h2>Results</h2><p>Symptoms improved in most patients after the second week.</p></main>
<footer>Copyright 2026</footer></body></html>"""


@pytest.fixture()
def folder(tmp_path):
    docs = tmp_path / "docs"
    (docs / "web").mkdir(parents=True)
    write_pdf(docs / "report.pdf")
    write_docx(docs / "contract.docx")
    (docs / "web" / "trial.html").write_text(HTML, encoding="utf-8")
    return docs


def test_each_reader_keeps_the_text_and_cuts_at_pages_and_headings(folder):
    pdf = read_document(folder / "report.pdf")
    assert [" ".join(page.split()) for page in pdf.split(FORM_FEED)] == PAGES  # lines as the PDF breaks them
    word = read_document(folder / "contract.docx").split(FORM_FEED)
    assert word == ["Confidentiality\n\nThe parties agree to keep all information confidential for five years.",
                    "Governing law\n\nThis contract is governed by the laws of the state.\n\nTerm | Five years"]
    page = read_document(folder / "web" / "trial.html").split(FORM_FEED)
    assert page == ["Asthma trial\n\nPatients with asthma were given the drug twice a day for six weeks.\n\n"
                    "Dose: twice a day", "Results\n\nSymptoms improved in most patients after the second week."]
    assert "tracking" not in "".join(page) and "Copyright" not in "".join(page) and "Home" not in "".join(page)


def test_a_folder_of_documents_yields_rows_traceable_to_their_spans(folder, tmp_path):
    out = tmp_path / "out"
    result = generate(GenerateConfig(model=None, input=str(folder), task_type="exqa", output=out, progress=False,
                                     n=4, filters=()), engine=ScriptedEngine())  # every parseable task kept
    import datasets

    rows = datasets.load_dataset(str(out), split="train").to_list()
    assert {r["doc_id"] for r in rows} == {"report.pdf", "contract.docx", "web/trial.html"}
    for row in rows:
        text = read_document(folder / row["doc_id"])
        passage = text[row["passage_start"]:row["passage_end"]]
        # the span is a whole page or section (each fits the budget): never two, never a piece
        assert passage in text.split(FORM_FEED)
    # two pages, two sections of the Word file, two of the page: six passages
    assert result.funnel["documents"] == 3 and result.funnel["passages"] == 6
    pdf_passages = {(r["passage_index"], r["passage_start"]) for r in rows if r["doc_id"] == "report.pdf"}
    assert {i for i, _ in pdf_passages} <= {0, 1}
    assert "`passage_start`, `passage_end`" in (out / "README.md").read_text()


def test_a_single_document_file_is_an_input(folder, tmp_path):
    texts = load_texts(str(folder / "report.pdf"))
    assert texts["id"] == ["report.pdf"] and FORM_FEED in texts["text"][0]


def test_bad_documents_are_one_line_or_skipped_and_counted(folder, tmp_path, capsys):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a PDF")
    write_pdf(folder / "scan.pdf", pages=["", ""])
    write_pdf(folder / "locked.pdf", password="secret")
    argv = ["generate", "--model", "unused", "--input", str(folder), "--task-type", "exqa", "--no-progress"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bonito: error: {folder / 'broken.pdf'}: corrupt file;")
    assert err[0].endswith("--skip-bad-files skips such files and counts them")
    for name, reason in (("scan.pdf", "no text layer"), ("locked.pdf", "encrypted")):
        with pytest.raises(BadDocument, match=reason) as bad:
            read_document(folder / name)
        assert bad.value.reason == reason

    out = tmp_path / "skipped"
    result = generate(GenerateConfig(model=None, input=str(folder), task_type="exqa", output=out, progress=False,
                                     skip_bad_files=True), engine=ScriptedEngine())
    assert result.funnel["skipped_files"] == {"corrupt file": 1, "encrypted": 1, "no text layer": 1}
    assert result.funnel["documents"] == 6 and result.funnel["passages"] == 6
    assert json.loads((out / "funnel.json").read_text())["skipped_files"] == result.funnel["skipped_files"]
    assert "| files skipped: encrypted | 1 |" in (out / "README.md").read_text()


def test_without_the_extra_a_document_is_one_line_naming_it(folder, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pypdf" else real(name, *a))
    with pytest.raises(InputError, match=r"reading \.pdf files needs the documents extra: pip install "
                                         r"'bonito-hub\[documents\]'"):
        load_texts(str(folder))
