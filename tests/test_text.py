"""Normalisation, language, chunking and similarity: pure logic."""

from datetime import datetime

from dwc_pipelines.ingestion.chunking import chunk_text
from dwc_pipelines.ingestion.landing import listing_fingerprint, scan_landing
from dwc_pipelines.ingestion.similarity import minhash, similarity
from dwc_pipelines.ingestion.text import detect_language, normalize_text, parse_date, safe_display_name


def test_normalize_text():
    raw = "Title\r\n\r\n\r\n\r\nLine\twith   spaces\u00a0and\x07bell \n\n\nEnd\ufeff"
    assert normalize_text(raw) == "Title\n\nLine with spaces andbell\n\nEnd"
    assert normalize_text("e\u0301") == "\u00e9"


def test_language_detection():
    assert detect_language("The contract is signed by both parties and it is valid for the term of this agreement.") == "en"
    assert detect_language("Le contrat est signé par les deux parties et il est valable pour la durée de la mission.") == "fr"
    assert detect_language("Der Vertrag ist von beiden Parteien unterzeichnet und gilt für die Dauer des Projekts.") == "de"
    assert detect_language("これは日本語の文書です。契約書の内容を確認してください。") == "ja"
    assert detect_language("12 34 56") == "und"


def test_parse_date_spellings():
    assert parse_date("D:20240305103000+01'00'") == datetime(2024, 3, 5, 9, 30)
    assert parse_date("2024-03-05T10:30:00Z") == datetime(2024, 3, 5, 10, 30)
    assert parse_date("Tue, 05 Mar 2024 10:30:00 +0000") == datetime(2024, 3, 5, 10, 30)
    assert parse_date("not a date") is None and parse_date("") is None


def test_chunks_overlap_and_cover_the_text():
    text = " ".join(f"Sentence number {i} is here." for i in range(400))
    chunks = chunk_text(text, "h" * 64, max_tokens=100, overlap=20)
    assert len(chunks) > 10
    assert all(c.token_end - c.token_start <= 100 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert b.token_start < a.token_end, "neighbours overlap"
        assert a.token_end - b.token_start <= 20
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
    assert all(c.text.endswith(".") for c in chunks[:-1]), "windows end at sentence boundaries when they can"


def test_chunk_ids_are_stable_and_content_bound():
    text = "alpha beta gamma. " * 300
    a = chunk_text(text, "x" * 64)
    b = chunk_text(text, "x" * 64)
    c = chunk_text(text, "y" * 64)
    assert [ch.chunk_id for ch in a] == [ch.chunk_id for ch in b]
    assert not set(ch.chunk_id for ch in a) & set(ch.chunk_id for ch in c)
    assert len(set(ch.chunk_id for ch in a)) == len(a)


def test_minhash_estimates_jaccard():
    base = " ".join(f"word{i}" for i in range(300))
    edited = base.replace("word150", "changed")
    other = " ".join(f"term{i}" for i in range(300))
    assert similarity(minhash(base), minhash(base)) == 1.0
    assert similarity(minhash(base), minhash(edited)) > 0.85
    assert similarity(minhash(base), minhash(other)) < 0.1


def test_minhash_estimates_are_unbiased_and_tight():
    """Pairs sharing about 9% of their shingles: every estimate stays near 0.09. A hash family
    that preserved the order of shingle hashes would put some pairs near 1 (false twins)."""
    import random

    rnd = random.Random(5)
    vocab = [f"w{i}" for i in range(50_000)]
    sims = []
    for _ in range(200):
        shared = " ".join(rnd.choice(vocab) for _ in range(24))
        a = " ".join(rnd.choice(vocab) for _ in range(100)) + " " + shared
        b = shared + " " + " ".join(rnd.choice(vocab) for _ in range(100))
        sims.append(similarity(minhash(a), minhash(b)))
    assert max(sims) < 0.35, max(sims)
    assert 0.04 < sum(sims) / len(sims) < 0.16


def test_minhash_signatures_equal_the_plain_modulo_definition():
    """The fast Mersenne reduction gives the same signatures as (a*h + b) mod p, so signatures
    stored by earlier versions stay comparable."""
    import numpy as np

    from dwc_pipelines.ingestion import similarity as S

    rnd = np.random.default_rng(3)
    for n in (1, 2, 17, 400):
        hashes = rnd.integers(0, 2**32, size=n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            expected = (((hashes[:, None] * S._A + S._B) % S._PRIME) & S._MASK32).min(axis=0)
        words = [f"w{i}" for i in range(n + S.SHINGLE - 1)]
        assert np.array_equal(S._signature(hashes), expected)
    assert len(minhash(" ".join(words))) == S.NUM_PERM


def test_hostile_names_are_flagged_and_escaped(tmp_path):
    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "bad\nname.txt").write_text("x")
    (tmp_path / "bell\x07.txt").write_text("x")
    (tmp_path / "..\\..\\boot.ini").write_text("x")
    (tmp_path / "report\\2024.txt").write_text("a backslash alone is only a character")
    (tmp_path / ".part-upload").write_text("hidden: skipped")
    outside = tmp_path.parent / "secret.txt"
    outside.write_text("do not read")
    (tmp_path / "link.txt").symlink_to(outside)
    files = {f.relpath: f for f in scan_landing(str(tmp_path))}
    assert ".part-upload" not in files
    assert files["ok.txt"].problem is None
    assert files["bad\nname.txt"].problem == "hostile_file_name"
    assert files["bell\x07.txt"].problem == "hostile_file_name"
    assert files["..\\..\\boot.ini"].problem == "hostile_file_name"
    assert files["report\\2024.txt"].problem is None
    assert files["link.txt"].problem == "symlink_outside_landing"
    assert safe_display_name("bad\nname.txt") == "bad\\x0aname.txt"


def test_listing_fingerprint_changes_with_content(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    f1 = listing_fingerprint(scan_landing(str(tmp_path)))
    assert f1 == listing_fingerprint(scan_landing(str(tmp_path)))
    (tmp_path / "b.txt").write_text("two")
    assert listing_fingerprint(scan_landing(str(tmp_path))) != f1
