"""Text embedders: a pretrained static model shipped inside a wheel (offline default), an
OpenAI-compatible endpoint, and the old hashed features (kept as a benchmark peer).

Every embedder names its model and width; every vector row the platform stores records both, and
an index only ever holds one model's vectors.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    provider: str
    model: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised (an empty text gives a zero row)."""
        ...


def normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


@functools.cache
def _wordllama_files() -> tuple[np.ndarray, object]:
    """The token embedding matrix and tokenizer that the `wordllama` wheel ships (MIT; weights
    distilled from Llama token embeddings), loaded from the installed package, never downloaded."""
    import wordllama
    from wordllama import WordLlama

    # Without cache_dir, 0.4.0 looks for a `tokenizer/` folder beside the process, not in the package.
    model = WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__), disable_download=True)
    tokenizer = model.tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return np.asarray(model.embedding, dtype=np.float32), tokenizer


_PIECE = re.compile(r" *[^ ]+| +$")


def _pieces(text: str) -> list[str]:
    """A text's words, each with the spaces before it but one (the tokenizer prepends that one)."""
    pieces = _PIECE.findall(text)
    return pieces[:1] + [p[1:] for p in pieces[1:]]


@functools.cache
def _common_direction() -> np.ndarray:
    mean = _wordllama_files()[0].mean(axis=0)
    return mean / np.linalg.norm(mean)


class StaticEmbedder:
    """WordLlama `l2_supercat` 256-d: the mean of the text's token embeddings, as WordLlama computes
    it, but pooled per distinct word.

    The tokenizer (Llama 2 SentencePiece) turns spaces into `▁` and never merges a `▁` onto the
    character before it, so a text's tokens are the concatenation of the tokens of its pieces (a
    word with the spaces before it): each piece is tokenized once per process and its token-vector
    sum cached, and a batch is one sparse product, 4x WordLlama's own speed on long chunks. With
    `centred=False` vectors equal WordLlama's `embed(norm=True)` to float rounding (tests check it).

    Centred (the default), the direction of the mean token vector is projected out: every text of
    a static model shares it, and without it cosines measure that a text is English more
    than what it is about (the "all-but-the-top" post-processing of Mu and Viswanath, 2018)."""

    provider = "local"
    dim = 256
    _MAX_WORDS = 1_000_000  # the cache is cleared past this, so memory stays bounded on odd corpora

    def __init__(self, centred: bool = True) -> None:
        self.centred = centred
        self.model = "wordllama/l2_supercat_256" + ("/centred" if centred else "")
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._index: dict[str, int] = {}
        self._sums = np.zeros((4096, self.dim), np.float32)  # grown by doubling
        self._counts = np.zeros(4096, np.float32)

    def _add(self, words: list[str]) -> None:
        import scipy.sparse as sp

        table, tokenizer = _wordllama_files()
        encoded = tokenizer.encode_batch([w or " " for w in words], add_special_tokens=False)
        space = tokenizer.token_to_id("▁")
        # "" is a single trailing space: a lone "▁".
        ids = [[space] if w == "" else e.ids for w, e in zip(words, encoded)]
        lengths = np.fromiter((len(i) for i in ids), np.int64, len(ids))
        flat = np.fromiter((t for i in ids for t in i), np.int64, int(lengths.sum()))
        start = len(self._index)
        end = start + len(words)
        while end > len(self._sums):
            self._sums = np.concatenate([self._sums, np.zeros_like(self._sums)])
            self._counts = np.concatenate([self._counts, np.zeros_like(self._counts)])
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        tokens = sp.csr_matrix((np.ones(len(flat), np.float32), flat, indptr), shape=(len(words), len(table)))
        self._sums[start:end] = tokens @ table
        self._counts[start:end] = lengths
        self._index.update(zip(words, range(start, end)))

    def embed(self, texts: list[str]) -> np.ndarray:
        import scipy.sparse as sp

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            if len(self._index) > self._MAX_WORDS:
                self._reset()
            split = [_pieces(t) if t.strip() else [] for t in texts]
            get = self._index.get
            new = {w for words in split for w in words if get(w) is None}
            if new:
                self._add(sorted(new))
            n = len(self._index)
            indptr = np.zeros(len(split) + 1, np.int64)
            np.cumsum([len(w) for w in split], out=indptr[1:])
            indices = np.fromiter((get(w) for words in split for w in words), np.int64, int(indptr[-1]))
            bag = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(texts), n))
            sums = bag @ self._sums[:n]
            tokens = bag @ self._counts[:n]
        vectors = normalise(sums / np.maximum(tokens, 1)[:, None])
        if self.centred:
            common = _common_direction()
            vectors = normalise(vectors - np.outer(vectors @ common, common))
        return vectors


class HashedEmbedder:
    """The platform's first vectors: hashed unigram and bigram counts. Lexical, not semantic; kept
    only so that benchmarks can run it beside the real model."""

    provider = "local"
    dim = 384

    @property
    def model(self) -> str:
        return f"local-v1/hashed-{self.dim}"

    def embed(self, texts: list[str]) -> np.ndarray:
        from .ai_local import hashed_features

        return hashed_features(texts, self.dim)


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible endpoint (`/embeddings`); the width is whatever the model
    answers, learnt from the first batch."""

    provider = "openai"

    def __init__(self, client, model: str, batch_size: int = 256):
        self.client = client
        self.model = model
        self.batch_size = batch_size
        self.dim = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[i : i + self.batch_size]]
            parts.append(np.asarray(self.client.embed(batch), dtype=np.float32))
        out = np.vstack(parts) if parts else np.zeros((0, self.dim), np.float32)
        if out.size:
            if self.dim and out.shape[1] != self.dim:
                raise ValueError(f"{self.model} answered {out.shape[1]}-d vectors after {self.dim}-d ones")
            self.dim = out.shape[1]
        return normalise(out)


@functools.cache
def static_embedder() -> StaticEmbedder:
    """One per process: its word cache is worth keeping between assets and queries."""
    return StaticEmbedder()


LOCAL_MODELS = {"wordllama": static_embedder, "hashed": HashedEmbedder}


def local_embedder(name: str = "wordllama") -> Embedder:
    if name not in LOCAL_MODELS:
        raise ValueError(f"local embedding model must be one of {sorted(LOCAL_MODELS)}, not {name!r}")
    return LOCAL_MODELS[name]()
