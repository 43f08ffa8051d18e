"""The offline `local` provider: deterministic enrichment with no download and no network.

Extractive summaries, keywords, zero-shot topics against a configurable taxonomy, rule-based
entities, lexicon sentiment and hashed embeddings, from the standard library, NumPy and
scikit-learn. Its quality is measured (bench/enrich, to come), not assumed; it is the embedded
default, and an OpenAI-compatible endpoint replaces it by configuration.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

EMBEDDING_DIM = 384
PROVIDER_VERSION = "local-v1"

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
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


@dataclass(frozen=True)
class Topic:
    label: str
    terms: tuple[str, ...]


# Kinds of business document, the platform's default taxonomy.
DOCUMENT_TAXONOMY = (
    Topic(
        "contract",
        (
            "agreement",
            "party",
            "parties",
            "term",
            "terminate",
            "liability",
            "governing law",
            "confidentiality",
            "obligations",
            "signed",
            "clause",
            "schedule",
            "renewal",
            "warranty",
        ),
    ),
    Topic(
        "invoice",
        (
            "invoice",
            "amount due",
            "total due",
            "vat",
            "subtotal",
            "payment terms",
            "iban",
            "quantity",
            "unit price",
            "invoice number",
            "due date",
            "bill to",
            "receipt",
            "paid",
        ),
    ),
    Topic(
        "report",
        (
            "report",
            "quarter",
            "findings",
            "summary",
            "method",
            "results",
            "analysis",
            "recommendations",
            "percent",
            "compared",
            "targets",
            "risks",
            "trend",
            "budget",
        ),
    ),
    Topic(
        "correspondence",
        (
            "dear",
            "regards",
            "thanks",
            "please",
            "could you",
            "let me know",
            "call",
            "meeting",
            "attached",
            "hi",
            "best regards",
            "confirm",
            "reply",
            "following",
        ),
    ),
    Topic(
        "news",
        (
            "officials",
            "said",
            "announced",
            "city",
            "council",
            "million",
            "project",
            "critics",
            "opened",
            "residents",
            "minister",
            "according",
            "public",
            "spokesperson",
        ),
    ),
    Topic(
        "manual",
        (
            "install",
            "installation",
            "configure",
            "device",
            "troubleshooting",
            "safety",
            "power",
            "connect",
            "cable",
            "settings",
            "restart",
            "mount",
            "status light",
            "support",
        ),
    ),
    Topic(
        "minutes",
        (
            "minutes",
            "present",
            "chair",
            "action",
            "agenda",
            "approved",
            "meeting",
            "board",
            "resolved",
            "next meeting",
            "apologies",
            "decision",
            "item",
        ),
    ),
)

# The five BBC News sections, for the zero-shot benchmark on ../shared/data/bbc-news.
NEWS_TAXONOMY = (
    Topic(
        "business",
        (
            "company",
            "market",
            "shares",
            "profit",
            "sales",
            "bank",
            "economy",
            "investors",
            "firm",
            "growth",
            "prices",
            "deal",
            "revenue",
            "chief executive",
            "stock",
            "trade",
            "oil",
            "dollar",
        ),
    ),
    Topic(
        "entertainment",
        (
            "film",
            "music",
            "band",
            "album",
            "actor",
            "actress",
            "award",
            "show",
            "star",
            "singer",
            "director",
            "festival",
            "movie",
            "tv",
            "box office",
            "oscar",
            "comedy",
            "chart",
        ),
    ),
    Topic(
        "politics",
        (
            "government",
            "minister",
            "election",
            "party",
            "labour",
            "tory",
            "prime minister",
            "mp",
            "parliament",
            "vote",
            "policy",
            "campaign",
            "leader",
            "bill",
            "secretary",
            "lords",
        ),
    ),
    Topic(
        "sport",
        (
            "match",
            "game",
            "team",
            "win",
            "cup",
            "player",
            "coach",
            "season",
            "league",
            "champion",
            "goal",
            "injury",
            "final",
            "club",
            "olympic",
            "race",
            "rugby",
            "football",
            "tennis",
        ),
    ),
    Topic(
        "tech",
        (
            "technology",
            "software",
            "computer",
            "internet",
            "users",
            "mobile",
            "phone",
            "digital",
            "online",
            "broadband",
            "network",
            "games",
            "data",
            "microsoft",
            "virus",
            "web",
            "devices",
            "video",
        ),
    ),
)


def sentences(text: str) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n|\n", text):
        out.extend(s.strip() for s in _SENTENCE.split(para) if s.strip())
    return out


def content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOPWORDS and len(w) > 2]


def summarize(text: str, max_sentences: int = 3) -> str:
    """The highest-scoring sentences, in their original order: a sentence scores the mean
    frequency of its content words, with a small bonus for coming early."""
    sents = sentences(text)
    if len(sents) <= max_sentences:
        return " ".join(sents)
    freq = Counter(content_words(text))
    if not freq:
        return " ".join(sents[:max_sentences])
    top = max(freq.values())
    scored = []
    for i, s in enumerate(sents):
        words = content_words(s)
        if len(words) < 3:
            continue
        score = sum(freq[w] / top for w in words) / math.sqrt(len(words)) + 0.3 / (1 + i)
        scored.append((score, i))
    chosen = sorted(i for _, i in sorted(scored, reverse=True)[:max_sentences])
    return " ".join(sents[i] for i in chosen)


def keywords(text: str, k: int = 8) -> list[str]:
    """Frequent content words and two-word phrases, phrases preferred when they recur."""
    words = [m.lower() for m in _WORD.findall(_ADDRESS.sub(" ", text))]
    counts: Counter = Counter()
    for a, b in zip(words, words[1:]):
        if a not in STOPWORDS and b not in STOPWORDS and len(a) > 2 and len(b) > 2:
            counts[f"{a} {b}"] += 2
    for w in words:
        if w not in STOPWORDS and len(w) > 2:
            counts[w] += 1
    picked: list[str] = []
    for term, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if " " in term and n < 4:
            continue  # a phrase seen once is noise
        if any(term in p.split() or (" " in term and term in p) for p in picked):
            continue
        picked.append(term)
        if len(picked) == k:
            break
    return picked


def embed(texts: list[str], dim: int = EMBEDDING_DIM) -> np.ndarray:
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


TAXONOMIES = {"documents": DOCUMENT_TAXONOMY, "news": NEWS_TAXONOMY}


def classify(text: str, taxonomy: tuple[Topic, ...] = DOCUMENT_TAXONOMY) -> tuple[str, dict[str, float]]:
    """Zero-shot topic: term hits per label (phrases count double), normalised to shares."""
    low = " " + " ".join(m.lower() for m in _WORD.findall(text)) + " "
    scores = {}
    for topic in taxonomy:
        s = 0.0
        for term in topic.terms:
            hits = low.count(f" {term} ")
            s += hits * (2.0 if " " in term else 1.0)
        scores[topic.label] = s
    total = sum(scores.values())
    if total == 0:
        return "unknown", {t.label: 0.0 for t in taxonomy}
    shares = {k: round(v / total, 4) for k, v in scores.items()}
    return max(shares, key=lambda k: (shares[k], k)), shares


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
