"""The /api/v3 service in process (FastAPI's TestClient): credentials, roles, rate limits in Redis,
uploads, audit, problem details, documents read back after a real ingestion run."""

import time
import uuid

import jwt
import pytest

from .conftest import require_service

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api(tmp_path, monkeypatch):
    """An app on a fresh DWC_HOME, rate limits in the running Redis under a key prefix of its own."""
    require_service("127.0.0.1", 6379, "Redis")
    from fastapi.testclient import TestClient

    from dwc_api.app import create_app
    from dwc_api.settings import Settings

    monkeypatch.setenv("DWC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DWC_ENV", "local")
    monkeypatch.setenv("DWC_AI_PROVIDER", "local")
    monkeypatch.setenv("DWC_API_SECRET", "s" * 48)

    def make(**overrides):
        settings = Settings.from_env(
            redis_url="redis://127.0.0.1:6379",
            redis_prefix=f"test_{uuid.uuid4().hex[:8]}",
            database_url=f"sqlite:///{tmp_path}/api-{len(made)}.db",
            **overrides,
        )
        app = create_app(settings)
        auth = app.state.service.auth
        for role in ("admin", "engineer", "analyst"):
            auth.create_user(role, PASSWORD, role)
        auth.create_user("sensor", PASSWORD, "device", device_id="dev-1")
        client = TestClient(app, client=("10.0.0.7", 5000))
        client.__enter__()
        made.append(client)
        return client

    made = []
    yield make
    for c in made:
        c.__exit__(None, None, None)


def login(client, user: str) -> dict:
    r = client.post("/api/v3/security/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(client, user: str) -> dict:
    return {"Authorization": f"Bearer {login(client, user)['access_token']}"}


def problem(r, status: int, slug: str):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status and body["request_id"]
    return body


def test_service_refuses_to_start_without_a_signing_key(monkeypatch, tmp_path):
    from dwc_api.settings import ConfigError, Settings

    monkeypatch.delenv("DWC_API_SECRET", raising=False)
    monkeypatch.setenv("DWC_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="DWC_API_SECRET"):
        Settings.from_env()
    demo = Settings.from_env(demo=True)  # the demo makes one, in a 0600 file
    assert len(demo.secret) >= 32
    assert (tmp_path / "api" / "demo-secret").stat().st_mode & 0o777 == 0o600


def test_tokens_expire_are_tamper_proof_and_refresh_rotates(api):
    c = api(access_ttl_s=1)
    problem(
        c.post("/api/v3/security/auth/login", json={"username": "admin", "password": "wrong"}), 401, "unauthenticated"
    )
    problem(c.post("/api/v3/security/auth/login", json={"username": "nobody", "password": "x"}), 401, "unauthenticated")
    problem(c.get("/api/v3/security/auth/me"), 401, "unauthenticated")
    tokens = login(c, "engineer")
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = c.get("/api/v3/security/auth/me", headers=h).json()
    assert me["role"] == "engineer" and "admin" not in me["scopes"]

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "role": "admin", "sub": "1"}, "another key of at least thirty-two bytes", algorithm="HS256"
    )
    problem(c.get("/api/v3/security/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthenticated")
    none_alg = jwt.encode({**claims, "sub": "1"}, None, algorithm="none")
    problem(c.get("/api/v3/security/auth/me", headers={"Authorization": f"Bearer {none_alg}"}), 401, "unauthenticated")

    time.sleep(7)  # past the lifetime and the 5 s leeway
    assert "expired" in problem(c.get("/api/v3/security/auth/me", headers=h), 401, "unauthenticated")["detail"]

    r = c.post("/api/v3/security/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    again = c.post("/api/v3/security/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    problem(again, 401, "unauthenticated")  # each refresh token is good once
    fresh = r.json()
    h = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert c.post("/api/v3/security/auth/logout", json={"refresh_token": fresh["refresh_token"]}, headers=h).json() == {
        "ok": True
    }
    problem(
        c.post("/api/v3/security/auth/refresh", json={"refresh_token": fresh["refresh_token"]}), 401, "unauthenticated"
    )


def test_api_keys_are_shown_once_scoped_revocable_and_rotate(api):
    c = api()
    h = bearer(c, "engineer")
    r = c.post("/api/v3/security/api-keys", json={"name": "ci", "scopes": ["search", "runs:read"]}, headers=h)
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith(r.json()["prefix"] + "_")
    listed = c.get("/api/v3/security/api-keys", headers=h).json()
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]

    k = {"X-API-Key": key}
    assert c.get("/api/v3/security/auth/me", headers=k).json()["credential"] == "api_key"
    problem(c.post("/api/v3/documents", headers=k, files={"file": ("a.txt", b"x")}), 403, "forbidden")  # not its scope
    problem(
        c.post("/api/v3/security/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=h), 403, "forbidden"
    )  # beyond the role

    rotated = c.post(f"/api/v3/security/api-keys/{r.json()['id']}/rotate", headers=h)
    assert rotated.status_code == 201 and rotated.json()["scopes"] == ["runs:read", "search"]
    problem(c.get("/api/v3/security/auth/me", headers=k), 401, "unauthenticated")  # the old key is revoked
    new = {"X-API-Key": rotated.json()["key"]}
    assert c.get("/api/v3/security/auth/me", headers=new).status_code == 200
    assert c.delete(f"/api/v3/security/api-keys/{rotated.json()['id']}", headers=h).json() == {"ok": True}
    assert "revoked" in problem(c.get("/api/v3/security/auth/me", headers=new), 401, "unauthenticated")["detail"]

    past = c.post("/api/v3/security/api-keys", json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"}, headers=h)
    assert (
        "expired"
        in problem(
            c.get("/api/v3/security/auth/me", headers={"X-API-Key": past.json()["key"]}), 401, "unauthenticated"
        )["detail"]
    )
    problem(c.get("/api/v3/security/auth/me", headers={"X-API-Key": key[:-4] + "AAAA"}), 401, "unauthenticated")


def test_each_role_reaches_only_its_scopes(api):
    c = api()
    admin, engineer, analyst, device = (bearer(c, u) for u in ("admin", "engineer", "analyst", "sensor"))
    assert c.get("/api/v3/security/audit/logs", headers=admin).status_code == 200
    for who in (engineer, analyst, device):
        problem(c.get("/api/v3/security/audit/logs", headers=who), 403, "forbidden")
        problem(c.get("/api/v3/security/stats", headers=who), 403, "forbidden")
    problem(c.post("/api/v3/documents", headers=analyst, files={"file": ("a.txt", b"x")}), 403, "forbidden")
    problem(c.get("/api/v3/search", params={"q": "x"}, headers=device), 403, "forbidden")
    problem(c.post("/api/v3/ml/models", json={"name": "m"}, headers=analyst), 403, "forbidden")
    problem(c.post("/api/v3/blockchain/blockchains", json={"name": "c"}, headers=analyst), 403, "forbidden")
    # Registration: admins only while self-registration is off.
    body = {"username": "newbie", "password": PASSWORD, "role": "engineer"}
    problem(c.post("/api/v3/auth/register", json=body), 403, "forbidden")
    problem(c.post("/api/v3/auth/register", json=body, headers=engineer), 403, "forbidden")
    assert c.post("/api/v3/auth/register", json=body, headers=admin).status_code == 201
    problem(c.post("/api/v3/auth/register", json=body, headers=admin), 409, "conflict")

    open_ = api(self_registration=True)
    assert open_.post("/api/v3/auth/register", json={**body, "username": "self", "role": "analyst"}).status_code == 201
    problem(open_.post("/api/v3/auth/register", json={**body, "username": "self2"}), 403, "forbidden")


def test_rate_limits_answer_429_with_headers(api):
    c = api(rate_credential="5/minute", rate_login="3/minute")
    h = bearer(c, "analyst")
    answers = [c.get("/api/v3/security/auth/me", headers=h) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert answers[0].headers["RateLimit-Limit"] == "5" and answers[0].headers["RateLimit-Remaining"] == "4"
    body = problem(answers[-1], 429, "rate_limited")
    assert int(answers[-1].headers["Retry-After"]) >= 1 and "credential" in body["detail"]
    # Another credential has its own window; logins are limited per client address.
    assert c.get("/api/v3/security/auth/me", headers=bearer(c, "engineer")).status_code == 200
    tries = [c.post("/api/v3/security/auth/login", json={"username": "admin", "password": "wrong"}) for _ in range(2)]
    assert tries[0].status_code == 401  # the third login from this address
    problem(tries[1], 429, "rate_limited")


def test_uploads_stream_into_the_landing_zone_with_a_maximum(api, tmp_path):
    c = api(max_upload_bytes=1024)
    h = bearer(c, "engineer")
    landing = tmp_path / "home" / "landing"

    def files_in_landing():
        return (
            sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
            if landing.exists()
            else []
        )

    problem(c.post("/api/v3/documents", headers=h, files={"file": ("big.txt", b"x" * 5000)}), 413, "payload_too_large")
    # Without Content-Length (chunked): stopped while streaming, and nothing is left behind.
    chunks = iter(
        [b'--B\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n\r\n', b"y" * 3000, b"\r\n--B--\r\n"]
    )
    r = c.post("/api/v3/documents", headers={**h, "Content-Type": "multipart/form-data; boundary=B"}, content=chunks)
    problem(r, 413, "payload_too_large")
    assert files_in_landing() == []
    problem(
        c.post("/api/v3/documents", headers={**h, "Content-Type": "text/plain"}, content=b"hello"),
        415,
        "unsupported_media_type",
    )
    problem(
        c.post("/api/v3/documents", headers=h, data={"note": "no file"}, files={"other": ("a", b"")}),
        422,
        "invalid_request",
    )
    r = c.post(
        "/api/v3/documents", headers={**h, "Content-Type": "multipart/form-data; boundary=B"}, content=b"--B\r\ngarbage"
    )
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
    assert files_in_landing() == []

    r = c.post("/api/v3/documents", headers=h, files={"file": ("../../etc/Report 1.txt", b"Quarterly report.\n")})
    assert r.status_code == 202, r.text
    up = r.json()
    assert up["source_path"].startswith("api/") and up["source_path"].endswith("-Report 1.txt")
    assert files_in_landing() == [up["source_path"]]
    doc = c.get(f"/api/v3/documents/{up['id']}", headers=h).json()
    assert doc["status"] == "pending" and doc["uploaded"]["by"] == "engineer"
    problem(c.get("/api/v3/documents/nope", headers=h), 404, "not_found")


def test_audit_records_logins_writes_and_denials_without_secrets(api):
    c = api()
    c.post("/api/v3/security/auth/login", json={"username": "admin", "password": "not the password"})
    analyst = bearer(c, "analyst")
    c.get("/api/v3/security/audit/logs", headers=analyst)  # denied
    engineer = login(c, "engineer")
    c.post(
        "/api/v3/documents",
        headers={"Authorization": f"Bearer {engineer['access_token']}"},
        files={"file": ("a.txt", b"hi")},
    )
    admin = bearer(c, "admin")
    logs = c.get("/api/v3/security/audit/logs", params={"limit": 50}, headers=admin).json()
    seen = {(e["route"], e["outcome"], e["actor"]) for e in logs}
    assert ("/api/v3/security/auth/login", "unauthenticated", "admin") in seen
    assert ("/api/v3/security/auth/login", "ok", "analyst") in seen
    assert ("/api/v3/security/audit/logs", "forbidden", "analyst") in seen
    assert ("/api/v3/documents", "ok", "engineer") in seen
    assert all(e["client"] == "10.0.0.7" and e["request_id"] for e in logs)
    text = str(logs)
    assert PASSWORD not in text and "not the password" not in text and engineer["access_token"] not in text
    stats = c.get("/api/v3/security/stats", headers=admin).json()
    assert stats["users_by_role"]["analyst"] == 1 and stats["last_24h"]["logins_failed"] >= 1


def test_openapi_names_every_route_with_security_and_problem_responses(api):
    c = api()
    schema = c.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    ops = [(p, m, op) for p, item in schema["paths"].items() for m, op in item.items()]
    assert len(ops) >= 60
    for path, method, op in ops:
        if (
            path in ("/health", "/metrics", "/api/v3/health", "/api/v3/ws/stats")
            or path.endswith("/login")
            or path.endswith("/refresh")
            or path.endswith("/register")
        ):
            continue
        assert op.get("security"), f"{method} {path} declares no security"
        assert "401" in op["responses"] and "403" in op["responses"], f"{method} {path}"
    problem(c.get("/api/v3/nothing-here"), 404, "not_found")
    assert c.get("/metrics").text.count("dwc_api_requests_total") >= 1


def test_documents_after_a_real_ingestion_run_masked_for_analysts(api, tmp_path):
    import dagster as dg

    c = api()
    eng, analyst = bearer(c, "engineer"), bearer(c, "analyst")
    text = b"Invoice 2291\n\nPlease contact Maria Keller at maria.keller@example.com about the Rotterdam invoice.\n"
    up = c.post("/api/v3/documents", headers=eng, files={"file": ("invoice.txt", text)}).json()

    from dwc_pipelines.definitions import defs
    from dwc_pipelines.resources import resources_for

    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
        # This test's DWC_HOME: the code location may have been imported with another one by an earlier test.
        resources = resources_for()
        result = defs.resolve_job_def("ingest_job").execute_in_process(instance=instance, resources=resources)
        assert result.success
        problem(c.get("/api/v3/search", params={"q": "invoice"}, headers=analyst), 503, "search_index_unavailable")
        assert defs.resolve_job_def("enrich_job").execute_in_process(instance=instance, resources=resources).success
    doc = c.get(f"/api/v3/documents/{up['id']}", headers=eng).json()
    assert doc["status"] == "active" and doc["versions"][0]["run_id"] == result.run_id
    assert doc["runs"] == [result.run_id] and doc["title"]
    full = c.get(f"/api/v3/documents/{up['id']}/text", headers=eng).json()
    masked = c.get(f"/api/v3/documents/{up['id']}/text", headers=analyst).json()
    assert "maria.keller@example.com" in full["text"] and not full["masked"]
    assert "maria.keller@example.com" not in masked["text"] and masked["masked"]
    hits = c.get(
        "/api/v3/search", params={"q": "Rotterdam invoice", "mode": "keyword", "explain": True}, headers=analyst
    ).json()
    assert hits["hits"] and hits["hits"][0]["path"] == up["source_path"]
    assert "maria.keller@example.com" not in str(hits) and hits["hits"][0]["explain"]["keyword_rank"] == 1
    assert c.get("/api/v3/search", params={"q": "zzqx unrelated"}, headers=analyst).json()["hits"] == []


def test_a_stalled_subscriber_is_dropped_with_a_reason_and_roles_filter_events():
    import asyncio

    from dwc_api.events import Hub
    from dwc_api.security import ROLES, Principal

    def who(role, device=None):
        return Principal(1, role, role, ROLES[role], "jwt", device_id=device)

    async def scenario():
        hub = Hub(queue_size=3)
        stalled = hub.subscribe(who("engineer"), ["runs"])
        analyst = hub.subscribe(who("analyst"), ["runs", "iot"])
        device = hub.subscribe(who("device", "dev-1"), ["iot"])
        for i in range(10):
            hub.deliver({"topic": "runs", "type": "run_status", "run_id": str(i), "status": "STARTED"})
            analyst.queue.get_nowait()  # this one keeps up
        hub.deliver({"topic": "iot", "type": "anomaly", "device_id": "dev-1"})
        hub.deliver({"topic": "iot", "type": "anomaly", "device_id": "dev-2"})
        return hub, stalled, analyst, device

    hub, stalled, analyst, device = asyncio.run(scenario())
    assert stalled.closed.startswith("queue_full") and stalled not in hub.subscribers
    assert stalled.queue.qsize() <= 3  # memory stays bounded
    assert hub.stats()["clients_dropped"] == 1 and analyst in hub.subscribers
    assert [e["device_id"] for e in list(device.queue._queue)] == ["dev-1"]  # a device sees its own only
    assert analyst.queue.qsize() == 2


def test_devices_post_their_own_telemetry_into_the_consumers_batch_folder(api, tmp_path):
    import json as json_

    from dwc_pipelines.iot.payloads import parse_records

    c = api()
    device, analyst = bearer(c, "sensor"), bearer(c, "analyst")
    now = time.time()
    readings = [
        {"seq": 1, "ts": now - 2, "temperature": 21.5},
        {"seq": 2, "ts": now - 1, "temperature": 9e9},  # absurd: rejected with the consumer's reason
        {"seq": 3, "ts": now, "metrics": {"temperature": 21.7, "humidity": 40}},
    ]
    r = c.post("/api/v3/iot/telemetry", json={"device_id": "dev-1", "readings": readings}, headers=device)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2 and [x["reason"] for x in body["rejected"]] == ["absurd_value"]
    batches = list((tmp_path / "home" / "telemetry").rglob("batch-*.jsonl"))
    assert [b.name for b in batches] == [body["batch"]]
    parsed = parse_records([json_.loads(line) for line in batches[0].read_text().splitlines()])
    assert [(x.device_id, x.seq) for x, _ in parsed.readings] == [("dev-1", 1), ("dev-1", 3)]
    problem(
        c.post("/api/v3/iot/telemetry", json={"device_id": "dev-2", "readings": readings}, headers=device),
        403,
        "forbidden",
    )
    problem(
        c.post("/api/v3/iot/telemetry", json={"device_id": "dev-1", "readings": readings}, headers=analyst),
        403,
        "forbidden",
    )
    problem(c.get("/api/v3/iot/devices/dev-2/commands", headers=device), 403, "forbidden")
    problem(c.get("/api/v3/iot/devices", headers=device), 403, "forbidden")


def test_the_audit_log_lands_in_the_ops_marts(api, tmp_path, monkeypatch):
    import dagster as dg

    from dwc_pipelines.ops.assets import api_audit
    from dwc_pipelines.resources import lakehouse_resource

    c = api()
    c.post("/api/v3/security/auth/login", json={"username": "admin", "password": "wrong password"})
    bearer(c, "analyst")
    monkeypatch.setenv("DWC_API_DATABASE_URL", c.app.state.service.settings.database_url)
    warehouse = lakehouse_resource("local")
    for expected_added in (2, 0):  # incremental: the second run finds nothing new
        (tmp_path / "i").mkdir(exist_ok=True)
        with dg.instance_for_test(temp_dir=str(tmp_path / "i")) as instance:
            result = dg.materialize([api_audit], resources={"warehouse": warehouse}, instance=instance)
        assert result.success
        meta = result.asset_materializations_for_node("ops__api_audit")[0].metadata
        assert meta["added"].value == expected_added and meta["dagster/row_count"].value == 2


def test_declared_workflows_and_automations_make_valid_chains():
    import yaml

    from dwc_api.routes.workflows import WORKFLOW_TEMPLATES, _conditions_met, automation_spec, workflow_spec
    from dwc_pipelines.chains.spec import parse_chain

    hostile = {"topic": "market'; DROP TABLE docs.documents; --", "prompt": "Write {{ secrets }} now"}
    for template in WORKFLOW_TEMPLATES:
        spec = workflow_spec("api_brief_1", {"name": "Brief", "input_data": hostile, "template_name": template})
        chain = parse_chain(yaml.safe_dump(spec), "api_brief_1.yaml")
        where = chain.select["where"]
        assert chain.steps[0].uses == "summarize" and ";" not in where and where.count("'") == 4  # quotes stripped
    auto = automation_spec(
        "api_urgent_2",
        {
            "name": "urgent",
            "actions": [
                {"type": "ai_generation", "parameters": {"prompt": "Sum up"}},
                {"type": "send_notification", "parameters": {"channel": "email", "subject": "Urgent"}},
            ],
        },
    )
    assert [s.uses for s in parse_chain(yaml.safe_dump(auto), "a.yaml").steps] == ["summarize", "generate", "notify"]
    assert _conditions_met(
        {"event_type": "upload", "priority": "high"}, {"event_type": "upload", "priority": "critical"}
    )[0]
    assert not _conditions_met({"priority": "high"}, {"priority": "low"})[0]
    assert not _conditions_met({"event_type": "upload"}, {"event_type": "delete"})[0]
