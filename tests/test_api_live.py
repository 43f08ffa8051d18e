"""The /api/v3 service running as users run it: `dwc api serve` with two uvicorn workers beside the
Dagster webserver and daemon, Redis for rate limits and events. Every call of the specification,
a real run's events over WebSocket and SSE, a rate limit shared by both workers, and schemathesis
against the live OpenAPI schema."""

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from .api_seed import replay
from .api_stack import Stack, http, schemathesis
from .conftest import require_service
from .llm_double import LLMDouble

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.live]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_service("127.0.0.1", 6379, "Redis")
    root = tmp_path_factory.mktemp("live")
    with LLMDouble(responder=lambda body: '{"text": "Document workflows move work along."}') as llm:
        stack = Stack(
            root,
            api_env={
                "DWC_LLM_BASE_URL": llm.base_url,
                "DWC_LLM_MODEL": "double",
                "DWC_LLM_API_KEY": "not-a-secret",
            },
        )
        try:
            stack.start()
            stack.headers = stack.token()
            # The lake first: the documents that landed, ingested by a task submitted through the API.
            status, task, _ = http(
                "POST",
                stack.url + "/api/v3/background/tasks/submit",
                {"name": "ingest", "task_type": "ingestion"},
                stack.headers,
            )
            assert status == 202, task
            assert stack.wait_run(task["run"]["run_id"], stack.headers) == "SUCCESS"
            yield stack
        finally:
            stack.stop()


def test_every_call_of_the_specification_answers(live):
    results = replay(live, http, live.headers)
    failed = [r for r in results if not r["ok"]]
    assert len(results) == 46 and not failed, json.dumps(failed, indent=1, default=str)[:4000]
    # What the calls did is real: a Grover run that agrees with theory, a trained forest, recommendations.
    ids = live.seed_ids
    _, algo, _ = http("GET", live.url + f"/api/v3/quantum/algorithms/{ids['algorithm']}/result", headers=live.headers)
    assert algo["matches_theory"] and algo["result"]["marked"] == 11 and algo["result"]["qubits"] == 5
    _, pred, _ = http(
        "POST",
        live.url + f"/api/v3/ml/models/{ids['ml_model']}/predict",
        {
            "input_data": [{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}],
            "return_probabilities": True,
        },
        live.headers,
    )
    assert pred["predictions"] == ["virginica"] and pred["probabilities"][0]["virginica"] > 0.5
    _, recs, _ = http(
        "POST",
        live.url + "/api/v3/recommendations/recommendations",
        {"user_id": "u-api-1", "num_recommendations": 5},
        live.headers,
    )
    assert recs["interactions"] == 1 and len(recs["items"]) == 5
    assert "i-100" not in [i["item_id"] for i in recs["items"]]  # seen items are left out


def test_websocket_and_sse_receive_a_real_runs_events(live):
    from websockets.sync.client import connect

    token = live.headers["Authorization"].removeprefix("Bearer ")
    status, wf, _ = http(
        "POST",
        live.url + "/api/v3/ai-workflows",
        {
            "name": "events probe",
            "input_data": {"topic": "market", "prompt": "Brief."},
            "template_name": "document_summary",
        },
        live.headers,
    )
    assert status == 201, wf
    sse_events: list[dict] = []

    def read_sse():
        req = urllib.request.Request(live.url + "/api/v3/events?topics=runs", headers=live.headers)
        with urllib.request.urlopen(req, timeout=300) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    sse_events.append(json.loads(line[5:]))
                    if (
                        sse_events[-1].get("status") in ("SUCCESS", "FAILURE")
                        and sse_events[-1].get("workflow_id") == wf["id"]
                    ):
                        return

    reader = threading.Thread(target=read_sse, daemon=True)
    reader.start()
    ws_url = live.url.replace("http", "ws") + f"/api/v3/ws/ws?connection_id=c1&user_id=admin&token={token}"
    with connect(ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "connected"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"
        ws.send(json.dumps({"type": "join_workflow", "workflow_id": wf["id"]}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "joined", "room": f"workflow:{wf['id']}"}
        _, stats, _ = http("GET", live.url + "/api/v3/ws/stats")
        time.sleep(2)  # the SSE stream is subscribed
        status, run, _ = http("POST", live.url + f"/api/v3/ai-workflows/{wf['id']}/execute", headers=live.headers)
        assert status == 202, run
        seen = []
        deadline = time.time() + 300
        while time.time() < deadline:
            event = json.loads(ws.recv(timeout=max(1, deadline - time.time())))
            if event.get("run_id") == run["run_id"]:
                seen.append(event["status"])
                if event["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                    break
    assert seen[-1] == "SUCCESS" and len(seen) >= 2, seen
    reader.join(timeout=60)
    assert any(e.get("run_id") == run["run_id"] and e["status"] == "SUCCESS" for e in sse_events), sse_events[-5:]
    # A WebSocket without a valid token is closed at once.
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    with pytest.raises((InvalidStatus, ConnectionClosed)):
        with connect(live.url.replace("http", "ws") + "/api/v3/ws/ws?token=forged", open_timeout=10) as ws:
            ws.recv(timeout=10)


def test_rate_limit_is_shared_by_both_workers(tmp_path):
    require_service("127.0.0.1", 6379, "Redis")
    stack = Stack(tmp_path, workers=2, events=False, docs=0, api_env={"DWC_API_RATE_CREDENTIAL": "40/minute"})
    try:
        stack.start(dagster=False)
        status, key, _ = http("POST", stack.url + "/api/v3/security/api-keys", {"name": "load"}, stack.token())
        assert status == 201
        headers = {"X-API-Key": key["key"]}

        def one(_):
            # A new connection each time, so that both workers take requests.
            return http("GET", stack.url + "/api/v3/metrics/service/stats", headers=headers)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(100)))
        accepted = [a for a in answers if a[0] == 200]
        assert len(accepted) == 40, [a[0] for a in answers]
        assert {a[0] for a in answers} == {200, 429}
        assert len({a[1]["worker_pid"] for a in accepted}) == 2  # both workers answered, one limit
    finally:
        stack.stop()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live, tmp_path):
    tested, failed, output = schemathesis(
        live.url,
        live.headers["Authorization"],
        tmp_path / "junit.xml",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
    )
    assert tested >= 60 and not failed, f"{failed}\n{output}"
