"""Text normalisation, language identification, tokenisation and dates: pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
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


_STOPWORDS = {
    "en": "the of and to in is that for it with as was on be by this are from at or an have not which but",
    "fr": "le la les de des et un une est que pour dans qui sur pas au avec ce il du en sont par",
    "de": "der die das und ist nicht mit von zu den ein eine auf für sich dem des im sie auch werden",
    "es": "el la los las de y que en un una es por con para del se no al lo como su más",
    "it": "il la di che e un una per non sono con del della le gli nel alla questo anche",
    "pt": "o a os as de que e um uma para com não do da em por no na se mais como",
    "nl": "de het een en van is dat op te in niet met voor zijn er aan ook als bij",
    "sv": "och att det som en på är av för med till den har inte de om ett var jag",
}
_LANGS = list(_STOPWORDS)
_STOPWORD_LANGS: dict[str, list[int]] = {}
for _i, _lang in enumerate(_LANGS):
    for _w in set(_STOPWORDS[_lang].split()):
        _STOPWORD_LANGS.setdefault(_w, []).append(_i)
_ANY_STOPWORD = frozenset(_STOPWORD_LANGS)
_LETTER = re.compile(r"[^\W\d_]")
_SCRIPTS = [  # (language, characters of its script, share of letters that decides)
    ("ja", re.compile(r"[\u3040-\u30ff]"), 0.05),
    ("zh", re.compile(r"[\u4e00-\u9fff]"), 0.3),
    ("ko", re.compile(r"[\uac00-\ud7af]"), 0.3),
    ("ru", re.compile(r"[\u0400-\u04ff]"), 0.3),
    ("ar", re.compile(r"[\u0600-\u06ff]"), 0.3),
]


def detect_language(text: str, words: list[str] | None = None, sample_words: int = 400) -> str:
    """ISO 639-1 code from script and stop-word profiles; 'und' when the evidence is thin.

    Deterministic and fast (microseconds per document), so it can run on every file; the
    enrichment domain can refine it with a model where that is worth the cost.
    """
    sample = text[:6000]
    if not sample.isascii():
        letters = len(_LETTER.findall(sample))
        if not letters:
            return "und"
        for lang, pattern, share in _SCRIPTS:
            if len(pattern.findall(sample)) / letters > share:
                return lang
    words = (words if words is not None else words_of(sample))[:sample_words]
    if not words:
        return "und"
    hits = [0] * len(_LANGS)
    # Only stop words can count: filter them out at C speed, then count the few that remain.
    for w, n in Counter(filter(_ANY_STOPWORD.__contains__, words)).items():
        for i in _STOPWORD_LANGS[w]:
            hits[i] += n
    best_hits = max(hits)
    if best_hits < 3 or best_hits / len(words) < 0.05:
        return "und"
    return _LANGS[hits.index(best_hits)]  # ties go to the language listed first


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
