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
}

# Magic numbers of formats we do not ingest: better a clear reason than garbled text.
_BINARY_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"SQLite format 3\x00", "SQLite database"),
]
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
        raise Rejected(
            "encrypted_or_legacy_office",
            "an OLE2 compound file: a password-protected Office document or a legacy .doc/.xls, not supported",
        )
    for magic, label in _BINARY_MAGIC:
        if data.startswith(magic):
            raise Rejected("unsupported_binary", f"binary content ({label}) in a file named '{ext or 'no extension'}'")
    if _looks_binary(data):
        raise Rejected("binary_content", f"binary content in a file named '{ext or 'no extension'}' (not text)")
    text = decode_text(data)
    return _text_document(text, data, ext, limits)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a byte-order mark has NULs by design
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.05


def decode_text(data: bytes) -> str:
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as exc:
                raise Rejected(
                    "undecodable_text", f"declares {enc} by its byte-order mark but does not decode: {exc}"
                ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1024 * 1024]).best()
    if best is None or best.encoding is None:
        raise Rejected("undecodable_text", "not valid UTF-8 and no other text encoding fits the bytes")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise Rejected("undecodable_text", f"looks like {best.encoding} but does not decode as it") from None
    if best.chaos > 0.4:
        raise Rejected("undecodable_text", f"decodes as {best.encoding} only as garbage (chaos {best.chaos:.2f})")
    return text


def _text_document(text: str, data: bytes, ext: str, limits: Limits) -> Extracted:
    stripped = text.lstrip()
    low = stripped[:512].lower()
    if ext in (".json", ".ipynb") or stripped[:1] in ("{", "["):
        try:
            return _json(text, limits)
        except Rejected:
            if ext in (".json", ".ipynb"):
                raise
    if low.startswith("<!doctype html") or low.startswith("<html") or (ext in (".html", ".htm") and "<" in low):
        return _html(text)
    if ext == ".eml" or len(_HEADER_LINE.findall(data[:2048])) >= 2 and data[:1].isalpha():
        return _email(data)
    if ext in (".csv", ".tsv"):
        return _csv(text)
    if ext in (".md", ".markdown"):
        return _markdown(text)
    return _plain(text)


def _plain(text: str) -> Extracted:
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    title = first if first and len(first) <= 120 else None
    return Extracted("text", _MIME["text"], text, title=title)


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
    return Extracted(
        "email",
        _MIME["email"],
        f"{header}\n\n{text}",
        title=msg["Subject"] or None,
        author=str(msg["From"]) if msg["From"] else None,
        created_at=parse_date(msg["Date"]),
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
        pages = []
        for i in range(n):
            page = pdf[i]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        meta = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    text = "\n\n".join(pages)
    if not text.strip():
        raise Rejected("no_text_layer", "the PDF has no extractable text (a scan without OCR?)")
    return Extracted(
        "pdf",
        _MIME["pdf"],
        text,
        title=meta.get("Title"),
        author=meta.get("Author"),
        created_at=parse_date(meta.get("CreationDate")),
        modified_at=parse_date(meta.get("ModDate")),
        page_count=n,
    )


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


def _zip_document(data: bytes, ext: str, limits: Limits) -> Extracted:
    zf = _open_archive(data, limits)
    names = set(zf.namelist())
    if "word/document.xml" in names:
        return _docx(zf)
    if "META-INF/container.xml" in names or (
        "mimetype" in names and zf.read("mimetype").strip() == b"application/epub+zip"
    ):
        return _epub(zf)
    raise Rejected(
        "unsupported_archive", f"a ZIP archive that is neither DOCX nor EPUB (named '{ext or 'no extension'}')"
    )


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CORE_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
}


def _docx(zf: zipfile.ZipFile) -> Extracted:
    root = _xml(_read_member(zf, "word/document.xml"), "word/document.xml")
    lines = []
    for p in root.iter(_W + "p"):
        parts = []
        for node in p.iter(_W + "t", _W + "tab", _W + "br"):
            parts.append(node.text or "" if node.tag == _W + "t" else ("\t" if node.tag == _W + "tab" else "\n"))
        lines.append("".join(parts))
    title = author = created = modified = None
    if "docProps/core.xml" in zf.namelist():
        core = _xml(_read_member(zf, "docProps/core.xml"), "docProps/core.xml")

        def find(path):
            el = core.find(path, _CORE_NS)
            return el.text.strip() if el is not None and el.text and el.text.strip() else None

        title, author = find("dc:title"), find("dc:creator")
        created, modified = parse_date(find("dcterms:created")), parse_date(find("dcterms:modified"))
    return Extracted(
        "docx", _MIME["docx"], "\n".join(lines), title=title, author=author, created_at=created, modified_at=modified
    )


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
