"""Clean passages from documents that look like real ones: a PDF with a contents page, running
headers, page numbers, hyphenated line breaks and a sentence cut by a page break; an HTML page
with a texinfo-style navigation bar and inline code; headings and names too short to stand alone.
Every span still slices the text read_document returns."""

from __future__ import annotations

import json

import datasets
import pytest

from bonito_hub.documents import FORM_FEED, clean_pages, read_document, read_document_report
from bonito_hub.generate import GenerateConfig, generate
from bonito_hub.generate.passages import PassageSplitter
from bonito_hub.testing import make_tokenizer
from bonito_hub.testing.engines import ScriptedEngine

BODY = [
    "The harbour town of Ellmere sits at the mouth of a slow brown river. Its fishing fleet\nwas the largest on the "
    "coast until the storm of 1894 made a manip-\nulation of the old charts necessary for every captain.",
    "In 1894 a storm destroyed the old wooden pier and most of the boats moored beside it.\nThe council met the next "
    "morning and agreed to build a new pier of stone, and the stone pier was",
    "finished in the spring of 1896. Tourists now come in summer to watch the boats return\nin the evening, and the "
    "pier has become the town's best known land-\nmark for visitors.",
    "The museum by the harbour tells the story of the shipyards and of the families who\nworked in them. It opens "
    "every day except Monday and holds a well-known collection of ship models.",
]
CONTENTS = ("Contents\n1 Introduction . . . . . . . . . . 2\n2 The storm . . . . . . . . . . . 3\n"
            "3 The stone pier . . . . . . . . 4\n4 The museum . . . . . . . . . . 5")
HEADER = "Ellmere Harbour Guide, chapter"
TEXINFO = """<html><head><title>Structures</title></head><body>
<div class="header"><p>Next: <a href="size.html">Size</a>, Previous: <a href="prim.html">Primitive Types</a>,
Up: <a href="types.html">Types</a> &nbsp; [<a href="index.html">Index</a>]</p></div><hr>
<h4 class="subsection">2.3.1 Structures</h4>
<p>A structure is described by its <code>ffi_type</code>. Its <code>elements</code> field is a
<code>NULL</code>-terminated array of pointers to the types of the members.</p>
<h4>Jane Smith</h4>
<h4>2.3.2 Size</h4><p>The size and alignment of a structure are computed by <code>ffi_prep_cif</code>, so a
caller never sets them by hand.</p>
<h4>Notes</h4>
</body></html>"""


def write_guide(path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, CONTENTS)
    for i, body in enumerate(BODY):
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        pdf.cell(0, 8, f"{HEADER} {i + 1}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, body)
        pdf.set_y(-20)
        pdf.cell(0, 8, str(i + 2), align="C")
    pdf.output(str(path))
    return path


@pytest.fixture()
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_guide(docs / "guide.pdf")
    (docs / "structures.html").write_text(TEXINFO)
    return docs


def test_a_pdf_loses_its_furniture_and_is_joined_as_it_was_written(folder):
    text, report = read_document_report(folder / "guide.pdf")
    assert report == {"removed": {"contents page": 1, "page number": 4, "running header": 4},
                      "joined": {"hyphenated word": 2, "sentence across a page break": 1}}
    assert HEADER not in text and "Contents" not in text and ". . ." not in text
    assert not any(line.strip().isdigit() for line in text.replace(FORM_FEED, "\n").split("\n"))
    assert "manipulation of the old charts" in text and "landmark for visitors" in text
    assert "well-known collection" in text  # a hyphen the document writes is kept
    assert "the stone pier was finished in the spring of 1896" in text  # one section across the page break
    assert text.count(FORM_FEED) == 2
    kept, plain = read_document(folder / "guide.pdf", clean=False), read_document_report(folder / "guide.pdf", clean=False)
    assert HEADER in kept and "manip-\nulation" in kept and plain[1] == {"removed": {}, "joined": {}}


def test_the_edges_of_pages_are_judged_by_repetition_not_by_shape():
    """A line at a page's top is furniture only when it repeats (digits aside) on three pages or
    more; a page of dot leaders is a contents page only when most of its lines are."""
    report = {"removed": __import__("collections").Counter(), "joined": __import__("collections").Counter()}
    pages = [f"Report {i}\nThe pier was built in 18{90 + i} by the council of the town." for i in range(2)]
    assert clean_pages(pages, report) == [p.replace("\n", " ") for p in pages] and not report["removed"]
    pages = ["Prices . . . . 4\nA table of prices follows, with the fares of each ferry and the times it leaves the "
             "harbour on weekdays.\nIt was last changed in May.\nAsk at the office for the winter fares."]
    assert "Prices" in clean_pages(pages, report)[0] and not report["removed"]


def test_html_navigation_inline_tags_and_short_sections(folder):
    text, report = read_document_report(folder / "structures.html")
    assert report["removed"] == {"navigation": 1}
    assert "Next:" not in text and "Index" not in text
    assert "its ffi_type. Its elements field is a NULL-terminated array" in text  # no space before punctuation
    splitter = PassageSplitter(make_tokenizer(), 200, min_words=8)
    short: list[int] = []
    passages = splitter.split_many([text], short)[0]
    pieces = [text[p.start:p.end] for p in passages]
    assert short == [1]  # "Notes" alone at the end: nothing after it to join
    assert any(piece.startswith("Jane Smith") and "2.3.2 Size" in piece for piece in pieces)  # merged with the next
    assert all(len(piece.split()) >= 8 for piece in pieces) and not any(p == "Notes" for p in pieces)
    assert PassageSplitter(make_tokenizer(), 200).split_many([text], short) and short == [0]  # no minimum: all kept


def test_a_run_over_real_looking_documents_prompts_no_furniture_and_counts_it(folder, tmp_path):
    out = tmp_path / "out"
    result = generate(GenerateConfig(model=None, input=str(folder), task_type="exqa", output=out, n=2,
                                     progress=False), engine=ScriptedEngine(max_context=1024))
    funnel = result.funnel.to_dict()
    assert funnel["removed"] == {"contents page": 1, "navigation": 1, "page number": 4, "running header": 4,
                                 "too_short": 1}
    assert funnel["joined"] == {"hyphenated word": 2, "sentence across a page break": 1}
    passages = datasets.load_dataset("parquet", data_files=[str(p) for p in (out / "passages").glob("*.parquet")],
                                     split="train").to_list()
    texts = {name: read_document(folder / name) for name in ("guide.pdf", "structures.html")}
    assert passages
    for p in passages:
        assert texts[p["doc_id"]][p["passage_start"]:p["passage_end"]] == p["passage"]  # spans stay exact
        assert HEADER not in p["passage"] and "Next:" not in p["passage"] and ". . ." not in p["passage"]
        assert len(p["passage"].split()) >= 8
    card = (out / "README.md").read_text()
    assert "| removed from the documents: running header | 4 |" in card
    assert "| passages too short to prompt (fewer than 8 words) | 1 |" in card
    from bonito_hub.errors import RunError

    with pytest.raises(RunError, match="holds a different generation run"):  # another text: another run
        generate(GenerateConfig(model=None, input=str(folder), task_type="exqa", output=out, n=2, progress=False,
                                keep_page_furniture=True), engine=ScriptedEngine(max_context=1024))
    kept = generate(GenerateConfig(model=None, input=str(folder), task_type="exqa", output=tmp_path / "kept", n=2,
                                   keep_page_furniture=True, progress=False), engine=ScriptedEngine(max_context=1024))
    assert set(kept.funnel.to_dict().get("removed", {})) <= {"too_short"}
    assert json.loads((tmp_path / "kept" / "run.json").read_text())["options"]["keep_page_furniture"] is True


def write_scan(path, lines):
    """An image-only PDF: the lines drawn on an image (Pillow's own font), the image on a page."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1400, 120 + 80 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * 80), line, fill=0, font=font)
    png = path.with_suffix(".png")
    image.save(png)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(png), x=10, y=10, w=190)
    pdf.output(str(path))
    png.unlink()
    return path


SCANNED = ["The harbour town of Ellmere sits at the mouth", "of a slow brown river. In 1894 a storm",
           "destroyed the old wooden pier and the boats."]


@pytest.mark.slow
def test_a_scanned_pdf_is_read_by_ocr_with_the_extra_and_named_without_it(tmp_path, monkeypatch, capsys):
    import difflib

    from bonito_hub import documents
    from bonito_hub.cli import main
    from bonito_hub.errors import BadDocument

    docs = tmp_path / "scans"
    docs.mkdir()
    write_scan(docs / "scan.pdf", SCANNED)
    text, report = read_document_report(docs / "scan.pdf", ocr=True)
    assert difflib.SequenceMatcher(None, text, " ".join(SCANNED)).ratio() >= 0.95, text
    assert report["ocr_pages"] == 1
    with pytest.raises(BadDocument, match="pip install 'bonito-hub\\[ocr\\]'"):
        read_document(docs / "scan.pdf")  # OCR off
    out = tmp_path / "out"
    result = generate(GenerateConfig(model=None, input=str(docs), task_type="exqa", output=out, n=8, progress=False,
                                     no_filter=["near_duplicate"]), engine=ScriptedEngine())
    assert result.funnel.ocr_pages == 1 and result.funnel.passages == 1 and result.funnel.kept
    passage = datasets.load_dataset("parquet", data_files=[str(p) for p in (out / "passages").glob("*.parquet")],
                                    split="train")[0]
    assert text[passage["passage_start"]:passage["passage_end"]] == passage["passage"]  # spans index the OCR text
    assert "| scanned PDF pages read by OCR (RapidOCR) | 1 |" in (out / "README.md").read_text()
    monkeypatch.setattr(documents, "ocr_available", lambda: False)  # as without the extra
    capsys.readouterr()
    assert main(["generate", "--model", "unused", "--input", str(docs), "--task-type", "exqa", "--output",
                 str(tmp_path / "none"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no text layer" in err and "pip install 'bonito-hub[ocr]'" in err


def test_a_scanned_page_declaring_a_huge_image_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    """A small file whose image says it is 20,000 x 20,000 pixels: refused from the sizes the PDF
    declares, before any image is decoded or OCR runs."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, NumberObject

    from bonito_hub import documents
    from bonito_hub.errors import BadDocument

    write_scan(tmp_path / "scan.pdf", SCANNED[:1])
    writer = PdfWriter(clone_from=PdfReader(str(tmp_path / "scan.pdf")))
    for image in writer.pages[0]["/Resources"]["/XObject"].values():
        image.get_object()[NameObject("/Width")] = NumberObject(20_000)
        image.get_object()[NameObject("/Height")] = NumberObject(20_000)
    with open(tmp_path / "bomb.pdf", "wb") as f:
        writer.write(f)
    assert (tmp_path / "bomb.pdf").stat().st_size < 100_000
    monkeypatch.setattr(documents, "ocr_page", lambda page: pytest.fail("the image was decoded for OCR"))
    with pytest.raises(BadDocument, match="page 1's images hold 400,000,000 pixels, more than the 80,000,000"):
        read_document_report(tmp_path / "bomb.pdf", ocr=True)
    assert documents.image_pixels(PdfReader(str(tmp_path / "scan.pdf")).pages[0]) == 1400 * 200


def test_blocks_repeated_across_a_folder_of_pages_are_dropped_unless_a_page_would_be_left_empty(tmp_path):
    from bonito_hub.corpus import load_texts

    site = tmp_path / "site"
    site.mkdir()
    footer = '<div>Copyright 2026 Ellmere Harbour Trust. All rights reserved.</div><p>Built with DocGen 4.2.</p>'
    topics = ["the ferry timetable for the summer months and the fares for bicycles and cars",
              "the museum of shipbuilding, its opening hours and the ship models it holds",
              "the stone pier, built after the storm of 1894 destroyed the wooden one",
              "the fishing fleet, which was the largest on the coast for a century"]
    for i, topic in enumerate(topics):
        (site / f"page-{i}.html").write_text(f"<html><body><h1>Page {i}</h1><p>This page is about {topic}, "
                                             f"written for visitors who arrive by sea or by road.</p>{footer}"
                                             "</body></html>")
    (site / "index.html").write_text(f"<html><body><p>Index</p>{footer}</body></html>")
    texts = {row["id"]: row for row in load_texts(str(site))}
    for i in range(4):
        text = texts[f"page-{i}.html"]["text"]
        assert "Copyright" not in text and "DocGen" not in text and topics[i] in text
        assert json.loads(texts[f"page-{i}.html"]["cleaned"])["removed"] == {"repeated block": 2}
    assert "Copyright" in texts["index.html"]["text"]  # nothing of its own would be left: kept whole
    assert "Copyright" in load_texts(str(site), clean=False)[0]["text"]


def test_pre_blocks_keep_their_lines_and_indentation(tmp_path):
    page = tmp_path / "code.html"
    page.write_text("<html><body><h2>Example</h2><p>Call it\n   like this:</p><pre>def area(r):\n    if r &lt; 0:\n"
                    "        raise ValueError(r)\n\n    return 3.14 * r * r\n</pre><p>Then <code>area</code>.</p>"
                    "</body></html>")
    text = read_document(page)
    assert "def area(r):\n    if r < 0:\n        raise ValueError(r)\n\n    return 3.14 * r * r" in text
    assert "Call it like this:" in text and "Then area." in text  # prose is still one line, spaced as written


def test_words_are_counted_in_scripts_written_without_spaces():
    from bonito_hub.generate.passages import count_words

    assert count_words("year your name.") == 3 and count_words("Table 3: 12.5, 14.0") == 6
    assert count_words("委员会批准了预算。") == 8 and count_words("NULL-terminated array") == 3
    chinese = "埃尔米尔港镇坐落在一条缓慢的棕色河流的入海口。"
    splitter = PassageSplitter(make_tokenizer(), 200, min_words=8)
    short: list[int] = []
    assert splitter.split_many([chinese], short)[0] and short == [0]  # a Chinese sentence is no fragment
