"""Benchmark: reading PDF, HTML and Word files as a corpus (bonito_hub.documents), in pages per
second, against the libraries alone in the same run.

It writes its own corpus: `--pdfs` PDFs of `--pages` pages each (fpdf2, a text layer of about 300
words a page), as many HTML pages and Word files of the same text (one file a "page"). Then:

  pypdf alone      PdfReader(...).pages[i].extract_text() over every PDF: the floor of any PDF reader
  bonito, PDF      corpus.load_texts(folder of the PDFs): what `bonito generate --input` does
                   before cutting passages (text, sections, the Arrow cache)
  bonito, HTML     the same for the HTML files (the standard library's html.parser, one pass)
  bonito, DOCX     the same for the Word files (python-docx)

    python benchmarks/documents.py
"""

from __future__ import annotations

import argparse
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
        for paragraphs in texts:
            pdf.add_page()
            for paragraph in paragraphs:
                pdf.multi_cell(0, 5, paragraph)
                pdf.ln(3)
        pdf.output(str(folders["pdf"] / f"report-{i:03d}.pdf"))
        for j, paragraphs in enumerate(texts):
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            (folders["html"] / f"page-{i:03d}-{j:02d}.html").write_text(
                f"<html><body><nav>menu</nav><main><h1>Page {j}</h1>{body}</main></body></html>")
            document = docx.Document()
            document.add_heading(f"Page {j}", 1)
            for p in paragraphs:
                document.add_paragraph(p)
            document.save(str(folders["docx"] / f"page-{i:03d}-{j:02d}.docx"))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=10)
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
    for kind in ("pdf", "html", "docx"):
        start = time.perf_counter()
        texts = load_texts(str(folders[kind]))
        seconds = time.perf_counter() - start
        sections = sum(t.count(FORM_FEED) + 1 for t in texts["text"])
        print(f"{'bonito, ' + kind.upper():>13}: {seconds:6.2f} s  {pages / seconds:7.1f} pages/s  "
              f"({len(texts)} files, {sections} sections)" +
              (f"  {alone / seconds:.2f}x pypdf alone" if kind == "pdf" else ""))


if __name__ == "__main__":
    main()
