"""The OpenAI-compatible client against a protocol test double speaking the real wire format."""

import time
from email.utils import formatdate

import pytest

from dwc_resources.llm_client import LLMClient, LLMSettings, retry_after_seconds

from .llm_double import LLMDouble

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
ASK = [{"role": "user", "content": "Classify this."}]


def client(double: LLMDouble, **kw) -> tuple[LLMClient, list[float]]:
    slept: list[float] = []
    settings = LLMSettings(
        base_url=double.base_url,
        api_key="test-key",
        model="test-model",
        seed=1,
        timeout_seconds=kw.pop("timeout_seconds", 5.0),
        sleep=slept.append,
        **kw,
    )
    return LLMClient(settings), slept


def test_structured_answer_and_accounting():
    with LLMDouble() as double:
        llm, _ = client(double, prompt_usd_per_1k_tokens=1.0, completion_usd_per_1k_tokens=2.0)
        out = llm.chat_json(ASK, SCHEMA)
    assert out.ok and out.value == {"label": "ok"} and out.attempts == 1
    assert llm.usage.prompt_tokens == 10 and llm.usage.completion_tokens == 5
    assert llm.usage.cost_usd == pytest.approx(0.010 + 0.010)
    sent = double.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "test-model"
    assert sent["body"]["response_format"] == {"type": "json_object"} and sent["body"]["stream"] is False


def test_429_honours_retry_after():
    with LLMDouble() as double:
        double.then(("status", 429, {"Retry-After": "3"}))
        llm, slept = client(double)
        out = llm.chat_json(ASK, SCHEMA)
    assert out.ok and llm.usage.retries == 1
    assert slept == [3.0]


def test_500s_back_off_exponentially_with_jitter_then_give_up_without_raising():
    with LLMDouble() as double:
        double.then(*[("status", 500)] * 3)
        llm, slept = client(double, backoff_base_seconds=1.0)
        assert llm.chat_json(ASK, SCHEMA).ok
        assert len(slept) == 3
        for attempt, delay in enumerate(slept):
            assert 0.5 * 2**attempt <= delay <= 2**attempt
        double.then(*[("status", 503)] * 10)
        llm, slept = client(double, max_retries=2)
        out = llm.chat_json(ASK, SCHEMA)
    assert not out.ok and "InternalServerError" in out.error
    assert len(slept) == 2


def test_client_errors_are_not_retried():
    with LLMDouble() as double:
        double.then(("status", 400))
        llm, slept = client(double)
        out = llm.chat_json(ASK, SCHEMA)
    assert not out.ok and "BadRequestError" in out.error and slept == []


def test_timeouts_are_retried():
    with LLMDouble() as double:
        double.then(("sleep", 1.5))
        llm, slept = client(double, timeout_seconds=0.3)
        t0 = time.monotonic()
        out = llm.chat_json(ASK, SCHEMA)
    assert out.ok and llm.usage.retries == 1 and len(slept) == 1
    assert time.monotonic() - t0 < 5


def test_malformed_body_is_retried_then_a_failed_item_not_a_crash():
    with LLMDouble() as double:
        double.then(("malformed",))
        llm, _ = client(double)
        assert llm.chat_json(ASK, SCHEMA).ok and llm.usage.retries == 1
        double.then(*[("malformed",)] * 5)
        llm, _ = client(double, max_retries=1)
        out = llm.chat_json(ASK, SCHEMA)
    assert not out.ok and "MalformedResponse" in out.error


def test_invalid_answers_are_retried_then_reported():
    with LLMDouble() as double:
        double.then(("content", "not json at all"))
        llm, _ = client(double)
        out = llm.chat_json(ASK, SCHEMA)
        assert out.ok and out.attempts == 2 and llm.usage.invalid_answers == 1
        double.then(*[("content", '{"wrong": 1}')] * 3)
        llm, _ = client(double, max_invalid_retries=2)
        out = llm.chat_json(ASK, SCHEMA)
    assert not out.ok and out.attempts == 3 and "invalid answer" in out.error and "label" in out.error


def test_budget_stops_spending_not_the_run():
    with LLMDouble() as double:
        llm, _ = client(double, budget_tokens=20)
        results = [llm.chat_json(ASK, SCHEMA) for _ in range(4)]
    assert [r.ok for r in results] == [True, True, False, False]
    assert all("skipped" in r.error for r in results[2:])
    assert len(double.requests) == 2 and llm.usage.skipped_for_budget == 2


def test_concurrency_is_bounded():
    with LLMDouble() as double:
        double.delay = 0.2
        llm, _ = client(double, max_concurrency=2)
        outs = llm.map(lambda _: llm.chat_json(ASK, SCHEMA), range(8))
    assert all(o.ok for o in outs)
    assert double.max_in_flight == 2


def test_embeddings_keep_input_order():
    with LLMDouble() as double:
        llm, _ = client(double)
        vectors = llm.embed(["a", "bbb", "cc"])
    assert [v[0] for v in vectors] == [1.0, 3.0, 2.0]
    assert double.requests[0]["path"] == "/v1/embeddings"


def test_retry_after_spellings():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    soon = retry_after_seconds({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert 25 <= soon <= 31
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "soon"}) is None


def test_resource_reads_the_key_from_env_and_never_leaks_it(monkeypatch, instance):
    import dagster as dg

    from dwc_resources.llm import LLMResource

    secret = "sk-test-9f8e7d6c5b4a"
    monkeypatch.setenv("DWC_LLM_API_KEY", secret)

    @dg.asset
    def probe(llm: LLMResource) -> dg.MaterializeResult:
        client = llm.client()
        out = client.chat_json(ASK, SCHEMA)
        return dg.MaterializeResult(metadata={"ok": out.ok, **client.usage.as_metadata()})

    with LLMDouble() as double:
        res = LLMResource(base_url=double.base_url, model="m", api_key=dg.EnvVar("DWC_LLM_API_KEY"))
        result = dg.materialize([probe], resources={"llm": res}, instance=instance)
    assert result.success
    headers = {k.lower(): v for k, v in double.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {secret}"
    meta = result.asset_materializations_for_node("probe")[0].metadata
    assert meta["ok"].value is True and meta["prompt_tokens"].value == 10
    logged = " ".join(str(e) for e in instance.all_logs(result.run_id))
    assert secret not in logged
