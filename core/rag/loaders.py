"""Turn an uploaded file into text sections that keep their page or heading.

Each format goes through a maintained parser (pypdf, python-docx,
BeautifulSoup, markdown-it, the csv module). Anything wrong with a file is a
`DocumentError` whose message is one plain sentence naming the file, so a
batch can report it and carry on with the other files.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import PurePath

__all__ = ["SUPPORTED", "DocumentError", "Section", "load_document"]

SUPPORTED = {
    ".pdf": "PDF",
    ".docx": "Word",
    ".html": "HTML",
    ".htm": "HTML",
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".txt": "text",
    ".text": "text",
    ".csv": "CSV",
}


class DocumentError(ValueError):
    """A file that cannot be ingested; `str(err)` is the sentence to show the user."""


@dataclass(slots=True)
class Section:
    """A stretch of text from one page (PDF) or under one heading (Markdown, HTML, DOCX)."""

    text: str
    page: int | None = None
    heading: str | None = None


def load_document(name: str, data: bytes, *, max_bytes: int | None = None) -> list[Section]:
    """Sections of text from the file `name` with contents `data`.

    Raises DocumentError for an empty, oversized, unsupported, damaged,
    password-protected or textless file.
    """
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED:
        kinds = "PDF, Word (.docx), HTML, Markdown, text or CSV"
        shown = suffix or "files without an extension"
        raise DocumentError(f"{name}: {shown} files are not supported; upload {kinds}.")
    if not data:
        raise DocumentError(f"{name} is empty (0 bytes).")
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentError(
            f"{name} is {_mb(len(data))}; the upload limit is {_mb(max_bytes)}."
        )
    loader = _LOADERS[suffix]
    try:
        sections = loader(name, data)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - parsers raise anything on bad input
        raise DocumentError(
            f"{name} could not be read as a {SUPPORTED[suffix]} file: it looks damaged."
        ) from exc
    sections = [s for s in (_tidy(s) for s in sections) if s.text]
    if not sections:
        hint = " (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""
        raise DocumentError(f"{name} has no text that could be extracted{hint}.")
    return sections


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


def _tidy(section: Section) -> Section:
    lines = [_SPACES.sub(" ", line).strip() for line in section.text.splitlines()]
    section.text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    return section


# -- text -----------------------------------------------------------------
def _decode(name: str, data: bytes) -> str:
    """Text from bytes, refusing binary data that was merely renamed."""
    head = data[:8192]
    if b"\x00" in head:
        raise DocumentError(f"{name} does not look like text: it contains binary data.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    text = str(best) if best is not None else ""
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if not text or controls > 0.01 * min(len(text), 8192):
        raise DocumentError(f"{name} does not look like text: it contains binary data.")
    return text


def _load_text(name: str, data: bytes) -> list[Section]:
    return [Section(_decode(name, data))]


# -- PDF ------------------------------------------------------------------
def _load_pdf(name: str, data: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                f"{name} is password-protected; remove the password and upload it again."
            )
        pages = list(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"{name} could not be read as a PDF: the file is damaged.") from exc
    sections = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - one bad page should not lose the others
            text = ""
        sections.append(Section(text, page=number))
    return sections


# -- DOCX -----------------------------------------------------------------
def _load_docx(name: str, data: bytes) -> list[Section]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    sections: list[Section] = [Section("")]
    path: list[tuple[int, str]] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
            sections[-1].text += "\n".join(rows) + "\n\n"
            continue
        style = (block.style.name if block.style is not None else "") or ""
        level = _docx_heading_level(style)
        if level and block.text.strip():
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, block.text.strip())]
            sections.append(Section("", heading=" > ".join(h for _, h in path)))
        else:
            sections[-1].text += block.text + "\n\n"
    return sections


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return int(match.group(1)) if match else 0


# -- HTML -----------------------------------------------------------------
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCKS = {
    "p", "div", "li", "pre", "td", "th", "tr", "br", "blockquote", "dt", "dd", "section",
    "article", "table", "ul", "ol", "caption", "figcaption", "main",
}  # fmt: skip


def _load_html(name: str, data: bytes) -> list[Section]:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import Comment, Doctype

    soup = BeautifulSoup(_decode(name, data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    root = soup.body or soup
    sections: list[Section] = [Section("")]
    path: list[tuple[int, str]] = []
    for node in root.descendants:
        if isinstance(node, Tag) and node.name in _HEADINGS:
            level = int(node.name[1])
            title = node.get_text(" ", strip=True)
            if title:
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
                sections.append(Section("", heading=" > ".join(h for _, h in path)))
        elif isinstance(node, NavigableString) and not isinstance(node, Comment | Doctype):
            if node.find_parent(_HEADINGS) is not None:
                continue
            parent = node.parent.name if node.parent is not None else ""
            sep = "\n" if parent in _BLOCKS else " "
            sections[-1].text += str(node) + sep
    return sections


# -- Markdown -------------------------------------------------------------
def _load_markdown(name: str, data: bytes) -> list[Section]:
    from markdown_it import MarkdownIt

    text = _decode(name, data)
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").parse(text)
    # (first line, last line exclusive, level, title) for each heading, in order;
    # markdown-it knows which '#' lines are inside code fences and which are not.
    heads: list[tuple[int, int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map is not None:
            title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            heads.append((tok.map[0], tok.map[1], int(tok.tag[1]), title))
    sections = [Section("\n".join(lines[: heads[0][0] if heads else len(lines)]))]
    path: list[tuple[int, str]] = []
    for n, (_, end, level, title) in enumerate(heads):
        stop = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
        sections.append(Section("\n".join(lines[end:stop]), heading=" > ".join(h for _, h in path)))
    return sections


# -- CSV ------------------------------------------------------------------
def _load_csv(name: str, data: bytes) -> list[Section]:
    text = _decode(name, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise DocumentError(f"{name} could not be read as CSV: {exc}.") from exc
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return [Section(", ".join(header))]
    # One line per row, each value labelled by its column, so a chunk of rows
    # still makes sense without the header line it was cut from.
    lines = []
    for row in body:
        cells = [
            f"{(header[i] if i < len(header) else f'column {i + 1}').strip()}: {value.strip()}"
            for i, value in enumerate(row)
            if value.strip()
        ]
        lines.append("; ".join(cells))
    return [Section("\n".join(lines))]


_LOADERS = {
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".text": _load_text,
    ".csv": _load_csv,
}
