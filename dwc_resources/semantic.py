"""Meaning from embeddings, with no per-corpus tuning: zero-shot topics from label names (and
optional one-line descriptions or a few examples), extractive summaries, key phrases and semantic
near-duplicates. Plain NumPy over any `Embedder`.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field

import numpy as np

from .ai_local import _WORD
from .embedding import Embedder, normalise

UNKNOWN = "unknown"
# A label must fit a text better than it fits 80% of arbitrary words (chosen on the dev half of the
# BBC set, label names only; the other half is what bench/enrich scores).
NULL_PERCENTILE = 80.0
NULL_WORDS = 500
_SEPARATORS = re.compile(r"[/_\-|&+,;:]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def label_text(label: str, description: str = "") -> str:
    """What a label means to the model: `Sci/Tech` -> `sci tech`, `realEstate` -> `real estate`,
    followed by its description when there is one."""
    name = " ".join(_SEPARATORS.sub(" ", _CAMEL.sub(" ", label)).lower().split())
    return f"{name}: {description.strip()}" if description and description.strip() else name


@functools.cache
def null_words(n: int = NULL_WORDS, seed: int = 20261205) -> tuple[str, ...]:
    """Arbitrary ordinary words, the yardstick of "fits": whole alphabetic words of the static
    model's vocabulary, drawn with a fixed seed."""
    from .embedding import _wordllama_files

    _, tokenizer = _wordllama_files()
    vocab = sorted(t[1:] for t in tokenizer.get_vocab() if t.startswith("▁") and t[1:].isalpha() and len(t) > 4)
    return tuple(random.Random(seed).sample(vocab, n))


_NULL_VECTORS: dict[str, np.ndarray] = {}


def _null_vectors(embedder: Embedder) -> np.ndarray:
    """The null words' vectors, once per model and process: an endpoint is not asked for them per batch."""
    if embedder.model not in _NULL_VECTORS:
        _NULL_VECTORS[embedder.model] = embedder.embed(list(null_words()))
    return _NULL_VECTORS[embedder.model]


@dataclass
class ZeroShot:
    """Topics by cosine between a text and each label's meaning (name, description, examples).

    "unknown" is calibrated per text against the model itself, with no corpus and no labelled data:
    the text is compared with arbitrary words as if each were a label, and when its best real label
    fits it no better than `null_percentile` of those, no label fits."""

    embedder: Embedder
    labels: dict[str, str]
    examples: dict[str, list[str]] = field(default_factory=dict)
    null_percentile: float = NULL_PERCENTILE

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError("zero-shot topics need at least two labels")
        self.names = list(self.labels)
        vectors = self.embedder.embed([label_text(k, v) for k, v in self.labels.items()])
        for i, name in enumerate(self.names):
            shots = self.examples.get(name) or []
            if shots:
                # The name counts as much as all the examples together: a few shots refine it.
                vectors[i] = normalise((vectors[i] + self.embedder.embed(shots).mean(axis=0))[None, :])[0]
        self._vectors = vectors
        self._null = _null_vectors(self.embedder)

    def classify(self, texts: list[str]) -> list[tuple[str, dict[str, float]]]:
        """(label or "unknown", cosine per label) per text."""
        if not texts:
            return []
        x = self.embedder.embed(texts)
        scores = x @ self._vectors.T
        bars = np.percentile(x @ self._null.T, self.null_percentile, axis=1)
        out = []
        for row, bar, text in zip(scores, bars, texts):
            best = int(np.argmax(row))
            label = self.names[best] if text.strip() and row[best] > bar else UNKNOWN
            out.append((label, {n: round(float(s), 4) for n, s in zip(self.names, row)}))
        return out


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_SENTENCE_UNCASED = re.compile(r"(?<=[a-z0-9][.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences per line; text without capitals (lower-cased corpora) splits at any end mark."""
    pattern = _SENTENCE if any(c.isupper() for c in text[:5000]) else _SENTENCE_UNCASED
    out = []
    for para in re.split(r"\n\s*\n|\n", text):
        out.extend(s.strip() for s in pattern.split(para) if s.strip())
    return out


def _mmr(candidates: np.ndarray, target: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: close to the target, unlike what was already picked."""
    relevance = candidates @ target
    picked: list[int] = []
    while len(picked) < min(k, len(candidates)):
        if picked:
            redundancy = (candidates @ candidates[picked].T).max(axis=1)
            score = (1 - diversity) * relevance - diversity * redundancy
            score[picked] = -np.inf
        else:
            score = relevance
        picked.append(int(np.argmax(score)))
    return picked


def _vectors_of(embedder: Embedder, groups: list[list[str]]) -> list[np.ndarray]:
    """Each group's strings embedded, with one embedder call for the distinct strings of all groups."""
    distinct = list(dict.fromkeys(s for g in groups for s in g))
    if not distinct:
        return [np.zeros((0, embedder.dim), np.float32) for _ in groups]
    table = embedder.embed(distinct)
    row = {s: i for i, s in enumerate(distinct)}
    return [table[[row[s] for s in g]] if g else np.zeros((0, table.shape[1]), np.float32) for g in groups]


def summaries(embedder: Embedder, texts: list[str], max_sentences: int = 3, diversity: float = 0.3) -> list[str]:
    """Extractive: per text, the sentences closest to its meaning and least like each other, in their
    original order."""
    split = []
    for text in texts:
        sents = split_sentences(text)
        split.append([s for s in sents if len(s.split()) >= 4] or sents)
    long = [s if len(s) > max_sentences else [] for s in split]
    out = []
    for sents, vectors in zip(split, _vectors_of(embedder, long)):
        if len(sents) <= max_sentences:
            out.append(" ".join(sents))
            continue
        centre = normalise(vectors.mean(axis=0, keepdims=True))[0]
        out.append(" ".join(sents[i] for i in sorted(_mmr(vectors, centre, max_sentences, diversity))))
    return out


def summarize(embedder: Embedder, text: str, max_sentences: int = 3, diversity: float = 0.3) -> str:
    return summaries(embedder, [text], max_sentences, diversity)[0]


MAX_PHRASE_CANDIDATES = 2000


def _candidates(text: str, stopwords: frozenset[str]) -> list[str]:
    """Runs of one to three content words; a phrase of several words must recur to count."""
    words = [m.group().lower() for m in _WORD.finditer(text[:200_000])]
    counts: dict[str, int] = {}
    run: list[str] = []
    for w in words + [""]:
        if w and w not in stopwords and len(w) > 2:
            run.append(w)
            continue
        for n in (1, 2, 3):
            for i in range(len(run) - n + 1):
                phrase = " ".join(run[i : i + n])
                counts[phrase] = counts.get(phrase, 0) + 1
        run = []
    ranked = sorted((p for p, c in counts.items() if " " not in p or c >= 2), key=lambda p: -counts[p])
    return ranked[:MAX_PHRASE_CANDIDATES]


def key_phrases_many(
    embedder: Embedder,
    texts: list[str],
    stopwords: frozenset[str],
    k: int = 8,
    diversity: float = 0.5,
    doc_vectors: np.ndarray | None = None,
) -> list[list[str]]:
    """Per text, candidate phrases ranked by closeness to the whole text, diversified (KeyBERT's
    method over the configured embedder)."""
    groups = [_candidates(t, stopwords) for t in texts]
    docs = doc_vectors if doc_vectors is not None else embedder.embed([t[:200_000] for t in texts])
    return [
        [phrases[i] for i in _mmr(vectors, doc, k, diversity)] if phrases else []
        for phrases, vectors, doc in zip(groups, _vectors_of(embedder, groups), docs)
    ]


def key_phrases(
    embedder: Embedder, text: str, stopwords: frozenset[str], k: int = 8, diversity: float = 0.5
) -> list[str]:
    return key_phrases_many(embedder, [text], stopwords, k, diversity)[0]


def near_duplicate_pairs(vectors: np.ndarray, threshold: float, block: int = 2048) -> list[tuple[int, int, float]]:
    """Pairs (i < j) whose cosine is at least `threshold`: blocked exact search (vectors normalised)."""
    out = []
    n = len(vectors)
    for start in range(0, n, block):
        sims = vectors[start : start + block] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows, cols):
            i = start + int(r)
            if i < c:
                out.append((i, int(c), round(float(sims[r, c]), 4)))
    return out
