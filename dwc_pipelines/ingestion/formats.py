"""File-type detection from bytes and text extraction per format: pure functions, no Dagster.

Every function here treats its input as hostile: sizes are bounded before anything is
decompressed or parsed, XML parsers never resolve entities or reach the network, and a
failure is a `Rejected` with a machine-readable code and a sentence a person can act on.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

from .text import parse_date


class Rejected(Exception):
    """A file that cannot be accepted; `code` is stable, `reason` is for people."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Limits:
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: int = 200
    max_archive_entries: int = 5000
    max_pdf_pages: int = 2000
    max_json_depth: int = 64
    max_archive_depth: int = 3  # archives in archives (attachments count as a level)
    ocr_languages: str = "eng"  # Tesseract's language packs, "eng+deu" for several


@dataclass
class Extracted:
    format: str
    mime: str
    text: str
    title: str | None = None
    author: str | None = None
    created_at: object = None
    modified_at: object = None
    page_count: int | None = None
    extra: dict = field(default_factory=dict)
    children: list = field(default_factory=list)  # (name, bytes) of attachments and archive members


_MIME = {
    "text": "text/plain",
    "markdown": "text/markdown",
    "html": "text/html",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
    "csv": "text/csv",
    "epub": "application/epub+zip",
    "email": "message/rfc822",
    "rtf": "application/rtf",
    "xml": "application/xml",
    "zip": "application/zip",
    "7z": "application/x-7z-compressed",
}

# Magic numbers of formats we do not ingest: better a clear reason than garbled text.
_BINARY_MAGIC = [
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"Rar!", "RAR archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"SQLite format 3\x00", "SQLite database"),
]
# Extensions of binary formats: a file so named whose bytes are none of them is not read as text.
_CONTAINER_EXTENSIONS = {
    ".pdf",
    ".docx",
    ".xlsx",
    ".pptx",
    ".odt",
    ".ods",
    ".odp",
    ".epub",
    ".zip",
    ".7z",
    ".doc",
    ".xls",
    ".ppt",
    ".msg",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".tif",
    ".tiff",
}
_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
# Images read through OCR: PNG, JPEG, TIFF (little- and big-endian).
_IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_HEADER_LINE = re.compile(rb"^(From|To|Subject|Date|Message-ID|MIME-Version|Received|Return-Path|Cc): ", re.I | re.M)
_XML_PARSER_KW = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def extension_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return ("." + base.rsplit(".", 1)[-1].lower()) if "." in base.strip(".") else ""


def extract(data: bytes, name: str, limits: Limits | None = None) -> Extracted:
    """Detect the format from the bytes (the extension only breaks ties) and extract it."""
    limits = limits or Limits()
    ext = extension_of(name)
    if not data:
        raise Rejected("empty_file", "the file is empty (0 bytes)")
    head = data[:8]
    if data[:1024].lstrip().startswith(b"%PDF-") or data.startswith(b"%PDF-"):
        return _pdf(data, limits)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_document(data, ext, limits)
    if head.startswith(_OLE2):
        from . import office

        return office.ole2(data, ext, limits)
    if data.startswith(_SEVEN_ZIP):
        return _sevenzip(data, limits)
    if data.startswith(_IMAGES):
        from . import ocr

        return ocr.image(data, limits)
    for magic, label in _BINARY_MAGIC:
        if data.startswith(magic):
            raise Rejected("unsupported_binary", f"binary content ({label}) in a file named '{ext or 'no extension'}'")
    if ext in _CONTAINER_EXTENSIONS:
        raise Rejected(
            "type_mismatch", f"named '{ext}' but the bytes are not a {ext[1:].upper()} file (no matching signature)"
        )
    utf16 = _bomless_utf16(data)
    if utf16 is None and _looks_binary(data):
        raise Rejected("binary_content", f"binary content in a file named '{ext or 'no extension'}' (not text)")
    text = decode_text(data, utf16)
    if text.lstrip().startswith("{\\rtf"):
        return _rtf(text)
    return _text_document(text, data, ext, limits)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a byte-order mark has NULs by design
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.05


def _bomless_utf16(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' for UTF-16 without a byte-order mark (Windows tools write it):
    text in a Latin script then has a NUL in every other byte, on one side only."""
    sample = data[:8192]
    if len(sample) < 4 or sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    for zeros, other, enc in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) > half * 0.3 and other.count(0) < half * 0.02:
            return enc
    return None


# What a page declares: <meta charset="...">, <meta http-equiv=... content="...; charset=...">, <?xml encoding="..."?>.
_DECLARED = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})|<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""",
    re.I,
)
# Browsers read these labels as windows-1252 (WHATWG Encoding): so do we.
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819", "ibm819"}
# The legacy encodings documents are actually written in (Windows and ISO code pages, the East Asian
# multi-byte ones, KOI8, Mac Roman); rarer code pages (cp1006, cp1125, ...) fit short texts by accident.
_LEGACY = (
    "cp1252",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "koi8_u",
    "iso8859_5",
    "cp1253",
    "iso8859_7",
    "cp1254",
    "iso8859_9",
    "cp1255",
    "iso8859_8",
    "cp1256",
    "cp1257",
    "iso8859_13",
    "cp874",
    "cp1258",
    "mac_roman",
    "shift_jis",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "gb18030",
    "gb2312",
    "big5",
    "euc_kr",
    "cp949",
    "utf_16",
)
_NEAR = 0.1  # chaos (charset_normalizer's mess ratio) within which two readings fit about as well


def declared_encoding(data: bytes) -> str | None:
    m = _DECLARED.search(data[:4096])
    if not m:
        return None
    label = (m.group(1) or m.group(2)).decode("ascii").lower()
    if label in _AS_CP1252:
        return "cp1252"
    import codecs

    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _utf8_error(data: bytes) -> UnicodeDecodeError | None:
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        return exc


def decode_text(data: bytes, utf16: str | None = None) -> str:
    """Text from bytes: a byte-order mark, then a declared charset (HTML, XML), then UTF-16 without a
    mark, then UTF-8, then a statistical guess that must be confident. Anything else is Rejected:
    never garbled text."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as exc:
                raise Rejected(
                    "undecodable_text", f"declares {enc} by its byte-order mark but does not decode: {exc}"
                ) from None
    if utf16:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise Rejected(
                "undecodable_text", f"looks like {utf16} (no byte-order mark) but does not decode: {exc}"
            ) from None
        if _CONTROL_TEXT.search(text[:8192]):
            raise Rejected("undecodable_text", f"decodes as {utf16} only to control characters")
        return text
    declared = declared_encoding(data)
    if declared and declared not in ("utf-8", "utf-16", "utf-16-le", "utf-16-be"):
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass  # a wrong declaration: the bytes decide
    bad = _utf8_error(data)
    if bad is None:
        return data.decode("utf-8")
    # UTF-8 multi-byte sequences before the bad byte: UTF-8 text with corrupt bytes, which any
    # single-byte reading would turn into mojibake.
    if _UTF8_MULTIBYTE.search(data[: bad.start]) or declared == "utf-8":
        raise Rejected(
            "undecodable_text",
            f"UTF-8 text with invalid bytes (first at byte {bad.start:,}: {data[bad.start : bad.start + 4]!r})",
        )
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data[: 1024 * 1024], cp_isolation=list(_LEGACY)) if m.encoding]
    if not matches:
        raise Rejected("undecodable_text", "not valid UTF-8 and no other text encoding fits the bytes")
    least = min(m.chaos for m in matches)
    # The detector often ranks a Baltic or Central European code page first for Western text by a
    # hair (à read as ą): windows-1252, by far the commonest, wins when it fits nearly as well.
    fitting = [m.encoding for m in matches if m.chaos <= least + _NEAR]
    encoding = "cp1252" if "cp1252" in fitting else next(m.encoding for m in matches if m.chaos == least)
    if least > 0.2:
        raise Rejected(
            "undecodable_text", f"no encoding reads it as text with confidence (best: {encoding}, chaos {least:.2f})"
        )
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise Rejected("undecodable_text", f"looks like {encoding} but does not decode as it") from None


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _text_document(text: str, data: bytes, ext: str, limits: Limits) -> Extracted:
    stripped = text.lstrip()
    low = stripped[:512].lower()
    if ext in (".json", ".ipynb") or stripped[:1] in ("{", "["):
        try:
            return _json(text, limits)
        except Rejected:
            if ext in (".json", ".ipynb"):
                raise
    if low.startswith("<?xml"):
        body = _XML_DECL.sub("", stripped, count=1).lstrip()
        head = body[:512].lower()
        if head.startswith("<!doctype html") or head.startswith("<html"):
            return _html(body)  # XHTML
        return _xml_document(body)
    if (
        low.startswith("<!doctype html")
        or low.startswith("<html")
        or (ext in (".html", ".htm", ".xhtml") and "<" in low)
    ):
        return _html(text)
    if ext == ".xml" and low.startswith("<"):
        return _xml_document(stripped)
    if ext == ".eml" or len(_HEADER_LINE.findall(data[:2048])) >= 2 and data[:1].isalpha():
        return _email(data)
    if ext in (".csv", ".tsv"):
        return _csv(text)
    if ext in (".md", ".markdown"):
        return _markdown(text)
    return _plain(text)


_XML_DECL = re.compile(r"\A\s*<\?xml[^>]*\?>")
_RTF_TITLE = re.compile(r"\{\\title\s+([^{}]*)\}")
_ANSICPG = re.compile(r"\\ansicpg(\d+)")


def _rtf(text: str) -> Extracted:
    """RTF through striprtf: control words dropped, \\'hh escapes read in the document's code page."""
    from striprtf.striprtf import rtf_to_text

    m = _ANSICPG.search(text[:4096])
    encoding = f"cp{m.group(1)}" if m else "cp1252"
    try:
        body = rtf_to_text(text, encoding=encoding, errors="strict")
    except (UnicodeDecodeError, LookupError) as exc:
        raise Rejected("corrupt_rtf", f"RTF escapes do not decode as {encoding}: {exc}") from None
    except (IndexError, ValueError) as exc:
        raise Rejected("corrupt_rtf", f"RTF does not parse: {exc}") from None
    title = _RTF_TITLE.search(text[:8192])
    if title:
        title = rtf_to_text("{\\rtf1 " + title.group(1) + "}", encoding=encoding, errors="replace").strip()
    return Extracted("rtf", _MIME["rtf"], body, title=title or _first_line_title(body))


def _xml_document(text: str) -> Extracted:
    """Generic XML: the text of every element, a line per element except inside mixed content
    (a paragraph with inline markup stays one line); the first <title> element is the title."""
    try:
        root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(**_XML_PARSER_KW))
    except etree.XMLSyntaxError as exc:
        raise Rejected("corrupt_xml", f"XML is not well-formed: {exc}") from None
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, with_tail=False)

    def mixed(el) -> bool:
        return bool((el.text or "").strip()) or any((c.tail or "").strip() for c in el)

    parts: list[str] = []
    for event, el in etree.iterwalk(root, events=("start", "end")):
        parent = el.getparent()
        sep = " " if parent is not None and mixed(parent) else "\n"
        if event == "start":
            parts.append(sep + (el.text or ""))
        else:
            parts.append(sep + (el.tail or ""))
    titles = root.xpath("//*[local-name()='title']")
    title = " ".join("".join(titles[0].itertext()).split())[:200] if titles else None
    return Extracted(
        "xml", _MIME["xml"], "".join(parts), title=title or None, extra={"root": etree.QName(root).localname}
    )


def _first_line_title(text: str) -> str | None:
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return first if first and len(first) <= 120 else None


def _plain(text: str) -> Extracted:
    return Extracted("text", _MIME["text"], text, title=_first_line_title(text))


_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_SYNTAX = re.compile(r"^\s{0,3}(#{1,6}\s+|>\s?|[-*+]\s+|\d+\.\s+)", re.M)
_MD_EMPH = re.compile(r"(\*\*|__|\*|_|`{1,3})(?=\S)(.+?)(?<=\S)\1")


def _markdown(text: str) -> Extracted:
    meta: dict[str, str] = {}
    m = _FRONT.match(text)
    if m:
        for line in m.group(1).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                meta[k.strip().lower()] = v.strip().strip("\"'")
        text = text[m.end() :]
    title = meta.get("title")
    if not title:
        h = re.search(r"^#\s+(.+)$", text, re.M)
        title = h.group(1).strip() if h else None
    # The link and emphasis patterns cannot open with a fixed character, so Python's regex engine
    # tries them at every position: skip them when their opening characters are absent.
    body = _MD_LINK.sub(r"\1", text) if "[" in text else text
    body = _MD_SYNTAX.sub("", body)
    if "*" in body or "_" in body or "`" in body:
        body = _MD_EMPH.sub(r"\2", body)
    return Extracted(
        "markdown",
        _MIME["markdown"],
        body,
        title=title,
        author=meta.get("author"),
        created_at=parse_date(meta.get("date")),
    )


_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "hr",
    "title",
}
_DATE_META = ("date", "article:published_time", "dcterms.created", "dc.date", "pubdate", "publication_date")


def _html_text(root) -> str:
    for bad in root.xpath("//script|//style|//noscript|//template|//head"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK_TAGS:
            el.tail = "\n" + (el.tail or "")
    return root.text_content()


def _html(text: str) -> Extracted:
    try:
        root = lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise Rejected("corrupt_html", f"HTML does not parse: {exc}") from None
    title_el = root.find(".//title")
    title = title_el.text_content().strip() if title_el is not None else None
    if not title:
        h1 = root.find(".//h1")
        title = h1.text_content().strip() if h1 is not None else None
    author = created = None
    for meta in root.iter("meta"):
        key = (meta.get("name") or meta.get("property") or "").lower()
        if key == "author" and not author:
            author = (meta.get("content") or "").strip() or None
        elif key in _DATE_META and not created:
            created = parse_date(meta.get("content"))
    return Extracted("html", _MIME["html"], _html_text(root), title=title or None, author=author, created_at=created)


def _json(text: str, limits: Limits) -> Extracted:
    try:
        obj = json.loads(text)
    except RecursionError:
        raise Rejected("json_too_deep", "JSON nesting is too deep to parse safely") from None
    except ValueError as exc:
        raise Rejected("corrupt_json", f"invalid JSON: {exc}") from None
    if isinstance(obj, dict) and "cells" in obj and "nbformat" in obj:
        parts = []
        for cell in obj.get("cells") or []:
            src = cell.get("source", "") if isinstance(cell, dict) else ""
            parts.append("".join(src) if isinstance(src, list) else str(src))
        meta = obj.get("metadata") or {}
        title = meta.get("title") if isinstance(meta, dict) else None
        if not title:
            h = re.search(r"^#\s+(.+)$", "\n".join(parts), re.M)
            title = h.group(1).strip() if h else None
        return Extracted("json", "application/x-ipynb+json", "\n\n".join(parts), title=title, extra={"notebook": True})
    lines: list[str] = []

    def walk(node, path: str, depth: int):
        if depth > limits.max_json_depth:
            raise Rejected("json_too_deep", f"JSON nesting deeper than {limits.max_json_depth} levels")
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k), depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, path, depth + 1)
        elif isinstance(node, str):
            lines.append(f"{path}: {node}" if path else node)
        elif node is not None:
            lines.append(f"{path}: {node}" if path else str(node))

    walk(obj, "", 0)
    title = author = created = None
    if isinstance(obj, dict):
        lower = {str(k).lower(): v for k, v in obj.items()}
        title = next(
            (str(lower[k]) for k in ("title", "name", "subject", "headline") if isinstance(lower.get(k), str)), None
        )
        author = next((str(lower[k]) for k in ("author", "from", "creator") if isinstance(lower.get(k), str)), None)
        created = next(
            (parse_date(lower[k]) for k in ("date", "created", "created_at", "published") if k in lower), None
        )
    return Extracted("json", _MIME["json"], "\n".join(lines), title=title, author=author, created_at=created)


def _csv(text: str) -> Extracted:
    sample = text[:16384]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    body = "\n".join(" | ".join(cell.strip() for cell in row) for row in rows if any(c.strip() for c in row))
    return Extracted("csv", _MIME["csv"], body, extra={"rows": len(rows), "columns": len(rows[0]) if rows else 0})


def _email(data: bytes) -> Extracted:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, UnicodeDecodeError):
            content = body.get_payload(decode=True).decode("utf-8", "replace")
        text = _html_text(lxml_html.document_fromstring(content)) if body.get_content_type() == "text/html" else content
    elif not msg.is_multipart():
        text = str(msg.get_payload())
    header = "\n".join(f"{k}: {msg[k]}" for k in ("From", "To", "Subject", "Date") if msg[k])
    attachments = []
    for part in msg.iter_attachments() if msg.is_multipart() else ():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            attachments.append((part.get_filename() or f"attachment-{len(attachments) + 1}", payload))
    return Extracted(
        "email",
        _MIME["email"],
        f"{header}\n\n{text}",
        title=msg["Subject"] or None,
        author=str(msg["From"]) if msg["From"] else None,
        created_at=parse_date(msg["Date"]),
        children=attachments,
    )


def _pdf(data: bytes, limits: Limits) -> Extracted:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise Rejected(
                "encrypted_pdf", "the PDF is encrypted with a password; supply an unprotected copy"
            ) from None
        raise Rejected("corrupt_pdf", f"the PDF cannot be opened: {msg}") from None
    try:
        n = len(pdf)
        if n == 0:
            raise Rejected("corrupt_pdf", "the PDF has no pages")
        if n > limits.max_pdf_pages:
            raise Rejected("too_many_pages", f"the PDF has {n} pages, over the limit of {limits.max_pdf_pages}")
        pages, sources = [], []
        for i in range(n):
            page = pdf[i]
            textpage = page.get_textpage()
            text = textpage.get_text_bounded()
            textpage.close()
            if len(text.strip()) < _MIN_LAYER_CHARS and _has_images(page):
                from . import ocr

                text, confidence = ocr.pdf_page(page, limits)  # a scanned page
                sources.append({"page": i + 1, "source": "ocr", "ocr_confidence": confidence})
            else:
                sources.append({"page": i + 1, "source": "text", "ocr_confidence": None})
            pages.append(text)
            page.close()
        meta = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    return Extracted(
        "pdf",
        _MIME["pdf"],
        "\n\n".join(pages),
        title=meta.get("Title"),
        author=meta.get("Author"),
        created_at=parse_date(meta.get("CreationDate")),
        modified_at=parse_date(meta.get("ModDate")),
        page_count=n,
        extra={"pages": sources},
    )


_MIN_LAYER_CHARS = 16  # fewer characters than this on a page with an image: a scan's stray marks


def _has_images(page) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects(max_depth=2))


def _open_archive(data: bytes, limits: Limits) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Rejected("corrupt_archive", f"the ZIP container is damaged: {exc}") from None
    infos = zf.infolist()
    if len(infos) > limits.max_archive_entries:
        raise Rejected(
            "zip_bomb", f"{len(infos)} entries in the archive, over the limit of {limits.max_archive_entries}"
        )
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise Rejected("encrypted_archive", f"archive entry '{info.filename}' is encrypted")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > limits.max_compression_ratio:
            raise Rejected(
                "zip_bomb", f"entry '{info.filename}' expands {ratio:.0f}x (limit {limits.max_compression_ratio}x)"
            )
    if total > limits.max_uncompressed_bytes:
        raise Rejected(
            "zip_bomb", f"archive expands to {total:,} bytes, over the limit of {limits.max_uncompressed_bytes:,}"
        )
    return zf


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    # ZipExtFile stops at the declared size and checks the CRC, so a lying header cannot
    # make this read more than the bomb check already allowed.
    try:
        return zf.read(name)
    except KeyError:
        raise Rejected("corrupt_archive", f"the archive lacks '{name}'") from None
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise Rejected("corrupt_archive", f"cannot read '{name}' from the archive: {exc}") from None


def _xml(data: bytes, what: str):
    try:
        return etree.fromstring(data, etree.XMLParser(**_XML_PARSER_KW))
    except etree.XMLSyntaxError as exc:
        raise Rejected("corrupt_archive", f"{what} is not well-formed XML: {exc}") from None


_OOXML_MAIN = {
    b"wordprocessingml.document.main": "docx",
    b"spreadsheetml.sheet.main": "xlsx",
    b"presentationml.presentation.main": "pptx",
    b"ms-word.document.macroEnabled.main": "docx",
    b"ms-excel.sheet.macroEnabled.main": "xlsx",
    b"ms-powerpoint.presentation.macroEnabled.main": "pptx",
}


def _ooxml_kind(zf: zipfile.ZipFile, names: set[str]) -> str | None:
    """docx, xlsx or pptx by the package's declared main part (macro-enabled ones too)."""
    if "[Content_Types].xml" not in names:
        return None
    types = _read_member(zf, "[Content_Types].xml")
    for marker, kind in _OOXML_MAIN.items():
        if marker in types:
            return kind
    return None


def _zip_document(data: bytes, ext: str, limits: Limits) -> Extracted:
    from . import office

    zf = _open_archive(data, limits)
    names = set(zf.namelist())
    kind = _ooxml_kind(zf, names)
    if kind == "docx" or "word/document.xml" in names:
        return _docx(zf)
    if kind == "xlsx":
        return office.xlsx(data, core_properties(zf))
    if kind == "pptx":
        return office.pptx(data, core_properties(zf))
    odf = office.odf_kind(zf)
    if odf:
        return office.odf(data, odf)
    if "META-INF/container.xml" in names or (
        "mimetype" in names and zf.read("mimetype").strip() == b"application/epub+zip"
    ):
        return _epub(zf)
    return _archive(
        "zip", [(i.filename, i) for i in zf.infolist() if not i.is_dir()], lambda i: _read_member(zf, i.filename)
    )


def _archive(fmt: str, members: list, read) -> Extracted:
    """An archive is a document listing its members; each member becomes a child document (the
    size, count and ratio checks ran before anything was inflated)."""
    children = [(name, read(ref)) for name, ref in members]
    listing = "\n".join(f"{name} ({len(data):,} bytes)" for name, data in children)
    return Extracted(
        fmt,
        _MIME[fmt],
        f"Archive of {len(children)} files:\n{listing}",
        children=children,
        extra={"members": len(children)},
    )


def _sevenzip(data: bytes, limits: Limits) -> Extracted:
    import py7zr
    from py7zr.io import BytesIOFactory

    try:
        z = py7zr.SevenZipFile(io.BytesIO(data))
    except py7zr.PasswordRequired:
        raise Rejected("encrypted", "a password-protected 7-Zip archive (its file list is encrypted)") from None
    except (py7zr.Bad7zFile, EOFError, OSError, ValueError) as exc:
        raise Rejected("corrupt_archive", f"the 7-Zip archive is damaged: {exc}") from None
    with z:
        if z.needs_password():
            raise Rejected("encrypted", "a password-protected 7-Zip archive")
        infos = [i for i in z.list() if not i.is_directory]
        if len(infos) > limits.max_archive_entries:
            raise Rejected(
                "zip_bomb", f"{len(infos)} entries in the archive, over the limit of {limits.max_archive_entries}"
            )
        total = sum(i.uncompressed or 0 for i in infos)
        if total > limits.max_uncompressed_bytes:
            raise Rejected(
                "zip_bomb", f"archive expands to {total:,} bytes, over the limit of {limits.max_uncompressed_bytes:,}"
            )
        if total > 1024 * 1024 and total / max(len(data), 1) > limits.max_compression_ratio:
            raise Rejected(
                "zip_bomb", f"archive expands {total / len(data):.0f}x (limit {limits.max_compression_ratio}x)"
            )
        factory = BytesIOFactory(limits.max_uncompressed_bytes)
        try:
            z.extract(factory=factory)
        except (py7zr.Bad7zFile, EOFError, OSError, ValueError) as exc:
            raise Rejected("corrupt_archive", f"cannot unpack the 7-Zip archive: {exc}") from None

    def read(name):
        product = factory.products.get(name)
        if product is None:
            return b""
        product.seek(0)
        return product.read()

    return _archive("7z", [(i.filename, i.filename) for i in infos], read)


_CORE_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_OFFICE_DOCUMENT = re.compile(r"/officeDocument$")


def _main_part(zf: zipfile.ZipFile) -> str:
    """The main document part as the package relationships name it (Strict OOXML and some
    writers do not use word/document.xml's usual place)."""
    if "_rels/.rels" in zf.namelist():
        rels = _xml(_read_member(zf, "_rels/.rels"), "_rels/.rels")
        for rel in rels:
            if _OFFICE_DOCUMENT.search(rel.get("Type") or "") and rel.get("Target"):
                return rel.get("Target").lstrip("/")
    return "word/document.xml"


def _docx(zf: zipfile.ZipFile) -> Extracted:
    part = _main_part(zf)
    root = _xml(_read_member(zf, part), part)
    # Transitional and Strict OOXML name the same elements in two namespaces.
    w = "{" + etree.QName(root).namespace + "}" if etree.QName(root).namespace else ""
    # A text box is stored twice (DrawingML, and a VML fallback for old readers): keep one.
    etree.strip_elements(root, _MC_FALLBACK, with_tail=False)
    lines = []
    for p in root.iter(w + "p"):
        parts = []
        for node in p.iter(w + "t", w + "tab", w + "br"):
            # A paragraph inside a text box inside this one is a line of its own, not part of this one.
            if next(node.iterancestors(w + "p")) is not p:
                continue
            parts.append(node.text or "" if node.tag == w + "t" else ("\t" if node.tag == w + "tab" else "\n"))
        lines.append("".join(parts))
    return Extracted("docx", _MIME["docx"], "\n".join(lines), **core_properties(zf))


def core_properties(zf: zipfile.ZipFile) -> dict:
    """Title, author and dates from an OOXML package's docProps/core.xml (any of them may be None)."""
    if "docProps/core.xml" not in zf.namelist():
        return {}
    core = _xml(_read_member(zf, "docProps/core.xml"), "docProps/core.xml")

    def find(path):
        el = core.find(path, _CORE_NS)
        return el.text.strip() if el is not None and el.text and el.text.strip() else None

    return {
        "title": find("dc:title"),
        "author": find("dc:creator"),
        "created_at": parse_date(find("dcterms:created")),
        "modified_at": parse_date(find("dcterms:modified")),
    }


_OPF_NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def _epub(zf: zipfile.ZipFile) -> Extracted:
    container = _xml(_read_member(zf, "META-INF/container.xml"), "META-INF/container.xml")
    rootfile = container.find(".//{urn:oasis:names:tc:opendocument:xmlns:container}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise Rejected("corrupt_archive", "EPUB container.xml names no package document")
    opf_path = rootfile.get("full-path")
    opf = _xml(_read_member(zf, opf_path), opf_path)
    base = posixpath.dirname(opf_path)

    def dc(tag):
        el = opf.find(f".//dc:{tag}", _OPF_NS)
        return el.text.strip() if el is not None and el.text and el.text.strip() else None

    manifest = {
        item.get("id"): item.get("href")
        for item in opf.iterfind(".//opf:manifest/opf:item", _OPF_NS)
        if item.get("id") and item.get("href")
    }
    texts = []
    for ref in opf.iterfind(".//opf:spine/opf:itemref", _OPF_NS):
        href = manifest.get(ref.get("idref"))
        if not href:
            continue
        member = posixpath.normpath(posixpath.join(base, href.split("#")[0]))
        raw = _read_member(zf, member)
        try:
            root = lxml_html.document_fromstring(raw)
        except (etree.ParserError, ValueError):
            continue
        texts.append(_html_text(root))
    return Extracted(
        "epub",
        _MIME["epub"],
        "\n\n".join(texts),
        title=dc("title"),
        author=dc("creator"),
        created_at=parse_date(dc("date")),
        page_count=None,
        extra={"chapters": len(texts)},
    )
