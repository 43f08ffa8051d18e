"""Rule-based parts of the offline `local` provider: entities, field extraction, lexicon
sentiment, the word tokenizer of the keyword index, and the hashed features that were the first
vectors (a benchmark peer now). Meaning (embeddings, topics, summaries, key phrases) comes from
the pretrained model in dwc_resources.embedding and dwc_resources.semantic.
"""

from __future__ import annotations

import re

import numpy as np

HASHED_DIM = 384
# v2: topics, summaries and key phrases from the pretrained embedding model (v1: term lists)
PROVIDER_VERSION = "local-v2"

_WORD = re.compile(r"[^\W\d_][^\W\d_'\-]+")
_ADDRESS = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself yourselves said says one two new
may might must shall upon per via within without among across around would could should year years
""".split()
)


def content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOPWORDS and len(w) > 2]


def hashed_features(texts: list[str], dim: int = HASHED_DIM) -> np.ndarray:
    """Hashed unigram + bigram TF vectors with sublinear weights, L2-normalised (float32)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        n_features=dim, ngram_range=(1, 2), stop_words=list(STOPWORDS), alternate_sign=False, norm=None, lowercase=True
    )
    m = vec.transform(texts)
    m.data = 1.0 + np.log(m.data)
    dense = m.toarray().astype(np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return dense / np.where(norms == 0, 1, norms)


_POSITIVE = frozenset(
    """good great excellent positive success successful win won gain gains growth improve improved
improvement benefit best strong record happy pleased welcome approve approved agree agreed efficient reliable profit
profits rise rising boost recovered praise popular""".split()
)
_NEGATIVE = frozenset(
    """bad poor negative fail failed failure loss losses lose lost decline declined drop fell
fall weak worse worst risk risks delay delays delayed problem problems concern concerns crisis cut cuts late
shortage shortages complaint complaints error errors outage damage dispute penalty""".split()
)
_NEGATION = frozenset("not no never without hardly".split())


def sentiment(text: str) -> float:
    """Lexicon polarity in [-1, 1]; a negation flips the next three words."""
    words = [m.lower() for m in _WORD.findall(text)]
    score, flip = 0, 0
    for w in words:
        if w in _NEGATION:
            flip = 3
            continue
        sign = -1 if flip else 1
        if w in _POSITIVE:
            score += sign
        elif w in _NEGATIVE:
            score -= sign
        flip = max(flip - 1, 0)
    hits = sum(1 for w in words if w in _POSITIVE or w in _NEGATIVE)
    return 0.0 if hits == 0 else round(score / (hits + 2), 4)


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_MONEY = re.compile(
    r"(?:(?:EUR|USD|GBP|CHF|JPY|€|\$|£)\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|bn|m|k))?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:EUR|USD|GBP|euros?|dollars?|pounds?)\b)"
)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}} (?:{_MONTHS}) \d{{4}}|(?:{_MONTHS}) \d{{1,2}},? \d{{4}})\b"
)
_ORG = re.compile(
    r"\b(?:[A-Z][A-Za-z&\-]+\s){0,3}(?:[A-Z][A-Za-z&\-]+)\s(?:Ltd|GmbH|Inc|LLC|plc|SA|AG|Co-op|Corp|"
    r"Corporation|Group|Bank|University|Council|Ministry)\b\.?"
)
_PERSON = re.compile(
    r"\b(?:Mr|Ms|Mrs|Dr|Prof)\.?\s[A-Z][a-z]+(?:\s[A-Z][a-z]+)?|\b[A-Z][a-z]+\s[A-Z][a-z]+(?=,? (?:said|says|who|told))"
)


def entities(text: str, places: tuple[str, ...] = ()) -> list[dict]:
    """Emails, money, dates, organisations, people and (from a gazetteer) places, with offsets."""
    found = []
    for label, pattern in (
        ("email", _EMAIL),
        ("money", _MONEY),
        ("date", _DATE),
        ("organisation", _ORG),
        ("person", _PERSON),
    ):
        for m in pattern.finditer(text):
            found.append({"type": label, "text": m.group().strip().rstrip("."), "start": m.start(), "end": m.end()})
    for place in places:
        for m in re.finditer(rf"\b{re.escape(place)}\b", text):
            found.append({"type": "place", "text": place, "start": m.start(), "end": m.end()})
    found.sort(key=lambda e: (e["start"], e["type"]))
    return found


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ENTITY_TYPES = {"email": "email", "money": "money", "date": "date", "organisation": "organisation", "person": "person"}


def _iso_date(value: str) -> str | None:
    from datetime import datetime

    s = value.strip().rstrip(".")
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%B %d, %Y", "%B %d %Y", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            continue
    m = _DATE.search(s)
    return _iso_date(m.group()) if m and m.group() != s else None


def _number(value: str) -> float | None:
    m = _NUMBER.search(value)
    return float(m.group().replace(",", "")) if m else None


def _coerce(value, kind: str):
    """A found string as the declared field type; None when it does not parse as one."""
    if value is None:
        return None
    if kind == "list":
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    if kind == "number":
        return _number(value)
    if kind == "date":
        return _iso_date(value)
    if kind == "boolean":
        return value.strip().lower() in {"yes", "true", "y", "1", "x"}
    return value.strip()


def extract_fields(text: str, fields: dict[str, dict]) -> dict:
    """Declared fields from a document, by rules a reader would use.

    Per field: its `pattern` (first group) if given; else a "Label: value" line whose label is
    the field's `label` (default its name with spaces); else the first entity of the field's
    `entity` type (money, date, email, organisation, person; `list` fields take them all).
    Values are coerced to the declared `type` (string, number, date, boolean, list)."""
    found = entities(text)
    out = {}
    for name, spec in fields.items():
        kind = spec.get("type", "string")
        value = None
        if spec.get("pattern"):
            m = re.search(spec["pattern"], text, re.IGNORECASE | re.MULTILINE)
            if m:
                value = m.group(1) if m.groups() else m.group()
        if value is None:
            labels = [spec.get("label") or name.replace("_", " ")]
            for label in labels:
                m = re.search(
                    rf"^[\W_]*{re.escape(label)}[\W_]*?\s*[:\-–]\s*(.+?)\s*$", text, re.IGNORECASE | re.MULTILINE
                )
                if m:
                    value = m.group(1).strip("*_ ")
                    break
        entity = spec.get("entity") or ({"date": "date"}.get(kind))
        if value is None and entity in _ENTITY_TYPES:
            values = list(dict.fromkeys(e["text"] for e in found if e["type"] == entity))
            value = values if kind == "list" else (values[0] if values else None)
        out[name] = _coerce(value, kind)
    return out
