"""MinHash signatures over word shingles and LSH banding for near-duplicate detection."""

from __future__ import annotations

import re
import zlib
import numpy as np

NUM_PERM = 64
SHINGLE = 5
BANDS, ROWS = 16, 4  # 16 x 4 = 64; candidate threshold (1/16)^(1/4) ~ 0.5 Jaccard
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.RandomState(20261122)
_A = _rng.randint(1, 2**31 - 1, size=NUM_PERM).astype(np.uint64)
_B = _rng.randint(0, 2**31 - 1, size=NUM_PERM).astype(np.uint64)
_WORD = re.compile(r"\w+")


_word_hashes: dict[str, int] = {}


def _word_hash(word: str) -> int:
    if len(_word_hashes) > 500_000:  # a vocabulary cache, bounded
        _word_hashes.clear()
    h = _word_hashes[word] = zlib.crc32(word.encode())
    return h


def minhash(text: str | None = None, words: list[str] | None = None) -> np.ndarray:
    """A 64-permutation MinHash of the 5-word shingles of `text` (or of its lower-cased `words`)."""
    if words is None:
        words = _WORD.findall(text.lower())
    if not words:
        words = [""]
    get = _word_hashes.get
    w = np.fromiter((get(x) or _word_hash(x) for x in words), dtype=np.uint64, count=len(words))
    # Shingle hash: a polynomial over the hashes of its SHINGLE consecutive words, kept to 32 bits.
    n = max(len(w) - SHINGLE + 1, 1)
    hashes = np.zeros(n, dtype=np.uint64)
    for k in range(min(SHINGLE, len(w))):
        hashes = (hashes * np.uint64(1_000_003) + w[k : k + n]) & np.uint64(0xFFFFFFFF)
    # a, b < 2^31 and h < 2^32, so a*h + b < 2^63: no overflow before the modulus.
    return ((hashes[:, None] * _A + _B) % _PRIME).min(axis=0)


def similarity(sig_a, sig_b) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
