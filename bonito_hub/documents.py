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

import functools
import re
from collections import Counter
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
    # the most pixels a scanned page's images may hold for OCR: a 600 dpi A3 scan is 70 million, and
    # Pillow warns of a decompression bomb from 89 million; checked on the sizes the PDF declares,
    # before any image is decoded
    max_ocr_pixels: int = 80_000_000

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1_000_000)


def read_document(path: str | Path, limits: Limits = Limits(), clean: bool = True, ocr: bool = False) -> str:
    """The text of a PDF, HTML or Word file, sections joined by FORM_FEED; a file over `limits`, or
    whose content is not what its name says, is a BadDocument naming the file. `clean`: page
    furniture and navigation removed, hyphenated line breaks joined (`read_document_report`).
    `ocr`: a PDF page with no text layer is read from its images by OCR (the `ocr` extra)."""
    return read_document_report(path, limits, clean, ocr)[0]


def read_document_report(path: str | Path, limits: Limits = Limits(), clean: bool = True,
                         ocr: bool = False, repeated: frozenset = frozenset()) -> tuple[str, dict]:
    """`read_document`, and what the clean-up did: {"removed": {"running header": 3, "contents
    page": 1, ...}, "joined": {"hyphenated word": 23, ...}} (empty without `clean`), and with
    `ocr` the pages read by OCR ({"ocr_pages": 2}). `repeated`: for an HTML page, the digests of
    the blocks that repeat across its folder (`repeated_blocks`), left out."""
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
    report = {"removed": Counter(), "joined": Counter()}
    ocr_pages: list[int] = []
    try:
        extra = {"ocr_pages": ocr_pages} if ocr and kind == "pdf" else {"repeated": repeated} if kind == "html" else {}
        sections = reader(path, limits, report if clean else None, **extra)
    except BadDocument:
        raise
    except Exception as exc:
        raise BadDocument(path, "corrupt file", f"{cause(exc)}") from None
    sections = [s for s in (_tidy(section) for section in sections) if s]
    if not sections:
        if kind == "pdf":
            raise BadDocument(path, "no text layer", "a scanned PDF needs OCR: pip install 'bonito-hub[ocr]' reads it "
                              "(--ocr auto), or run ocrmypdf on it first" if not ocr else
                              "and no image on its pages that OCR could read text from")
        raise BadDocument(path, "no text")
    out = {key: dict(sorted(counts.items())) for key, counts in report.items()}
    if ocr_pages:
        out["ocr_pages"] = len(ocr_pages)
    return FORM_FEED.join(sections), out


def ocr_available() -> bool:
    """Whether the `ocr` extra is installed (rapidocr and onnxruntime)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("rapidocr", "onnxruntime"))


@functools.lru_cache(maxsize=1)
def _ocr_engine():
    """RapidOCR on onnxruntime, with the models its wheel ships (nothing is downloaded), quiet."""
    import logging

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    from rapidocr import RapidOCR

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return engine


def image_pixels(page) -> int:
    """The pixels of a PDF page's images, as their dictionaries declare them (/Width x /Height, in
    the page's resources and the forms it draws): known without decoding any image."""
    total, seen = 0, set()

    def visit(resources, depth: int) -> None:
        nonlocal total
        xobjects = (resources or {}).get("/XObject") if hasattr(resources, "get") else None
        if not xobjects or depth > 8:
            return
        for ref in xobjects.get_object().values():
            key = getattr(ref, "idnum", None)
            if key is not None and key in seen:
                continue
            seen.add(key)
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                total += int(obj.get("/Width", 0)) * int(obj.get("/Height", 0))
            elif obj.get("/Subtype") == "/Form":
                visit(obj.get("/Resources"), depth + 1)

    visit(page.get("/Resources"), 0)
    return total


def ocr_page(page) -> str:
    """The text of a PDF page's images, read by OCR: each image's lines, top to bottom."""
    lines = []
    for image in page.images:
        result = _ocr_engine()(image.data)
        lines += [t for t in (result.txts or ()) if t.strip()]
    return "\n".join(lines)


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
    """Runs of spaces as one (a line's indentation aside: a `<pre>` block's code keeps it), at most
    one blank line between paragraphs, no form feed inside."""

    def line_of(raw: str) -> str:
        body = _SPACES.sub(" ", raw).strip()
        indent = raw[:len(raw) - len(raw.lstrip(" \t"))].replace("\t", "    ")
        return indent + body if body else ""

    lines = [line_of(line) for line in text.replace(FORM_FEED, "\n").split("\n")]
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


def _read_pdf(path: Path, limits: Limits, report: dict | None = None, ocr_pages: list | None = None) -> list[str]:
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
    for number, page in enumerate(reader.pages):
        pages.append(page.extract_text() or "")
        if ocr_pages is not None and not pages[-1].strip() and page.images:  # a scanned page: read by OCR
            pixels = image_pixels(page)
            if pixels > limits.max_ocr_pixels:
                raise BadDocument(path, "too large", f"page {number + 1}'s images hold {pixels:,} pixels, more than "
                                  f"the {limits.max_ocr_pixels:,} OCR reads from a page")
            pages[-1] = ocr_page(page)
            ocr_pages.append(number)
        chars += len(pages[-1])
        if chars > limits.max_bytes:
            raise BadDocument(path, "too large", f"more than {limits.max_mb:g} MB of text (`max_document_mb`)")
    return clean_pages(pages, report) if report is not None else pages


# A line that is a page number alone: 12, xii, Page 3, 3 of 17, 3/17, - 3 -
_PAGE_NUMBER = re.compile(r"(?:page\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?|[-\u2013\u2014]\s*\d{1,4}\s*[-\u2013\u2014]",
                          re.IGNORECASE)
# A contents line: dot leaders, or a title and a page number after a run of spaces or dots
_LEADER = re.compile(r"(?:\.\s?){4,}\s*\d{0,4}\s*$|\S\s{3,}\d{1,4}$")
_DIGITS = re.compile(r"\d+")
_HYPHENATED = re.compile(r"(\w+)-\n(\w+)")
_SENTENCE_END = re.compile(r"[.!?:;\"')\]\u201d]\s*$")
EDGE_LINES = 2  # the lines at a page's top and bottom where its furniture is looked for
MIN_REPEATS = 3  # a line at a page's edge on this many pages (digits aside) is a running header or footer


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", line.casefold()).strip()


def clean_pages(pages: list[str], report: dict) -> list[str]:
    """A PDF's pages without their furniture, counted by kind in report["removed"]: contents pages (most
    lines dot leaders or ending in a page number), running headers and footers (a line among the
    first or last EDGE_LINES of MIN_REPEATS or more pages, whatever the numbers in it), and page
    numbers alone at a page's top or bottom. Then the text joined as it was written: a word
    hyphenated across a line break joined (kept hyphenated where the document writes it so
    elsewhere), the other line breaks inside a page made spaces where the line does not end a
    sentence, and a page that ends mid-sentence continued on the next when that starts in lower
    case (the two are one section, so a passage may cover both); counted in report["joined"]."""
    removed, joined_counts = report["removed"], report["joined"]
    lines_of = [[line.strip() for line in page.split("\n")] for page in pages]
    for i, lines in enumerate(lines_of):
        text = [line for line in lines if line]
        if len(text) >= 4 and sum(bool(_LEADER.search(line)) for line in text) >= 0.5 * len(text):
            removed["contents page"] += 1
            lines_of[i] = []
    seen: Counter = Counter()
    for lines in lines_of:
        text = [line for line in lines if line]
        seen.update({_edge_key(line) for line in text[:EDGE_LINES] + text[-EDGE_LINES:]
                     if not _PAGE_NUMBER.fullmatch(line)})
    repeated = {key for key, n in seen.items() if n >= MIN_REPEATS and len(key) > 1}
    out = []
    for lines in lines_of:
        at = [j for j, line in enumerate(lines) if line]
        edges = set(at[:EDGE_LINES]) | set(at[-EDGE_LINES:])
        kept = []
        for j, line in enumerate(lines):
            if j in edges and _PAGE_NUMBER.fullmatch(line):
                removed["page number"] += 1
                continue
            if j in edges and _edge_key(line) in repeated:
                removed["running header" if at and j <= at[min(EDGE_LINES, len(at)) - 1] else "running footer"] += 1
                continue
            kept.append(line)
        out.append(kept)
    words = Counter(w.casefold() for lines in out for line in lines for w in re.findall(r"\w+(?:-\w+)*", line))
    joined = []
    for lines in out:
        text = "\n".join(lines).strip()

        def join(m: re.Match) -> str:
            first, second = m.group(1), m.group(2)
            if not second[:1].islower():  # "Smith-\nJones", "COVID-\n19": a hyphen of the word itself
                return f"{first}-{second}"
            joined_counts["hyphenated word"] += 1
            return f"{first}-{second}" if words[f"{first}-{second}".casefold()] else first + second

        text = _HYPHENATED.sub(join, text)
        text = re.sub(r"(?<![.!?:;\n])\n(?!\n)", " ", text)  # a line break inside a sentence: a space
        joined.append(text)
    pages_out: list[str] = []
    for text in joined:
        if pages_out and pages_out[-1] and text[:1].islower() and not _SENTENCE_END.search(pages_out[-1]):
            pages_out[-1] += " " + text  # a sentence cut by the page break
            joined_counts["sentence across a page break"] += 1
            continue
        pages_out.append(text)
    return pages_out


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = _HEADINGS | {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}
_NOT_TEXT = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "head"}
_MAIN = {"main", "article"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Navigation that documentation generators mark by class or role, not by <nav>: texinfo's header and
# nav-panel, Sphinx's related bar and sidebar, MkDocs' header, tabs and sidebars, Javadoc's bars,
# breadcrumbs; ARIA's navigation, banner and contentinfo roles
_NAV_CLASSES = {"header", "footer", "nav-panel", "navigation", "navbar", "related", "sphinxsidebar", "breadcrumb",
                "breadcrumbs", "topnav", "bottomnav", "subnav", "navlist", "md-header", "md-footer", "md-tabs",
                "md-sidebar", "wy-nav-side", "rst-footer-buttons", "toc-sidebar"}
_NAV_ROLES = {"navigation", "banner", "contentinfo"}


def _is_navigation(attrs) -> bool:
    found = dict(attrs)
    classes = {c.casefold() for c in (found.get("class") or "").split()}
    return bool(classes & _NAV_CLASSES) or (found.get("role") or "").casefold() in _NAV_ROLES


class _Blocks(HTMLParser):
    """One pass over a page, linear in its length whatever its nesting: text goes to the block
    open (a paragraph, a list item, a cell, a heading); a block inside another adds to it; a
    heading starts a new section and ends at its end tag or at the next block, so an unclosed
    heading never swallows what follows. Text in navigation, scripts and styles is dropped; when
    the page has a <main> or <article>, only its text is kept. A block's text keeps the page's own
    spacing around inline tags (`<code>f</code>.` is "f."). With `report`, an element that
    documentation generators use for navigation (`_is_navigation`) is dropped too, and counted."""

    def __init__(self, report: dict | None = None):
        super().__init__(convert_charrefs=True)
        self.report = report
        self.navigation: list[list] = []  # [tag, depth] of each navigation element being dropped
        self.skip = 0  # depth inside tags whose text is not the page's
        self.main = 0  # depth inside <main>/<article>
        self.depth = 0  # blocks open
        self.heading = False
        self.pre = False  # the open block is (or holds) a <pre>: its lines and indentation are kept
        self.words: list[str] = []
        self.out: list[tuple[bool, bool, str]] = []  # (in main, is heading, text) a block

    def flush(self) -> None:
        raw = "".join(self.words)
        text = "\n".join(line.rstrip() for line in raw.strip("\n").split("\n")) if self.pre and raw.strip() \
            else " ".join(raw.split())
        self.pre = False
        if text:
            self.out.append((self.main > 0, self.heading, text))
        self.words = []

    def handle_starttag(self, tag, attrs):
        if tag == "br" and self.depth:
            self.words.append(" ")
        if tag in _VOID:
            return
        for entry in self.navigation:
            if entry[0] == tag:
                entry[1] += 1
        if self.report is not None and not self.skip and _is_navigation(attrs):
            self.navigation.append([tag, 1])
            self.skip += 1
            self.report["removed"]["navigation"] += 1
            return
        if tag in _NOT_TEXT:
            self.skip += 1
        elif tag in _MAIN:
            self.main += 1
        elif tag in _BLOCKS and not self.skip:
            if tag in _HEADINGS or self.heading or self.depth == 0:
                self.flush()
                self.depth = 0
            elif self.depth:
                self.words.append(" ")  # a block inside another: its text after a space
            self.heading = tag in _HEADINGS
            self.pre = self.pre or tag == "pre"
            self.depth += 1

    def handle_endtag(self, tag):
        if self.navigation and self.navigation[-1][0] == tag:
            self.navigation[-1][1] -= 1
            if self.navigation[-1][1] == 0:
                self.navigation.pop()
                self.skip = max(self.skip - 1, 0)
                return
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
        if self.depth:
            self.words.append(data)  # as written: spacing is collapsed when the block ends
            return
        words = data.strip()
        if words:
            self.out.append((self.main > 0, False, words))

    def blocks(self) -> list[tuple[bool, bool, str]]:
        """(in main, is heading, text) of each block the page's text is made of."""
        self.flush()
        blocks = self.out
        if any(in_main for in_main, _, _ in blocks):
            blocks = [b for b in blocks if b[0]]
        return blocks

    def sections(self, repeated: frozenset = frozenset()) -> list[str]:
        """The page's sections; without the blocks whose digest is in `repeated` (blocks that repeat
        across the pages of a folder), counted, unless that would leave the page under
        MIN_PAGE_WORDS words, when it is kept whole."""
        blocks = self.blocks()
        if repeated:
            kept = [b for b in blocks if block_digest(b[2]) not in repeated]
            if len(" ".join(b[2] for b in kept).split()) >= MIN_PAGE_WORDS:
                if self.report is not None and len(kept) < len(blocks):
                    self.report["removed"]["repeated block"] += len(blocks) - len(kept)
                blocks = kept
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


def _read_html(path: Path, limits: Limits, report: dict | None = None, repeated: frozenset = frozenset()) -> list[str]:
    parser = _Blocks(report)
    parser.feed(_decode_html(path.read_bytes()))
    parser.close()
    return parser.sections(repeated if report is not None else frozenset())


MIN_PAGE_WORDS = 20  # a page left with fewer words without its repeated blocks is kept whole
REPEATED_SHARE = 0.5  # a block on at least this share of a folder's HTML pages (and 3 of them) repeats


def block_digest(text: str) -> str:
    import hashlib

    return hashlib.sha1(" ".join(text.casefold().split()).encode()).hexdigest()[:16]


def repeated_blocks(paths: list[Path], limits: Limits = Limits()) -> frozenset:
    """The digests of the blocks that appear on at least half of these HTML pages (and on three
    or more): a site's or a manual's own boilerplate (a footer in a plain <div>, a copyright line,
    a sidebar), found by repeating, whatever its tags. One pass over the pages, digests only."""
    if len(paths) < 3:
        return frozenset()
    seen: Counter = Counter()
    for path in paths:
        try:
            if path.stat().st_size > limits.max_bytes:
                continue
            parser = _Blocks({"removed": Counter(), "joined": Counter()})
            parser.feed(_decode_html(path.read_bytes()))
            parser.close()
        except Exception:  # a page that cannot be read is said when it is read
            continue
        seen.update({block_digest(text) for _, _, text in parser.blocks()})
    least = max(3, REPEATED_SHARE * len(paths))
    return frozenset(digest for digest, n in seen.items() if n >= least)


def _read_docx(path: Path, limits: Limits, report: dict | None = None) -> list[str]:
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
