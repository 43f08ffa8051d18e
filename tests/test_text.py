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
    assert (
        detect_language("The contract is signed by both parties and it is valid for the term of this agreement.")
        == "en"
    )
    assert (
        detect_language("Le contrat est signé par les deux parties et il est valable pour la durée de la mission.")
        == "fr"
    )
    assert (
        detect_language("Der Vertrag ist von beiden Parteien unterzeichnet und gilt für die Dauer des Projekts.")
        == "de"
    )
    assert detect_language("これは日本語の文書です。契約書の内容を確認してください。") == "ja"
    assert detect_language("12 34 56") == "und"


def test_language_of_short_and_mixed_texts():
    # Short: a stop-word count has nothing to count in these.
    assert detect_language("Dit is een korte zin.") == "nl"
    assert detect_language("Příliš žluťoučký kůň") == "cs"
    assert detect_language("Съешь же ещё этих мягких булок") == "ru"
    assert detect_language("Board minutes June") == "en"
    assert detect_language("café") == "und"  # a word, not evidence
    # Mixed: the language of most of the document, not of its first page.
    abstract = "Abstract. This report reviews the delivery schedule and the second quarter invoices. " * 15
    body = (
        "Le comité a examiné le calendrier des livraisons et a décidé de reporter l'inspection à jeudi. "
        "Les factures du deuxième trimestre sont dues à la fin du mois et les auditeurs en ont demandé des copies. "
    ) * 60
    assert detect_language(abstract + body) == "fr"


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


def _oph_reference(words: list[str]) -> list[int]:
    """One-permutation hashing with densification, written out plainly, one shingle at a time."""
    import zlib

    from dwc_pipelines.ingestion import similarity as S

    m64 = (1 << 64) - 1

    def mix(x):
        x = (x + 0x9E3779B97F4A7C15) & m64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m64
        return x ^ (x >> 31)

    words = words or [""]
    hs = [zlib.crc32(w.encode()) for w in words]
    shingles = [hs[i : i + S.SHINGLE] for i in range(max(len(hs) - S.SHINGLE + 1, 1))]
    bins = [None] * S.NUM_PERM
    for sh in shingles:
        poly = 0
        for h in sh:
            poly = (poly * 1_000_003 + h) & 0xFFFFFFFF
        z = mix(poly)
        b, v = z >> 58, z & 0xFFFFFFFF
        bins[b] = v if bins[b] is None else min(bins[b], v)
    return [
        v if v is not None else next(bins[int(k)] for k in S._PROBES[j] if bins[int(k)] is not None)
        for j, v in enumerate(bins)
    ]


def test_minhash_is_one_permutation_hashing_with_densification():
    """The vectorised batch gives, for every document, what the plain definition gives: short
    documents (fewer words than a shingle, none at all) and batches mixing them included."""
    import random

    import numpy as np

    from dwc_pipelines.ingestion import similarity as S

    rnd = random.Random(11)
    vocab = [f"w{i}" for i in range(300)] + ["", "straße", "日本"]
    docs = [[rnd.choice(vocab) for _ in range(n)] for n in (0, 1, 3, 4, 5, 6, 17, 63, 400)]
    docs += [[rnd.choice(vocab) for _ in range(rnd.randint(0, 40))] for _ in range(50)]
    batch = S.minhashes(docs)
    assert batch.shape == (len(docs), S.NUM_PERM) and batch.dtype == np.uint64
    for words, sig in zip(docs, batch):
        assert sig.tolist() == _oph_reference(words)
        assert np.array_equal(minhash(words=words), sig)
    assert len(minhash(" ".join(vocab))) == S.NUM_PERM


def _normalize_reference(text: str) -> str:
    import re
    import unicodedata

    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]", "", text)
    text = re.sub(r"[ \t\u00a0\u2000-\u200a\u3000]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def test_text_fast_paths_equal_their_plain_definitions():
    """normalize_text, words_of and token_count skip work on common text;
    on random hostile text they still give what the plain definitions give."""
    import random
    import re

    from dwc_pipelines.ingestion.text import token_count, tokens, words_of

    rnd = random.Random(42)
    alphabet = list("abcXYZ019_ .,;:!?-'\"") + [
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\n\n\n",
        "\r\n",
        "\r",
        "\x00",
        "\x07",
        "\x0b",
        "\x1c",
        "\x7f",
        "\u00a0",
        "\u2003",
        "\u3000",
        "\u200b",
        "\ufeff",
        "e\u0301",
        "é",
        "ß",
        "İ",
        "\u212a",
        "日本",
        "ж",
        "١٢",
        "😀",
        "\u0915\u093e",
    ]
    stopwords = "the of and to le la les de der die das und el los que het een och att".split()
    for _ in range(3000):
        pieces = [
            rnd.choice(alphabet) if rnd.random() < 0.6 else rnd.choice(stopwords) for _ in range(rnd.randint(0, 60))
        ]
        raw = "".join(pieces) if rnd.random() < 0.5 else " ".join(pieces)
        if rnd.random() < 0.3:
            raw = raw.encode("ascii", "ignore").decode()
        text = normalize_text(raw)
        assert text == _normalize_reference(raw), repr(raw)
        words = words_of(text)
        assert words == re.findall(r"\w+", text.lower()), repr(text)
        assert token_count(text, words) == token_count(text) == len(tokens(text)), repr(text)
        lang = detect_language(text, words)  # hostile text never breaks it
        assert lang == "und" or re.fullmatch("[a-z]{2,3}", lang), (lang, text)


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
