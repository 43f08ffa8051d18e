"""OCR of scanned pages and images with Tesseract (Debian's `tesseract-ocr`, driven by pytesseract).

A page is read from its text layer when it has one; a page without (a scan) is rendered at 300 dpi
and read by Tesseract. Each page records where its text came from and, for OCR, Tesseract's mean
word confidence (0-1). Without Tesseract such a file is quarantined as `ocr_unavailable`, and
ingestion reads it again by itself once Tesseract is installed (see ingest.ingest_landing).
"""

from __future__ import annotations

import functools
import io
import shutil

from .formats import Extracted, Limits, Rejected

RENDER_DPI = 300
PAGE_TIMEOUT_S = 120
# Pixels one image may decode to (Pillow's decompression-bomb guard): an A3 page at 600 dpi.
MAX_PIXELS = 7016 * 9921
_IMAGE_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}


@functools.cache
def tesseract_version() -> str | None:
    """Tesseract's version, or None when it is not installed (then scans wait as ocr_unavailable)."""
    if shutil.which("tesseract") is None:
        return None
    import pytesseract

    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError):
        return None


def available() -> bool:
    return tesseract_version() is not None


def _require() -> None:
    if not available():
        raise Rejected(
            "ocr_unavailable",
            "a scanned page or image needs OCR and Tesseract is not installed (apt-get install tesseract-ocr); "
            "the file is read again once it is",
        )


def read_image(image, languages: str) -> tuple[str, float]:
    """(text, mean word confidence 0-1) of one page image."""
    import pytesseract

    try:
        data = pytesseract.image_to_data(
            image, lang=languages, output_type=pytesseract.Output.DICT, timeout=PAGE_TIMEOUT_S
        )
    except RuntimeError as exc:  # pytesseract's timeout
        raise Rejected("extraction_error", f"OCR took longer than {PAGE_TIMEOUT_S} s on a page: {exc}") from None
    except pytesseract.TesseractError as exc:
        raise Rejected("extraction_error", f"Tesseract failed: {exc}") from None
    lines: dict[tuple, list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if conf < 0 or not word.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        confidences.append(conf)
    text, last_par = [], None
    for (block, par, _), words in lines.items():
        if last_par is not None and (block, par) != last_par:
            text.append("")  # a blank line between paragraphs
        text.append(" ".join(words))
        last_par = (block, par)
    confidence = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return "\n".join(text), round(confidence, 4)


def image(data: bytes, limits: Limits) -> Extracted:
    """A PNG, JPEG or TIFF image (every frame of a multi-page TIFF) through OCR."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        kind = img.format
        frames = [frame.copy() for _, frame in zip(range(limits.max_pdf_pages + 1), ImageSequence.Iterator(img))]
    except Image.DecompressionBombError as exc:
        raise Rejected("zip_bomb", f"the image decodes to too many pixels: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Rejected("corrupt_image", f"the image does not decode: {exc}") from None
    if len(frames) > limits.max_pdf_pages:
        raise Rejected("too_many_pages", f"the image has more than {limits.max_pdf_pages} frames")
    _require()  # after decoding: a broken image is corrupt_image whether or not Tesseract is here
    texts, pages = [], []
    for number, frame in enumerate(frames, 1):
        text, confidence = read_image(frame.convert("L"), limits.ocr_languages)
        texts.append(text)
        pages.append({"page": number, "source": "ocr", "ocr_confidence": confidence})
    return Extracted(
        "image",
        _IMAGE_MIME.get(kind, "image/" + (kind or "unknown").lower()),
        "\n\n".join(texts),
        page_count=len(frames),
        extra={"pages": pages},
    )


def pdf_page(page, limits: Limits) -> tuple[str, float]:
    """OCR of one pypdfium2 page rendered at RENDER_DPI, in grey."""
    _require()
    bitmap = page.render(scale=RENDER_DPI / 72, grayscale=True)
    try:
        return read_image(bitmap.to_pil(), limits.ocr_languages)
    finally:
        bitmap.close()
