"""The AI providers behind enrichment and chain steps: the offline `local` one and any
OpenAI-compatible endpoint. Both answer the same tasks with the same result shape, so assets
never care which one the environment configured.

Every task takes a list of inputs and returns one result per input, in order:
`{"status": "ok", "value": {...}}` or `{"status": "failed" | "skipped", "error": "..."}`;
one bad answer is a failed item, never an exception for the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import ai_local as local
from .llm_client import LLMClient

MAX_PROMPT_CHARS = 12_000  # about 3k tokens of document per request
TAXONOMY_DIR = Path(__file__).parent / "taxonomies"


def ok(value: dict) -> dict:
    return {"status": "ok", "value": value, "error": None}


def failed(error: str) -> dict:
    return {"status": "skipped" if error.startswith("skipped") else "failed", "value": None, "error": error}


class Provider(Protocol):
    name: str
    model: str

    def enrich(self, texts: list[str]) -> list[dict]: ...
    def summarize(self, texts: list[str], max_sentences: int = 3) -> list[dict]: ...
    def classify(self, texts: list[str], labels: dict[str, tuple[str, ...]]) -> list[dict]: ...
    def extract(self, texts: list[str], fields: dict[str, dict]) -> list[dict]: ...
    def generate(self, prompts: list[str]) -> list[dict]: ...
    def usage(self) -> dict: ...


def load_taxonomy(name: str, descriptions: bool = False) -> dict[str, str]:
    """A taxonomy's labels (label -> one-line description, or "" for names only): a built-in name
    (dwc_resources/taxonomies/NAME.yaml) or the path of a YAML file with a `labels` mapping or list."""
    import yaml

    path = Path(name) if name.endswith((".yaml", ".yml")) else TAXONOMY_DIR / f"{name}.yaml"
    if not path.exists():
        builtin = sorted(p.stem for p in TAXONOMY_DIR.glob("*.yaml"))
        raise ValueError(f"no taxonomy {name!r}: a YAML file path or one of {builtin}")
    labels = (yaml.safe_load(path.read_text()) or {}).get("labels") or {}
    if isinstance(labels, list):
        labels = {str(label): "" for label in labels}
    if not isinstance(labels, dict) or len(labels) < 2:
        raise ValueError(f"{path}: `labels` must list at least two labels")
    return {str(k): (str(v or "") if descriptions else "") for k, v in labels.items()}


def cue_labels(labels: dict[str, tuple[str, ...] | list[str] | str]) -> dict[str, str]:
    """A chain's labels (label -> cue words or a description) as label -> description."""
    return {k: v if isinstance(v, str) else ", ".join(v) for k, v in labels.items()}


@dataclass
class LocalProvider:
    """The embedded default: offline, deterministic, no download. Embeddings, topics, summaries
    and key phrases come from the configured embedding model (docs/search.md); entities and
    sentiment from rules. `generate` returns the rendered template itself: without a language
    model the template is the document."""

    taxonomy: str = "documents"
    places: tuple[str, ...] = ()
    name: str = "local"
    calls: int = 0
    embedder: Any = None
    descriptions: bool = False

    def __post_init__(self) -> None:
        if self.embedder is None:
            from .embedding import local_embedder

            self.embedder = local_embedder()
        self._zero_shot = None

    @property
    def model(self) -> str:
        # The taxonomy and the embedding model decide the topics, so both are in the cache key.
        labels = "+descriptions" if self.descriptions else ""
        return f"{local.PROVIDER_VERSION}/{self.taxonomy}{labels}/{self.embedder.model}"

    def fields(self) -> dict[str, str]:
        """Which method produced each enrichment field, for asset metadata."""
        how = f"local {self.embedder.model}"
        return {
            "summary": f"{how}: extractive, sentences ranked by closeness to the document (MMR)",
            "keywords": f"{how}: key phrases ranked by closeness to the document (MMR)",
            "topic": f"{how}: zero-shot from label names{' and descriptions' if self.descriptions else ''}",
            "embedding": how,
            "entities": "local rules (patterns and gazetteer)",
            "sentiment": "local lexicon",
        }

    def usage(self) -> dict:
        return {"calls": self.calls}

    def zero_shot(self):
        from .semantic import ZeroShot

        if self._zero_shot is None:
            self._zero_shot = ZeroShot(self.embedder, load_taxonomy(self.taxonomy, self.descriptions))
        return self._zero_shot

    def enrich(self, texts: list[str]) -> list[dict]:
        from . import semantic

        self.calls += 1
        vectors = self.embedder.embed(texts)
        topics = self.zero_shot().classify(texts)
        summaries = semantic.summaries(self.embedder, texts)
        phrases = semantic.key_phrases_many(self.embedder, texts, local.STOPWORDS, doc_vectors=vectors)
        out = []
        for text, vec, (topic, scores), summary, keywords in zip(texts, vectors, topics, summaries, phrases):
            out.append(
                {
                    "summary": summary,
                    "keywords": keywords,
                    "topic": topic,
                    "topic_scores": json.dumps(scores),
                    "entities": json.dumps(local.entities(text, self.places)),
                    "sentiment": local.sentiment(text),
                    "embedding": vec.tolist(),
                    "embedding_model": self.embedder.model,
                    "embedding_dim": int(vec.shape[0]),
                    "status": "ok",
                    "error": None,
                }
            )
        return out

    def summarize(self, texts: list[str], max_sentences: int = 3) -> list[dict]:
        from . import semantic

        self.calls += 1
        return [ok({"summary": s}) for s in semantic.summaries(self.embedder, texts, max_sentences)]

    def classify(self, texts: list[str], labels: dict[str, tuple[str, ...]]) -> list[dict]:
        from .semantic import ZeroShot

        self.calls += 1
        zero_shot = ZeroShot(self.embedder, cue_labels(labels))
        return [
            ok({"label": label, "confidence": scores.get(label, 0.0)}) for label, scores in zero_shot.classify(texts)
        ]

    def extract(self, texts: list[str], fields: dict[str, dict]) -> list[dict]:
        self.calls += 1
        return [ok(local.extract_fields(t, fields)) for t in texts]

    def generate(self, prompts: list[str]) -> list[dict]:
        self.calls += 1
        return [ok({"text": p}) for p in prompts]


_TYPES = {
    "string": {"type": ["string", "null"]},
    "number": {"type": ["number", "null"]},
    "date": {"type": ["string", "null"], "description": "ISO 8601 date"},
    "boolean": {"type": ["boolean", "null"]},
    "list": {"type": "array", "items": {"type": "string"}},
}


def _enrich_schema(labels: list[str]) -> dict:
    return {
        "type": "object",
        "required": ["summary", "keywords", "topic", "entities", "sentiment"],
        "properties": {
            "summary": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 12},
            "topic": {"enum": labels},
            "sentiment": {"type": "number", "minimum": -1, "maximum": 1},
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "text"],
                    "properties": {
                        "type": {"enum": ["person", "organisation", "date", "money", "email", "place"]},
                        "text": {"type": "string"},
                    },
                },
            },
        },
    }


@dataclass
class LLMProvider:
    """Tasks as structured chat completions against an OpenAI-compatible endpoint, embeddings from
    its embedding model (any width: every vector row records model and width)."""

    client: LLMClient
    taxonomy: str = "documents"
    name: str = "openai"
    places: tuple[str, ...] = ()
    embedder: Any = None
    descriptions: bool = False

    def __post_init__(self) -> None:
        if self.embedder is None:
            from .embedding import EndpointEmbedder

            self.embedder = EndpointEmbedder(self.client, self.client.s.embedding_model)

    def fields(self) -> dict[str, str]:
        chat = f"openai-compatible {self.client.s.model}"
        return {
            "summary": chat,
            "keywords": chat,
            "topic": chat,
            "entities": chat,
            "sentiment": chat,
            "embedding": f"{self.embedder.provider} {self.embedder.model}",
        }

    @property
    def model(self) -> str:
        return f"{self.client.s.model}/{self.taxonomy}"

    def usage(self) -> dict:
        return self.client.usage.as_metadata()

    def _ask(self, task: str, texts: list[str], schema: dict) -> list[dict]:
        system = (
            "You are a careful document analyst. Answer with one JSON object that matches this JSON schema, "
            f"and nothing else:\n{json.dumps(schema)}"
        )

        def one(text: str) -> dict:
            outcome = self.client.chat_json(
                [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"{task}\n\n---\n{text[:MAX_PROMPT_CHARS]}"},
                ],
                schema,
            )
            return ok(outcome.value) if outcome.ok else failed(outcome.error or "no answer")

        return self.client.map(one, texts)

    def enrich(self, texts: list[str]) -> list[dict]:
        taxonomy = load_taxonomy(self.taxonomy, descriptions=True)
        labels = list(taxonomy) + ["unknown"]
        answers = self._ask(
            "Summarise the document in at most three sentences, list its keywords, pick its topic from the allowed "
            "labels, list the named entities, and rate its sentiment from -1 to 1. Topics: "
            + "; ".join(f"{k} ({v})" if v else k for k, v in taxonomy.items())
            + ".",
            texts,
            _enrich_schema(labels),
        )
        vectors = self.embedder.embed(texts)
        out = []
        for answer, vec in zip(answers, vectors):
            v = answer["value"] or {}
            out.append(
                {
                    "summary": v.get("summary"),
                    "keywords": v.get("keywords"),
                    "topic": v.get("topic"),
                    "topic_scores": None,
                    "entities": json.dumps(v.get("entities")) if v else None,
                    "sentiment": v.get("sentiment"),
                    "embedding": vec.tolist(),
                    "embedding_model": self.embedder.model,
                    "embedding_dim": int(vec.shape[0]),
                    "status": answer["status"],
                    "error": answer["error"],
                }
            )
        return out

    def summarize(self, texts: list[str], max_sentences: int = 3) -> list[dict]:
        schema = {"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}
        return self._ask(f"Summarise the document in at most {max_sentences} sentences.", texts, schema)

    def classify(self, texts: list[str], labels: dict[str, tuple[str, ...]]) -> list[dict]:
        schema = {
            "type": "object",
            "required": ["label", "confidence"],
            "properties": {
                "label": {"enum": list(labels)},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
        }
        hints = "; ".join(f"{k}: {', '.join(v)}" if v else k for k, v in labels.items())
        return self._ask(f"Classify the document into exactly one label. Labels (with cues): {hints}.", texts, schema)

    def extract(self, texts: list[str], fields: dict[str, dict]) -> list[dict]:
        schema = {
            "type": "object",
            "required": list(fields),
            "properties": {
                name: {
                    **_TYPES[spec.get("type", "string")],
                    **({"description": spec["description"]} if spec.get("description") else {}),
                }
                for name, spec in fields.items()
            },
        }
        return self._ask("Extract these fields from the document; use null when a field is absent.", texts, schema)

    def generate(self, prompts: list[str]) -> list[dict]:
        schema = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
        return self._ask(
            "Write the document the instructions ask for, in Markdown, as the value of `text`.", prompts, schema
        )


def describe(provider: Any) -> dict:
    """Asset metadata: who answered, with what, at what cost, and which method made each field."""
    import dagster as dg

    fields = provider.fields() if hasattr(provider, "fields") else {}
    rows = "\n".join(f"| {k} | {v} |" for k, v in fields.items())
    return {
        "provider": provider.name,
        "model": provider.model,
        **({"field_providers": dg.MetadataValue.md(f"| field | produced by |\n|---|---|\n{rows}")} if fields else {}),
        **{f"usage/{k}": v for k, v in provider.usage().items()},
    }
