"""A corpus of hostile and oversized files, generated here (nothing stored), and the
subprocess that feeds them to Trellis under resource limits.

    python -m tests.hostile --level loader|service --cases a,b,c --out result.jsonl

`--level loader` runs each file through the loaders and the chunker (the
bundled tokenizer only); `--level service` through `RagService.ingest` with
the real embedder, Chroma and SQLite, each case in a fresh collection, and
then checks that nothing partial was left: no row still "ingesting", every
ready document's chunk count equal to its chunks in Chroma, none for a failed
one. Before each case the process lowers its CPU-time limit to what it has
used plus the case's budget (RLIMIT_CPU), so a parser that goes quadratic is
killed by the kernel instead of timed by the test; peak memory (VmHWM)
after each case is written out for the test to bound.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Files = list[tuple[str, bytes]]
MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    id: str
    files: Callable[[], Files]
    #: Per file: "ready", "failed", "skipped" or "any" (a plain outcome either way).
    expect: tuple[str, ...]
    #: Regex the message of the first non-ready file must match (or the ready note).
    match: str | None = None
    #: Heavy cases run in their own process, and only in the slow tier.
    heavy: bool = False
    #: False: too slow to embed on a small machine; only the loader level runs it.
    service: bool = True
    #: Settings overridden for this case (a limit lowered to reach it cheaply).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Names the stored documents must have, when the case is about names.
    names: tuple[str, ...] | None = None
    cpu_s: int = 120
    #: False: about a whole upload (duplicates), so only the service level runs it.
    loader: bool = True


# -- builders ---------------------------------------------------------------
def _para(n: int, seed: int = 0) -> str:
    rnd = random.Random(seed)
    words = ["policy", "leave", "travel", "expense", "office", "team", "manager", "budget",
             "report", "claim", "days", "weeks", "approval", "finance", "receipt", "hotel",
             "train", "contract", "notice"]
    return "\n\n".join(
        " ".join(rnd.choice(words) for _ in range(40)).capitalize() + "." for _ in range(n)
    )


def _txt(text: str, enc: str = "utf-8") -> bytes:
    return text.encode(enc)


def make_pdf(pages: list[str]) -> bytes:
    """A real PDF with one page per text (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def _locked_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret plans"]))))
    writer.encrypt(user_password="hunter2", owner_password="owner", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _docx(build: Callable[[Any], None]) -> bytes:
    import docx

    d = docx.Document()
    build(d)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _simple_docx(d: Any) -> None:
    d.add_heading("Travel policy", level=1)
    d.add_paragraph("Book trains for short trips.")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "City", "Limit"
    t.cell(1, 0).text, t.cell(1, 1).text = "London", "250"


_DOC_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
             '<w:body>')
_DOC_TAIL = "</w:body></w:document>"


def _docx_with(document_xml: bytes | None = None, *, stream: Callable[[Any], None] | None = None,
               extra: int = 0) -> bytes:
    """A minimal Word package whose word/document.xml is `document_xml` or written by `stream`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"/>')
        if stream is not None:
            with z.open("word/document.xml", "w", force_zip64=True) as f:
                stream(f)
        else:
            z.writestr("word/document.xml", document_xml or b"")
        for i in range(extra):
            z.writestr(f"word/media/x{i}.bin", b"")
    return buf.getvalue()


def _docx_expanding(total: int) -> bytes:
    """Valid paragraphs of text that inflate to `total` bytes."""
    para = ("<w:p><w:r><w:t>" + "All staff must file expense claims within thirty days. " * 20
            + "</w:t></w:r></w:p>").encode()

    def write(f: Any) -> None:
        f.write(_DOC_HEAD.encode())
        for _ in range(total // len(para)):
            f.write(para)
        f.write(_DOC_TAIL.encode())

    return _docx_with(stream=write)


def _docx_zeros(total: int) -> bytes:
    """The classic bomb: word/document.xml is `total` bytes of zeros."""
    block = bytes(MB)

    def write(f: Any) -> None:
        for _ in range(total // MB):
            f.write(block)

    return _docx_with(stream=write)


def _docx_lying_sizes() -> bytes:
    """A bomb whose zip headers claim 1 KB but whose stream inflates to 64 MB."""
    raw = _docx_zeros(64 * MB)
    real = (64 * MB).to_bytes(8, "little")
    # Patch the zip64 extra fields that carry the real size to claim 1,024 bytes.
    return raw.replace(real, (1024).to_bytes(8, "little"))


def _laughs() -> bytes:
    ents = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    xml = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY l0 "lol">{ents}]>'
           + _DOC_HEAD.split("?>", 1)[1] + "<w:p><w:r><w:t>&l9;</w:t></w:r></w:p>" + _DOC_TAIL)
    return _docx_with(xml.encode())


def _csv_rows(n: int, cols: int = 5) -> bytes:
    head = ",".join(f"col{c}" for c in range(cols))
    rows = (",".join(f"r{i}c{c} value" for c in range(cols)) for i in range(n))
    return (head + "\n" + "\n".join(rows)).encode()


def _random(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def _zalgo(n: int) -> str:
    rnd = random.Random(3)
    marks = [chr(c) for c in range(0x300, 0x36F)]
    return "".join("Hello"[i % 5] + "".join(rnd.choice(marks) for _ in range(12))
                   for i in range(n))


def _english(total: int) -> bytes:
    base = _para(200, seed=5)
    return (base * (total // len(base) + 1))[:total].encode()


# -- the corpus ---------------------------------------------------------------
EMPTY = r"is empty \(0 bytes\)"
BINARY = "does not look like text"
NOT_SUPPORTED = "files are not supported"
NO_TEXT = "no text that could be extracted"
DAMAGED = "looks damaged|is damaged"

CASES: list[Case] = [
    # plain text and encodings
    Case("text-plain", lambda: [("notes.txt", _txt(_para(5)))], ("ready",)),
    Case("text-utf8-bom", lambda: [("bom.txt", b"\xef\xbb\xbf" + _txt("Caf\u00e9 menu. " * 20))],
         ("ready",)),
    Case("text-latin1", lambda: [("latin1.txt", _txt("Z\u00fcrich caf\u00e9 hours. " * 30,
                                                      "latin-1"))], ("ready",)),
    Case("text-cp1252-quotes", lambda: [("quotes.txt", _txt("\u201cQuoted\u201d \u2013 dash. "
                                                            * 40, "cp1252"))], ("ready",)),
    Case("text-utf16-bom", lambda: [("wide.txt", _txt("Wide text file. " * 40, "utf-16"))],
         ("ready",)),
    Case("text-utf8-stray-byte", lambda: [("stray.txt", _txt("Z\u00fcrich office opens at 8. "
                                                            * 40) + b"\xff tail")],
         ("ready",)),
    Case("text-nul-inside", lambda: [("nul.txt", _txt(_para(40)) + b"\x00\x00" +
                                      _txt(_para(3)))], ("ready",)),
    Case("text-nul-in-head", lambda: [("nulhead.txt", b"ab\x00" + _txt(_para(10)))],
         ("ready",)),
    Case("text-crlf", lambda: [("crlf.txt", _txt(_para(10).replace("\n", "\r\n")))],
         ("ready",)),
    Case("text-cr-only", lambda: [("mac.txt", _txt(_para(10).replace("\n", "\r")))],
         ("ready",)),
    Case("text-zalgo", lambda: [("zalgo.txt", _txt(_zalgo(3000)))], ("ready",)),
    Case("text-1mb-single-word", lambda: [("word.txt", b"y" * MB)], ("ready",)),
    Case("text-20mb-no-space", lambda: [("nospace.txt", b"x" * (20 * MB - 10))], ("ready",),
         heavy=True, cpu_s=600),
    Case("text-2mb-one-line", lambda: [("oneline.txt", _txt(_para(300).replace("\n", " ")))],
         ("ready",), heavy=True),
    Case("text-20mb-english", lambda: [("big.txt", _english(20 * MB - 100))], ("ready",),
         heavy=True, service=False),
    Case("text-emoji", lambda: [("emoji.txt", _txt("Launch \U0001f680 party \U0001f389 at 5. "
                                                   * 50))], ("ready",)),
    Case("text-rtl-bidi", lambda: [("rtl.txt", _txt("\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd "
                                                    "\u0645\u0631\u062d\u0628\u0627 " * 50))],
         ("ready",)),
    Case("text-cjk-no-spaces", lambda: [("cjk.txt", _txt("\u6587\u4ef6\u7ba1\u7406" * 50_000))],
         ("ready",), heavy=True),
    Case("text-control-chars", lambda: [("bell.txt", _txt(_para(10)) + b"\x07\x1b[31m red")],
         ("ready",)),
    Case("text-whitespace-only", lambda: [("blank.txt", b" \n\t\n   \r\n")], ("failed",),
         NO_TEXT),
    Case("text-over-char-limit", lambda: [("long.txt", _txt(_para(50)))], ("failed",),
         "TRELLIS_RAG_MAX_TEXT_CHARS", settings={"rag_max_text_chars": 1000}),
    Case("text-over-upload-limit", lambda: [("huge.txt", b"a " * (10 * MB + MB // 2))], ("failed",),
         r"is 21\.0 MB; the upload limit is 20\.0 MB \(setting TRELLIS_RAG_MAX_UPLOAD_MB\)"),
    # Markdown
    Case("md-plain", lambda: [("readme.md", _txt("# Setup\n\nInstall it.\n\n```\n# no\n```\n"))],
         ("ready",)),
    Case("md-huge-heading", lambda: [("head.md", _txt("# " + "Title " * 2_000 + "\n\nBody."))],
         ("ready",), "Headings longer than 200 characters were shortened"),
    Case("md-deep-quotes", lambda: [("deep.md", _txt("> " * 20_000 + "deep text\n"))],
         ("ready",)),
    Case("md-only-headings", lambda: [("heads.md", _txt("# Heading\n" * 20_000))], ("any",),
         heavy=True),
    Case("md-5mb", lambda: [("large.md", _txt(("## Part\n\n" + _para(20) + "\n\n") * 400))],
         ("ready",), heavy=True, service=False),
    # HTML
    Case("html-plain", lambda: [("page.html", b"<h1>Support</h1><p>Email us any time.</p>")],
         ("ready",)),
    Case("html-200k-unclosed-p", lambda: [("ps.html", b"<p>a" * 200_000)], ("ready",),
         heavy=True),
    Case("html-unclosed-p-light", lambda: [("ps-light.html", b"<p>word " * 20_000)],
         ("ready",)),
    Case("html-2mb-h1", lambda: [("h1.html", b"<h1>" + b"a" * 2_000_000 + b"</h1>"
                                  + _txt(_para(300)))], ("ready",),
         "Headings longer than 200 characters were shortened", heavy=True),
    Case("html-deep-divs", lambda: [("divs.html", b"<p>Intro text.</p>" + b"<div>" * 100_000
                                    + b"deep text")],
         ("ready",)),
    Case("html-over-element-limit", lambda: [("many.html", b"<b>x</b>" * 2000)], ("failed",),
         "TRELLIS_RAG_MAX_HTML_ELEMENTS", settings={"rag_max_html_elements": 500}),
    Case("html-script-only", lambda: [("script.html", b"<script>var a = 1;</script>")],
         ("failed",), NO_TEXT),
    Case("html-comment-only", lambda: [("comment.html", b"<!-- nothing here -->")],
         ("failed",), NO_TEXT),
    Case("html-latin1-meta", lambda: [("meta.html", '<meta charset="iso-8859-1"><p>Caf\u00e9 '
                                       'Z\u00fcrich</p>'.encode("latin-1"))], ("ready",)),
    Case("html-nul", lambda: [("nul.html", b"<p>before\x00after</p>" + _txt(_para(2)))],
         ("ready",)),
    Case("html-entities", lambda: [("ents.html", b"<p>" + b"&amp;&lt;&#x41;" * 2_000
                                    + b"</p>")], ("ready",)),
    # CSV
    Case("csv-plain", lambda: [("offices.csv", b"office,city\nHQ,Berlin\nSouth,Lisbon\n")],
         ("ready",)),
    Case("csv-nul", lambda: [("nul.csv", b"a,b\nx\x00y,z\n" + b"p,q\n" * 50)], ("ready",)),
    Case("csv-200k-rows", lambda: [("rows.csv", _csv_rows(200_000))], ("ready",), heavy=True,
         service=False),
    Case("csv-over-cell-limit", lambda: [("wide.csv", _csv_rows(100, cols=20))], ("failed",),
         "TRELLIS_RAG_MAX_CSV_CELLS", settings={"rag_max_csv_cells": 1000}),
    Case("csv-1mb-field", lambda: [("field.csv", b"a,b\n" + b"z" * MB + b",2\n")], ("ready",)),
    Case("csv-unclosed-quote", lambda: [("quote.csv", b'a,b\n"open,1\n2,3\n')], ("any",)),
    Case("csv-header-only", lambda: [("head.csv", b"name,city\n")], ("ready",)),
    Case("csv-ragged", lambda: [("ragged.csv", b"a,b\n1\n1,2,3,4\n,,\n5,6\n")], ("ready",)),
    Case("csv-binary", lambda: [("bin.csv", _random(5000))], ("failed",), BINARY),
    # PDF
    Case("pdf-plain", lambda: [("terms.pdf", make_pdf(["Refunds within 14 days.", "Page two."]))],
         ("ready",)),
    Case("pdf-password", lambda: [("locked.pdf", _locked_pdf())], ("failed",),
         "password-protected"),
    Case("pdf-truncated", lambda: [("cut.pdf", make_pdf([_para(3)] * 3)[:600])], ("any",)),
    Case("pdf-random", lambda: [("noise.pdf", b"%PDF-1.7\n" + _random(20_000))], ("failed",),
         DAMAGED + "|" + NO_TEXT),
    Case("pdf-blank", lambda: [("scan.pdf", _blank_pdf())], ("failed",), "needs OCR first"),
    # Word
    Case("docx-plain", lambda: [("policy.docx", _docx(_simple_docx))], ("ready",)),
    Case("docx-truncated", lambda: [("cut.docx", _docx(_simple_docx)[:2000])], ("failed",),
         DAMAGED),
    Case("docx-not-word", lambda: [("zip.docx", _zip_only())],
         ("failed",), DAMAGED),
    Case("docx-expands-100mb", lambda: [("expands.docx", _docx_expanding(100 * 1000 * 1000))],
         ("failed",), "unpacks to more than 50.0 MB.*TRELLIS_RAG_MAX_UNPACKED_MB", heavy=True),
    Case("docx-zip-bomb-2gib", lambda: [("bomb.docx", _docx_zeros(2048 * MB))], ("failed",),
         "unpacks to more than", heavy=True, cpu_s=300),
    Case("docx-zip-bomb-light", lambda: [("bomb-light.docx", _docx_zeros(96 * MB))],
         ("failed",), "unpacks to more than"),
    Case("docx-lying-sizes", lambda: [("liar.docx", _docx_lying_sizes())], ("failed",),
         DAMAGED + "|unpacks to more than"),
    Case("docx-billion-laughs", lambda: [("laughs.docx", _laughs())], ("any",)),
    Case("docx-many-entries", lambda: [("entries.docx", _docx_with(
        (_DOC_HEAD + "<w:p><w:r><w:t>hi</w:t></w:r></w:p>" + _DOC_TAIL).encode(),
        extra=10_001))], ("failed",), "more than 10,000 parts"),
    Case("docx-huge-heading", lambda: [("heading.docx", _docx(
        lambda d: (d.add_heading("Head " * 100_000, level=1), d.add_paragraph("Body text."))))],
         ("ready",), "Headings longer than 200 characters were shortened"),
    # empty files of every kind
    *[Case(f"empty-{ext}", lambda ext=ext: [(f"empty.{ext}", b"")], ("failed",), EMPTY)
      for ext in ("txt", "md", "html", "csv", "pdf", "docx")],
    # random bytes under text names
    *[Case(f"random-{ext}", lambda ext=ext: [(f"noise.{ext}", _random(10_000))], ("failed",),
           BINARY + "|" + DAMAGED) for ext in ("txt", "md", "html")],
    # names
    Case("name-unsupported", lambda: [("tool.exe", b"MZ....")], ("failed",), NOT_SUPPORTED),
    Case("name-no-extension", lambda: [("README", b"hello")], ("failed",), NOT_SUPPORTED),
    Case("name-double-extension", lambda: [("report.pdf.exe", b"hello")], ("failed",),
         NOT_SUPPORTED),
    Case("name-traversal", lambda: [("../../etc/passwd.txt", _txt(_para(2)))], ("ready",),
         names=("passwd.txt",)),
    Case("name-windows-traversal", lambda: [("..\\..\\win.txt", _txt(_para(2)))], ("ready",),
         names=("win.txt",)),
    Case("name-absolute", lambda: [("/var/tmp/abs.txt", _txt(_para(2)))], ("ready",),
         names=("abs.txt",)),
    Case("name-nul", lambda: [("nu\x00l.txt", _txt(_para(2)))], ("ready",), names=("nul.txt",)),
    Case("name-lone-surrogate", lambda: [("lone\ud800.txt", _txt(_para(2)))], ("ready",)),
    Case("name-escaped-bytes", lambda: [("caf\udcc3\udca9.txt", _txt(_para(2)))], ("ready",),
         names=("caf\u00e9.txt",)),
    Case("name-900-chars", lambda: [("n" * 900 + ".txt", _txt(_para(2)))], ("ready",)),
    Case("name-newline-and-rtl", lambda: [("a\nb\u202etxt.exe.txt", _txt(_para(2)))],
         ("ready",), names=("abtxt.exe.txt",)),
    Case("name-only-dots", lambda: [("....txt", _txt(_para(2)))], ("ready",)),
    Case("name-emoji", lambda: [("\U0001f4c4 notes.txt", _txt(_para(2)))], ("ready",)),
    # duplicates
    Case("dup-in-one-upload", lambda: [("a.txt", _txt(_para(3))), ("b.txt", _txt(_para(3)))],
         ("ready", "skipped"), "same content as a.txt in this upload", loader=False),
    Case("dup-twin-of-failed", lambda: [("notes.exe", _txt(_para(3))),
                                        ("notes.txt", _txt(_para(3)))], ("failed", "ready"),
         NOT_SUPPORTED),
    Case("dup-good-beside-bad", lambda: [("bad.txt", _random(3000)), ("good.md", b"# Hi\n\nOk")],
         ("failed", "ready"), BINARY),
]


def _zip_only() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a word file")
    return buf.getvalue()


BY_ID = {c.id: c for c in CASES}
_PLAIN_BAD = re.compile(r"Traceback|\b[A-Z]\w*(Error|Exception)\b|\bNone\b|File \"")

assert zlib  # the zip writer needs it


# -- the subprocess ------------------------------------------------------------
def _limit_cpu(budget: int) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(used.ru_utime + used.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (spent + budget, hard))


def _maxrss_mb() -> float:
    """Peak resident memory of this process since its exec.

    Read from /proc (VmHWM, the high-water mark of this address space):
    getrusage's ru_maxrss survives exec on Linux, so a case started from a
    large pytest process would report the parent's size instead of its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_loader(case: Case, tokenizer: Any, settings: Any) -> dict[str, Any]:
    from core.rag.chunking import iter_chunks
    from core.rag.loaders import DocumentError, Limits, clean_file_name, iter_document

    out = []
    for raw, data in case.files():
        name = clean_file_name(raw)
        limits = Limits.from_settings(settings)
        try:
            n = longest = 0
            nul = False
            for c in iter_chunks(iter_document(name, data, limits), tokenizer,
                                 size=200, overlap=30, max_chars=settings.rag_max_chunk_chars):
                n += 1
                longest = max(longest, len(c.text))
                nul = nul or "\x00" in c.text or "\x00" in (c.heading or "")
                longest_head = len(c.heading or "")
                if longest_head > settings.rag_max_heading_chars:
                    raise AssertionError("heading kept too long")
            out.append({"name": name, "status": "ready", "message": " ".join(limits.notes),
                        "chunks": n, "longest": longest, "nul": nul})
        except DocumentError as err:
            out.append({"name": name, "status": "failed", "message": str(err)})
    return {"files": out}


def run_service(case: Case, svc: Any, n: int) -> dict[str, Any]:
    from core.rag.models import INGESTING, READY

    rag = svc.rag
    coll = f"case{n}"
    rag.create_collection(coll)
    results = rag.ingest(coll, case.files(), user="hostile")
    files = [{"name": r.file_name, "status": r.status, "message": r.message, "chunks": r.chunks}
             for r in results]
    problems = []
    docs = rag.documents(coll)
    for d in docs:
        stored = rag.store.get(coll, where={"document_id": d.id})
        if d.status == INGESTING:
            problems.append(f"{d.file_name} left ingesting")
        elif d.status == READY and len(stored) != d.chunk_count:
            problems.append(f"{d.file_name}: {len(stored)} chunks stored, {d.chunk_count} said")
        elif d.status != READY and stored:
            problems.append(f"{d.file_name}: {len(stored)} chunks left behind")
        for c in stored:
            if len(c.text) > svc.settings.rag_max_chunk_chars or "\x00" in c.text:
                problems.append(f"{d.file_name}: a chunk of {len(c.text)} chars or with NUL")
                break
            if len(str(c.metadata.get("heading") or "")) > svc.settings.rag_max_heading_chars:
                problems.append(f"{d.file_name}: heading metadata too long")
                break
    if rag.store.count(coll) != sum(d.chunk_count for d in docs if d.status == READY):
        problems.append("Chroma holds chunks of no ready document")
    return {"files": files, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--level", choices=["loader", "service"], required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    # A hard ceiling on address space: a runaway parser fails instead of taking the machine.
    soft = 12 * 1024 * MB
    resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from core.config import Settings

    settings = Settings()
    svc = tokenizer = None
    if args.level == "service":
        from core.services import Services

        svc = Services.build(settings)
        settings = svc.settings
        svc.rag.embedder().encode(["warm up"])
    else:
        from transformers import AutoTokenizer

        from core.rag.embeddings import default_model_path

        tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()),
                                                  local_files_only=True)
    base = {k: getattr(settings, k) for c in CASES for k in c.settings}
    with open(args.out, "w") as out:
        for n, cid in enumerate(args.cases.split(",")):
            case = BY_ID[cid]
            for k, v in base.items():
                setattr(settings, k, v)
            for k, v in case.settings.items():
                setattr(settings, k, v)
            print(f"START {cid}", flush=True)
            _limit_cpu(case.cpu_s)
            t0 = time.perf_counter()
            if svc is not None:
                res = run_service(case, svc, n)
            else:
                res = run_loader(case, tokenizer, settings)
            res.update(id=cid, seconds=round(time.perf_counter() - t0, 2),
                       maxrss_mb=round(_maxrss_mb(), 1))
            out.write(json.dumps(res) + "\n")
            out.flush()
            print(f"DONE {cid}", flush=True)
    if svc is not None:
        svc.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())


# -- what the tests call ---------------------------------------------------------
MAX_RSS_MB = 1536


def run_cases(level: str, ids: list[str], workdir: Any) -> dict[str, Any]:
    """Run `ids` in one subprocess at `level`; results by case id (a killed case
    comes back as {"killed": reason})."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = Path(workdir) / f"{level}.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_RAG_")}
    env.update(PYTHONPATH=str(root), TRELLIS_DATA_DIR=str(Path(workdir) / "data"),
               TOKENIZERS_PARALLELISM="false")
    budget = sum(BY_ID[i].cpu_s for i in ids) + 120
    proc = subprocess.run([sys.executable, "-m", "tests.hostile", "--level", level,
                           "--cases", ",".join(ids), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=root, timeout=budget * 3)
    results: dict[str, Any] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            results[row["id"]] = row
    if proc.returncode != 0:
        started = [ln.split(" ", 1)[1] for ln in proc.stdout.splitlines()
                   if ln.startswith("START ")]
        if started and started[-1] not in results:
            results[started[-1]] = {"killed": f"exit {proc.returncode}: "
                                              f"{proc.stderr.strip()[-2000:]}"}
    return results


def check_outcome(case: Case, results: dict[str, Any], *, level: str) -> None:
    res = results.get(case.id)
    assert res is not None, f"{case.id} never ran (an earlier case took the process down)"
    assert "killed" not in res, f"{case.id} was killed (time or memory limit): {res['killed']}"
    files = res["files"]
    assert len(files) == len(case.expect)
    for f, want in zip(files, case.expect, strict=True):
        msg = f["message"]
        if want != "any":
            assert f["status"] == want, f"{case.id}: {f['status']}: {msg}"
        assert not _PLAIN_BAD.search(msg), f"{case.id}: not a plain sentence: {msg}"
        assert "\x00" not in f["name"] and len(f["name"]) <= 255
        f["name"].encode("utf-8")  # storable: no lone surrogate left
        if f["status"] == "failed":
            assert msg.startswith(f["name"]) or f["name"] in msg, msg
            assert msg.rstrip().endswith("."), msg
        if f["status"] == "ready" and level == "loader":
            assert f["chunks"] > 0 and not f["nul"]
            assert f["longest"] <= 3000
    if case.match:
        shown = " ".join(f["message"] for f in files)
        assert re.search(case.match, shown), f"{case.id}: {shown}"
    if case.names:
        assert tuple(f["name"] for f in files) == case.names
    assert not res.get("problems"), res["problems"]
    assert res["maxrss_mb"] < MAX_RSS_MB, f"{case.id}: peak {res['maxrss_mb']} MB"
