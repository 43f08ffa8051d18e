"""Office formats beyond DOCX: spreadsheets, presentations, OpenDocument, legacy Word, Outlook.

Each format goes through a well-kept library (which one is in docs/ingestion.md): openpyxl (xlsx),
xlrd (xls), odfpy (odt, ods, odp), python-pptx (pptx), antiword from Debian (doc), extract-msg
(msg), msoffcrypto-tool to tell a password-protected file from a damaged one. Spreadsheets
become one block per sheet ("Sheet: <name>", then one tab-separated line per non-empty row);
presentations one block per slide (its text, then "Notes:" and the speaker notes). Sizes are
bounded as everywhere in ingestion: the ZIP checks ran before any of these is called, and cell
counts are capped here.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

from .formats import Extracted, Limits, Rejected
from .text import parse_date

MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xls": "application/vnd.ms-excel",
    "doc": "application/msword",
    "msg": "application/vnd.ms-outlook",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
MAX_CELLS = 2_000_000  # per spreadsheet: beyond it the rest is left out and the block says so
_ODF_KINDS = {
    f"application/vnd.oasis.opendocument.{k}": fmt
    for k, fmt in (("text", "odt"), ("spreadsheet", "ods"), ("presentation", "odp"))
}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _sheet_block(name: str, rows, budget: list[int]) -> str:
    lines = [f"Sheet: {name}"]
    for row in rows:
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        budget[0] -= len(cells)
        if budget[0] < 0:
            lines.append(f"[cut: more than {MAX_CELLS:,} cells]")
            break
        lines.append("\t".join(cells))
    return "\n".join(lines)


# -- OOXML (ZIP) ------------------------------------------------------------------------------


def xlsx(data: bytes, core: dict) -> Extracted:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise Rejected("corrupt_office", f"the workbook does not open: {exc}") from None
    budget = [MAX_CELLS]
    try:
        blocks = [_sheet_block(ws.title, ws.iter_rows(values_only=True), budget) for ws in wb.worksheets]
    finally:
        wb.close()
    return Extracted(
        "xlsx", MIME["xlsx"], "\n\n".join(blocks), page_count=len(blocks), extra={"sheets": len(blocks)}, **core
    )


def pptx(data: bytes, core: dict) -> Extracted:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise Rejected("corrupt_office", f"the presentation does not open: {exc}") from None
    blocks = []
    for number, slide in enumerate(deck.slides, 1):
        lines = [f"Slide {number}"]
        lines += [t for shape in slide.shapes for t in _shape_text(shape)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append("Notes: " + notes)
        blocks.append("\n".join(lines))
    title = core.get("title")
    if not title and deck.slides:
        first = deck.slides[0].shapes.title
        title = first.text_frame.text.strip() if first is not None and first.has_text_frame else None
    return Extracted(
        "pptx", MIME["pptx"], "\n\n".join(blocks), page_count=len(blocks), **{**core, "title": title or None}
    )


def _shape_text(shape) -> list[str]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [t for child in shape.shapes for t in _shape_text(child)]
    out = []
    if shape.has_text_frame and shape.text_frame.text.strip():
        out.append(shape.text_frame.text.strip())
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                out.append("\t".join(cells))
    return out


# -- OpenDocument -----------------------------------------------------------------------------


def odf_kind(zf: zipfile.ZipFile) -> str | None:
    if "mimetype" not in zf.namelist():
        return None
    return _ODF_KINDS.get(zf.read("mimetype").decode("ascii", "replace").strip())


def odf(data: bytes, kind: str) -> Extracted:
    from odf import opendocument
    from odf.namespaces import TABLENS

    try:
        doc = opendocument.load(io.BytesIO(data))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Rejected("corrupt_office", f"the OpenDocument file does not open: {exc}") from None
    except Exception as exc:  # odfpy raises whatever its SAX handler meets
        raise Rejected("corrupt_office", f"the OpenDocument file does not parse: {type(exc).__name__}: {exc}") from None
    meta = _odf_meta(doc)
    if kind == "ods":
        budget = [MAX_CELLS]
        blocks = []
        for table in doc.spreadsheet.getElementsByType(_odf_class("table", "Table")):
            blocks.append(_sheet_block(table.getAttrNS(TABLENS, "name") or "", _ods_rows(table, TABLENS), budget))
        return Extracted("ods", MIME["ods"], "\n\n".join(blocks), page_count=len(blocks), **meta)
    if kind == "odp":
        blocks = []
        for number, page in enumerate(doc.presentation.getElementsByType(_odf_class("draw", "Page")), 1):
            lines, notes = [f"Slide {number}"], []
            for text, in_notes in _odf_paragraphs(page):
                (notes if in_notes else lines).append(text)
            if notes:
                lines.append("Notes: " + "\n".join(notes))
            blocks.append("\n".join(lines))
        return Extracted("odp", MIME["odp"], "\n\n".join(blocks), page_count=len(blocks), **meta)
    return Extracted("odt", MIME["odt"], "\n".join(text for text, _ in _odf_paragraphs(doc.text)), **meta)


def _odf_paragraphs(node, in_notes: bool = False):
    """(text, inside speaker notes) of every outermost paragraph and heading under `node`, in order:
    a text box anchored in a paragraph is part of that paragraph's line, not a line again."""
    from odf import teletype
    from odf.namespaces import PRESENTATIONNS, TEXTNS

    for child in node.childNodes:
        qname = getattr(child, "qname", None)
        if qname is None:
            continue
        if qname in ((TEXTNS, "p"), (TEXTNS, "h")):
            text = teletype.extractText(child).strip()
            if text:
                yield text, in_notes
        else:
            yield from _odf_paragraphs(child, in_notes or qname == (PRESENTATIONNS, "notes"))


def _odf_class(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"odf.{module}"), name)


def _ods_rows(table, tablens):
    from odf import teletype

    for row in table.getElementsByType(_odf_class("table", "TableRow")):
        repeat_rows = min(int(row.getAttrNS(tablens, "number-rows-repeated") or 1), 1000)
        cells = []
        for cell in row.childNodes:
            if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                continue
            # A row styled to the sheet's edge repeats an empty cell 16,000 times: cap the repeat.
            repeat = min(int(cell.getAttrNS(tablens, "number-columns-repeated") or 1), 1000)
            value = "\n".join(teletype.extractText(p) for p in cell.childNodes if p.qname[1] == "p")
            cells.extend([value] * repeat)
        if any(cells):
            for _ in range(repeat_rows):
                yield cells


def _odf_meta(doc) -> dict:
    from odf.namespaces import DCNS, METANS

    def first(ns: str, name: str) -> str | None:
        for el in doc.meta.childNodes:
            if el.qname == (ns, name):
                text = "".join(str(t) for t in el.childNodes).strip()
                if text:
                    return text
        return None

    return {
        "title": first(DCNS, "title"),
        "author": first(DCNS, "creator") or first(METANS, "initial-creator"),
        "created_at": parse_date(first(METANS, "creation-date")),
        "modified_at": parse_date(first(DCNS, "date")),
    }


# -- OLE2 compound files: legacy Office, Outlook, and encrypted OOXML ----------------------------


def ole2(data: bytes, ext: str, limits: Limits) -> Extracted:
    import olefile

    if encrypted(data):
        raise Rejected("encrypted", "a password-protected Office document: it cannot be read without its password")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError) as exc:  # olefile's errors on truncated sectors vary
        raise Rejected("corrupt_office", f"a damaged OLE2 compound file: {exc}") from None
    streams = {"/".join(s) for s in ole.listdir()}
    ole.close()
    if "WordDocument" in streams:
        return doc(data)
    if "Workbook" in streams or "Book" in streams:
        return xls(data)
    if "__properties_version1.0" in streams or any(s.startswith("__substg1.0_") for s in streams):
        return msg(data)
    if "PowerPoint Document" in streams:
        raise Rejected("unsupported_format", "a legacy PowerPoint (.ppt) presentation: save it as .pptx")
    raise Rejected("unsupported_binary", f"an OLE2 compound file of no known kind (named '{ext or 'no extension'}')")


def encrypted(data: bytes) -> bool:
    """Whether an Office file (OLE2 or OOXML) is password-protected, by msoffcrypto-tool."""
    import msoffcrypto

    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:  # not a kind it knows: then it is not one it would call encrypted either
        return False


def xls(data: bytes) -> Extracted:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except xlrd.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise Rejected("encrypted", "a password-protected Excel workbook") from None
        raise Rejected("corrupt_office", f"the workbook does not open: {exc}") from None
    budget = [MAX_CELLS]
    try:
        blocks = []
        for i in range(book.nsheets):
            sheet = book.sheet_by_index(i)
            blocks.append(_sheet_block(sheet.name, (sheet.row_values(r) for r in range(sheet.nrows)), budget))
            book.unload_sheet(i)
    finally:
        book.release_resources()
    return Extracted("xls", MIME["xls"], "\n\n".join(blocks), page_count=len(blocks), author=(book.user_name or None))


def doc(data: bytes) -> Extracted:
    """Legacy Word through Debian's antiword (stdin to stdout, UTF-8, no line wrapping)."""
    exe = shutil.which("antiword")
    if exe is None:
        raise Rejected(
            "converter_unavailable",
            "a legacy Word .doc file, and antiword is not installed "
            "(apt-get install antiword); it is read again once it is",
        )
    try:
        out = subprocess.run(
            [exe, "-m", "UTF-8.txt", "-w", "0", "-"], input=data, capture_output=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        raise Rejected("extraction_error", "antiword took longer than 120 s") from None
    if out.returncode != 0:
        message = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Rejected("corrupt_office", f"antiword cannot read it: {message[-1] if message else out.returncode}")
    return Extracted("doc", MIME["doc"], out.stdout.decode("utf-8", "replace"))


def msg(data: bytes) -> Extracted:
    import extract_msg

    try:
        m = extract_msg.openMsg(io.BytesIO(data), delayAttachments=False)
    except Exception as exc:  # extract-msg raises its own hierarchy and plain errors alike
        raise Rejected("corrupt_office", f"the Outlook message does not open: {type(exc).__name__}: {exc}") from None
    try:
        header = [f"{k}: {v}" for k, v in (("From", m.sender), ("To", m.to), ("Cc", m.cc), ("Subject", m.subject)) if v]
        attachments = []
        for att in m.attachments:
            payload = getattr(att, "data", None)
            name = getattr(att, "longFilename", None) or getattr(att, "shortFilename", None) or "attachment"
            if isinstance(payload, bytes):
                attachments.append((name, payload))
        return Extracted(
            "msg",
            MIME["msg"],
            "\n".join(header) + "\n\n" + (m.body or ""),
            title=m.subject or None,
            author=m.sender or None,
            created_at=parse_date(m.date),
            children=attachments,
        )
    finally:
        m.close()
