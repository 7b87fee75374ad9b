"""The user's documents as they are: PDF, HTML and Word (.docx) files read as text, through the
`documents` extra (pip install "bonito-hub[documents]"). Why these libraries: docs/documents.md.

    .pdf          pypdf: the text layer, page by page
    .html, .htm   beautifulsoup4 with Python's own html.parser: the page's main text, block by block
    .docx         python-docx: the paragraphs and tables, in order

A page of a PDF, and a heading of a page or a Word file, starts a new section: sections are joined
by a form feed (FORM_FEED), which the passage splitter never packs across, so a passage never
spans two pages or two sections. Within a section, blocks are paragraphs (joined by a blank line).

A file that holds no text to read (a scanned PDF without a text layer, an encrypted PDF, a corrupt
file) is a `BadDocument` naming the file and the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from bonito_hub.errors import BadDocument, InputError, cause

FORM_FEED = "\f"
SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}
EXTRA = {"pdf": "pypdf", "html": "bs4", "docx": "docx"}  # the module each kind needs
_SPACES = re.compile(r"[ \t\r\x0b]+")


def kind_of(path: Path) -> str | None:
    """"pdf", "html" or "docx" for a document file, else None."""
    return SUFFIXES.get(path.suffix.lower())


def check_extra(kinds) -> None:
    """An InputError naming the extra when a library for these kinds of document is missing."""
    import importlib.util

    missing = sorted({kind for kind in kinds if importlib.util.find_spec(EXTRA[kind]) is None})
    if missing:
        raise InputError(f"reading {', '.join(f'.{k}' for k in missing)} files needs the documents extra: "
                         "pip install 'bonito-hub[documents]'")


def read_document(path: str | Path) -> str:
    """The text of a PDF, HTML or Word file, sections joined by FORM_FEED."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise InputError(f"{path}: not a PDF, HTML or Word (.docx) file")
    check_extra([kind])
    if path.stat().st_size == 0:
        raise BadDocument(path, "empty file")
    reader = {"pdf": _read_pdf, "html": _read_html, "docx": _read_docx}[kind]
    try:
        sections = reader(path)
    except BadDocument:
        raise
    except Exception as exc:
        raise BadDocument(path, "corrupt file", f"{cause(exc)}") from None
    sections = [s for s in (_tidy(section) for section in sections) if s]
    if not sections:
        if kind == "pdf":
            raise BadDocument(path, "no text layer", "a scanned PDF needs OCR first (for example ocrmypdf)")
        raise BadDocument(path, "no text")
    return FORM_FEED.join(sections)


def _tidy(text: str) -> str:
    """Runs of spaces as one, at most one blank line between paragraphs, no form feed inside."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace(FORM_FEED, "\n").split("\n")]
    out, blank = [], False
    for line in lines:
        if not line:
            blank = bool(out)
            continue
        if blank:
            out.append("")
        out.append(line)
        blank = False
    return "\n".join(out)


def _read_pdf(path: Path) -> list[str]:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # what it repairs on its own, it says as warnings
    reader = PdfReader(str(path))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty password
        except Exception:
            opened = 0
        if not opened:
            raise BadDocument(path, "encrypted", "decrypt it first (for example qpdf --decrypt)")
    return [page.extract_text() or "" for page in reader.pages]


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = _HEADINGS | {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}
_NOT_TEXT = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg")


def _read_html(path: Path) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")  # the page's own charset, or a guess
    for tag in soup(_NOT_TEXT):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    sections: list[list[str]] = [[]]
    blocks = root.find_all(_BLOCKS)
    if not blocks:  # text without block elements
        return [root.get_text("\n")]
    for block in blocks:
        if block.find_parent(_BLOCKS - _HEADINGS) is not None and block.name not in _HEADINGS:
            continue  # a paragraph inside a list item or a cell: its parent's text holds it
        text = block.get_text(" ", strip=True)
        if not text:
            continue
        if block.name in _HEADINGS and sections[-1]:
            sections.append([])
        sections[-1].append(text)
    return ["\n\n".join(section) for section in sections]


def _read_docx(path: Path) -> list[str]:
    import docx

    document = docx.Document(str(path))
    sections: list[list[str]] = [[]]
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(child, document)
            text = paragraph.text.strip()
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style.startswith(("Heading", "Title")) and sections[-1]:
                sections.append([])
            if text:
                sections[-1].append(text)
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            for row in table.rows:
                cells = [cell.text.strip() for cell in row.cells]
                if any(cells):
                    sections[-1].append(" | ".join(cells))
    return ["\n\n".join(section) for section in sections]
