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
from typing import Any, Protocol

from . import ai_local as local
from .llm_client import LLMClient

MAX_PROMPT_CHARS = 12_000  # about 3k tokens of document per request


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


def _topics(labels: dict[str, tuple[str, ...]]) -> tuple[local.Topic, ...]:
    return tuple(
        local.Topic(label, tuple(terms) or tuple(label.replace("_", " ").split())) for label, terms in labels.items()
    )


@dataclass
class LocalProvider:
    """The embedded default: offline, deterministic, no download. `generate` returns the
    rendered template itself: without a language model the template is the document."""

    taxonomy: str = "documents"
    places: tuple[str, ...] = ()
    name: str = "local"
    calls: int = 0

    @property
    def model(self) -> str:
        # The taxonomy decides the topics, so it is part of the cache key.
        return f"{local.PROVIDER_VERSION}/{self.taxonomy}"

    def usage(self) -> dict:
        return {"calls": self.calls}

    def enrich(self, texts: list[str]) -> list[dict]:
        self.calls += 1
        vectors = local.embed(texts)
        topics = local.TAXONOMIES[self.taxonomy]
        out = []
        for text, vec in zip(texts, vectors):
            topic, scores = local.classify(text, topics)
            out.append(
                {
                    "summary": local.summarize(text),
                    "keywords": local.keywords(text),
                    "topic": topic,
                    "topic_scores": json.dumps(scores),
                    "entities": json.dumps(local.entities(text, self.places)),
                    "sentiment": local.sentiment(text),
                    "embedding": vec.tolist(),
                    "status": "ok",
                    "error": None,
                }
            )
        return out

    def summarize(self, texts: list[str], max_sentences: int = 3) -> list[dict]:
        self.calls += 1
        return [ok({"summary": local.summarize(t, max_sentences)}) for t in texts]

    def classify(self, texts: list[str], labels: dict[str, tuple[str, ...]]) -> list[dict]:
        self.calls += 1
        topics = _topics(labels)
        out = []
        for t in texts:
            label, scores = local.classify(t, topics)
            out.append(ok({"label": label, "confidence": scores.get(label, 0.0)}))
        return out

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
    """Tasks as structured chat completions against an OpenAI-compatible endpoint. Embeddings
    stay on the local hashed model: the warehouse's vector columns have one fixed width."""

    client: LLMClient
    taxonomy: str = "documents"
    name: str = "openai"
    places: tuple[str, ...] = ()

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
        labels = [t.label for t in local.TAXONOMIES[self.taxonomy]] + ["unknown"]
        answers = self._ask(
            "Summarise the document in at most three sentences, list its keywords, pick its topic from the allowed "
            "labels, list the named entities, and rate its sentiment from -1 to 1.",
            texts,
            _enrich_schema(labels),
        )
        vectors = local.embed(texts)
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
    return {
        "provider": provider.name,
        "model": provider.model,
        **{f"usage/{k}": v for k, v in provider.usage().items()},
    }
