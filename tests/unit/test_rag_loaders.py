"""Each loader on a real small file written here, and every bad-file case."""

from __future__ import annotations

import io

import pytest

from core.rag.loaders import DocumentError, load_document
from tests.hostile import make_pdf


def test_pdf_keeps_page_numbers() -> None:
    data = make_pdf(["Refunds are issued within 14 days.", "Shipping takes three working days."])
    sections = load_document("terms.pdf", data)
    assert [s.page for s in sections] == [1, 2]
    assert "Refunds are issued within 14 days." in sections[0].text
    assert "Shipping takes three working days." in sections[1].text


def test_encrypted_pdf_is_refused_plainly() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret plans"]))))
    writer.encrypt(user_password="hunter2", owner_password="owner", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(DocumentError, match="password-protected"):
        load_document("locked.pdf", buf.getvalue())


def test_corrupt_pdf_is_refused_plainly() -> None:
    data = make_pdf(["fine text"])
    broken = data[:40] + b"\x00garbage" * 50
    with pytest.raises(DocumentError) as err:
        load_document("broken.pdf", broken)
    message = str(err.value)
    assert message.startswith("broken.pdf") and "Traceback" not in message


def test_pdf_without_text_is_refused() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(DocumentError, match="no text that could be extracted"):
        load_document("scan.pdf", buf.getvalue())


def test_docx_keeps_heading_path_and_tables() -> None:
    import docx

    d = docx.Document()
    d.add_heading("Travel policy", level=1)
    d.add_paragraph("Book trains for short trips.")
    d.add_heading("Hotels", level=2)
    d.add_paragraph("At most 180 euros per night.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "City", "Limit"
    table.cell(1, 0).text, table.cell(1, 1).text = "London", "250"
    buf = io.BytesIO()
    d.save(buf)
    sections = load_document("policy.docx", buf.getvalue())
    by_heading = {s.heading: s.text for s in sections}
    assert "Book trains" in by_heading["Travel policy"]
    assert "180 euros" in by_heading["Travel policy > Hotels"]
    assert "London | 250" in by_heading["Travel policy > Hotels"]


def test_corrupt_docx_is_refused() -> None:
    with pytest.raises(DocumentError, match="could not be read as a Word file"):
        load_document("notes.docx", b"PK\x03\x04 this is not really a zip")


def test_html_drops_scripts_and_keeps_headings() -> None:
    html = b"""<html><head><title>t</title><script>var secret = 1;</script></head>
    <body><h1>Support</h1><p>Email us any time.</p>
    <h2>Phone</h2><p>Call <b>0800 123</b> on weekdays.</p><style>p{}</style></body></html>"""
    sections = load_document("support.html", html)
    by_heading = {s.heading: s.text for s in sections}
    assert by_heading["Support"] == "Email us any time."
    assert "0800 123" in by_heading["Support > Phone"]
    assert all("secret" not in s.text for s in sections)


def test_markdown_headings_ignore_code_fences() -> None:
    md = (b"Intro line.\n\n# Setup\n\nInstall it.\n\n```\n# not a heading\n```\n\n"
          b"## Config\n\nSet X.\n")
    sections = load_document("readme.md", md)
    assert [s.heading for s in sections] == [None, "Setup", "Setup > Config"]
    assert "# not a heading" in sections[1].text
    assert sections[2].text == "Set X."


def test_csv_rows_are_labelled_by_column() -> None:
    data = b"office,city,desks\nHQ,Berlin,180\nSouth,Lisbon,60\n"
    (section,) = load_document("offices.csv", data)
    assert section.text.splitlines() == [
        "office: HQ; city: Berlin; desks: 180",
        "office: South; city: Lisbon; desks: 60",
    ]


def test_plain_text_in_latin1_is_read() -> None:
    (section,) = load_document("note.txt", "Café opens at 8.".encode("latin-1"))
    assert section.text == "Café opens at 8."


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("empty.txt", b"", r"empty\.txt is empty \(0 bytes\)"),
        ("photo.txt", bytes(range(256)) * 20, "does not look like text"),
        ("blank.md", b"   \n\n  \n", "no text that could be extracted"),
        ("tool.exe", b"MZ....", r"\.exe files are not supported"),
    ],
)
def test_bad_files_get_one_plain_sentence(name: str, data: bytes, match: str) -> None:
    with pytest.raises(DocumentError, match=match):
        load_document(name, data)


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(DocumentError, match=r"big\.txt is 2\.0 MB; the upload limit is 1\.0 MB"):
        load_document("big.txt", b"a" * 2 * 1024 * 1024, max_bytes=1024 * 1024)
