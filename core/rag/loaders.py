"""Turn an uploaded file into text sections that keep their page or heading.

Each format goes through a maintained parser (pypdf, lxml for HTML and for
the XML inside a Word file, markdown-it, the csv module). Anything wrong with
a file is a `DocumentError` whose message is one plain sentence naming the
file, so a batch can report it and carry on with the other files.

Work is bounded by what a file *expands to*, not only by its upload size
(`Limits`): characters of extracted text, the unpacked size of a Word file,
HTML elements, CSV cells, heading length. Past a limit the file is refused
with a sentence naming the limit and the setting that raises it, except a
heading, which is shortened (its full text stays in the body) and noted.
Sections are produced lazily and long text comes in blocks, so a large file
is never held in several full copies.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

__all__ = [
    "SUPPORTED", "DocumentError", "Limits", "Section", "clean_file_name", "iter_document",
    "load_document",
]

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

#: Long text is handed on in blocks of about this many characters, cut at a
#: paragraph, line or space where there is one: the chunker tokenizes one
#: block at a time, so memory stays flat whatever the file's size.
BLOCK_CHARS = 64_000
MB = 1024 * 1024  # Streamlit's uploader counts megabytes this way too


class DocumentError(ValueError):
    """A file that cannot be ingested; `str(err)` is the sentence to show the user."""


@dataclass(slots=True)
class Section:
    """A stretch of text from one page (PDF) or under one heading (Markdown, HTML, DOCX)."""

    text: str
    page: int | None = None
    heading: str | None = None
    #: How far through the file this section ends (0–1), for progress.
    pos: float = 0.0
    #: One self-contained record per line (CSV rows): chunks hold whole lines and
    #: do not overlap, since a row repeated in part in the next chunk adds nothing.
    records: bool = False


@dataclass(slots=True)
class Limits:
    """How much work one file may cause; each maps to a `TRELLIS_RAG_...` setting."""

    max_bytes: int | None = None
    max_chars: int = 25_000_000
    max_unpacked: int = 50 * MB
    max_html_elements: int = 1_000_000
    max_csv_cells: int = 10_000_000
    max_heading_chars: int = 200
    #: Filled while loading: things shortened on the way, as plain sentences.
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, s: Any) -> Limits:
        return cls(
            max_bytes=int(s.rag_max_upload_mb * MB),
            max_chars=int(s.rag_max_text_chars),
            max_unpacked=int(s.rag_max_unpacked_mb * MB),
            max_html_elements=int(s.rag_max_html_elements),
            max_csv_cells=int(s.rag_max_csv_cells),
            max_heading_chars=int(s.rag_max_heading_chars),
        )

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def title(self, raw: str) -> tuple[str, str]:
        """(heading to keep as metadata, overflow text to put in the body)."""
        raw = " ".join(raw.split())
        cap = self.max_heading_chars
        if len(raw) <= cap:
            return raw, ""
        self.note(f"Headings longer than {cap:,} characters were shortened "
                  "(setting TRELLIS_RAG_MAX_HEADING_CHARS); their full text is kept in the "
                  "document.")
        return raw[: cap - 1].rstrip() + "…", raw


def clean_file_name(raw: str, *, limit: int = 255) -> str:
    """A file name safe to show and store: last path part, no control characters,
    valid UTF-8 (lone surrogates replaced), NFC, at most `limit` characters with
    its extension kept."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    raw = str(raw)
    try:  # a name that came from OS bytes: back to those bytes, then read as UTF-8
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # any other lone surrogate
        raw = raw.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    name = re.split(r"[/\\]", raw)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    name = " ".join(name.split()).rstrip(". ")
    suffix = PurePath(name).suffix if name else ""
    if len(suffix) > 16:
        suffix = ""
    if len(name) > limit:
        name = name[: limit - len(suffix) - 1].rstrip() + "…" + suffix
    if not name or name == suffix:
        name = "unnamed" + suffix
    return name


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB"


def load_document(name: str, data: bytes, *, max_bytes: int | None = None,
                  limits: Limits | None = None) -> list[Section]:
    """All sections of the file `name` with contents `data` (see `iter_document`)."""
    limits = limits or Limits()
    if max_bytes is not None:
        limits.max_bytes = max_bytes
    return list(iter_document(name, data, limits))


def iter_document(name: str, data: bytes, limits: Limits | None = None) -> Iterator[Section]:
    """Sections of text from the file, produced as they are read.

    Raises DocumentError (at once, or part-way for a limit only reached
    part-way) for an empty, oversized, unsupported, damaged,
    password-protected or textless file.
    """
    limits = limits or Limits()
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED:
        kinds = "PDF, Word (.docx), HTML, Markdown, text or CSV"
        shown = suffix or "files without an extension"
        raise DocumentError(f"{name}: {shown} files are not supported; upload {kinds}.")
    if not data:
        raise DocumentError(f"{name} is empty (0 bytes).")
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise DocumentError(
            f"{name} is {_mb(len(data))}; the upload limit is {_mb(limits.max_bytes)} "
            "(setting TRELLIS_RAG_MAX_UPLOAD_MB)."
        )
    return _checked(name, suffix, _LOADERS[suffix](name, data, limits), limits)


def _checked(name: str, suffix: str, sections: Iterator[Section],
             limits: Limits) -> Iterator[Section]:
    chars = 0
    any_text = False
    while True:
        try:
            section = next(sections)
        except StopIteration:
            break
        except DocumentError:
            raise
        except MemoryError as exc:
            raise DocumentError(f"{name} is too large to read on this machine.") from exc
        except Exception as exc:  # noqa: BLE001 - parsers raise anything on bad input
            raise DocumentError(
                f"{name} could not be read as a {SUPPORTED[suffix]} file: it looks damaged."
            ) from exc
        section = _tidy(section)
        if section.heading and len(section.heading) > limits.max_heading_chars:
            cap = limits.max_heading_chars
            section.heading = section.heading[: cap - 1].rstrip() + "…"
        chars += len(section.text)
        if chars > limits.max_chars:
            raise _too_much_text(name, limits)
        if section.text:
            any_text = True
            yield section
    if not any_text:
        hint = " (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""
        raise DocumentError(f"{name} has no text that could be extracted{hint}.")


def _too_much_text(name: str, limits: Limits) -> DocumentError:
    return DocumentError(
        f"{name} holds more than {limits.max_chars:,} characters of text, the limit per "
        "document (setting TRELLIS_RAG_MAX_TEXT_CHARS); split it into smaller files."
    )


_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_LINE_END = re.compile(r" ?\n ?")


def _tidy(section: Section) -> Section:
    text = section.text.replace("\x00", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LINE_END.sub("\n", _SPACES.sub(" ", text))
    section.text = _BLANKS.sub("\n\n", text).strip()
    if section.heading:
        section.heading = section.heading.replace("\x00", "")
    return section


def blocks(text: str, size: int = BLOCK_CHARS) -> Iterator[tuple[int, str]]:
    """(end offset, piece) over `text` in pieces of at most `size` characters,
    cut after a blank line, a line end or a space in the second half where
    there is one (a hard cut otherwise)."""
    n = len(text)
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            for sep in ("\n\n", "\n", " "):
                at = text.rfind(sep, start + size // 2, end)
                if at >= 0:
                    end = at + len(sep)
                    break
        yield end, text[start:end]
        start = end


# -- text -----------------------------------------------------------------
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _decode(name: str, data: bytes, limits: Limits | None = None) -> str:
    """Text from bytes, refusing binary data that was merely renamed.

    UTF-8 wins whenever the file really is UTF-8: a stray invalid byte in a
    UTF-8 file becomes U+FFFD instead of flipping the whole file into a
    legacy code page. NUL bytes are dropped.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _no_nul(data.decode(codec))
            except UnicodeDecodeError:
                break
    head = data[:8192]
    if head.count(0) > max(2, len(head) // 100) or _controls(head) > 0.05 * len(head):
        raise DocumentError(f"{name} does not look like text: it contains binary data.")
    if limits is not None and len(data) > 4 * limits.max_chars:
        raise _too_much_text(name, limits)
    try:
        return _no_nul(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    wide = sum(1 for ch in text if ord(ch) > 127) - text.count("\ufffd")
    if wide > bad:  # real multi-byte UTF-8 outweighs the stray bytes
        return _no_nul(text)
    del text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    text = str(best) if best is not None else ""
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f\x00")
    if not text or controls > 0.01 * min(len(text), 8192):
        raise DocumentError(f"{name} does not look like text: it contains binary data.")
    return _no_nul(text)


def _controls(head: bytes) -> int:
    return sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27, 0))


def _no_nul(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def _load_text(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    text = _decode(name, data, limits)
    if len(text) > limits.max_chars:
        raise _too_much_text(name, limits)
    n = len(text) or 1
    for end, piece in blocks(text):
        yield Section(piece, pos=end / n)


# -- PDF ------------------------------------------------------------------
def _load_pdf(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                f"{name} is password-protected; remove the password and upload it again."
            )
        count = len(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise DocumentError(f"{name} could not be read as a PDF: the file is damaged.") from exc
    for number in range(1, count + 1):
        try:
            text = reader.pages[number - 1].extract_text() or ""
        except Exception:  # noqa: BLE001 - one bad page should not lose the others
            text = ""
        for _, piece in blocks(text):
            yield Section(piece, page=number, pos=number / count)


# -- DOCX -----------------------------------------------------------------
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class _Capped(io.RawIOBase):
    """A read-only stream that refuses to give more than `cap` bytes in all."""

    def __init__(self, raw: Any, cap: int, on_over: DocumentError) -> None:
        self.raw, self.left, self.on_over, self.read_bytes = raw, cap, on_over, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.raw.read(1 << 16 if n is None or n < 0 else min(n, 1 << 16))
        self.read_bytes += len(chunk)
        self.left -= len(chunk)
        if self.left < 0:
            raise self.on_over
        return chunk

    def readinto(self, b: Any) -> int:
        chunk = self.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def _open_docx(name: str, data: bytes, limits: Limits) -> zipfile.ZipFile:
    over = DocumentError(
        f"{name} unpacks to more than {_mb(limits.max_unpacked)}, the limit for a Word file "
        "(setting TRELLIS_RAG_MAX_UNPACKED_MB)."
    )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"{name} could not be read as a Word file: it looks damaged.") \
            from exc
    if len(infos) > 10_000:
        raise DocumentError(f"{name} holds more than 10,000 parts; it does not look like a "
                            "real Word file.")
    if sum(i.file_size for i in infos) > limits.max_unpacked:
        raise over
    if "word/document.xml" not in {i.filename for i in infos}:
        raise DocumentError(f"{name} could not be read as a Word file: it looks damaged.")
    return zf


def _docx_styles(zf: zipfile.ZipFile, limits: Limits, over: DocumentError) -> dict[str, int]:
    """Heading level by style id, from the style names ("Title", "heading 2")."""
    from lxml import etree

    try:
        raw = zf.open("word/styles.xml")
    except KeyError:
        return {}
    levels: dict[str, int] = {}
    with raw:
        for _, el in etree.iterparse(_Capped(raw, limits.max_unpacked, over), events=("end",),
                                     tag=f"{_W}style", resolve_entities=False, no_network=True,
                                     huge_tree=True):
            sid = el.get(f"{_W}styleId") or ""
            name_el = el.find(f"{_W}name")
            sname = (name_el.get(f"{_W}val") if name_el is not None else "") or ""
            level = _docx_heading_level(sname)
            if level:
                levels[sid] = level
            el.clear()
    return levels


def _docx_heading_level(style: str) -> int:
    style = style.strip().lower()
    if style == "title":
        return 1
    match = re.fullmatch(r"heading ?(\d)", style)
    return int(match.group(1)) if match else 0


def _load_docx(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    """Paragraphs, headings and tables of word/document.xml, streamed with lxml's
    iterparse (each paragraph is dropped once read, so memory stays flat and
    time stays linear however the file is built)."""
    from lxml import etree

    zf = _open_docx(name, data, limits)
    over = DocumentError(
        f"{name} unpacks to more than {_mb(limits.max_unpacked)}, the limit for a Word file "
        "(setting TRELLIS_RAG_MAX_UNPACKED_MB)."
    )
    styles = _docx_styles(zf, limits, over)
    total = max(zf.getinfo("word/document.xml").file_size, 1)
    stream = _Capped(zf.open("word/document.xml"), limits.max_unpacked, over)
    path: list[tuple[int, str]] = []
    heading: str | None = None
    body: list[str] = []
    size = 0
    tables = 0
    rows: list[str] = []
    cells: list[str] = []
    cell: list[str] = []
    p_tag, tbl, tr, tc = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
    text_tags = {f"{_W}t": None, f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n"}
    for event, el in etree.iterparse(stream, events=("start", "end"), resolve_entities=False,
                                     no_network=True, huge_tree=True):
        tag = el.tag
        if event == "start":
            if tag == tbl:
                tables += 1
            continue
        if tag == p_tag:
            text = "".join(
                (t.text or "") if text_tags[t.tag] is None else text_tags[t.tag]
                for t in el.iter(*text_tags)
            )
            style = el.find(f"{_W}pPr/{_W}pStyle")
            level = styles.get(style.get(f"{_W}val") or "", 0) if style is not None else 0
            if tables:
                cell.append(text)
            elif level and text.strip():
                if body:
                    yield Section("".join(body), heading=heading, pos=stream.read_bytes / total)
                    body, size = [], 0
                title, overflow = limits.title(text)
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
                heading = " > ".join(h for _, h in path)
                if overflow:
                    body.append(overflow + "\n\n")
            else:
                body.append(text + "\n\n")
                size += len(text) + 2
        elif tag == tc and tables == 1:
            cells.append(" ".join(c.strip() for c in cell if c.strip()))
            cell = []
        elif tag == tr and tables == 1:
            rows.append(" | ".join(cells))
            cells = []
        elif tag == tbl:
            tables -= 1
            if not tables:
                body.append("\n".join(rows) + "\n\n")
                size += sum(len(r) + 1 for r in rows)
                rows = []
        else:
            continue
        if not tables:
            el.clear()
            parent = el.getparent()
            while parent is not None and el.getprevious() is not None:
                del parent[0]
        if size > BLOCK_CHARS:
            yield Section("".join(body), heading=heading, pos=stream.read_bytes / total)
            body, size = [], 0
    yield Section("".join(body), heading=heading, pos=1.0)


# -- HTML -----------------------------------------------------------------
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {
    "p", "div", "li", "pre", "td", "th", "tr", "br", "blockquote", "dt", "dd", "section",
    "article", "table", "ul", "ol", "caption", "figcaption", "main", "hr", "header", "footer",
    "nav", "aside", "form", "dl", "address", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
_DROP = ("script", "style", "noscript", "template", "head", "title", "iframe", "object", "svg")


def _load_html(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    """HTML through libxml2 (lxml): it closes unclosed tags as browsers do and
    caps nesting, so no document drives it into quadratic time; the tree is
    walked once, iteratively."""
    from lxml import etree

    text = _decode(name, data, limits)
    if len(text) > 4 * limits.max_chars:
        raise _too_much_text(name, limits)
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                              recover=True, huge_tree=True, remove_blank_text=False)
    root = etree.fromstring(text, parser) if text.strip() else None
    del text
    if root is None:
        return
    etree.strip_elements(root, *_DROP, with_tail=False)
    count = sum(1 for _ in root.iter())
    if count > limits.max_html_elements:
        raise DocumentError(
            f"{name} has {count:,} HTML elements; the limit is {limits.max_html_elements:,} "
            "(setting TRELLIS_RAG_MAX_HTML_ELEMENTS)."
        )
    body = root.find("body")
    start = body if body is not None else root
    path: list[tuple[int, str]] = []
    heading: str | None = None
    parts: list[str] = []
    size = 0
    seen = 0
    walker = etree.iterwalk(start, events=("start", "end"))
    for event, el in walker:
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            seen += 1
            if tag in _HEADINGS:
                walker.skip_subtree()
                title, overflow = limits.title("".join(el.itertext()))
                if title:
                    if parts:
                        yield Section("".join(parts), heading=heading, pos=seen / count)
                        parts, size = [], 0
                    level = int(tag[1])
                    path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
                    heading = " > ".join(h for _, h in path)
                    if overflow:
                        parts.append(overflow + "\n")
            elif el.text:
                parts.append(el.text)
                size += len(el.text)
        else:
            if tag in _BLOCKS:
                parts.append("\n")
            if el.tail and el is not start:
                parts.append(el.tail)
                size += len(el.tail)
            if size > BLOCK_CHARS:
                yield Section("".join(parts), heading=heading, pos=seen / count)
                parts, size = [], 0
    yield Section("".join(parts), heading=heading, pos=1.0)


# -- Markdown -------------------------------------------------------------
def _load_markdown(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    from markdown_it import MarkdownIt

    text = _decode(name, data, limits)
    if len(text) > limits.max_chars:
        raise _too_much_text(name, limits)
    # Only the block structure is needed (which '#' lines are headings and
    # which sit inside code fences); inline parsing is skipped. A very large
    # file is parsed in pieces cut at blank lines, so the token list stays small.
    md = MarkdownIt("commonmark").disable("inline", ignoreInvalid=True)
    path: list[tuple[int, str]] = []
    heading: str | None = None
    n = len(text) or 1
    for end, piece in blocks(text, 1_000_000):
        lines = piece.splitlines()
        heads: list[tuple[int, int, int, str]] = []
        tokens = md.parse(piece)
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and tok.map is not None:
                title = tokens[i + 1].content if i + 1 < len(tokens) else ""
                heads.append((tok.map[0], tok.map[1], int(tok.tag[1]), title))
        first = heads[0][0] if heads else len(lines)
        yield Section("\n".join(lines[:first]), heading=heading, pos=end / n)
        for i, (_, stop_head, level, raw_title) in enumerate(heads):
            stop = heads[i + 1][0] if i + 1 < len(heads) else len(lines)
            title, overflow = limits.title(raw_title.strip())
            if title:
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
                heading = " > ".join(h for _, h in path)
            body = "\n".join(lines[stop_head:stop])
            yield Section(f"{overflow}\n\n{body}" if overflow else body, heading=heading,
                          pos=end / n)


# -- CSV ------------------------------------------------------------------
def _load_csv(name: str, data: bytes, limits: Limits) -> Iterator[Section]:
    text = _decode(name, data, limits)
    if len(text) > limits.max_chars:
        raise _too_much_text(name, limits)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(max(limits.max_chars, 131072))
    n = len(text) or 1
    reader = csv.reader(io.StringIO(text), dialect)
    del text
    rows = _rows(name, reader)
    header = next((r for r in rows if any(cell.strip() for cell in r)), None)
    if header is None:
        return
    labels = [h.strip() for h in header]
    cells = len(header)
    lines: list[str] = []
    size = 0
    body = False
    done = 0
    for row in rows:
        done += sum(len(c) + 1 for c in row)
        cells += len(row)
        if cells > limits.max_csv_cells:
            raise DocumentError(
                f"{name} has more than {limits.max_csv_cells:,} cells (rows × columns), the "
                "limit per CSV file (setting TRELLIS_RAG_MAX_CSV_CELLS); split it."
            )
        # One line per row, each value labelled by its column, so a chunk of rows
        # still makes sense without the header line it was cut from.
        parts = [
            f"{labels[i] if i < len(labels) else f'column {i + 1}'}: {value.strip()}"
            for i, value in enumerate(row)
            if value.strip()
        ]
        if not parts:
            continue
        body = True
        line = "; ".join(parts)
        lines.append(line)
        size += len(line) + 1
        if size > BLOCK_CHARS:
            yield Section("\n".join(lines), pos=min(done / n, 1.0), records=True)
            lines, size = [], 0
    if not body:
        yield Section(", ".join(header), pos=1.0)
    elif lines:
        yield Section("\n".join(lines), pos=1.0, records=True)


def _rows(name: str, reader: Iterable[list[str]]) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise DocumentError(
            f"{name} could not be read as CSV: a row is malformed (an unclosed quote or a "
            "value too long)."
        ) from exc


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
