"""Benchmark: reading PDF, HTML and Word files as a corpus (bonito_hub.documents), in pages per
second, against the libraries alone in the same run.

It writes its own corpus: `--pdfs` PDFs of `--pages` pages each (fpdf2, a text layer of about 300
words a page under a running header, a page number at the foot), as many HTML pages (with a
texinfo-style navigation bar) and Word files of the same text (one file a "page"), and `--scans`
image-only PDF pages (the text drawn on an image, for OCR). Then:

  pypdf alone      PdfReader(...).pages[i].extract_text() over every PDF: the floor of any PDF reader
  bonito, PDF      corpus.load_texts(folder of the PDFs): what `bonito generate --input` does
                   before cutting passages (text, sections, the Arrow cache), with the clean-up
                   (the default) and without it (--keep-page-furniture)
  bonito, HTML     the same for the HTML files (the standard library's html.parser, one pass)
  bonito, DOCX     the same for the Word files (python-docx)
  bonito, OCR      the scanned pages read by RapidOCR (the `ocr` extra), on the CPU

    python benchmarks/documents.py [--pdfs 40] [--pages 10] [--scans 10]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path


def page_text(rng: random.Random) -> list[str]:
    from bonito_hub.testing import BASE_TEXT

    words = BASE_TEXT.split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(40, 80))) + "." for _ in range(5)]


def write_corpus(root: Path, pdfs: int, pages: int) -> dict[str, Path]:
    import docx
    from fpdf import FPDF

    rng = random.Random(0)
    folders = {kind: root / kind for kind in ("pdf", "html", "docx")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for i in range(pdfs):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        texts = [page_text(rng) for _ in range(pages)]
        for j, paragraphs in enumerate(texts):
            pdf.add_page()
            pdf.cell(0, 5, f"Annual report {i}, part {j // 4 + 1}", new_x="LMARGIN", new_y="NEXT")
            for paragraph in paragraphs:
                pdf.multi_cell(0, 5, paragraph)
                pdf.ln(3)
            pdf.set_auto_page_break(False)  # the page number at the foot, on the same page
            pdf.set_y(-15)
            pdf.cell(0, 5, str(j + 1), align="C")
            pdf.set_auto_page_break(True, margin=20)
        pdf.output(str(folders["pdf"] / f"report-{i:03d}.pdf"))
        for j, paragraphs in enumerate(texts):
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            (folders["html"] / f"page-{i:03d}-{j:02d}.html").write_text(
                f'<html><body><div class="header"><p>Next: <a href="n.html">Next page</a>, Up: <a href="u.html">'
                f'Top</a></p></div><h1>Page {j}</h1>{body}</body></html>')
            document = docx.Document()
            document.add_heading(f"Page {j}", 1)
            for p in paragraphs:
                document.add_paragraph(p)
            document.save(str(folders["docx"] / f"page-{i:03d}-{j:02d}.docx"))
    return folders


def write_scans(folder: Path, n: int) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_cleanup import write_scan  # the tests' own image-only PDF

    from bonito_hub.testing import BASE_TEXT

    folder.mkdir(parents=True)
    lines = [line.strip() for line in BASE_TEXT.strip().splitlines()]
    for i in range(n):
        words = " ".join(lines[(i + k) % len(lines)] for k in range(2)).split()
        write_scan(folder / f"scan-{i:03d}.pdf", [" ".join(words[k:k + 8]) for k in range(0, min(len(words), 48), 8)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--scans", type=int, default=10, help="image-only PDF pages for OCR (0: none)")
    args = parser.parse_args()
    import os

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    work = Path(tempfile.mkdtemp(prefix="bonito-bench-docs-"))
    os.environ.setdefault("HF_DATASETS_CACHE", str(work / "cache"))
    started = time.perf_counter()
    folders = write_corpus(work, args.pdfs, args.pages)
    pages = args.pdfs * args.pages
    print(f"corpus: {args.pdfs} PDFs of {args.pages} pages, {pages} HTML pages, {pages} Word files "
          f"({time.perf_counter() - started:.1f} s to write)")

    import datasets  # noqa: F401  (imported before any timing: every method pays it once, outside)
    from pypdf import PdfReader

    from bonito_hub.corpus import load_texts
    from bonito_hub.documents import FORM_FEED

    start = time.perf_counter()
    chars = sum(len(page.extract_text() or "") for path in sorted(folders["pdf"].glob("*.pdf"))
                for page in PdfReader(str(path)).pages)
    alone = time.perf_counter() - start
    print(f"{'pypdf alone':>13}: {alone:6.2f} s  {pages / alone:7.1f} pages/s  ({chars} characters)")
    for kind, clean in (("pdf", False), ("pdf", True), ("html", False), ("html", True), ("docx", True)):
        start = time.perf_counter()
        texts = load_texts(str(folders[kind]), clean=clean)
        seconds = time.perf_counter() - start
        sections = sum(t.count(FORM_FEED) + 1 for t in texts["text"])
        removed = sum(sum(json.loads(c)["removed"].values()) for c in texts["cleaned"] if c)
        label = f"bonito, {kind.upper()}" + ("" if kind == "docx" else ", clean-up on" if clean else ", clean-up off")
        print(f"{label:>26}: {seconds:6.2f} s  {pages / seconds:7.1f} pages/s  ({len(texts)} files, {sections} "
              f"sections, {removed} pieces removed)" + (f"  {alone / seconds:.2f}x pypdf alone" if kind == "pdf" else ""))
    if args.scans:
        from bonito_hub.documents import ocr_available

        if not ocr_available():
            print("OCR: the ocr extra is not installed (pip install 'bonito-hub[ocr]')")
            return
        write_scans(work / "scans", args.scans)
        from bonito_hub.documents import _ocr_engine

        start = time.perf_counter()
        _ocr_engine()
        print(f"{'OCR models loaded':>26}: {time.perf_counter() - start:6.2f} s (once a process)")
        start = time.perf_counter()
        texts = load_texts(str(work / "scans"), ocr=True)
        seconds = time.perf_counter() - start
        ocr_pages = sum(json.loads(c).get("ocr_pages", 0) for c in texts["cleaned"] if c)
        print(f"{'bonito, scanned PDF, OCR':>26}: {seconds:6.2f} s  {args.scans / seconds:7.1f} pages/s  "
              f"({ocr_pages} pages read by OCR, {sum(len(t) for t in texts['text'])} characters)")


if __name__ == "__main__":
    main()
