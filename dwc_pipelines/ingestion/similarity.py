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
_SHIFT61 = np.uint64(61)
_WORD = re.compile(r"\w+")


class _WordHashes(dict):
    """crc32 of each word, cached: a bounded vocabulary cache looked up at C speed."""

    def __missing__(self, word: str) -> int:
        if len(self) > 500_000:
            self.clear()
        h = self[word] = zlib.crc32(word.encode())
        return h


_word_hashes = _WordHashes()


def minhash(text: str | None = None, words: list[str] | None = None) -> np.ndarray:
    """A 64-permutation MinHash of the 5-word shingles of `text` (or of its lower-cased `words`)."""
    if words is None:
        words = _WORD.findall(text.lower())
    if not words:
        words = [""]
    w = np.array(list(map(_word_hashes.__getitem__, words)), dtype=np.uint64)
    # Shingle hash: a polynomial over the hashes of its SHINGLE consecutive words, kept to 32 bits.
    n = max(len(w) - SHINGLE + 1, 1)
    hashes = np.zeros(n, dtype=np.uint64)
    for k in range(min(SHINGLE, len(w))):
        hashes = (hashes * np.uint64(1_000_003) + w[k : k + n]) & np.uint64(0xFFFFFFFF)
    return _signature(hashes)


def _signature(hashes: np.ndarray) -> np.ndarray:
    """Per permutation, the least (a*h + b) mod p over the shingle hashes (low 32 bits).
    a*h + b wraps modulo 2^64 first, as in datasketch."""
    # x mod (2^61 - 1) by the Mersenne identity (two cheap passes instead of a 64-bit division):
    # the same values as `%`, in about 80% of the time.
    x = hashes[:, None] * _A + _B
    x = (x & _PRIME) + (x >> _SHIFT61)
    x = np.where(x >= _PRIME, x - _PRIME, x)
    return (x & _MASK32).min(axis=0)


def similarity(sig_a, sig_b) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
