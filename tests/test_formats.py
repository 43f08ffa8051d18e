"""Format detection and extraction, without Dagster."""

import json
import re
from datetime import datetime

import pytest

from dwc_pipelines.ingestion.formats import Limits, Rejected, extract
from dwc_pipelines.testing import (
    encrypt_pdf,
    make_docx,
    make_email,
    make_epub,
    make_html,
    make_markdown,
    make_pdf,
    make_zip_bomb_docx,
)

from .conftest import require_shared_data

WHEN = datetime(2024, 3, 5, 10, 30)


def test_pdf_text_metadata_and_pages():
    data = make_pdf(
        ["First page about invoices.", "Second page about payment terms."],
        title="Quarterly invoice",
        author="Ana Lima",
        created=WHEN,
    )
    doc = extract(data, "a.pdf")
    assert doc.format == "pdf" and doc.page_count == 2
    assert "First page about invoices." in doc.text and "payment terms" in doc.text
    assert doc.title == "Quarterly invoice" and doc.author == "Ana Lima" and doc.created_at == WHEN


def test_type_comes_from_bytes_not_extension():
    doc = extract(make_pdf(["a pdf in disguise"]), "notes.txt")
    assert doc.format == "pdf"
    doc = extract(make_html("Page", ["body text"]).encode(), "page.txt")
    assert doc.format == "html"
    doc = extract(json.dumps({"title": "T", "body": "x"}).encode(), "data.txt")
    assert doc.format == "json"


def test_docx_paragraphs_tables_and_core_properties():
    data = make_docx(
        ["Clause one applies.", "Clause two applies."],
        title="Lease",
        author="Ivo Petrov",
        created=WHEN,
        table=[["Item", "Price"], ["Desk", "120.00"]],
    )
    doc = extract(data, "lease.docx")
    assert doc.format == "docx"
    assert "Clause two applies." in doc.text and "Desk" in doc.text and "120.00" in doc.text
    assert doc.title == "Lease" and doc.author == "Ivo Petrov" and doc.created_at == WHEN


def test_epub_spine_order_and_metadata():
    data = make_epub(
        "Handbook",
        "Mara Quist",
        [("Intro", ["Welcome aboard."]), ("Rules", ["Badge at all times."])],
        date="2023-09-01",
    )
    doc = extract(data, "h.epub")
    assert doc.format == "epub" and doc.title == "Handbook" and doc.author == "Mara Quist"
    assert doc.text.index("Welcome aboard.") < doc.text.index("Badge at all times.")
    assert doc.created_at == datetime(2023, 9, 1)


def test_html_drops_scripts_and_reads_meta():
    doc = extract(
        make_html("News item", ["Para one.", "Para two."], author="Reporter", date="2024-02-01").encode(), "n.html"
    )
    assert doc.title == "News item" and doc.author == "Reporter" and doc.created_at == datetime(2024, 2, 1)
    assert "tracking" not in doc.text and "font-family" not in doc.text
    assert re.search(r"Para one\.\s*\n\s*Para two\.", doc.text)


def test_markdown_front_matter_and_syntax():
    md = make_markdown(
        "Runbook", [("Steps", ["Run **make demo** then [open the UI](http://x)."])], author="Ops", date="2024-01-02"
    )
    doc = extract(md.encode(), "r.md")
    assert doc.format == "markdown" and doc.title == "Runbook" and doc.author == "Ops"
    assert "Run make demo then open the UI." in doc.text and "**" not in doc.text and "http://x" not in doc.text


def test_email_headers_and_body():
    data = make_email("A <a@example.com>", "B <b@example.com>", "Renewal", "Please renew.", WHEN)
    doc = extract(data, "m.eml")
    assert doc.format == "email" and doc.title == "Renewal" and "Please renew." in doc.text
    assert doc.created_at == WHEN


def test_csv_and_json_text():
    doc = extract(b"name;amount\nDesk;120\nChair;45\n", "x.csv")
    assert doc.format == "csv" and "Chair | 45" in doc.text and doc.extra["columns"] == 2
    doc = extract(json.dumps({"title": "Order", "lines": [{"sku": "A1"}]}).encode(), "o.json")
    assert doc.title == "Order" and "lines.sku: A1" in doc.text


def test_legacy_encodings_decode():
    doc = extract("Prix: 12 € — réglé le 3 mars. Merci de votre confiance.".encode("cp1252"), "f.txt")
    assert "réglé" in doc.text


@pytest.mark.parametrize(
    "data,name,code",
    [
        (b"", "empty.txt", "empty_file"),
        (bytes(range(256)) * 8, "photo.txt", "binary_content"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image.txt", "unsupported_binary"),
        (make_pdf(["cut"])[:200], "cut.pdf", "corrupt_pdf"),
        (b"%PDF-1.4\n" + b"garbage" * 20, "junk.pdf", "corrupt_pdf"),
        (b"PK\x03\x04" + b"\x00" * 50, "broken.docx", "corrupt_archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "protected.docx", "encrypted_or_legacy_office"),
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "deep.json", "json_too_deep"),
        (b'{"a": [1, 2', "bad.json", "corrupt_json"),
    ],
)
def test_bad_input_is_rejected_with_a_code(data, name, code):
    with pytest.raises(Rejected) as info:
        extract(data, name)
    assert info.value.code == code and info.value.reason


def test_encrypted_pdf_is_rejected():
    data = encrypt_pdf(make_pdf(["secret salary data"]), "pw")
    with pytest.raises(Rejected) as info:
        extract(data, "s.pdf")
    assert info.value.code == "encrypted_pdf"


def test_zip_bombs_are_refused_before_inflating():
    with pytest.raises(Rejected) as info:
        extract(make_zip_bomb_docx(300 * 1024 * 1024), "bomb.docx")
    assert info.value.code == "zip_bomb"
    # A total-size bomb made of many individually modest entries.
    with pytest.raises(Rejected) as info:
        extract(make_docx(["x"]), "ok.docx", Limits(max_uncompressed_bytes=1000))
    assert info.value.code == "zip_bomb"


def test_xml_entities_are_not_expanded():
    import io
    import zipfile

    billion = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
        b"<w:r><w:t>&lol2;</w:t></w:r></w:p><w:p><w:r><w:t>plain words</w:t></w:r></w:p></w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", billion)
    doc = extract(out.getvalue(), "x.docx")
    assert "lollollollol" not in doc.text and "plain words" in doc.text


def test_shared_real_documents_extract():
    root = require_shared_data("documents")
    expect = {
        "test.pdf": "pdf",
        "test.docx": "docx",
        "test.epub": "epub",
        "test_blog.html": "html",
        "test.json": "json",
        "test_mskanji.csv": "csv",
        "test_notebook.ipynb": "json",
        "equations.docx": "docx",
        "REPAIR-2022-INV-001_multipage.pdf": "pdf",
    }
    for name, fmt in expect.items():
        doc = extract((root / name).read_bytes(), name)
        assert doc.format == fmt, name
        assert len(doc.text.split()) > 5, name
    with pytest.raises(Rejected):
        extract((root / "random.bin").read_bytes(), "random.bin")
    kanji = extract((root / "test_mskanji.csv").read_bytes(), "test_mskanji.csv")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in kanji.text)  # Shift-JIS decoded, not mojibake


def test_shared_pdf_matches_expected_extraction():
    from difflib import SequenceMatcher

    root = require_shared_data("documents")
    norm = lambda s: " ".join(re.sub(r"[#*|`>-]+", " ", s).split())  # noqa: E731
    doc = extract((root / "RECEIPT-2024-TXN-98765_retail_purchase.pdf").read_bytes(), "r.pdf")
    expected = (root / "expected" / "RECEIPT-2024-TXN-98765_retail_purchase.md").read_text()
    assert SequenceMatcher(None, norm(doc.text), norm(expected)).ratio() > 0.9
