"""An OpenAI-compatible LLM client with the guarantees batch enrichment needs (plain Python).

Works with any endpoint that speaks the OpenAI wire format (OpenAI, Azure OpenAI, vLLM, Ollama,
llama.cpp server). On top of the `openai` package it adds what a batch over thousands of
documents needs: bounded retries with exponential backoff and jitter that honour Retry-After,
bounded concurrency, token and cost accounting, a budget that stops spending (not the run),
and structured outputs validated against a JSON schema, where an invalid answer is retried and
then reported as a failed item instead of an exception.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import jsonschema

T = TypeVar("T")
R = TypeVar("R")


class BudgetExceeded(Exception):
    """The per-run budget is spent: no further calls are made."""


class MalformedResponse(Exception):
    """The endpoint answered with a body that is not the API's JSON (a proxy error page, a cut stream)."""


@dataclass
class Usage:
    calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    invalid_answers: int = 0
    skipped_for_budget: int = 0

    def as_metadata(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class Outcome:
    """The result of one structured call: a validated value, or the reason there is none."""

    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 0


@dataclass
class LLMSettings:
    base_url: str | None
    api_key: str
    model: str
    embedding_model: str = "text-embedding-3-small"
    timeout_seconds: float = 60.0
    max_retries: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    max_concurrency: int = 4
    max_invalid_retries: int = 2
    prompt_usd_per_1k_tokens: float = 0.0
    completion_usd_per_1k_tokens: float = 0.0
    budget_usd: float | None = None
    budget_tokens: int | None = None
    seed: int | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def retry_after_seconds(headers) -> float | None:
    """Seconds asked for by a Retry-After (or retry-after-ms) header, if any."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


class LLMClient:
    def __init__(self, settings: LLMSettings):
        import openai  # 0.7 s to import: loaded with the first client, not with the code location

        self.s = settings
        self.usage = Usage()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._rng = random.Random(settings.seed)
        # Retries are ours (they honour Retry-After and count in the usage), so the SDK makes none.
        self._client = openai.OpenAI(
            base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout_seconds, max_retries=0
        )

    def _check_budget(self) -> None:
        s, u = self.s, self.usage
        if (s.budget_usd is not None and u.cost_usd >= s.budget_usd) or (
            s.budget_tokens is not None and u.prompt_tokens + u.completion_tokens >= s.budget_tokens
        ):
            with self._lock:
                u.skipped_for_budget += 1
            raise BudgetExceeded(f"budget spent: ${u.cost_usd:.4f}, {u.prompt_tokens + u.completion_tokens} tokens")

    def _account(self, usage) -> None:
        if usage is None:
            return
        p = getattr(usage, "prompt_tokens", 0) or 0
        c = getattr(usage, "completion_tokens", 0) or 0
        with self._lock:
            self.usage.prompt_tokens += p
            self.usage.completion_tokens += c
            self.usage.cost_usd += (
                p / 1000 * self.s.prompt_usd_per_1k_tokens + c / 1000 * self.s.completion_usd_per_1k_tokens
            )

    def _call(self, fn: Callable[[], T]) -> T:
        """One request with bounded retries; transient failures back off, others raise at once."""
        import openai

        attempt = 0
        while True:
            self._check_budget()
            with self._slots:
                with self._lock:
                    self.usage.calls += 1
                try:
                    return fn()
                except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                    error, wait_hint = exc, None
                except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
                    error, wait_hint = MalformedResponse(f"malformed response body: {exc}"), None
                except openai.APIStatusError as exc:
                    if exc.status_code not in _RETRYABLE_STATUS:
                        raise
                    error, wait_hint = exc, retry_after_seconds(exc.response.headers if exc.response else None)
            if attempt >= self.s.max_retries:
                raise error
            backoff = min(self.s.backoff_max_seconds, self.s.backoff_base_seconds * 2**attempt)
            delay = backoff * (0.5 + self._rng.random() / 2)  # jitter: half to full backoff
            if wait_hint is not None:
                delay = min(max(delay, wait_hint), self.s.backoff_max_seconds)
            attempt += 1
            with self._lock:
                self.usage.retries += 1
            self.s.sleep(delay)

    def chat_json(self, messages: list[dict], schema: dict, temperature: float = 0.0) -> Outcome:
        """A JSON answer validated against `schema`; an invalid one is asked again, then reported."""
        import openai

        last_error = "no answer"
        for attempt in range(1, self.s.max_invalid_retries + 2):
            try:
                resp = self._call(
                    lambda: self._client.chat.completions.create(
                        model=self.s.model,
                        messages=messages,
                        temperature=temperature,
                        response_format={"type": "json_object"},
                        stream=False,
                    )
                )
            except BudgetExceeded as exc:
                return Outcome(False, error=f"skipped: {exc}", attempts=attempt - 1)
            except (openai.OpenAIError, MalformedResponse) as exc:
                return Outcome(False, error=f"{type(exc).__name__}: {str(exc)[:300]}", attempts=attempt)
            self._account(getattr(resp, "usage", None))
            try:
                content = resp.choices[0].message.content or ""
                value = json.loads(content)
                jsonschema.validate(value, schema)
                return Outcome(True, value=value, attempts=attempt)
            except (IndexError, AttributeError, json.JSONDecodeError, jsonschema.ValidationError) as exc:
                last_error = f"invalid answer: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                with self._lock:
                    self.usage.invalid_answers += 1
        return Outcome(False, error=last_error, attempts=self.s.max_invalid_retries + 1)

    def embed(self, texts: list[str]) -> list[list[float]]:
        resp = self._call(lambda: self._client.embeddings.create(model=self.s.embedding_model, input=texts))
        self._account(getattr(resp, "usage", None))
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise ValueError(f"asked for {len(texts)} embeddings, got {len(data)}")
        return [list(d.embedding) for d in data]

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """fn over items with at most max_concurrency requests in flight, results in input order."""
        with ThreadPoolExecutor(max_workers=self.s.max_concurrency) as pool:
            return list(pool.map(fn, items))
