"""Builders of real files in every supported format, for the sample corpus, tests and benchmarks.

They write the formats by their specifications (a PDF with a cross-reference table, an
OOXML package, an EPUB 3 container), so what the tests parse is what users drop.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
import zipfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

_EPOCH = (2024, 1, 1, 0, 0, 0)


def stable_zip(data: bytes) -> bytes:
    """The same archive with every entry dated 2024-01-01, so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_EPOCH)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def _pdf_str(s: str) -> str:
    s = s.encode("cp1252", "replace").decode("cp1252")
    return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(
    pages: list[str], title: str | None = None, author: str | None = None, created: datetime | None = None
) -> bytes:
    """A PDF 1.4 with one Helvetica text page per string (wrapped at 90 columns)."""
    objs: list[bytes] = []
    kids = []
    font_id = 3
    n_fixed = 3
    page_ids = []
    for i, _ in enumerate(pages):
        page_ids.append(n_fixed + 1 + 2 * i)
    for i, text in enumerate(pages):
        lines = []
        for para in text.split("\n"):
            lines.extend(textwrap.wrap(para, 90) or [""])
        ops = ["BT", "/F1 10 Tf", "12 TL", "50 790 Td"]
        for line in lines[:62]:
            ops.append(f"{_pdf_str(line)} Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252", "replace")
        kids.append(page_ids[i])
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_id = n_fixed + 2 * len(pages) + 1
    info = []
    if title:
        info.append(f"/Title {_pdf_str(title)}")
    if author:
        info.append(f"/Author {_pdf_str(author)}")
    if created:
        info.append(f"/CreationDate (D:{created:%Y%m%d%H%M%S}Z)")
    head = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    all_objs = head + objs + [f"<< {' '.join(info)} >>".encode("cp1252", "replace")]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(all_objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % num + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(all_objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(all_objs) + 1, info_id, xref)
    )
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(
    paragraphs: list[str],
    title: str | None = None,
    author: str | None = None,
    created: datetime | None = None,
    table: list[list[str]] | None = None,
) -> bytes:
    import docx

    d = docx.Document()
    if title:
        d.add_heading(title, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    props = d.core_properties
    props.title = title or ""
    props.author = author or ""
    if created:
        props.created = created
        props.modified = created
    out = io.BytesIO()
    d.save(out)
    return stable_zip(out.getvalue())


def make_epub(title: str, author: str, chapters: list[tuple[str, list[str]]], date: str = "2024-01-01") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
            compress_type=zipfile.ZIP_DEFLATED,
        )
        items, spine = [], []
        for i, (ch_title, paras) in enumerate(chapters, start=1):
            body = "".join(f"<p>{escape(p)}</p>" for p in paras)
            z.writestr(
                f"OEBPS/ch{i}.xhtml",
                f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>{escape(ch_title)}</title></head><body><h2>{escape(ch_title)}</h2>{body}</body></html>",
                compress_type=zipfile.ZIP_DEFLATED,
            )
            items.append(f'<item id="ch{i}" href="ch{i}.xhtml" media-type="application/xhtml+xml"/>')
            spine.append(f'<itemref idref="ch{i}"/>')
        z.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
            'unique-identifier="uid"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="uid">urn:dwc:{escape(title)}</dc:identifier><dc:title>{escape(title)}</dc:title>'
            f"<dc:creator>{escape(author)}</dc:creator><dc:date>{date}</dc:date><dc:language>en</dc:language>"
            f"</metadata><manifest>{''.join(items)}</manifest><spine>{''.join(spine)}</spine></package>",
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return stable_zip(out.getvalue())


def make_html(title: str, paragraphs: list[str], author: str | None = None, date: str | None = None) -> str:
    meta = ""
    if author:
        meta += f'<meta name="author" content="{escape(author)}">'
    if date:
        meta += f'<meta name="date" content="{escape(date)}">'
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{meta}'
        f"<style>body{{font-family:sans-serif}}</style><script>var tracking = 1;</script></head>"
        f"<body><article><h1>{escape(title)}</h1>{body}</article></body></html>"
    )


def make_markdown(
    title: str, sections: list[tuple[str, list[str]]], author: str | None = None, date: str | None = None
) -> str:
    front = ""
    if author or date:
        front = (
            "---\n"
            + (f"title: {title}\n")
            + (f"author: {author}\n" if author else "")
            + (f"date: {date}\n" if date else "")
            + "---\n\n"
        )
    parts = [f"# {title}\n"]
    for heading, paras in sections:
        parts.append(f"## {heading}\n")
        parts.extend(p + "\n" for p in paras)
    return front + "\n".join(parts)


def make_email(sender: str, to: str, subject: str, body: str, date: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{hashlib.sha1((sender + subject).encode()).hexdigest()[:16]}@dwc.example>"
    msg.set_content(body)
    return bytes(msg)


def make_zip_bomb_docx(expanded_bytes: int = 300 * 1024 * 1024, kind: str = "docx") -> bytes:
    """A DOCX- (or EPUB-) shaped ZIP whose main part inflates to `expanded_bytes` of zeros."""
    out = io.BytesIO()

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        if kind == "epub":
            z.writestr(zipfile.ZipInfo("mimetype", date_time=_EPOCH), "application/epub+zip")
            z.writestr(entry("META-INF/container.xml"), "<container/>")
            member = "OEBPS/chapter1.xhtml"
        else:
            z.writestr(entry("[Content_Types].xml"), "<Types/>")
            member = "word/document.xml"
        with z.open(entry(member), "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(expanded_bytes // len(block)):
                fh.write(block)
    return out.getvalue()


_TRANSITIONAL_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_STRICT_W = "http://purl.oclc.org/ooxml/wordprocessingml/main"


def make_docx_with_text_box(before: str, boxed: str, after: str) -> bytes:
    """A DOCX whose text box is stored as Word stores it: DrawingML in mc:Choice, the same text again
    as VML in mc:Fallback, both inside the paragraph that anchors the box."""
    body = (
        f"<w:p><w:r><w:t>{escape(before)}</w:t></w:r><w:r><mc:AlternateContent>"
        '<mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData><wps:wsp><wps:txbx>'
        f"<w:txbxContent><w:p><w:r><w:t>{escape(boxed)}</w:t></w:r></w:p></w:txbxContent>"
        "</wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        "<mc:Fallback><w:pict><v:shape><v:textbox>"
        f"<w:txbxContent><w:p><w:r><w:t>{escape(boxed)}</w:t></w:r></w:p></w:txbxContent>"
        "</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"
        f"<w:p><w:r><w:t>{escape(after)}</w:t></w:r></w:p>"
    )
    namespaces = (
        f'xmlns:w="{_TRANSITIONAL_W}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:v="urn:schemas-microsoft-com:vml" '
        'mc:Ignorable="wps"'
    )
    return _ooxml_package(f"<w:document {namespaces}><w:body>{body}</w:body></w:document>", strict=False)


def make_strict_docx(paragraphs: list[str], title: str | None = None) -> bytes:
    """A Strict OOXML (ISO/IEC 29500 Strict) document: the same parts, other namespaces."""
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    return _ooxml_package(
        f'<w:document xmlns:w="{_STRICT_W}"><w:body>{body}</w:body></w:document>', strict=True, title=title
    )


def _ooxml_package(document_xml: str, strict: bool, title: str | None = None) -> bytes:
    rel_ns = (
        "http://purl.oclc.org/ooxml/officeDocument/relationships"
        if strict
        else ("http://schemas.openxmlformats.org/officeDocument/2006/relationships")
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            zipfile.ZipInfo("[Content_Types].xml", _EPOCH),
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
        )
        z.writestr(
            zipfile.ZipInfo("_rels/.rels", _EPOCH),
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_ns}/officeDocument" Target="word/document.xml"/>'
            + (
                f'<Relationship Id="rId2" Type="{rel_ns}/metadata/core-properties" Target="docProps/core.xml"/>'
                if title
                else ""
            )
            + "</Relationships>",
        )
        z.writestr(
            zipfile.ZipInfo("word/document.xml", _EPOCH),
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + document_xml,
        )
        if title:
            z.writestr(
                zipfile.ZipInfo("docProps/core.xml", _EPOCH),
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:title>{escape(title)}</dc:title></cp:coreProperties>",
            )
    return out.getvalue()


def make_rtf(paragraphs: list[str], codepage: int = 1252) -> bytes:
    """RTF as word processors write it: a font table, \\'hh escapes in the ANSI code page for what it
    has, \\uN? escapes for what it lacks."""

    def escaped(text: str) -> str:
        out = []
        for ch in text:
            if ch in "\\{}":
                out.append("\\" + ch)
            elif ord(ch) < 128:
                out.append(ch)
            else:
                try:
                    out.append("".join(f"\\'{b:02x}" for b in ch.encode(f"cp{codepage}")))
                except UnicodeEncodeError:
                    out.append(f"\\u{ord(ch) if ord(ch) < 32768 else ord(ch) - 65536}?")
        return "".join(out)

    body = "".join(f"\\pard\\plain\\f0\\fs24 {escaped(p)}\\par\n" for p in paragraphs)
    return (
        f"{{\\rtf1\\ansi\\ansicpg{codepage}\\deff0{{\\fonttbl{{\\f0\\fswiss Arial;}}}}"
        f"{{\\info{{\\title Sample}}}}\n{body}}}"
    ).encode("ascii")


def make_xlsx(sheets: dict[str, list[list]], title: str | None = None, author: str | None = None) -> bytes:
    """An Excel workbook written by openpyxl, one worksheet per entry."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.properties.title, wb.properties.creator = title, author
    wb.properties.created = wb.properties.modified = datetime(*_EPOCH)
    out = io.BytesIO()
    wb.save(out)
    return stable_zip(out.getvalue())


def make_xls(sheets: dict[str, list[list]]) -> bytes:
    """A legacy Excel 97-2003 workbook (BIFF8 in an OLE2 file), written by xlwt."""
    import xlwt

    wb = xlwt.Workbook()
    for name, rows in sheets.items():
        ws = wb.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                ws.write(r, c, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str, str | None]], title: str | None = None) -> bytes:
    """A presentation written by python-pptx: (title, body, speaker notes) per slide."""
    from pptx import Presentation

    deck = Presentation()
    for heading, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.core_properties.title = title or ""
    deck.core_properties.created = deck.core_properties.modified = datetime(*_EPOCH)
    out = io.BytesIO()
    deck.save(out)
    return stable_zip(out.getvalue())


def make_odf(kind: str, content, title: str | None = None, author: str | None = None) -> bytes:
    """An OpenDocument file written by odfpy. odt: paragraphs; ods: {sheet: rows}; odp: (text, notes) per slide."""
    from odf import dc, draw, meta, presentation, style, table, text
    from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText

    if kind == "odt":
        doc = OpenDocumentText()
        for para in content:
            doc.text.addElement(text.P(text=para))
    elif kind == "ods":
        doc = OpenDocumentSpreadsheet()
        for name, rows in content.items():
            t = table.Table(name=name)
            for row in rows:
                tr = table.TableRow()
                for value in row:
                    cell = table.TableCell()
                    cell.addElement(text.P(text=str(value)))
                    tr.addElement(cell)
                t.addElement(tr)
            doc.spreadsheet.addElement(t)
    else:
        doc = OpenDocumentPresentation()
        layout = style.PageLayout(name="layout")
        doc.automaticstyles.addElement(layout)
        master = style.MasterPage(name="master", pagelayoutname=layout)
        doc.masterstyles.addElement(master)
        for body, notes in content:
            page = draw.Page(masterpagename=master)
            frame = draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm")
            box = draw.TextBox()
            box.addElement(text.P(text=body))
            frame.addElement(box)
            page.addElement(frame)
            if notes:
                note = presentation.Notes()
                nframe = draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm")
                nbox = draw.TextBox()
                nbox.addElement(text.P(text=notes))
                nframe.addElement(nbox)
                note.addElement(nframe)
                page.addElement(note)
            doc.presentation.addElement(page)
    if title:
        doc.meta.addElement(dc.Title(text=title))
    if author:
        doc.meta.addElement(meta.InitialCreator(text=author))
    out = io.BytesIO()
    doc.write(out)
    return stable_zip(out.getvalue())


def encrypt_office(data: bytes, password: str) -> bytes:
    """An OOXML file protected by a password (Agile encryption, by msoffcrypto-tool): an OLE2 container."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def render_page(lines: list[str], size: int = 40, width: int = 1800) -> Image.Image:  # noqa: F821
    """A white page with the lines typeset in black, as a scanner at 300 dpi would see a printout."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    step = int(size * 1.6)
    img = Image.new("L", (width, step * len(lines) + 2 * size), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((size, size + i * step), line, fill=0, font=font)
    return img


def make_scanned_pdf(pages: list[list[str]]) -> bytes:
    """A PDF of page images and no text layer: what a scanner produces."""
    images = [render_page(lines).convert("RGB") for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=300, save_all=True, append_images=images[1:])
    return out.getvalue()


def make_scan_image(lines: list[str], kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    render_page(lines).save(out, kind, dpi=(300, 300))
    return out.getvalue()
