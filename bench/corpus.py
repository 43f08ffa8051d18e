"""A generated corpus of small text, Markdown and HTML documents for throughput benchmarks."""

from __future__ import annotations

import os
import random
from pathlib import Path

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tu",
    "sa",
    "vor",
    "el",
    "di",
    "man",
    "to",
    "ri",
    "qua",
    "nel",
    "po",
    "ste",
    "ar",
    "bin",
    "cor",
    "da",
    "fen",
    "gil",
    "han",
    "is",
    "jor",
    "ket",
    "lum",
    "nor",
    "pel",
    "ses",
]


def vocabulary(n: int = 5000, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    words = set()
    while len(words) < n:
        words.add("".join(rnd.choice(_SYLLABLES) for _ in range(rnd.randint(1, 4))))
    common = ["the", "of", "and", "to", "in", "is", "that", "for", "with", "on", "by", "this", "are", "from"]
    return sorted(words) + common * 40


def _documents(root: Path, n: int, seed: int, max_words: int):
    """(index, folder, title, sentences) of n generated documents, folders made as they fill."""
    rnd = random.Random(seed)
    vocab = vocabulary()
    for i in range(n):
        words = rnd.choices(vocab, k=rnd.randint(80, max_words))
        title = " ".join(words[:5]).capitalize()
        sentences = [s.strip().capitalize() + "." for s in _split(" ".join(words[5:]), rnd)]
        folder = root / f"{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        yield i, folder, title, sentences


def generate(root: str | os.PathLike, n: int, seed: int = 7) -> Path:
    """n documents under root/<n//1000>/; returns root. Deterministic for a given seed."""
    root = Path(root)
    marker = root / f".complete-{n}-{seed}"
    if marker.exists():
        return root
    for i, folder, title, sentences in _documents(root, n, seed, 250):
        kind = i % 3
        if kind == 0:
            (folder / f"doc-{i:06d}.txt").write_text(f"{title}\n\n" + " ".join(sentences) + "\n")
        elif kind == 1:
            (folder / f"doc-{i:06d}.md").write_text(f"# {title}\n\n" + "\n\n".join(sentences) + "\n")
        else:
            paras = "".join(f"<p>{s}</p>" for s in sentences)
            (folder / f"doc-{i:06d}.html").write_text(
                f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{paras}</body></html>"
            )
    marker.write_text("ok")
    return root


def _split(body: str, rnd: random.Random) -> list[str]:
    words = body.split()
    out, i = [], 0
    while i < len(words):
        k = rnd.randint(8, 20)
        out.append(" ".join(words[i : i + k]))
        i += k
    return out


def generate_mixed(root: str | os.PathLike, n: int, seed: int = 11) -> Path:
    """n documents in five formats people exchange (HTML, DOCX, PDF, XLSX, PPTX), one in five each,
    built by the project's writers from generated sentences; returns root. Deterministic for a seed."""
    from dwc_pipelines.testing import make_docx, make_html, make_pdf, make_pptx, make_xlsx

    root = Path(root)
    marker = root / f".complete-mixed-{n}-{seed}"
    if marker.exists():
        return root
    for i, folder, title, sentences in _documents(root, n, seed, 200):
        kind = ("html", "docx", "pdf", "xlsx", "pptx")[i % 5]
        if kind == "html":
            data = make_html(title, sentences).encode()
        elif kind == "docx":
            data = make_docx(sentences, title=title)
        elif kind == "pdf":
            data = make_pdf([" ".join(sentences)], title=title)
        elif kind == "xlsx":
            data = make_xlsx({"Sheet1": [[title]] + [[j + 1, s] for j, s in enumerate(sentences)]})
        else:
            slides = [(title if j == 0 else f"Point {j}", s, None) for j, s in enumerate(sentences[:6])]
            data = make_pptx(slides)
        (folder / f"doc-{i:06d}.{kind}").write_bytes(data)
    marker.write_text("ok")
    return root
