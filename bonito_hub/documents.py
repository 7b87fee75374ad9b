"""The user's documents as they are: PDF, HTML and Word (.docx) files read as text, through the
`documents` extra (pip install "bonito-hub[documents]"). Why these libraries: docs/documents.md.

    .pdf          pypdf: the text layer, page by page
    .html, .htm   Python's own html.parser, in one linear pass: the page's main text, block by block
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

from dataclasses import dataclass
from html.parser import HTMLParser

from bonito_hub.errors import BadDocument, InputError, cause

FORM_FEED = "\f"
SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}
EXTRA = {"pdf": "pypdf", "html": "html", "docx": "docx"}  # the module each kind needs
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


@dataclass(frozen=True)
class Limits:
    """What one document may take, so that memory and time stay bounded on any file: its size on
    disk, and for a Word file (a zip) its parts unpacked, in MB; a PDF's pages; the text read. A
    Word file part unpacking to more than `max_ratio` times its packed size is a zip bomb."""

    max_mb: float = 256
    max_pages: int = 10_000
    max_ratio: int = 100

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1_000_000)


def read_document(path: str | Path, limits: Limits = Limits()) -> str:
    """The text of a PDF, HTML or Word file, sections joined by FORM_FEED; a file over `limits`, or
    whose content is not what its name says, is a BadDocument naming the file."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise InputError(f"{path}: not a PDF, HTML or Word (.docx) file")
    check_extra([kind])
    size = path.stat().st_size
    if size == 0:
        raise BadDocument(path, "empty file")
    if size > limits.max_bytes:
        raise BadDocument(path, "too large", f"{size / 1e6:.0f} MB, over `max_document_mb` {limits.max_mb:g}")
    _check_content(path, kind, limits)
    reader = {"pdf": _read_pdf, "html": _read_html, "docx": _read_docx}[kind]
    try:
        sections = reader(path, limits)
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


def _check_content(path: Path, kind: str, limits: Limits) -> None:
    """The file is what its name says: a PDF starts with %PDF-, a Word file is a zip holding
    word/document.xml whose parts unpack within `limits`, an HTML file is text."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(8192)
    if kind == "pdf" and b"%PDF-" not in head[:1024]:
        raise BadDocument(path, "not what its name says", "a .pdf file that does not start as a PDF")
    if kind == "html" and (b"\0" in head or _binary_share(head) > 0.05):
        raise BadDocument(path, "not what its name says", "a .html file holding binary data, not text")
    if kind == "docx":
        if not zipfile.is_zipfile(path):
            raise BadDocument(path, "not what its name says", "a .docx file that is not a zip archive")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if "word/document.xml" not in {m.filename for m in members}:
                raise BadDocument(path, "not what its name says", "a .docx file without word/document.xml")
            total = sum(m.file_size for m in members)
            if total > limits.max_bytes:
                raise BadDocument(path, "too large", f"its parts unpack to {total / 1e6:.0f} MB, over "
                                  f"`max_document_mb` {limits.max_mb:g}")
            for m in members:
                if m.file_size > 1_000_000 and m.file_size > limits.max_ratio * max(m.compress_size, 1):
                    raise BadDocument(path, "zip bomb", f"{m.filename} unpacks to {m.file_size / 1e6:.0f} MB from "
                                      f"{m.compress_size / 1e3:.0f} kB, more than {limits.max_ratio} times its size")


def _binary_share(data: bytes) -> float:
    """The share of a text's characters that are not text: control characters and undecodable bytes."""
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > len(text) * 0.05:  # not UTF-8: a legacy single-byte page decodes byte by byte
        text = data.decode("latin-1")
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f") or 0x7f <= ord(ch) < 0xa0 or ch == "\ufffd")
    return bad / max(len(text), 1)


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


def _read_pdf(path: Path, limits: Limits) -> list[str]:
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
    if len(reader.pages) > limits.max_pages:
        raise BadDocument(path, "too large", f"{len(reader.pages)} pages, over `max_document_pages` {limits.max_pages}")
    pages, chars = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        chars += len(pages[-1])
        if chars > limits.max_bytes:
            raise BadDocument(path, "too large", f"more than {limits.max_mb:g} MB of text (`max_document_mb`)")
    return pages


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = _HEADINGS | {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}
_NOT_TEXT = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "head"}
_MAIN = {"main", "article"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Blocks(HTMLParser):
    """One pass over a page, linear in its length whatever its nesting: text goes to the block
    open (a paragraph, a list item, a cell, a heading); a block inside another adds to it; a
    heading starts a new section and ends at its end tag or at the next block, so an unclosed
    heading never swallows what follows. Text in navigation, scripts and styles is dropped; when
    the page has a <main> or <article>, only its text is kept."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0  # depth inside tags whose text is not the page's
        self.main = 0  # depth inside <main>/<article>
        self.depth = 0  # blocks open
        self.heading = False
        self.words: list[str] = []
        self.out: list[tuple[bool, bool, str]] = []  # (in main, is heading, text) a block
        self.loose: list[str] = []  # text outside any block

    def flush(self) -> None:
        text = " ".join(self.words)
        if text:
            self.out.append((self.main > 0, self.heading, text))
        self.words = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        if tag in _NOT_TEXT:
            self.skip += 1
        elif tag in _MAIN:
            self.main += 1
        elif tag in _BLOCKS and not self.skip:
            if tag in _HEADINGS or self.heading or self.depth == 0:
                self.flush()
                self.depth = 0
            self.heading = tag in _HEADINGS
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in _NOT_TEXT:
            self.skip = max(self.skip - 1, 0)
        elif tag in _MAIN:
            self.main = max(self.main - 1, 0)
        elif tag in _BLOCKS and not self.skip and self.depth:
            self.depth -= 1
            if self.depth == 0 or tag in _HEADINGS:
                self.flush()
                self.depth, self.heading = 0, False

    def handle_data(self, data):
        if self.skip:
            return
        words = data.strip()
        if words:
            (self.words if self.depth else self.loose).append(words)
            if not self.depth:
                self.out.append((self.main > 0, False, words))
                self.loose.clear()

    def sections(self) -> list[str]:
        self.flush()
        blocks = self.out
        if any(in_main for in_main, _, _ in blocks):
            blocks = [b for b in blocks if b[0]]
        sections: list[list[str]] = [[]]
        for _, heading, text in blocks:
            if heading and sections[-1]:
                sections.append([])
            sections[-1].append(text)
        return ["\n\n".join(section) for section in sections]


def _decode_html(data: bytes) -> str:
    """The page's text: its byte-order mark, else the charset its <meta> names, else UTF-8, else
    Windows-1252 (what browsers fall back on)."""
    import codecs

    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    declared = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _read_html(path: Path, limits: Limits) -> list[str]:
    parser = _Blocks()
    parser.feed(_decode_html(path.read_bytes()))
    parser.close()
    return parser.sections()


def _read_docx(path: Path, limits: Limits) -> list[str]:
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
