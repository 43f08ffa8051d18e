"""MinHash signatures over word shingles and LSH banding for near-duplicate detection.

Signatures use one-permutation hashing with optimal densification (Li, Owen and Zhang 2012;
Shrivastava 2017): every shingle is hashed once, the top bits of its hash pick one of NUM_PERM
bins and the low bits are its value; a bin keeps its least value. A bin that no shingle reached
borrows the value of a non-empty bin, chosen by a fixed probe order of its own, so two documents
that agree on which bins are empty borrow alike. The estimate of Jaccard similarity (the share
of equal slots) behaves like classic 64-permutation MinHash at 1/64 of its hashing work, and
signatures of a whole batch of documents are computed in a few numpy passes.
"""

from __future__ import annotations

import re
import zlib
from itertools import chain

import numpy as np

NUM_PERM = 64
SHINGLE = 5
BANDS, ROWS = 16, 4  # 16 x 4 = 64; candidate threshold (1/16)^(1/4) ~ 0.5 Jaccard
# Recorded beside the signatures (docs._settings): signatures of another scheme are recomputed
# from the stored text before they are compared.
SCHEME = "oph64-splitmix-v1"
_BIN_SHIFT = np.uint64(64 - 6)  # the top 6 bits choose one of 64 bins
_MASK32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint64(1 << 32)  # larger than any value
_POLY = np.uint64(1_000_003)
# Bin j's probe order: a permutation of the 64 bins, the same for every document.
_PROBES = np.argsort(np.random.RandomState(20261202).random_sample((NUM_PERM, NUM_PERM)), axis=1)
_WORD = re.compile(r"\w+")


class _WordHashes(dict):
    """crc32 of each word, cached: a bounded vocabulary cache looked up at C speed."""

    def __missing__(self, word: str) -> int:
        if len(self) > 500_000:
            self.clear()
        h = self[word] = zlib.crc32(word.encode())
        return h


_word_hashes = _WordHashes()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def minhashes(word_lists: list[list[str]]) -> np.ndarray:
    """Signatures (len(word_lists) x NUM_PERM, uint64) of the SHINGLE-word shingles of each list
    of lower-cased words; a list with fewer words than SHINGLE is one shingle."""
    n_docs = len(word_lists)
    if not n_docs:
        return np.zeros((0, NUM_PERM), dtype=np.uint64)
    word_lists = [ws if ws else [""] for ws in word_lists]
    lengths = np.fromiter(map(len, word_lists), dtype=np.int64, count=n_docs)
    w = np.fromiter(
        map(_word_hashes.__getitem__, chain.from_iterable(word_lists)), dtype=np.int64, count=int(lengths.sum())
    ).view(np.uint64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # Shingle hash: a polynomial over the crc32s of its words, kept to 32 bits (the low bits of
    # wrapping 64-bit arithmetic are those of the exact polynomial). Step k of one pass holds the
    # k-word polynomial at every position; a document shorter than a shingle takes its own
    # length's step at its start, every other document the last step at each of its positions.
    n_sh = np.maximum(lengths - SHINGLE + 1, 1)
    doc_of = np.repeat(np.arange(n_docs), n_sh)
    pos = np.arange(len(doc_of)) - np.repeat(np.cumsum(n_sh) - n_sh, n_sh) + starts[doc_of]
    hashes = np.empty(len(doc_of), dtype=np.uint64)
    padded = np.concatenate((w, np.zeros(SHINGLE - 1, dtype=np.uint64)))
    poly = np.zeros(len(w), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(1, SHINGLE + 1):
            poly = poly * _POLY + padded[k - 1 : k - 1 + len(w)]
            take = np.repeat(np.minimum(lengths, SHINGLE) == k, n_sh)
            hashes[take] = poly[pos[take]]
        mixed = _mix(hashes & _MASK32)
    slot = doc_of * NUM_PERM + (mixed >> _BIN_SHIFT).astype(np.int64)
    sig = np.full(n_docs * NUM_PERM, _EMPTY, dtype=np.uint64)
    np.minimum.at(sig, slot, mixed & _MASK32)
    sig = sig.reshape(n_docs, NUM_PERM)
    # Each empty bin j takes the value of the first non-empty bin in _PROBES[j]: resolved one
    # probe depth at a time over the empty (document, bin) pairs only (a few per document).
    docs, bins = np.nonzero(sig == _EMPTY)
    value = np.empty(len(docs), dtype=np.uint64)
    todo = np.arange(len(docs))
    for depth in range(NUM_PERM):  # every document has a non-empty bin: all resolve by the last depth
        if not len(todo):
            break
        probe = sig[docs[todo], _PROBES[bins[todo], depth]]
        hit = probe != _EMPTY
        value[todo[hit]] = probe[hit]
        todo = todo[~hit]
    sig[docs, bins] = value
    return sig


def minhash(text: str | None = None, words: list[str] | None = None) -> np.ndarray:
    """The signature of one document's `text` (or of its lower-cased `words`)."""
    if words is None:
        words = _WORD.findall(text.lower())
    return minhashes([words])[0]


def similarity(sig_a, sig_b) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))
