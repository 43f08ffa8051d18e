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
# Multipliers spread over the whole range of the prime, so that (a*h + b) mod p scrambles the
# order of shingle hashes for every permutation (small multipliers would preserve it, and one
# shared shingle with a small hash would then decide most slots). a*h wraps modulo 2^64 first,
# as in datasketch; the family stays close enough to min-wise independent.
_A = _rng.randint(1, 2**61 - 1, size=NUM_PERM, dtype=np.int64).astype(np.uint64)
_B = _rng.randint(0, 2**61 - 1, size=NUM_PERM, dtype=np.int64).astype(np.uint64)
_MASK32 = np.uint64(0xFFFFFFFF)
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
    with np.errstate(over="ignore"):
        return (((hashes[:, None] * _A + _B) % _PRIME) & _MASK32).min(axis=0)


def similarity(sig_a, sig_b) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
