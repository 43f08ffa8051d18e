"""Format detection and extraction, without Dagster."""

import json
import re
from datetime import datetime

import pytest

from dwc_pipelines.ingestion.formats import Limits, Rejected, extract
from dwc_pipelines.testing import (
    encrypt_office,
    encrypt_pdf,
    make_docx,
    make_docx_with_text_box,
    make_email,
    make_epub,
    make_html,
    make_markdown,
    make_odf,
    make_pdf,
    make_pptx,
    make_rtf,
    make_scan_image,
    make_scanned_pdf,
    make_strict_docx,
    make_xls,
    make_xlsx,
    make_zip_bomb_docx,
)

from .conftest import require_shared_data, require_tesseract

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


FRENCH = "Le garçon a reçu à Noël une lettre très élégante; où est la fenêtre? Ça coûte cher, déjà."


def test_latin1_text_is_not_read_as_central_european():
    # cp1250 fits these bytes as well as cp1252 does (à becomes ŕ): the detector's tie goes to the commoner one.
    doc = extract(FRENCH.encode("latin-1"), "lettre.txt")
    assert doc.text == FRENCH


@pytest.mark.parametrize(
    "text,encoding",
    [
        ("Die Größe der Bäume überrascht die Bürger in München. Straße, Äpfel, Öl.", "latin-1"),
        ("El niño comió piña en la mañana; “comillas” — guión. ¿Qué pasó?", "cp1252"),
        ("Příliš žluťoučký kůň úpěl ďábelské ódy. Česká republika má hlavní město Prahu.", "cp1250"),
        ("Zażółć gęślą jaźń. Łódź jest dużym miastem w centralnej Polsce, znanym z przemysłu.", "cp1250"),
        ("Съешь же ещё этих мягких французских булок, да выпей чаю. Москва — столица России.", "cp1251"),
        ("Съешь же ещё этих мягких французских булок, да выпей чаю. Москва - столица России.", "koi8_r"),
        ("Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. Αθήνα είναι η πρωτεύουσα.", "cp1253"),
        ("日本語のテキストです。東京は日本の首都であり、多くの人が住んでいます。", "shift_jis"),
        ("café résumé", "latin-1"),
    ],
)
def test_legacy_code_pages_decode_exactly(text, encoding):
    assert extract(text.encode(encoding), "legacy.txt").text == text


def test_utf16_without_a_byte_order_mark_is_text():
    for enc in ("utf-16-le", "utf-16-be"):
        doc = extract(("Quarterly notes\n\n" + FRENCH).encode(enc), "notes.txt")
        assert doc.format == "text" and FRENCH in doc.text and doc.title == "Quarterly notes"


def test_html_is_read_in_the_charset_it_declares():
    # “Smart quotes” and € exist in windows-1252 only; a statistical guess read this page as windows-1250.
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "<title>Offre spéciale</title></head><body><p>“Prix” : 12 € — à régler à réception. "
        + FRENCH
        + "</p></body></html>"
    ).encode("cp1252")
    doc = extract(page, "offre.html")
    assert doc.title == "Offre spéciale" and "“Prix” : 12 € — à régler" in doc.text
    # ISO-8859-1 declared means windows-1252 to a browser: so it does here.
    doc = extract(page.replace(b"windows-1252", b"ISO-8859-1"), "offre.html")
    assert "“Prix”" in doc.text


def test_invalid_utf8_is_quarantined_not_stored_garbled():
    data = "# Réunion\n\nLe compte rendu de la réunion du comité.\n".encode() + b"\xff\xfe broken\n"
    with pytest.raises(Rejected) as info:
        extract(data, "notes.md")
    assert info.value.code == "undecodable_text" and "invalid bytes" in info.value.reason


def test_a_misnamed_container_is_not_read_as_text():
    with pytest.raises(Rejected) as info:
        extract(b"This is a plain text memo, saved with the wrong name.\n", "memo.pdf")
    assert info.value.code == "type_mismatch" and "'.pdf'" in info.value.reason


def test_xhtml_with_an_xml_declaration_is_html():
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>Harbour news</title></head><body><p>The port reopened on Monday.</p></body></html>"
    )
    doc = extract(page.encode(), "news.xhtml")
    assert doc.format == "html" and doc.title == "Harbour news" and "port reopened" in doc.text


def test_rtf_text_not_markup():
    doc = extract(make_rtf(["Contrat de location — été 2024", "Loyer: 800 € par mois. Łódź {annexe}"]), "bail.rtf")
    assert doc.format == "rtf" and doc.title == "Sample"
    assert doc.text.split("\n")[:2] == ["Contrat de location — été 2024", "Loyer: 800 € par mois. Łódź {annexe}"]
    assert "\\par" not in doc.text and "fonttbl" not in doc.text and "Arial" not in doc.text


def test_generic_xml_text_not_markup():
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!-- exported -->\n<catalog><title>Spring catalogue</title>'
        "<item sku='1'><name>Desk</name><note>Oak, <b>solid</b> and sturdy.</note></item>"
        "<item sku='2'><name>Chair</name></item></catalog>"
    ).encode("latin-1")
    doc = extract(data, "catalog.xml")
    lines = [" ".join(line.split()) for line in doc.text.splitlines() if line.strip()]
    assert doc.format == "xml" and doc.title == "Spring catalogue"
    assert lines == ["Spring catalogue", "Desk", "Oak, solid and sturdy.", "Chair"]
    assert "<" not in doc.text and "exported" not in doc.text


def test_docx_text_box_once():
    doc = extract(make_docx_with_text_box("Before the box.", "Inside the text box", "After the box."), "box.docx")
    assert doc.text.count("Inside the text box") == 1
    assert doc.text.split("\n") == ["Before the box.", "Inside the text box", "After the box."]


def test_strict_ooxml_docx_has_its_text():
    doc = extract(
        make_strict_docx(["Strict conformance keeps the text.", "Second paragraph."], title="Strict"), "s.docx"
    )
    assert doc.format == "docx" and doc.title == "Strict"
    assert doc.text.split("\n") == ["Strict conformance keeps the text.", "Second paragraph."]


@pytest.mark.parametrize(
    "data,name,code",
    [
        (b"", "empty.txt", "empty_file"),
        (bytes(range(256)) * 8, "photo.txt", "binary_content"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image.txt", "corrupt_image"),
        (b"GIF89a" + b"\x00" * 64, "anim.gif", "unsupported_binary"),
        (make_pdf(["cut"])[:200], "cut.pdf", "corrupt_pdf"),
        (b"%PDF-1.4\n" + b"garbage" * 20, "junk.pdf", "corrupt_pdf"),
        (b"PK\x03\x04" + b"\x00" * 50, "broken.docx", "corrupt_archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "damaged.docx", "corrupt_office"),
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


ORDERS = {"Orders": [["item", "qty", "price"], ["Desk", 2, 120.5], ["Chair", 4, 45]], "Notes": [["Deliver by Friday"]]}
SHEETS_TEXT = "Sheet: Orders\nitem\tqty\tprice\nDesk\t2\t120.5\nChair\t4\t45\n\nSheet: Notes\nDeliver by Friday"


def test_spreadsheets_sheet_by_sheet():
    doc = extract(make_xlsx(ORDERS, title="Q2 orders", author="Ana"), "orders.xlsx")
    assert (doc.format, doc.title, doc.author, doc.page_count) == ("xlsx", "Q2 orders", "Ana", 2)
    assert doc.text == SHEETS_TEXT
    doc = extract(make_xls(ORDERS), "orders.xls")
    assert doc.format == "xls" and doc.text == SHEETS_TEXT
    doc = extract(make_odf("ods", ORDERS, title="Q2 orders"), "orders.ods")
    assert doc.format == "ods" and doc.title == "Q2 orders" and doc.text == SHEETS_TEXT


def test_presentations_slides_and_speaker_notes():
    slides = [("Roadmap", "Ship the lake in May", "Mention the budget"), ("Risks", "Vendor delay", None)]
    doc = extract(make_pptx(slides, title="Plan"), "plan.pptx")
    assert doc.format == "pptx" and doc.title == "Plan" and doc.page_count == 2
    assert (
        doc.text == "Slide 1\nRoadmap\nShip the lake in May\nNotes: Mention the budget\n\nSlide 2\nRisks\nVendor delay"
    )
    doc = extract(make_odf("odp", [("Ship the lake in May", "Mention the budget"), ("Vendor delay", None)]), "plan.odp")
    assert doc.format == "odp"
    assert doc.text == "Slide 1\nShip the lake in May\nNotes: Mention the budget\n\nSlide 2\nVendor delay"


def test_opendocument_text():
    doc = extract(make_odf("odt", ["First paragraph.", "Second paragraph."], title="Minutes", author="Ivo"), "m.odt")
    assert (doc.format, doc.title, doc.author, doc.text) == (
        "odt",
        "Minutes",
        "Ivo",
        "First paragraph.\nSecond paragraph.",
    )


@pytest.mark.parametrize("name", ["locked.docx", "locked.xlsx", "locked.pptx"])
def test_password_protected_office_files_are_encrypted_not_corrupt(name):
    plain = {"docx": make_docx(["salary data"]), "xlsx": make_xlsx(ORDERS), "pptx": make_pptx([("a", "b", None)])}
    with pytest.raises(Rejected) as info:
        extract(encrypt_office(plain[name.rsplit(".", 1)[1]], "pw"), name)
    assert info.value.code == "encrypted"


def test_archives_list_their_members_as_children():
    import io
    import zipfile

    import py7zr

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes/one.txt", "First member")
        z.writestr("two.md", "# Two")
    doc = extract(out.getvalue(), "pack.zip")
    assert doc.format == "zip" and doc.children == [("notes/one.txt", b"First member"), ("two.md", b"# Two")]
    assert "notes/one.txt" in doc.text
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as z:
        z.writestr("Seven member", "s.txt")
    doc = extract(out.getvalue(), "pack.7z")
    assert doc.format == "7z" and doc.children == [("s.txt", b"Seven member")]


def test_email_attachments_are_children():
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.com", "b@example.com", "Lease"
    m.set_content("The signed lease is attached.")
    m.add_attachment(make_docx(["Lease terms"]), maintype="application", subtype="octet-stream", filename="lease.docx")
    doc = extract(m.as_bytes(), "lease.eml")
    assert doc.format == "email" and [name for name, _ in doc.children] == ["lease.docx"]
    assert extract(doc.children[0][1], "lease.docx").text == "Lease terms"


LETTER = [
    "Invoice 2024-1002 from Harbour Supplies Ltd.",
    "The total amount due is 1,250 euros,",
    "payable by the end of the month.",
]


def test_scanned_pdf_pages_are_read_by_ocr_and_say_so():
    require_tesseract()
    doc = extract(make_scanned_pdf([LETTER, ["Second page of the scanned letter."]]), "scan.pdf")
    assert doc.text == "\n".join(LETTER) + "\n\nSecond page of the scanned letter."
    assert [(p["page"], p["source"]) for p in doc.extra["pages"]] == [(1, "ocr"), (2, "ocr")]
    assert all(p["ocr_confidence"] > 0.8 for p in doc.extra["pages"])


def test_a_pdf_with_a_text_page_and_a_scanned_page():
    require_tesseract()
    import io

    from pypdf import PdfWriter

    out, writer = io.BytesIO(), PdfWriter()
    writer.append(io.BytesIO(make_pdf(["A page with a real text layer, typed in a word processor."])))
    writer.append(io.BytesIO(make_scanned_pdf([LETTER])))
    writer.write(out)
    doc = extract(out.getvalue(), "mixed.pdf")
    assert [(p["source"], p["ocr_confidence"] is None) for p in doc.extra["pages"]] == [("text", True), ("ocr", False)]
    assert "real text layer" in doc.text and "Harbour Supplies" in doc.text


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "TIFF"])
def test_images_are_read_by_ocr(kind):
    require_tesseract()
    doc = extract(make_scan_image(LETTER, kind), f"scan.{kind.lower()}")
    assert doc.format == "image" and doc.mime == f"image/{kind.lower()}" and doc.text == "\n".join(LETTER)


def test_without_tesseract_scans_wait_as_ocr_unavailable(monkeypatch):
    from dwc_pipelines.ingestion import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    for data, name in ((make_scanned_pdf([LETTER]), "scan.pdf"), (make_scan_image(LETTER), "scan.png")):
        with pytest.raises(Rejected) as info:
            extract(data, name)
        assert info.value.code == "ocr_unavailable"
    assert extract(make_pdf(["Text layers need no OCR."]), "plain.pdf").extra["pages"][0]["source"] == "text"
