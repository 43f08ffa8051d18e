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


def minhash(text: str) -> np.ndarray:
    """A 64-permutation MinHash of the text's 5-word shingles (uint64 values)."""
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE:
        shingles = [" ".join(words)]
    else:
        shingles = [" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)]
    hashes = np.fromiter((zlib.crc32(s.encode()) for s in shingles), dtype=np.uint64, count=len(shingles))
    # a, b < 2^31 and h < 2^32, so a*h + b < 2^63: no overflow before the modulus.
    return ((hashes[:, None] * _A + _B) % _PRIME).min(axis=0)


def similarity(sig_a, sig_b) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
