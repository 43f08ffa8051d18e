"""Token-aware overlapping chunks with ids that depend only on the content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .text import tokens

CHUNKER_VERSION = "tok-v1"
_SENTENCE_END = {".", "!", "?", "。", "！", "？"}


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    index: int
    token_start: int
    token_end: int
    char_start: int
    char_end: int
    text: str


def chunk_text(text: str, content_hash: str, max_tokens: int = 256, overlap: int = 32) -> list[Chunk]:
    """Windows of at most `max_tokens` tokens, `overlap` tokens shared between neighbours.

    A window prefers to end after a sentence when one ends in its last quarter, so chunks
    rarely cut a sentence in two. The id hashes the content hash, the span and the chunker
    version: the same bytes always give the same ids.
    """
    if overlap >= max_tokens:
        raise ValueError(f"overlap ({overlap}) must be smaller than max_tokens ({max_tokens})")
    toks = tokens(text)
    n = len(toks)
    out: list[Chunk] = []
    start = 0
    while start < n:
        end = min(start + max_tokens, n)
        if end < n:
            floor = start + (3 * max_tokens) // 4
            for k in range(end - 1, floor - 1, -1):
                if toks[k].group() in _SENTENCE_END:
                    end = k + 1
                    break
        cs, ce = toks[start].start(), toks[end - 1].end()
        key = f"{CHUNKER_VERSION}:{content_hash}:{max_tokens}:{overlap}:{cs}:{ce}"
        out.append(Chunk(hashlib.sha256(key.encode()).hexdigest()[:32], len(out), start, end, cs, ce, text[cs:ce]))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return out
