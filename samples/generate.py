"""Writes the demo corpus in samples/landing/: run `python samples/generate.py` to rebuild it.

Every text here was written for DWC (no third-party content), so the corpus may be
redistributed with the project. Output is deterministic: same script, same bytes.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dwc_pipelines.testing import (
    encrypt_pdf,
    make_docx,
    make_email,
    make_epub,
    make_html,
    make_markdown,
    make_pdf,
    make_zip_bomb_docx,
)

OUT = Path(__file__).parent / "landing"
rng = random.Random(42)

COMPANIES = [
    "Northwind Logistics",
    "Helios Energy GmbH",
    "Blue Fjord Analytics",
    "Acme Robotics Ltd",
    "Verdant Farms Co-op",
    "Kestrel Medical Devices",
    "Orbital Freight SA",
    "Lumen Publishing",
]
PEOPLE = [
    "Amara Okafor",
    "Jonas Becker",
    "Lucía Fernández",
    "Wei Chen",
    "Priya Raman",
    "Tom Gallagher",
    "Sofia Rossi",
    "Kenji Watanabe",
    "Fatima Zahra",
    "Erik Lindqvist",
]
CITIES = ["Rotterdam", "Lyon", "Toronto", "Nairobi", "Osaka", "Valencia", "Gdansk", "Melbourne"]


def pick(seq):
    return rng.choice(seq)


def day(y=2024):
    return datetime(y, rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 18), rng.randint(0, 59))


def contract(i):
    a, b = rng.sample(COMPANIES, 2)
    months, fee = rng.choice([12, 24, 36]), rng.randint(20, 400) * 1000
    title = f"Master Services Agreement between {a} and {b}"
    paras = [
        f"This Master Services Agreement is entered into on {day():%d %B %Y} by {a} (the Supplier) and {b} (the Customer).",
        "1. Scope. The Supplier shall provide data platform operations, including ingestion, monitoring and incident response, as described in Schedule A.",
        f"2. Term. The agreement runs for {months} months and renews automatically for successive twelve-month periods unless either party gives ninety days written notice.",
        f"3. Fees. The Customer shall pay an annual fee of EUR {fee:,}, invoiced quarterly in advance and payable within thirty days of the invoice date.",
        "4. Service levels. Availability of at least 99.5 percent per calendar month; service credits of five percent of the monthly fee for each half percent below target, capped at twenty-five percent.",
        "5. Confidentiality. Each party shall keep the other's confidential information secret and use it only to perform this agreement, for five years after termination.",
        "6. Data protection. The Supplier processes personal data only on documented instructions of the Customer and assists with requests from data subjects.",
        "7. Liability. Except for breaches of confidentiality, total liability of either party is limited to the fees paid in the twelve months before the claim.",
        f"8. Governing law. This agreement is governed by the laws of the Netherlands; the courts of {pick(CITIES)} have exclusive jurisdiction.",
        f"Signed for the Supplier by {pick(PEOPLE)} and for the Customer by {pick(PEOPLE)}.",
    ]
    return title, paras


def invoice(i):
    seller, buyer = rng.sample(COMPANIES, 2)
    lines = [
        (d, rng.randint(1, 20), rng.randint(40, 900))
        for d in rng.sample(
            [
                "Pallet storage (per week)",
                "Cold chain monitoring",
                "Customs brokerage",
                "Line haul Rotterdam-Lyon",
                "Insurance surcharge",
                "Support hours",
                "Sensor rental",
                "Report preparation",
            ],
            4,
        )
    ]
    total = sum(q * p for _, q, p in lines)
    title = f"Invoice INV-2024-{1000 + i} from {seller}"
    paras = [
        f"Invoice number INV-2024-{1000 + i}, issued {day():%Y-%m-%d} by {seller} to {buyer}.",
        "Item | Quantity | Unit price (EUR) | Amount (EUR)",
    ]
    paras += [f"{d} | {q} | {p:.2f} | {q * p:.2f}" for d, q, p in lines]
    paras += [
        f"Subtotal: EUR {total:,.2f}. VAT 21%: EUR {total * 0.21:,.2f}. Total due: EUR {total * 1.21:,.2f}.",
        "Payment terms: 30 days net to IBAN NL91ABNA0417164300, quoting the invoice number.",
        "Late payments accrue statutory commercial interest.",
    ]
    return title, paras, lines


def report(i):
    topic = pick(
        [
            "warehouse energy use",
            "fleet maintenance",
            "customer churn",
            "document processing backlog",
            "sensor reliability",
            "quarterly revenue",
        ]
    )
    q = rng.randint(1, 4)
    pct = rng.randint(3, 30)
    title = f"Q{q} 2024 report on {topic}"
    paras = [
        f"Summary. In the {['first', 'second', 'third', 'fourth'][q - 1]} quarter, {topic} improved by {pct} percent against the same quarter last year.",
        "Method. We compared monthly figures from the operational warehouse with the budget; outliers above three standard deviations were reviewed by hand.",
        f"Findings. The largest change came from the {pick(CITIES)} site, where a new schedule reduced idle time. Two sites missed their targets because of staff shortages.",
        f"Risks. Supplier prices rose {rng.randint(2, 9)} percent; a second supplier is being qualified. Data quality issues delayed two monthly closes.",
        "Recommendations. Extend the pilot to all sites, automate the monthly reconciliation, and review targets in the next planning cycle.",
        f"Prepared by {pick(PEOPLE)}, {pick(COMPANIES)}.",
    ]
    return title, paras


def email_msg(i):
    s, r = rng.sample(PEOPLE, 2)
    subject = pick(
        [
            "Re: delivery schedule for next week",
            "Contract renewal questions",
            "Invoice discrepancy",
            "Sensor outage at the north dock",
            "Agenda for Thursday's review",
            "Access to the analytics workspace",
        ]
    )
    body = (
        f"Hi {r.split()[0]},\n\n"
        f"Following our call, I checked the numbers for {pick(COMPANIES)}. The figures in the shared sheet do not match "
        f"the invoice we received on {day():%d %B}; the difference is about EUR {rng.randint(100, 5000)}.\n\n"
        f"Could you confirm which version of the rate card applies? If it helps, I can join the review on "
        f"{pick(['Monday', 'Tuesday', 'Wednesday', 'Thursday'])} at {rng.randint(9, 16)}:00.\n\n"
        f"Best regards,\n{s}\n{pick(COMPANIES)}"
    )
    return subject, s, r, body


def news(i):
    city = pick(CITIES)
    topic = pick(
        [
            ("port", "The port of {c} opened a fully electric container terminal"),
            ("energy", "A solar farm near {c} began supplying the regional grid"),
            ("tech", "Researchers in {c} presented an open standard for document provenance"),
            ("transport", "{c} extends its night tram network after a successful trial"),
            ("health", "A hospital in {c} cut waiting times with a new triage system"),
        ]
    )
    head = topic[1].format(c=city)
    paras = [
        f"{head} on {day():%A %d %B}, officials said.",
        f"The project took {rng.randint(2, 6)} years and cost about {rng.randint(20, 400)} million euros, shared between public and private investors.",
        f'"This shows what careful planning can achieve," said {pick(PEOPLE)}, who led the programme.',
        "Critics pointed to delays and asked for independent audits of the budget. The city council will debate the next phase in the spring.",
        f"Local businesses expect {rng.randint(100, 2000)} new jobs over the next five years.",
    ]
    return head, paras


def manual(i):
    product = pick(["DWC Edge Gateway", "ThermoSense T-200 sensor", "Freight label printer LP-4", "Dock scanner DS-9"])
    title = f"{product}: installation and operation manual"
    sections = [
        ("Safety", ["Disconnect power before opening the housing.", "Use only the supplied 24 V adapter."]),
        (
            "Installation",
            [
                f"Mount the {product} on a flat surface at least 30 cm from heat sources.",
                "Connect the network cable, then the power cable. The status light blinks green while it starts.",
            ],
        ),
        (
            "Configuration",
            [
                "Open the web console at the address printed on the label and sign in with the one-time password.",
                "Set the site code, the time zone and the upload interval, then save.",
            ],
        ),
        (
            "Troubleshooting",
            [
                "A red light means no network: check the cable and the DHCP server.",
                "If readings stop, restart the device; if the problem persists, contact support with the serial number.",
            ],
        ),
    ]
    return title, sections


def minutes(i):
    title = f"Minutes of the data governance board, meeting {i + 1}"
    paras = [
        f"Present: {', '.join(rng.sample(PEOPLE, 4))}. Chair: {pick(PEOPLE)}.",
        "1. The board approved the retention schedule for invoices (ten years) and email (two years).",
        "2. The platform team reported that all document sources now land in the shared landing zone.",
        f"3. Action: {pick(PEOPLE)} to review access to the analyst snapshot before the end of the month.",
        "4. Next meeting in four weeks.",
    ]
    return title, paras


def write(rel: str, data):
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    fixed = datetime(2024, 6, 1, 12, 0)
    for i in range(8):
        t, p = contract(i)
        fmt = ["pdf", "docx", "md", "txt", "html", "pdf", "docx", "epub"][i]
        rel = f"contracts/msa-{i + 1:02d}.{fmt}"
        if fmt == "pdf":
            write(rel, make_pdf(["\n".join(p[:5]), "\n".join(p[5:])], title=t, author=pick(PEOPLE), created=fixed))
        elif fmt == "docx":
            write(rel, make_docx(p, title=t, author=pick(PEOPLE), created=fixed))
        elif fmt == "md":
            write(rel, make_markdown(t, [("Terms", p)], author=pick(PEOPLE), date="2024-03-01"))
        elif fmt == "txt":
            write(rel, t + "\n\n" + "\n\n".join(p) + "\n")
        elif fmt == "html":
            write(rel, make_html(t, p, author=pick(PEOPLE), date="2024-02-11"))
        else:
            write(rel, make_epub(t, pick(PEOPLE), [("Agreement", p[:5]), ("General terms", p[5:])]))
    for i in range(9):
        t, p, lines = invoice(i)
        fmt = ["pdf", "pdf", "csv", "json", "docx", "txt", "html", "pdf", "csv"][i]
        rel = f"invoices/inv-2024-{1000 + i}.{fmt}"
        if fmt == "pdf":
            write(rel, make_pdf(["\n".join(p)], title=t, author="Accounts receivable", created=fixed))
        elif fmt == "csv":
            rows = ["description,quantity,unit_price_eur,amount_eur"] + [
                f'"{d}",{q},{u:.2f},{q * u:.2f}' for d, q, u in lines
            ]
            write(rel, "\n".join(rows) + "\n")
        elif fmt == "json":
            write(
                rel,
                json.dumps(
                    {
                        "title": t,
                        "invoice_number": f"INV-2024-{1000 + i}",
                        "date": "2024-05-14",
                        "lines": [{"description": d, "quantity": q, "unit_price": u} for d, q, u in lines],
                        "notes": p[-2],
                    },
                    indent=2,
                ),
            )
        elif fmt == "docx":
            write(
                rel,
                make_docx(
                    p[:1] + p[-3:],
                    title=t,
                    author="Accounts receivable",
                    created=fixed,
                    table=[["Item", "Qty", "Price"]] + [[d, str(q), f"{u:.2f}"] for d, q, u in lines],
                ),
            )
        elif fmt == "txt":
            write(rel, t + "\n\n" + "\n".join(p) + "\n")
        else:
            write(rel, make_html(t, p))
    for i in range(9):
        t, p = report(i)
        fmt = ["pdf", "docx", "md", "html", "epub", "pdf", "md", "txt", "json"][i]
        rel = f"reports/report-{i + 1:02d}.{fmt}"
        if fmt == "pdf":
            write(rel, make_pdf([" ".join(p[:3]), " ".join(p[3:])], title=t, author=pick(PEOPLE), created=fixed))
        elif fmt == "docx":
            write(rel, make_docx(p, title=t, author=pick(PEOPLE), created=fixed))
        elif fmt == "md":
            write(
                rel, make_markdown(t, [("Summary", p[:2]), ("Details", p[2:])], author=pick(PEOPLE), date="2024-07-01")
            )
        elif fmt == "html":
            write(rel, make_html(t, p, author=pick(PEOPLE), date="2024-07-15"))
        elif fmt == "epub":
            write(rel, make_epub(t, pick(PEOPLE), [("Summary", p[:2]), ("Findings", p[2:])]))
        elif fmt == "txt":
            write(rel, t + "\n\n" + "\n\n".join(p) + "\n")
        else:
            write(rel, json.dumps({"title": t, "author": pick(PEOPLE), "date": "2024-08-01", "sections": p}, indent=2))
    for i in range(10):
        subject, s, r, body = email_msg(i)
        sender = s.lower().replace(" ", ".").encode("ascii", "ignore").decode() + "@example.com"
        to = r.lower().replace(" ", ".").encode("ascii", "ignore").decode() + "@example.com"
        write(f"emails/mail-{i + 1:02d}.eml", make_email(f"{s} <{sender}>", f"{r} <{to}>", subject, body, day()))
    for i in range(10):
        head, p = news(i)
        fmt = ["html", "html", "md", "txt", "json", "html", "pdf", "docx", "md", "html"][i]
        rel = f"news/article-{i + 1:02d}.{fmt}"
        if fmt == "html":
            write(rel, make_html(head, p, author=pick(PEOPLE), date=f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"))
        elif fmt == "md":
            write(rel, make_markdown(head, [("", p)], author=pick(PEOPLE), date="2024-04-04"))
        elif fmt == "txt":
            write(rel, head + "\n\n" + "\n\n".join(p) + "\n")
        elif fmt == "json":
            write(
                rel,
                json.dumps({"headline": head, "author": pick(PEOPLE), "published": "2024-05-05", "body": p}, indent=2),
            )
        elif fmt == "pdf":
            write(rel, make_pdf(["\n".join(p)], title=head, author=pick(PEOPLE), created=fixed))
        else:
            write(rel, make_docx(p, title=head, author=pick(PEOPLE), created=fixed))
    for i in range(8):
        t, sections = manual(i)
        fmt = ["md", "pdf", "epub", "html", "docx", "txt", "md", "pdf"][i]
        rel = f"manuals/manual-{i + 1:02d}.{fmt}"
        flat = [f"{h}. " + " ".join(ps) for h, ps in sections]
        if fmt == "md":
            write(rel, make_markdown(t, sections, author="Technical writing team", date="2024-01-20"))
        elif fmt == "pdf":
            write(rel, make_pdf(flat, title=t, author="Technical writing team", created=fixed))
        elif fmt == "epub":
            write(rel, make_epub(t, "Technical writing team", sections))
        elif fmt == "html":
            write(rel, make_html(t, flat))
        elif fmt == "docx":
            write(rel, make_docx(flat, title=t, author="Technical writing team", created=fixed))
        else:
            write(rel, t + "\n\n" + "\n\n".join(flat) + "\n")
    for i in range(6):
        t, p = minutes(i)
        fmt = ["txt", "md", "docx", "html", "txt", "csv"][i]
        rel = f"minutes/board-{i + 1:02d}.{fmt}"
        if fmt == "txt":
            write(rel, t + "\n\n" + "\n".join(p) + "\n")
        elif fmt == "md":
            write(rel, make_markdown(t, [("Decisions", p)]))
        elif fmt == "docx":
            write(rel, make_docx(p, title=t, created=fixed))
        elif fmt == "html":
            write(rel, make_html(t, p))
        else:
            write(
                rel, "item,decision,owner\n" + "\n".join(f'{k},"{d}",{pick(PEOPLE)}' for k, d in enumerate(p, 1)) + "\n"
            )
    # Other languages, so language detection has something to show.
    write(
        "news/article-fr.txt",
        "Le port de Lyon ouvre un nouveau terminal fluvial\n\nLa ville a inauguré le terminal "
        "mardi. Les travaux ont duré trois ans et le coût est partagé entre la région et les entreprises locales. "
        "Selon les responsables, le trafic des camions dans le centre devrait baisser de vingt pour cent.\n",
    )
    write(
        "news/article-de.md",
        "# Neue Straßenbahnlinie in Danzig\n\nDie Stadt hat die neue Linie am Montag eröffnet. "
        "Nach Angaben der Verwaltung werden täglich etwa zwanzigtausend Fahrgäste erwartet, und die Fahrzeit in die "
        "Innenstadt sinkt um zehn Minuten. Die Kosten wurden von der Region und der Europäischen Union getragen.\n",
    )
    # An exact duplicate and a lightly edited near-duplicate, so dedup has something to find.
    write("contracts/copies/msa-01-copy.pdf", (OUT / "contracts/msa-01.pdf").read_bytes())
    orig = (OUT / "reports/report-08.txt").read_text()
    write("reports/report-08-revised.txt", orig.replace("Recommendations.", "Recommendations (revised).", 1))
    # Bad files: each lands in quarantine with its reason.
    write("bad/scanned-form.txt", bytes(rng.randrange(256) for _ in range(2048)))
    write("bad/empty-note.txt", b"")
    write("bad/truncated-report.pdf", make_pdf(["This PDF was cut off in transit."])[:300])
    write("bad/salary-review-protected.pdf", encrypt_pdf(make_pdf(["Confidential salary review."]), "s3cret"))
    write("bad/expanding-letter.docx", make_zip_bomb_docx(300 * 1024 * 1024))
    write_office_samples()
    count = sum(1 for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {count} files under {OUT}")


def write_office_samples() -> None:
    """One file of each format beyond the first nine: spreadsheets, presentations, OpenDocument, RTF,
    XML, archives (their members become child documents), an e-mail with an attachment, scans read by
    OCR, and a password-protected workbook for the quarantine."""
    import io
    import zipfile
    from email.message import EmailMessage

    import py7zr

    from dwc_pipelines.testing import (
        encrypt_office,
        make_odf,
        make_pptx,
        make_rtf,
        make_scan_image,
        make_scanned_pdf,
        make_xls,
        make_xlsx,
    )

    budget = {
        "Budget 2024": [
            ["Quarter", "Personnel (EUR)", "Facilities (EUR)", "Travel (EUR)"],
            ["Q1", 182000, 41000, 9500],
            ["Q2", 186500, 41000, 12800],
            ["Q3", 190000, 42500, 7400],
            ["Q4", 193500, 42500, 11200],
        ],
        "Assumptions": [
            ["Salaries rise 2.5% in April after the annual review."],
            ["The Gdansk office lease is renewed at the same rent."],
        ],
    }
    write("office/budget-2024.xlsx", make_xlsx(budget, title="Operating budget 2024", author="Finance"))
    write(
        "office/headcount-2023.xls",
        make_xls({"Headcount": [["Team", "Staff"], ["Warehouse", 14], ["Accounts", 6], ["Field service", 9]]}),
    )
    write(
        "office/inventory.ods",
        make_odf(
            "ods",
            {"Stock": [["Item", "On hand", "Reorder at"], ["Pallet wrap", "42", "20"], ["Cable ties", "310", "100"]]},
            title="Warehouse inventory",
        ),
    )
    write(
        "office/kickoff-2024.pptx",
        make_pptx(
            [
                ("Project kickoff", "Harbour logistics platform, phase two", "Welcome everyone; introduce the team."),
                (
                    "Scope",
                    "Landing zone, contract review, telemetry dashboards",
                    "Stress that billing is out of scope.",
                ),
                ("Timeline", "Pilot in May, rollout in September", None),
            ],
            title="Kickoff: harbour logistics platform",
        ),
    )
    write(
        "office/roadmap.odp",
        make_odf(
            "odp",
            [
                ("Roadmap 2024: ingestion, search, anchoring", "Keep the demo under two minutes."),
                ("Risks: vendor delays and scanner quality", None),
            ],
            title="Roadmap 2024",
        ),
    )
    write(
        "office/remote-work-policy.odt",
        make_odf(
            "odt",
            [
                "Remote work policy",
                "Employees may work remotely up to three days a week with their manager's agreement.",
                "Equipment is provided by the company and remains its property.",
            ],
            title="Remote work policy",
            author="People team",
        ),
    )
    write(
        "office/lease-summary.rtf",
        make_rtf(
            [
                "Lease summary — warehouse 4, Gdańsk",
                "Rent: 12 400 € per month, indexed yearly. Notice period: six months.",
            ]
        ),
    )
    write(
        "office/catalogue.xml",
        '<?xml version="1.0" encoding="UTF-8"?>\n<catalogue><title>Spare parts catalogue</title>'
        '<part number="PX-100"><name>Conveyor belt</name><note>Rubber, <b>reinforced</b>, 12 m.</note></part>'
        '<part number="PX-220"><name>Forklift battery</name><note>48 V lithium pack.</note></part></catalogue>\n',
    )
    kit = io.BytesIO()
    with zipfile.ZipFile(kit, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in (
            ("press-release.md", "# Harbour platform goes live\n\nThe new logistics platform opened on Monday."),
            ("fact-sheet.txt", "Fact sheet\n\nThree warehouses, nine connected devices, one landing zone."),
        ):
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, body)
    write("office/press-kit.zip", kit.getvalue())
    old = io.BytesIO()
    with py7zr.SevenZipFile(old, "w") as z:
        z.writestr("Minutes of the 2023 planning retreat: budgets were approved.", "retreat-2023.txt")
    write("office/archive-2023.7z", old.getvalue())
    letter = [
        "DELIVERY NOTE 4471",
        "Harbour Supplies Ltd. delivered 12 pallets",
        "of packaging material to warehouse 4.",
        "Received in good condition.",
    ]
    write("office/scanned-delivery-note.pdf", make_scanned_pdf([letter]))
    write("office/whiteboard-photo.png", make_scan_image(["Sprint goals:", "1. OCR for scans", "2. Archives"]))
    mail = EmailMessage()
    mail["From"], mail["To"] = "legal@example.com", "ops@example.com"
    mail["Subject"], mail["Date"] = "Signed addendum attached", "Tue, 04 Jun 2024 10:00:00 +0000"
    mail.set_content("Please find the signed addendum to the warehouse lease attached.")
    mail.add_attachment(
        make_rtf(["Addendum 1 to the warehouse lease", "The rent review date moves to 1 July."]),
        maintype="application",
        subtype="rtf",
        filename="addendum-1.rtf",
    )
    write("emails/addendum-with-attachment.eml", mail.as_bytes())
    write("bad/budget-protected.xlsx", encrypt_office(make_xlsx(budget), "s3cret"))


# What a user would key in for the sample corpus: the kind of each document, from its folder.
FOLDER_LABELS = {
    "contracts": "contract",
    "invoices": "invoice",
    "emails": "correspondence",
    "manuals": "manual",
    "minutes": "minutes",
    "news": "news",
    "reports": "report",
}


def write_labels() -> None:
    rows = ["source_path,label"]
    for path in sorted(OUT.rglob("*")):
        rel = path.relative_to(OUT).as_posix()
        label = FOLDER_LABELS.get(rel.split("/")[0])
        if path.is_file() and label:
            rows.append(f"{rel},{label}")
    target = OUT.parent / "labels" / "documents.csv"
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} labels to {target}")


def write_user_activity(n: int = 600) -> None:
    """A synthetic activity log per user of the platform, with whether they churned the next month:
    the example data of the churn model in models/churn.yaml. Churn follows a known logistic rule
    plus noise, so a model has something real to find."""
    import math
    import random

    rnd = random.Random(20240601)
    rows = [
        "user_id,plan,tenure_days,sessions_30d,documents_viewed_30d,chains_run_30d,days_since_last_login,"
        "support_tickets_90d,churned"
    ]
    for i in range(n):
        plan = rnd.choices(["basic", "pro", "enterprise"], weights=[5, 3, 1])[0]
        tenure = rnd.randint(7, 1500)
        sessions = max(0, int(rnd.gauss({"basic": 8, "pro": 18, "enterprise": 30}[plan], 6)))
        viewed = max(0, int(sessions * rnd.uniform(1.5, 6)))
        chains = max(0, int(rnd.gauss(sessions / 4, 2)))
        idle = max(0, int(rnd.expovariate(1 / (25 if sessions < 6 else 6))))
        tickets = rnd.choices([0, 1, 2, 3, 5], weights=[10, 4, 2, 1, 1])[0]
        z = (
            -1.2
            + 0.07 * idle
            - 0.12 * sessions
            + 0.45 * tickets
            - 0.0008 * tenure
            - {"basic": 0, "pro": 0.5, "enterprise": 1.2}[plan]
            - 0.08 * chains
        )
        churned = int(rnd.random() < 1 / (1 + math.exp(-z)))
        rows.append(f"u{i:04d},{plan},{tenure},{sessions},{viewed},{chains},{idle},{tickets},{churned}")
    target = OUT.parent / "tabular" / "user_activity.csv"
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(rows) + "\n")
    print(f"wrote {n} users to {target}")


def write_interactions(users: int = 36) -> None:
    """A realistic interaction log over the sample corpus: each reader has two favourite kinds of
    document and mostly reads those, sometimes likes, downloads or rates what they read; plus an
    export with a few broken rows, for the quarantine. Items are named by their landing path."""
    import json
    import random
    from datetime import datetime, timedelta

    rnd = random.Random(424242)
    items: dict[str, list[str]] = {}
    for path in sorted(OUT.rglob("*")):
        rel = path.relative_to(OUT).as_posix()
        kind = rel.split("/")[0]
        if path.is_file() and kind in FOLDER_LABELS and "/copies/" not in rel:
            items.setdefault(kind, []).append(rel)
    kinds = sorted(items)
    start = datetime(2024, 4, 1, tzinfo=UTC)
    events = []
    for u in range(users):
        user = f"reader-{u + 1:02d}"
        favourites = rnd.sample(kinds, 2)
        # A few favourite documents per reader: popularity is skewed, as in any real catalogue.
        for _ in range(rnd.randint(6, 30)):
            kind = rnd.choice(favourites) if rnd.random() < 0.8 else rnd.choice(kinds)
            pool = items[kind]
            item = pool[min(int(rnd.expovariate(0.35)), len(pool) - 1)]
            when = start + timedelta(minutes=rnd.randint(0, 60 * 24 * 60))
            events.append({"user": user, "item": item, "type": "view", "value": 1, "timestamp": when.isoformat()})
            roll = rnd.random()
            if roll < 0.25:
                events.append(
                    {
                        "user": user,
                        "item": item,
                        "type": "like",
                        "value": 1,
                        "timestamp": (when + timedelta(minutes=3)).isoformat(),
                    }
                )
            elif roll < 0.35:
                events.append(
                    {
                        "user": user,
                        "item": item,
                        "type": "download",
                        "value": 1,
                        "timestamp": (when + timedelta(minutes=5)).isoformat(),
                    }
                )
            elif roll < 0.5:
                stars = 5 if kind in favourites and rnd.random() < 0.7 else rnd.randint(1, 4)
                events.append(
                    {
                        "user": user,
                        "item": item,
                        "type": "rating",
                        "value": stars,
                        "timestamp": (when + timedelta(minutes=8)).isoformat(),
                    }
                )
    events.sort(key=lambda e: (e["timestamp"], e["user"]))
    target = OUT.parent / "events" / "interactions.jsonl"
    target.parent.mkdir(exist_ok=True)
    target.write_text("".join(json.dumps(e) + "\n" for e in events))
    export = [
        "user,item,type,value,timestamp",
        "reader-03,news/article-01.html,view,1,2024-05-30T10:00:00+00:00",
        "reader-03,news/article-02.html,share,1,2024-05-30T10:05:00+00:00",
        ",news/article-01.html,view,1,2024-05-30T10:06:00+00:00",
        "reader-04,reports/report-01.pdf,rating,11,2024-05-30T10:07:00+00:00",
        "reader-04,reports/report-02.docx,view,1,yesterday",
        "reader-05,manuals/manual-01.md,teleport,1,2024-05-30T10:08:00+00:00",
    ]
    (target.parent / "app-export.csv").write_text("\n".join(export) + "\n")
    print(f"wrote {len(events)} interactions of {users} readers to {target}")


def write_xr_sessions(sessions: int = 12) -> None:
    """XR sessions over the demo's scenes: visitors look at documents on the document map (gaze with
    a dwell time), point and pinch, glance at devices and workflow steps; plus a few broken lines for
    the quarantine. Document nodes are named by doc_id, as the document map names them."""
    import json
    from datetime import datetime, timedelta

    from dwc_pipelines.ingestion.ingest import doc_id_for

    rnd = random.Random(20261130)
    docs = [
        p.relative_to(OUT).as_posix()
        for p in sorted(OUT.rglob("*"))
        if p.is_file() and p.relative_to(OUT).parts[0] in FOLDER_LABELS and "/copies/" not in p.as_posix()
    ]
    favourites = [d for d in docs if d.startswith(("contracts/", "reports/"))]
    devices = [f"dev-{n:03d}" for n in range(8)]
    steps = ["chains/contract_review/select", "chains/contract_review/memo", "chains/invoice_extraction/fields"]
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    lines, n = [], 0

    def event(session, when, kind, **fields):
        nonlocal n
        n += 1
        lines.append(
            json.dumps(
                {
                    "event_id": f"xr-{n:05d}",
                    "session_id": session,
                    "ts": when.isoformat().replace("+00:00", "Z"),
                    "type": kind,
                    **fields,
                }
            )
        )

    for s in range(sessions):
        session = f"xr-session-{s + 1:02d}"
        device = rnd.choice(["quest-3", "vision-pro", "hololens-2", "webxr-desktop"])
        when = start + timedelta(minutes=37 * s)
        event(
            session, when, "session_start", device=device, user=f"reader-{rnd.randint(1, 36):02d}", scene="document_map"
        )
        for _ in range(rnd.randint(4, 14)):
            when += timedelta(seconds=rnd.randint(3, 40))
            doc = rnd.choice(favourites) if rnd.random() < 0.6 else rnd.choice(docs)
            event(
                session, when, "gaze", scene="document_map", target=doc_id_for(doc), duration_ms=rnd.randint(400, 9000)
            )
            if rnd.random() < 0.4:
                event(session, when + timedelta(seconds=1), "pointer", scene="document_map", target=doc_id_for(doc))
            if rnd.random() < 0.2:
                event(
                    session,
                    when + timedelta(seconds=2),
                    "gesture",
                    scene="document_map",
                    target=doc_id_for(doc),
                    gesture=rnd.choice(["pinch", "grab", "tap"]),
                )
        if rnd.random() < 0.5:
            when += timedelta(seconds=20)
            event(
                session,
                when,
                "gaze",
                scene="device_twin",
                target=rnd.choice(devices),
                duration_ms=rnd.randint(500, 4000),
            )
            event(
                session,
                when + timedelta(seconds=5),
                "gaze",
                scene="workflow_map",
                target=rnd.choice(steps),
                duration_ms=rnd.randint(500, 3000),
            )
        event(session, when + timedelta(seconds=30), "session_end", scene="document_map")
    bad = [
        '{"event_id": "xr-bad-1", "session_id": "xr-session-01", "ts": "yesterday", "type": "gaze", '
        '"scene": "document_map", "target": "x", "duration_ms": 10}',
        '{"event_id": "xr-bad-2", "session_id": "xr-session-01", "ts": "2026-11-30T10:00:00Z", "type": "teleport", '
        '"scene": "document_map"}',
        '{"event_id": "xr-bad-3", "session_id": "xr-session-02", "ts": "2026-11-30T10:00:00Z", "type": "gaze", '
        '"scene": "document_map", "target": "x", "duration_ms": -5}',
        "this line is not JSON",
        lines[1],
    ]  # a replayed event: dropped as a duplicate
    target = OUT.parent / "xr_events" / "sessions.jsonl"
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(lines + bad) + "\n")
    print(f"wrote {len(lines)} XR events of {sessions} sessions (+{len(bad)} bad lines) to {target}")


if __name__ == "__main__":
    main()
    write_labels()
    write_user_activity()
    write_interactions()
    write_xr_sessions()
