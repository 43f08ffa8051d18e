"""Personal-data detection, validation and masking: pure logic."""

import hashlib

import pytest

from dwc_pipelines.governance.policy import first_match, load_policies
from dwc_pipelines.yamlspec import SpecError
from dwc_resources import pii
from dwc_resources.cas import ContentStore, Keyring

LETTER = """Dear Alice Johnson,
please wire the deposit to IBAN DE89 3704 0044 0532 0130 00 or pay by card 4111 1111 1111 1111.
Call me on +44 20 7946 0958 or (212) 555-0187, or write to alice.johnson@example.com.
Mr. Bob Smith lives at 221B Baker Street, London NW1 6XE. SSN 123-45-6789, NINO AB 12 34 56 C, BSN 111222333.
Regards,
John Carter"""


def found(text):
    return [(s.type, text[s.start : s.end]) for s in pii.detect(text)]


def test_every_type_is_found_with_its_exact_span():
    got = found(LETTER)
    for item in [
        ("person", "Alice Johnson"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("card", "4111 1111 1111 1111"),
        ("phone", "+44 20 7946 0958"),
        ("phone", "(212) 555-0187"),
        ("email", "alice.johnson@example.com"),
        ("person", "Bob Smith"),
        ("address", "221B Baker Street, London NW1 6XE"),
        ("national_id", "123-45-6789"),
        ("national_id", "AB 12 34 56 C"),
        ("national_id", "111222333"),
        ("person", "John Carter"),
    ]:
        assert item in got, item


def test_numbers_that_fail_their_checksum_are_not_personal_data():
    text = (
        "Order 1234 5678 9012 3456 shipped. Reference DE89 3704 0044 0532 0130 01. "
        "Card 4111 1111 1111 1112 declined. Invoice 2024-01-15, total 1,234.56 EUR, BSN 111222334."
    )
    assert found(text) == []


@pytest.mark.parametrize(
    "number", ["4111111111111111", "5500 0000 0000 0004", "3400 000000 00009", "6011-0000-0000-0004"]
)
def test_cards_of_each_issuer_pass_luhn_and_prefix(number):
    assert found(f"paid with {number} today") == [("card", number)]


def test_validators():
    assert pii.luhn_valid("79927398713") and not pii.luhn_valid("79927398710")
    assert pii.iban_valid("GB82 WEST 1234 5698 7654 32") and not pii.iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not pii.iban_valid("XX82 WEST 1234 5698 7654 32")  # unknown country
    assert pii.bsn_valid("111222333") and not pii.bsn_valid("111222334")
    assert not pii.card_issuer_ok("9111111111111111")


def test_mask_replaces_spans_with_placeholders_and_keeps_the_rest():
    masked = pii.mask(LETTER)
    for raw in (
        "alice.johnson@example.com",
        "4111 1111 1111 1111",
        "DE89 3704",
        "Bob Smith",
        "123-45-6789",
        "Baker Street",
    ):
        assert raw not in masked
    assert "[EMAIL]" in masked and "[CARD]" in masked and "[IBAN]" in masked and "[PERSON]" in masked
    assert masked.startswith("Dear [PERSON],\nplease wire the deposit to IBAN [IBAN]")


def test_splice_uses_stored_spans_and_overlaps_resolve_by_type():
    text = "mail bob@x.org now"
    assert pii.splice(text, [{"start": 5, "end": 14, "type": "email"}]) == "mail [EMAIL] now"
    spans = pii.merge_spans([pii.Span(0, 10, "phone", 0.7, "p"), pii.Span(2, 8, "card", 0.95, "c")])
    assert [(s.type, s.start) for s in spans] == [("card", 2)]


def test_plain_text_without_candidates_is_cheap_and_empty():
    assert pii.detect("the quick brown fox jumps over the lazy dog " * 50) == []
    assert pii.detect("") == [] and pii.mask(None) is None


def test_blob_store_seals_with_aes_gcm_and_rotates_keys(tmp_path):
    old = Keyring.parse(Keyring.new_key("old"))
    store = ContentStore(tmp_path, small_blob_bytes=64, keyring=old)
    small, large = b"contract for alice@example.com", b"L" * 200
    hashes = store.put_many([small, large])
    raw = (tmp_path / "small.sqlite").read_bytes() + store.path_for(hashes[1]).read_bytes()
    assert b"alice@example.com" not in raw and b"LLLLLLLL" not in raw
    assert [store.get(h) for h in hashes] == [small, large]
    assert store.key_census() == {"old": 2}
    store.close()

    new_spec = Keyring.new_key("new")
    both = Keyring.parse(new_spec + "," + "old:" + __import__("base64").b64encode(old.keys["old"]).decode())
    assert both.active == "new"
    store = ContentStore(tmp_path, small_blob_bytes=64, keyring=both)
    assert store.reseal(log=lambda m: None) == {
        "small_blobs_resealed": 1,
        "file_blobs_resealed": 1,
        "active_key": "new",
    }
    store.close()
    only_new = ContentStore(tmp_path, small_blob_bytes=64, keyring=Keyring.parse(new_spec))
    assert [only_new.get(h) for h in hashes] == [small, large] and only_new.key_census() == {"new": 2}
    with pytest.raises(LookupError, match="not configured"):
        ContentStore(tmp_path, keyring=old).get(hashes[0])


def test_a_store_of_the_earlier_layout_is_migrated_with_every_blob(tmp_path):
    """Stores written before the rowid layout (a WITHOUT ROWID table, with and without the key
    column) open with every blob, sealed or not, and take new blobs afterwards."""
    import sqlite3

    ring = Keyring.parse(Keyring.new_key("k1"))
    for with_kid in (False, True):
        root = tmp_path / f"kid-{with_kid}"
        root.mkdir()
        db = sqlite3.connect(root / "small.sqlite")
        db.execute("CREATE TABLE blobs (content_hash TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID")
        plain = [f"blob {i}".encode() for i in range(20)]
        db.executemany("INSERT INTO blobs VALUES (?, ?)", [(hashlib.sha256(b).hexdigest(), b) for b in plain])
        if with_kid:
            db.execute("ALTER TABLE blobs ADD COLUMN key_id TEXT")
            sealed = b"sealed blob"
            h = hashlib.sha256(sealed).hexdigest()
            kid, data = ring.seal(h, sealed)
            db.execute("INSERT INTO blobs VALUES (?, ?, ?)", (h, data, kid))
            plain.append(sealed)
        db.commit()
        db.close()
        store = ContentStore(root, keyring=ring)
        assert [store.get(hashlib.sha256(b).hexdigest()) for b in plain] == plain
        layout = store._conn().execute("SELECT sql FROM sqlite_master WHERE name = 'blobs'").fetchone()[0]
        assert "WITHOUT ROWID" not in layout.upper()
        new = store.put_many([b"after the migration"])[0]
        assert store.get(new) == b"after the migration"
        store.close()


def test_a_tampered_or_swapped_blob_does_not_open(tmp_path):
    ring = Keyring.parse(Keyring.new_key("k"))
    store = ContentStore(tmp_path, keyring=ring)
    a, b = store.put_many([b"first document", b"second document"])
    db = store._conn()
    sealed_b = db.execute("SELECT data FROM blobs WHERE content_hash = ?", (b,)).fetchone()[0]
    db.execute("UPDATE blobs SET data = ? WHERE content_hash = ?", (sealed_b, a))
    with pytest.raises(ValueError, match="does not authenticate"):
        store.get(a)


def test_bad_keys_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="32"):
        Keyring.parse("k:" + __import__("base64").b64encode(b"short").decode())
    with pytest.raises(ValueError, match="not among"):
        Keyring.parse(Keyring.new_key("a"), active="b")


def test_retention_policies_load_match_and_report_mistakes_with_lines(tmp_path):
    good = tmp_path / "r.yaml"
    good.write_text(
        "policies:\n  - name: mails\n    match: {format: email}\n    keep: 2y\n"
        "  - name: scratch\n    match: {source: 'scratch/**'}\n    keep: 30d\n    from: ingested\n"
    )
    policies = load_policies(good)
    assert [(p.name, p.keep_days, p.basis) for p in policies] == [
        ("mails", 730, "created"),
        ("scratch", 30, "ingested"),
    ]
    assert first_match(policies, "scratch/a/b.txt", "text", ".txt", None).name == "scratch"
    assert first_match(policies, "inbox/m.eml", "email", ".eml", None).name == "mails"
    assert first_match(policies, "reports/r.pdf", "pdf", ".pdf", None) is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: x\n    match: {format: email}\n    keep: forever\n")
    with pytest.raises(SpecError, match=r"bad.yaml:4: policies\[0\].keep"):
        load_policies(bad)


def test_blob_commands_make_keys_and_refuse_malformed_ones(tmp_path, monkeypatch, capsys):
    from dwc_pipelines import cli

    monkeypatch.setenv("DWC_HOME", str(tmp_path))
    assert cli.main(["blobs", "new-key", "--key-id", "k9"]) == 0
    spec = capsys.readouterr().out.strip()
    assert Keyring.parse(spec).active == "k9"
    monkeypatch.setenv("DWC_BLOB_KEYS", spec)
    assert cli.main(["blobs", "status"]) == 0 and "active key: k9" in capsys.readouterr().out
    monkeypatch.setenv("DWC_BLOB_KEYS", "not-a-key")
    assert cli.main(["blobs", "status"]) == 1, "a malformed key is a user error"
    err = capsys.readouterr().err
    assert "key_id:base64" in err and "not-a-key" not in err
