"""Personal data in text: detection with validation, and masking (plain Python, no model to download).

Every detector returns spans (start, end, type, confidence, detector); values themselves are never
returned or stored by callers. Numbers are validated before they count: a card must pass Luhn and
carry a known issuer prefix, an IBAN its country's length and the ISO 7064 mod-97 check, a Dutch
BSN the eleven-test, so a random 16-digit number is not a card. Names and addresses come from
patterns (honorifics, common given names, salutations, street suffixes, postcodes); an LLM provider
can add more spans through `merge_spans`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DETECTOR_VERSION = "pii-v1"

# The order decides which span wins where two overlap.
TYPES = ["email", "iban", "card", "national_id", "phone", "address", "person"]
_RANK = {t: i for i, t in enumerate(TYPES)}
PLACEHOLDER = {t: f"[{t.upper()}]" for t in TYPES}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str
    confidence: float
    detector: str

    def as_row(self) -> dict:
        """The span as the warehouse stores it (docs.documents.pii, docs.chunks.pii)."""
        return {
            "start": self.start,
            "end": self.end,
            "type": self.type,
            "confidence": self.confidence,
            "detector": self.detector,
        }


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)

_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_CARD_IIN = [  # (prefix range low, high, lengths)
    ("4", "4", (13, 16, 19)),
    ("51", "55", (16,)),
    ("2221", "2720", (16,)),
    ("34", "34", (15,)),
    ("37", "37", (15,)),
    ("6011", "6011", (16, 19)),
    ("644", "649", (16, 19)),
    ("65", "65", (16, 19)),
    ("3528", "3589", (16, 17, 18, 19)),
    ("36", "36", (14, 16, 19)),
    ("300", "305", (14, 16, 19)),
    ("38", "39", (16, 19)),
    ("62", "62", (16, 17, 18, 19)),
    ("50", "50", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("56", "58", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("67", "67", (12, 13, 14, 15, 16, 17, 18, 19)),
]

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_IBAN_LENGTH = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}

_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]")
_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
_BSN = re.compile(r"(?i:\b(?:bsn|burgerservicenummer)\b)\D{0,20}?(?<!\d)(\d{9}|\d{4}\.\d{2}\.\d{3})(?!\d)")

_DIGIT_RUN = re.compile(r"[\d+(][\d ().+-]{7,}")
_PHONE = re.compile(
    r"(?:\+\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international
    r"|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}"  # North American
    r"|0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4})"  # national with a trunk 0
)
_PHONE_CONTEXT = re.compile(r"(?i)\b(?:tel|phone|mobile|cell|call|fax|whatsapp|ring)\b")

_STREET_SUFFIX = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq"
    r"|Terrace|Close|Crescent|Parkway|Pkwy|Highway|Hwy|Row|Gardens|Mews|Hill)"
)
_US_TAIL = r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2},?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}"
_UK_TAIL = rf"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){{0,2}},?\s+{_UK_POSTCODE})"
_ADDRESS = re.compile(rf"\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-z]+\s+){{1,4}}{_STREET_SUFFIX}\b\.?(?:{_US_TAIL}|{_UK_TAIL})?")
_STREET_WORDS = ("straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "laan", "straat", "gracht", "plein")
_ADDRESS_CONTINENTAL = re.compile(
    r"[A-Z][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|laan|straat|gracht|plein)"
    r"\s+\d{1,4}[a-z]?(?:,\s*\d{4,5}(?:\s?[A-Z]{2})?\s+[A-Z][a-zäöüß]+)?\b"
)

_GIVEN_NAMES = frozenset(
    """
aaron abigail adam adrian ahmed aisha alan albert alex alexander alexandra alice alicia amanda amelia amy ana
andrea andrew angela anna anne anthony antonio arthur ava barbara ben benjamin bernard beth betty brian bruce
carl carla carlos carmen caroline catherine charles charlotte chen chloe chris christian christina christine
christopher claire clara daniel david deborah dennis diana diego dmitri donald dorothy edward elena elizabeth
ella emily emma eric erik eva evelyn fatima felix fernando fiona francesca francis frank gabriel gary george
grace gregory hannah harry heather helen henry hugo ian isabel isabella ivan jack jacob james jan jane janet
jason javier jean jennifer jessica joan joe johan john jonathan jorge jose joseph joshua juan julia julie
karen kate katherine kenneth kevin kim laura lauren leo linda lisa liam louis lucas lucy luis luke maria
mark martin mary matthew maya mei michael michelle mohammed nancy natalie nathan nicholas nicole noah olga
oliver olivia omar oscar patricia patrick paul paula peter philip priya rachel raj rebecca richard robert
rosa ryan samuel sandra sara sarah scott sean sebastian sergei sharon sofia sophia sophie stephanie stephen
steven susan thomas timothy tom victoria vincent wei william yuki zoe
abdul ade aiko akira alejandro ali amara amir ananya andreas anja antoine arjun astrid aziz bjorn camille
carolina chiara chidi claudia cristina dani daniela dario dimitri elif elisa emil emilia enzo eszter fabian
farah fatma felipe francesco freya gabriela giulia giovanni gustavo hana hans hassan heidi hiroshi ibrahim
ilse ines ingrid irina isabelle jakub jana javed jens jin jonas jorge jurgen kai kamal karim katarina kenji
klaus kofi lars lea lena leila lorenzo luca lukas magnus malik marco marek mariam marta mateo matteo mehmet
miguel mikhail milan min mustafa nadia naomi nikolai nina nils noor ola olaf pablo pedro pierre pietro
rafael rahul ravi riya rui sakura samir sanjay santiago satoshi selin seo sina sven tariq teresa tobias
valentina viktor wojciech xavier yara yasmin yusuf zainab zofia
""".split()
)
_CAP = r"[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?"
_HONORIFIC_WORDS = ("Mr", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Dame", "Madam")
_HONORIFIC = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam)\.?\s+((?:{_CAP}\s+){{0,2}}{_CAP})")
_SALUTATION_WORDS = (
    "Dear",
    "Hi ",
    "Hello",
    "Name:",
    "Signed by",
    "Contact:",
    "Attn",
    "Attention:",
    "Regards,",
    "Sincerely,",
    "From:",
    "To:",
    "Cc:",
)
_SALUTATION = re.compile(
    rf"\b(?:Dear|Hi|Hello|Name:|Signed by|Contact:|Attn:|Attention:|Regards,|Sincerely,|From:|To:|Cc:)"
    rf"[ \t]*\n?[ \t]*({_CAP}(?:[ \t]+{_CAP}){{0,2}})\b"
)
_GIVEN_SURNAME = re.compile(rf"({_CAP})\s+((?:[A-Z]\.\s+)?{_CAP})\b")
# Gates: one scan each for "does any of these words occur" (a search for an alternation of
# literals scans at C speed; a substring test per word scanned the text once per word).
_HONORIFIC_GATE = re.compile("|".join(map(re.escape, _HONORIFIC_WORDS)))
_SALUTATION_GATE = re.compile("|".join(map(re.escape, _SALUTATION_WORDS)))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    for low, high, lengths in _CARD_IIN:
        head = digits[: len(low)]
        if low <= head <= high and len(digits) in lengths:
            return True
    return False


def iban_valid(value: str) -> bool:
    s = value.replace(" ", "").upper()
    if _IBAN_LENGTH.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def bsn_valid(digits: str) -> bool:
    d = [int(c) for c in digits]
    return len(d) == 9 and (sum((9 - i) * d[i] for i in range(8)) - d[8]) % 11 == 0 and d[0] + d[1] + d[2] > 0


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def detect(text: str) -> list[Span]:
    """Every personal-data span in `text`, non-overlapping, in order.

    Cheap gates first (an '@', a run of digits, a capital letter after a title): most text has
    no candidate, and Python's regex engine scans slowly past patterns that open with a lookaround,
    so each detector runs only on the windows its gate found."""
    if not text:
        return []
    found: list[Span] = []
    add = found.append
    at = text.find("@")
    while at != -1:
        lo = max(0, at - 64)
        for m in _EMAIL.finditer(text, lo, min(len(text), at + 256)):
            if m.start() <= at < m.end():
                add(Span(m.start(), m.end(), "email", 0.99, "regex"))
                break
        at = text.find("@", at + 1)
    if any(d in text for d in "0123456789"):  # single characters: memchr
        for m in _IBAN.finditer(text):
            if iban_valid(m.group()):
                add(Span(m.start(), m.end(), "iban", 0.99, "mod97"))
        for run in _DIGIT_RUN.finditer(text):
            _numbers_in(text, run.start(), run.end(), add)
        low = text.lower()
        if "bsn" in low or "burgerservicenummer" in low:
            for m in _BSN.finditer(text):
                if bsn_valid(_digits(m.group(1))):
                    add(Span(m.start(1), m.end(1), "national_id", 0.9, "nl_bsn"))
        for m in _NINO.finditer(text):
            if m.group()[:2] not in _NINO_BAD_PREFIX and _bounded(text, m.start(), m.end()):
                add(Span(m.start(), m.end(), "national_id", 0.9, "uk_nino"))
        for m in _ADDRESS.finditer(text):
            if _bounded(text, m.start(), m.end()):
                add(Span(m.start(), m.end(), "address", 0.8, "pattern"))
        if any(w in low for w in _STREET_WORDS):
            for m in _ADDRESS_CONTINENTAL.finditer(text):
                if not (m.start() and text[m.start() - 1].isalnum()):
                    add(Span(m.start(), m.end(), "address", 0.8, "pattern"))
    if _HONORIFIC_GATE.search(text):
        for m in _HONORIFIC.finditer(text):
            add(Span(m.start(1), m.end(1), "person", 0.85, "honorific"))
    if _SALUTATION_GATE.search(text):
        for m in _SALUTATION.finditer(text):
            add(Span(m.start(1), m.end(1), "person", 0.8, "salutation"))
    for m in _GIVEN_SURNAME.finditer(text):
        if (
            m.group(1).lower() in _GIVEN_NAMES
            and m.group(2).lower() not in _NOT_SURNAMES
            and not (m.start() and text[m.start() - 1].isalpha())
        ):
            add(Span(m.start(), m.end(), "person", 0.7, "given_name"))
    return merge_spans(found) if found else found


def _numbers_in(text: str, lo: int, hi: int, add) -> None:
    """Cards, US social security numbers and phone numbers inside one run of digits and separators."""
    for m in _CARD.finditer(text, lo, hi):
        digits = _digits(m.group())
        if _bounded(text, m.start(), m.end()) and luhn_valid(digits) and card_issuer_ok(digits):
            add(Span(m.start(), m.end(), "card", 0.95, "luhn+iin"))
    for m in _SSN.finditer(text, lo, hi):
        area = m.group()[:3]
        if (
            _bounded(text, m.start(), m.end())
            and area not in ("000", "666")
            and area[0] != "9"
            and m.group()[4:6] != "00"
            and m.group()[7:] != "0000"
        ):
            add(Span(m.start(), m.end(), "national_id", 0.85, "us_ssn"))
    for m in _PHONE.finditer(text, lo, hi):
        digits = _digits(m.group())
        if 8 <= len(digits) <= 15 and _bounded(text, m.start(), m.end()):
            context = _PHONE_CONTEXT.search(text, max(0, m.start() - 40), m.start())
            confident = context is not None or m.group().startswith("+")
            add(Span(m.start(), m.end(), "phone", 0.9 if confident else 0.7, "pattern"))


def _bounded(text: str, start: int, end: int) -> bool:
    """Not part of a longer token: no letter or digit (or digit group) right before or after."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    if before[-1:].isalnum() or before[-1:] in ("-", "+") or after[:1].isalnum() or after[:1] == "-":
        return False
    if len(before) == 2 and before[0].isdigit() and before[1] in " .":
        return False
    if len(after) == 2 and after[1].isdigit() and after[0] in " .":
        return False
    return True


_NOT_SURNAMES = _GIVEN_NAMES | frozenset(
    "the and street road avenue university hospital bank company inc ltd group".split()
)


def merge_spans(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans: where two overlap, the higher-ranked type wins, then the longer one."""
    ordered = sorted(spans, key=lambda s: (_RANK[s.type], -(s.end - s.start), s.start))
    kept: list[Span] = []
    for s in ordered:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def mask(text: str, spans: list[Span] | None = None) -> str:
    """`text` with every span replaced by its placeholder ([EMAIL], [CARD], ...)."""
    if text is None:
        return text
    spans = detect(text) if spans is None else spans
    if not spans:
        return text
    out, at = [], 0
    for s in spans:
        out.append(text[at : s.start])
        out.append(PLACEHOLDER[s.type])
        at = s.end
    out.append(text[at:])
    return "".join(out)


def splice(text: str | None, spans: list[dict] | None) -> str | None:
    """Mask with spans stored as rows ({start, end, type}), as the warehouse keeps them."""
    if text is None or not spans:
        return text
    return mask(text, [Span(s["start"], s["end"], s["type"], 1.0, "") for s in sorted(spans, key=lambda s: s["start"])])
