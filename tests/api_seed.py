"""The calls of ../shared/api/seed-calls.md, replayed in order against a running service: each with
the body fields the specification sends, ids taken from earlier answers, and, where a call reads what
a launched run makes (predict after train, a result after an algorithm), the run awaited first, as a
client following its status URL would."""

from __future__ import annotations

SOLIDITY = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract WorkflowRegistry {
    mapping(bytes32 => uint256) public recordedAt;
    event Recorded(bytes32 indexed digest, uint256 at);
    function record(bytes32 digest) external {
        require(recordedAt[digest] == 0, "recorded");
        recordedAt[digest] = block.timestamp;
        emit Recorded(digest, block.timestamp);
    }
}
"""


def _iris_records() -> list[dict]:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    iris = data.frame
    iris.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    iris["species"] = iris["species"].map(dict(enumerate(data.target_names)))
    return iris.sample(frac=1.0, random_state=0).to_dict("records")


def replay(stack, http, headers: dict) -> list[dict]:
    """[{n, method, path, status, ok, detail}] for every call of the list (46)."""
    url = stack.url
    ids: dict[str, str] = {}
    out: list[dict] = []

    def call(n, method, path, body=None, auth=True, ok=(200, 201, 202), key=None):
        status, answer, _ = http(method, url + path, body, headers if auth else {})
        good = status in ok
        if good and key and isinstance(answer, dict):
            ids[key] = answer.get("id") or answer.get("run_id")
        out.append(
            {"n": n, "method": method, "path": path, "status": status, "ok": good, "detail": None if good else answer}
        )
        return answer if good else None

    call(1, "GET", "/health", auth=False)
    call(2, "POST", "/api/v3/security/auth/login", {"username": "admin", "password": stack.admin_password}, auth=False)
    call(
        3,
        "POST",
        "/api/v3/blockchain/blockchains",
        {
            "name": "ethereum-local",
            "blockchain_type": "ethereum",
            "rpc_url": "http://127.0.0.1:8545",
            "chain_id": 31337,
            "gas_price": 20000000000,
            "gas_limit": 6721975,
        },
        key="chain",
    )
    call(
        4,
        "POST",
        "/api/v3/blockchain/wallets",
        {"blockchain_id": ids.get("chain"), "wallet_name": "operations"},
        key="wallet",
    )
    call(
        5,
        "POST",
        "/api/v3/blockchain/smart-contracts",
        {
            "blockchain_id": ids.get("chain"),
            "wallet_id": ids.get("wallet"),
            "contract_name": "WorkflowRegistry",
            "contract_code": SOLIDITY,
        },
        key="contract",
    )
    call(
        6,
        "POST",
        "/api/v3/blockchain/nfts",
        {
            "blockchain_id": ids.get("chain"),
            "wallet_id": ids.get("wallet"),
            "contract_id": ids.get("contract"),
            "token_uri": "ipfs://example/1.json",
            "metadata": {"name": "Quarterly report", "description": "Certified quarterly report"},
        },
    )
    call(
        7,
        "POST",
        "/api/v3/blockchain/workflow-transactions",
        {
            "blockchain_id": ids.get("chain"),
            "wallet_id": ids.get("wallet"),
            "workflow_id": "wf-2026-001",
            "workflow_data": {"name": "invoice approval", "status": "approved"},
        },
    )
    call(
        8,
        "POST",
        "/api/v3/quantum/backends",
        {"name": "aer", "backend_type": "ibm_q", "max_qubits": 20, "gate_fidelity": 0.999, "coherence_time": 100.0},
        key="backend",
    )
    call(
        9,
        "POST",
        "/api/v3/quantum/circuits",
        {"backend_id": ids.get("backend"), "num_qubits": 5, "circuit_name": "grover-5"},
        key="circuit",
    )
    call(
        10,
        "POST",
        "/api/v3/quantum/gates",
        {"circuit_id": ids.get("circuit"), "gate_type": "hadamard", "qubit_indices": [0]},
    )
    algo = call(
        11,
        "POST",
        "/api/v3/quantum/algorithms",
        {
            "algorithm_type": "grover_search",
            "circuit_id": ids.get("circuit"),
            "parameters": {"target_item": 11, "search_space_size": 32},
        },
        key="algorithm",
    )
    if algo:
        stack.wait_run(algo["run"]["run_id"], headers)
    call(12, "GET", f"/api/v3/quantum/algorithms/{ids.get('algorithm')}/result")
    call(
        13,
        "POST",
        "/api/v3/ml/models",
        {
            "name": "iris species",
            "model_type": "classification",
            "algorithm": "random_forest",
            "description": "species from measurements",
            "parameters": {"n_estimators": 50, "max_depth": 4},
        },
        key="ml_model",
    )
    trained = call(
        14,
        "POST",
        f"/api/v3/ml/models/{ids.get('ml_model')}/train",
        {"training_data": _iris_records(), "target_column": "species", "test_size": 0.2},
    )
    if trained:
        stack.wait_run(trained["run_id"], headers)
    call(
        15,
        "POST",
        f"/api/v3/ml/models/{ids.get('ml_model')}/predict",
        {
            "input_data": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}],
            "return_probabilities": True,
        },
    )
    call(
        16,
        "POST",
        "/api/v3/recommendations/interactions",
        {"user_id": "u-api-1", "item_id": "i-100", "interaction_type": "purchase", "rating": 5},
    )
    call(
        17,
        "POST",
        "/api/v3/recommendations/items/features",
        {
            "item_id": "i-100",
            "features": {"category": "books", "price": 12.5, "brand": "acme"},
            "content": "A practical guide to document workflows",
        },
    )
    call(
        18,
        "POST",
        "/api/v3/recommendations/models",
        {
            "name": "cf",
            "recommendation_type": "collaborative_filtering",
            "algorithm": "user_based_cf",
            "parameters": {"min_similarity": 0.1},
        },
        key="rec_model",
    )
    rec_run = call(19, "POST", f"/api/v3/recommendations/models/{ids.get('rec_model')}/train")
    if rec_run:
        stack.wait_run(rec_run["run_id"], headers)
    call(
        20,
        "POST",
        "/api/v3/recommendations/recommendations",
        {"user_id": "u-api-1", "model_id": ids.get("rec_model"), "num_recommendations": 5, "exclude_interacted": True},
    )
    call(
        21,
        "POST",
        "/api/v3/ai-workflows",
        {
            "name": "market brief",
            "workflow_type": "content_generation",
            "input_data": {"topic": "market", "prompt": "Write a short brief on the market news."},
            "template_name": "content_generation",
            "ai_provider": "local",
        },
        key="workflow",
    )
    call(22, "POST", f"/api/v3/ai-workflows/{ids.get('workflow')}/execute")
    call(
        23,
        "POST",
        "/api/v3/automations",
        {
            "name": "urgent digest",
            "description": "digest and notify on urgent events",
            "trigger": {"type": "event_based", "conditions": {"event_type": "document_uploaded", "priority": "high"}},
            "actions": [
                {"type": "ai_generation", "parameters": {"prompt": "Summarise what arrived."}},
                {"type": "send_notification", "parameters": {"channel": "email", "subject": "Urgent digest"}},
            ],
            "ai_decision_making": True,
            "learning_enabled": False,
        },
        key="automation",
    )
    call(
        24,
        "POST",
        f"/api/v3/automations/{ids.get('automation')}/trigger",
        {
            "trigger_data": {"event_type": "document_uploaded", "priority": "high", "topic": "market"},
            "context": {"user_id": "u-api-1", "request_id": "req-1"},
        },
    )
    call(
        25,
        "POST",
        "/api/v3/advanced/ai/generate",
        {"prompt": "Write one sentence about document workflows.", "provider": "openai"},
    )
    call(
        26,
        "POST",
        "/api/v3/advanced/workflows/execute",
        {"workflow_id": ids.get("workflow"), "parameters": {"topic": "market"}},
    )
    call(
        27,
        "POST",
        "/api/v3/advanced/notifications/send",
        {
            "channel": "email",
            "recipient": "ops@example.com",
            "subject": "Hello",
            "message": "The API can send notifications.",
        },
    )
    call(28, "GET", "/api/v3/advanced/analytics/summary?time_range=day")
    call(29, "GET", "/api/v3/security/stats")
    call(30, "GET", "/api/v3/security/audit/logs?limit=50")
    call(31, "GET", "/api/v3/ws/stats", auth=False)
    call(
        32,
        "POST",
        "/api/v3/background/tasks/submit",
        {"name": "nightly processing", "task_type": "data_processing", "priority": "high"},
    )
    call(33, "GET", "/api/v3/background/service/stats")
    call(34, "POST", "/api/v3/scheduler/schedules/cron", {"name": "nightly ingest", "cron_expression": "0 2 * * *"})
    call(35, "GET", "/api/v3/scheduler/service/stats")
    call(
        36,
        "POST",
        "/api/v3/metrics/metrics/counter",
        {"name": "documents_reviewed", "value": 3, "metric_type": "counter", "category": "review"},
    )
    call(37, "GET", "/api/v3/metrics/metrics/system/overview")
    call(38, "GET", "/api/v3/metrics/service/stats")
    call(39, "GET", "/api/v3/ai-workflows/templates")
    call(40, "GET", "/api/v3/ai-workflows/stats")
    call(41, "GET", "/api/v3/automations/templates")
    call(42, "GET", "/api/v3/automations/stats")
    call(43, "GET", "/api/v3/ml/stats")
    call(44, "GET", "/api/v3/recommendations/stats")
    call(45, "GET", "/api/v3/blockchain/stats")
    call(46, "GET", "/api/v3/quantum/stats")
    stack.seed_ids = ids
    return out
