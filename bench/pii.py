"""bench/pii: personal-data detection on a generated labelled corpus beside a regex-only baseline,
and the time to erase one subject from the 100k-document corpus of the ingestion benchmark.

    python -m bench.pii [--docs 3000] [--erase-docs 100000] [--repeats 3]

The corpus: business texts (emails, invoices, HR notes, support tickets, contracts) with planted
values of every type, each labelled with its span, and decoys that look like them but are not
personal data (numbers failing Luhn or mod-97 or the eleven-test, order numbers, dates, amounts,
product codes, capitalised phrases). A prediction is a true positive when it overlaps a labelled
span of the same type; labelled spans nobody found are false negatives. The baseline is what a
regex-only scrubber does: the same shapes, no checksum, no issuer table, no context.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import string
import sys
import time
from pathlib import Path

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
TYPES = ["email", "phone", "iban", "card", "national_id", "person", "address"]

# Broader than the detector's own list of given names on purpose: names it does not know must cost recall.
FIRST = (
    "Alice Bob Carla David Elena Farid Grace Hiroshi Ines Jonas Kenji Lena Marco Nadia Oscar Priya Quentin Rosa "
    "Sven Tariq Ulla Viktor Wanda Xiomara Yusuf Zelda Bartholomew Clementine Desmond Eleanor Florian Gwendolyn "
    "Horatio Isadora Jasper Kirsten Leopold Marguerite Nikolai Ottilie"
).split()
LAST = (
    "Smith Johnson Becker Rossi Watanabe Nowak Okafor Haddad Lindqvist Moreau Kowalski Fernandes Quarrington "
    "Abernathy Castellano Dubois Eriksen Fitzgerald Gallagher Hargreaves Ivanova Jablonski Kaminski Lombardi"
).split()
STREETS = [
    "Baker Street",
    "High Street",
    "Oak Avenue",
    "Mill Lane",
    "Station Road",
    "Maple Drive",
    "Church Road",
    "Elm Court",
    "Park Place",
    "Victoria Terrace",
]
CITIES = [
    ("London", "NW1 6XE", "uk"),
    ("Manchester", "M1 1AE", "uk"),
    ("Springfield", "IL 62704", "us"),
    ("Portland", "OR 97205", "us"),
    ("Austin", "TX 78701", "us"),
]
DE_STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Marktplatz"]
IBAN_COUNTRIES = {"DE": 18, "GB": 18, "FR": 23, "NL": 14, "ES": 20, "IT": 23, "BE": 12, "AT": 16}
CARD_PREFIXES = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)]


def luhn_complete(partial: str) -> str:
    for d in "0123456789":
        digits = partial + d
        total = sum(
            (int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError


def iban(rnd: random.Random, valid: bool) -> str:
    cc = rnd.choice(list(IBAN_COUNTRIES))
    bban = ("".join(rnd.choice(string.ascii_uppercase) for _ in range(4)) if cc in ("GB", "NL") else "") + "".join(
        rnd.choice(string.digits) for _ in range(IBAN_COUNTRIES[cc] - (4 if cc in ("GB", "NL") else 0))
    )
    check = 98 - int("".join(str(int(c, 36)) for c in bban + cc + "00")) % 97
    if not valid:
        check = (check + rnd.randint(1, 50)) % 97 + 2
    raw = f"{cc}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4)) if rnd.random() < 0.7 else raw


def card(rnd: random.Random, valid: bool) -> str:
    prefix, length = rnd.choice(CARD_PREFIXES)
    digits = luhn_complete(prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1)))
    if not valid:
        digits = digits[:-1] + str((int(digits[-1]) + rnd.randint(1, 9)) % 10)
    if rnd.random() < 0.6:
        groups = [4, 6, 5] if length == 15 else [4, 4, 4, 4]
        out, i = [], 0
        for g in groups:
            out.append(digits[i : i + g])
            i += g
        return rnd.choice([" ", "-"]).join(out)
    return digits


def bsn(rnd: random.Random, valid: bool) -> str:
    while True:
        d = [rnd.randint(0, 9) for _ in range(8)]
        s = sum((9 - i) * d[i] for i in range(8)) % 11
        if s < 10 and sum(d[:3]) > 0:
            last = s if valid else (s + rnd.randint(1, 9)) % 10
            if valid or (sum((9 - i) * d[i] for i in range(8)) - last) % 11:
                return "".join(map(str, d + [last]))


def phone(rnd: random.Random) -> str:
    kind = rnd.randint(0, 3)
    if kind == 0:
        return f"+44 20 {rnd.randint(7000, 8999)} {rnd.randint(1000, 9999)}"
    if kind == 1:
        return f"({rnd.randint(201, 989)}) {rnd.randint(200, 999)}-{rnd.randint(1000, 9999)}"
    if kind == 2:
        return f"+49 30 {rnd.randint(100000, 999999)}{rnd.randint(10, 99)}"
    return f"0{rnd.randint(20, 79)} {rnd.randint(1000, 9999)} {rnd.randint(1000, 9999)}"


def ssn(rnd: random.Random) -> str:
    return f"{rnd.randint(1, 665):03d}-{rnd.randint(1, 99):02d}-{rnd.randint(1, 9999):04d}"


def nino(rnd: random.Random) -> str:
    first, second = "ABCEGHJKLMNPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = rnd.choice(first) + rnd.choice(second)
        if p not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
            return f"{p} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.choice('ABCD')}"


def address(rnd: random.Random) -> str:
    if rnd.random() < 0.25:
        return f"{rnd.choice(DE_STREETS)} {rnd.randint(1, 120)}, {rnd.randint(10000, 99999)} Berlin"
    city, code, country = rnd.choice(CITIES)
    sep = ", " if country == "us" else " "
    return f"{rnd.randint(1, 999)} {rnd.choice(STREETS)}, {city}{sep}{code}"


class Doc:
    def __init__(self):
        self.parts: list[str] = []
        self.labels: list[tuple[int, int, str]] = []
        self.n = 0

    def add(self, text: str, label: str | None = None) -> Doc:
        if label:
            self.labels.append((self.n, self.n + len(text), label))
        self.parts.append(text)
        self.n += len(text)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


def decoys(rnd: random.Random) -> list[str]:
    return [
        f"Order {rnd.randint(10**15, 10**16 - 1)} was split in two shipments.",
        f"The reference {card(rnd, valid=False)} was rejected by the terminal.",
        f"Transfer note {iban(rnd, valid=False)} did not validate.",
        f"Registration number {bsn(rnd, valid=False)} belongs to the warehouse.",
        f"Invoice INV-{rnd.randint(2020, 2026)}-{rnd.randint(1000, 9999)} dated {rnd.randint(2020, 2026)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}.",
        f"Total due: EUR {rnd.randint(1, 99)},{rnd.randint(100, 999)}.{rnd.randint(10, 99)} within 30 days.",
        f"Product code {rnd.choice(['AX', 'QT', 'ZR'])}-{rnd.randint(100000, 999999)} is back in stock.",
        "The Annual Review Meeting of the Audit Committee approved the Budget.",
        f"Batch {rnd.randint(100, 999)} {rnd.randint(100, 999)} {rnd.randint(1000, 9999)} passed quality control.",
    ]


def make_doc(rnd: random.Random) -> Doc:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    name = f"{first} {last}"
    email = f"{first.lower()}.{last.lower()}@{rnd.choice(['example.com', 'mail.example.org', 'corp.example.net'])}"
    d = Doc()
    kind = rnd.randint(0, 4)
    if kind == 0:  # an email
        d.add("From: ").add(name, "person").add(" <").add(email, "email").add(">\nSubject: Payment details\n\nDear ")
        other = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        d.add(other, "person").add(",\n\nplease send the refund to IBAN ").add(iban(rnd, True), "iban")
        d.add(". You can reach me on ").add(phone(rnd), "phone").add(".\n")
    elif kind == 1:  # an invoice
        d.add("Invoice for services rendered\n\nBill to: ").add(name, "person").add(", ").add(address(rnd), "address")
        d.add("\nPaid by card ").add(card(rnd, True), "card").add(" on file. Questions: ").add(email, "email").add("\n")
    elif kind == 2:  # an HR note
        d.add("Personnel record update\n\nEmployee ").add(name, "person").add(" (SSN ").add(ssn(rnd), "national_id")
        d.add(") moved to ").add(address(rnd), "address").add(". New mobile: ").add(phone(rnd), "phone").add(".\n")
    elif kind == 3:  # a support ticket
        d.add("Ticket #").add(str(rnd.randint(10000, 99999))).add(": customer ").add(name, "person")
        d.add(" reports a double charge on card ").add(card(rnd, True), "card").add("; NINO ").add(
            nino(rnd), "national_id"
        )
        d.add(" verified by phone ").add(phone(rnd), "phone").add(".\n")
    else:  # a Dutch contract annex
        d.add("Annex to the employment contract\n\nMr. ").add(name, "person").add(", BSN ").add(
            bsn(rnd, True), "national_id"
        )
        d.add(", salary paid to ").add(iban(rnd, True), "iban").add(". Contact: ").add(email, "email").add("\n")
    for line in rnd.sample(decoys(rnd), 3):
        d.add(line + "\n")
    return d


def score(docs: list[Doc], predict) -> dict:
    per = {t: {"tp": 0, "fp": 0, "fn": 0} for t in TYPES}
    for doc in docs:
        text = doc.text
        preds = predict(text)
        matched = set()
        for ps, pe, pt in preds:
            hit = next((i for i, (gs, ge, gt) in enumerate(doc.labels) if gt == pt and ps < ge and pe > gs), None)
            if hit is None:
                per[pt]["fp"] += 1
            elif hit not in matched:
                per[pt]["tp"] += 1
                matched.add(hit)
        for i, (_, _, gt) in enumerate(doc.labels):
            if i not in matched:
                per[gt]["fn"] += 1
    out = {}
    for t, c in per.items():
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        out[t] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, **c}
    tot = {k: sum(c[k] for c in per.values()) for k in ("tp", "fp", "fn")}
    out["all"] = {
        "precision": tot["tp"] / (tot["tp"] + tot["fp"]),
        "recall": tot["tp"] / (tot["tp"] + tot["fn"]),
        **tot,
    }
    out["all"]["f1"] = (
        2 * out["all"]["precision"] * out["all"]["recall"] / (out["all"]["precision"] + out["all"]["recall"])
    )
    return out


def dwc_predict(text: str):
    from dwc_resources import pii

    return [(s.start, s.end, s.type) for s in pii.detect(text)]


_BASELINE = [  # what a regex-only scrubber does: shapes, no validation
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("national_id", re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b|\b\d{9}\b")),
    ("phone", re.compile(r"(?:\+\d{1,3}[ .-]?)?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b")),
    ("address", re.compile(r"\b\d{1,5} [A-Z][a-z]+ (?:Street|Road|Avenue|Lane|Drive|Court|Place|Terrace)\b")),
    ("person", re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")),
]


def baseline_predict(text: str):
    from dwc_resources import pii

    spans = [pii.Span(m.start(), m.end(), t, 0.5, "re") for t, rx in _BASELINE for m in rx.finditer(text)]
    return [(s.start, s.end, s.type) for s in pii.merge_spans(spans)]


def erase_benchmark(n: int) -> dict:
    """Ingest the ingestion benchmark's corpus with a subject planted in a few documents, then
    time one erasure request end to end (scrub, re-index, compaction, republish, blobs)."""
    import dagster as dg

    from bench.corpus import generate
    from dwc_pipelines import governance, ingestion
    from dwc_pipelines.governance.assets import requests_dir
    from dwc_resources import BlobStoreResource, LakehouseResource, LandingZoneResource
    from dwc_resources.model_store import ModelStoreResource
    from dwc_resources.notify import NotificationsResource

    corpus = generate(WORK / f"corpus-{n}", n)
    home = WORK / f"erase-{n}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    landing = home / "landing"
    shutil.copytree(corpus, landing, ignore=shutil.ignore_patterns(".*"))
    subject = "zelda.quarrington@example.org"
    for i in range(5):
        (landing / f"seeded-{i}.txt").write_text(
            f"Note {i}\n\nThe contact for this matter is {subject}; please keep her in copy of every reply.\n"
        )
    os.environ["DWC_HOME"] = str(home)
    resources = {
        "warehouse": LakehouseResource.local(str(home)),
        "landing": LandingZoneResource(path=str(landing)),
        "blob_store": BlobStoreResource(root=str(home / "blobs")),
        "notifications": NotificationsResource(log_path=str(home / "notify.sqlite"), outbox_dir=str(home / "outbox")),
        "model_store": ModelStoreResource(path=str(home / "models")),
    }
    defs = dg.Definitions.merge(
        ingestion.defs,
        dg.Definitions(assets=[governance.erasure_log], jobs=[governance.erasure_job], resources=resources),
    )
    (home / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        t0 = time.perf_counter()
        assert defs.resolve_job_def("ingest_job").execute_in_process(instance=instance, run_config=quiet).success
        ingest_s = time.perf_counter() - t0
        request_id = "bench-erase"
        (requests_dir() / f"{request_id}.json").write_text(
            json.dumps(
                {"request_id": request_id, "kind": "subject", "subject": subject, "requested_at": "2026-01-01T00:00:00"}
            )
        )
        t0 = time.perf_counter()
        result = defs.resolve_job_def("erasure_job").execute_in_process(
            instance=instance, run_config={**quiet, "ops": {"gov__erasure_log": {"config": {"request_id": request_id}}}}
        )
        erase_s = time.perf_counter() - t0
        assert result.success
    with resources["warehouse"].unmasked_reader() as con:
        left = con.execute("SELECT count(*) FROM docs.documents WHERE strpos(text, ?) > 0", [subject]).fetchall()[0][0]
        touched = con.execute("SELECT documents FROM gov.erasure_requests").fetchall()[0][0]
    shutil.rmtree(home, ignore_errors=True)
    return {"erase_s": erase_s, "ingest_s": ingest_s, "documents": n + 5, "documents_erased": touched, "left": left}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--erase-docs", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rnd = random.Random(20261122)
    docs = [make_doc(rnd) for _ in range(args.docs)]
    results = {"dwc": score(docs, dwc_predict), "regex_only": score(docs, baseline_predict)}
    timing = {}
    for name, fn in (("dwc", dwc_predict), ("regex_only", baseline_predict)):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for d in docs:
                fn(d.text)
            times.append(time.perf_counter() - t0)
        timing[name] = len(docs) / statistics.median(times)
    erase = erase_benchmark(args.erase_docs) if args.erase_docs else None
    if erase:
        print(f"erasure of one subject from {erase['documents']:,} documents: {erase['erase_s']:.1f} s", flush=True)
    d, b = results["dwc"], results["regex_only"]
    out = {
        "precision": round(d["all"]["precision"], 4),
        "recall": round(d["all"]["recall"], 4),
        "f1": round(d["all"]["f1"], 4),
        "baseline_precision": round(b["all"]["precision"], 4),
        "baseline_recall": round(b["all"]["recall"], 4),
        "baseline_f1": round(b["all"]["f1"], 4),
        "per_type": {t: {k: round(v, 4) if isinstance(v, float) else v for k, v in d[t].items()} for t in TYPES},
        "baseline_per_type": {
            t: {k: round(v, 4) if isinstance(v, float) else v for k, v in b[t].items()} for t in TYPES
        },
        "docs_per_s": round(timing["dwc"], 1),
        "baseline_docs_per_s": round(timing["regex_only"], 1),
        "labelled_docs": len(docs),
        "labelled_spans": sum(len(x.labels) for x in docs),
        "erase_s_100k": round(erase["erase_s"], 2) if erase else None,
        "erase_corpus_docs": erase["documents"] if erase else None,
        "erase_documents_touched": erase["documents_erased"] if erase else None,
        "erase_left_behind": erase["left"] if erase else None,
        **run_context("pii", args.repeats),
    }
    lines = [
        "| type | DWC precision | DWC recall | DWC F1 | regex-only precision | regex-only recall | regex-only F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in TYPES + ["all"]:
        lines.append(
            f"| {t} | {d[t]['precision']:.3f} | {d[t]['recall']:.3f} | {d[t]['f1']:.3f} | "
            f"{b[t]['precision']:.3f} | {b[t]['recall']:.3f} | {b[t]['f1']:.3f} |"
        )
    lines += [
        "",
        f"Detection speed: DWC {timing['dwc']:,.0f} docs/s, regex-only {timing['regex_only']:,.0f} docs/s "
        f"({len(docs):,} documents, {out['labelled_spans']:,} labelled spans).",
    ]
    if erase:
        lines += [
            "",
            f"Erasure of one subject planted in 5 of {erase['documents']:,} documents (the ingestion benchmark's "
            f"corpus): {erase['erase_s']:.1f} s end to end (scrub every table, re-index, rewrite the warehouse file, "
            f"republish the masked catalog, delete blobs); documents touched {erase['documents_erased']}, "
            f"left holding the subject {erase['left']}. Ingesting that corpus took {erase['ingest_s']:.1f} s.",
        ]
    write_results(
        "pii",
        out,
        f"Labelled corpus of {len(docs):,} generated documents; speed is the median of {args.repeats} passes.",
        lines,
    )


if __name__ == "__main__":
    sys.exit(main())
