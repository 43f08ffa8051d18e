"""bench/api: the /api/v3 service under load, beside a bare FastAPI endpoint served the same way.

    python -m bench.api [--duration 60] [--connections 50] [--subscribers 1000]

A platform is started on a fresh DWC_HOME (Dagster webserver and daemon, `dwc api serve --workers 2`,
Redis), ingested and enriched through the API, and the 46 calls of the specification replayed
(tests/api_seed.py), which also trains the ML model and the recommenders the load then reads.
Load: wrk (Debian package `wrk`, a separate process) with 50 connections for 60 s per scenario:
- recs: POST /recommendations/recommendations for users of the sample events (fold-in from the store)
- search: GET /search (hybrid) for queries of bench/data/bbc_paraphrase_queries.tsv
- predict: POST /ml/models/{id}/predict (the model the seed calls trained), one record with probabilities
- bare: GET /bare of bench/api_bare.py under uvicorn with 2 workers, the same-run peer
p99 is wrk's latency distribution; error_rate counts non-2xx answers and socket errors over all four.
rate_limit_overshoot: a second service (2 workers, one limit of 300/minute per credential in Redis),
1,500 requests at 50 at once with one API key: (accepted - 300) / 300.
ws_subscribers / ws_event_p99_ms: bench/api_ws.py in a process of its own opens the subscribers on the
`iot` topic, then 20 times posts telemetry as a device; the time from the post to receipt by every
subscriber (events cross the workers through Redis).
schemathesis_server_errors: schemathesis (examples and fuzzing, 3 examples per operation) against the
live schema with an admin token; operations with a 5xx answer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{auth}"
local bodies = {bodies}
local paths = {paths}
local n = 0
request = function()
  n = n + 1
  local i = (n % #paths) + 1
  local b = nil
  if #bodies > 0 then b = bodies[(n % #bodies) + 1] end
  return wrk.format(nil, paths[i], nil, b)
end
"""


def _lua_list(items: list[str]) -> str:
    return "{" + ",".join(json.dumps(i) for i in items) + "}"


def wrk(
    url_base: str,
    method: str,
    paths: list[str],
    bodies: list[str],
    auth: str,
    duration: int,
    connections: int,
    work: Path,
) -> dict:
    script = work / f"wrk-{time.time_ns()}.lua"
    script.write_text(LUA.format(method=method, auth=auth, bodies=_lua_list(bodies), paths=_lua_list(paths)))
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url_base,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout

    def ms(label):
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 2)

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "rps": round(rps, 1),
        "requests": total,
        "errors": non2xx + sock,
        "raw": out,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=int, default=60)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--skip-schemathesis", action="store_true")
    a = p.parse_args()
    from tests.api_seed import replay
    from tests.api_stack import Stack, http, schemathesis, up
    from tests.llm_double import LLMDouble
    from tests.test_deployment import Processes, free_port, wait_for

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    result = {**run_context("api", 1), "duration_s": a.duration, "connections": a.connections, "workers": 2}
    fast = {"DWC_API_RATE_CREDENTIAL": "10000000/minute", "DWC_API_RATE_ADDRESS": "10000000/minute"}
    with LLMDouble(responder=lambda body: '{"text": "Document workflows move work along."}') as llm:
        stack = Stack(
            work / "stack",
            docs=40,
            api_env={
                **fast,
                "DWC_LLM_BASE_URL": llm.base_url,
                "DWC_LLM_MODEL": "double",
                "DWC_LLM_API_KEY": "not-a-secret",
            },
        )
        bare = Processes(work / "bare-logs")
        try:
            stack.start()
            h = stack.token()
            for task in ("ingestion", "enrichment"):
                s, t, _ = http(
                    "POST", stack.url + "/api/v3/background/tasks/submit", {"name": task, "task_type": task}, h
                )
                print(f"{task}: {stack.wait_run(t['run']['run_id'], h)}", flush=True)
            t0 = time.time()
            seeds = replay(stack, http, h)
            result["seed_calls_total"] = len(seeds)
            result["seed_calls_ok"] = sum(r["ok"] for r in seeds)
            result["seed_replay_s"] = round(time.time() - t0, 1)
            print(f"seed calls {result['seed_calls_ok']}/{result['seed_calls_total']}", flush=True)

            users = sorted(
                {
                    json.loads(line)["user"]
                    for line in (ROOT / "samples/events/interactions.jsonl").read_text().splitlines()
                    if line.strip()
                }
            )[:200]
            queries = [
                line.split("\t")[1]
                for line in (ROOT / "bench/data/bbc_paraphrase_queries.tsv").read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
            random.Random(0).shuffle(users)
            from urllib.parse import quote

            scenarios = {
                "recs": (
                    "POST",
                    ["/api/v3/recommendations/recommendations"],
                    [json.dumps({"user_id": u, "num_recommendations": 10}) for u in users],
                ),
                "search": ("GET", [f"/api/v3/search?q={quote(q)}&k=10" for q in queries], []),
                "predict": (
                    "POST",
                    [f"/api/v3/ml/models/{stack.seed_ids['ml_model']}/predict"],
                    [
                        json.dumps(
                            {
                                "input_data": [
                                    {
                                        "sepal_length": 5.0 + i / 10,
                                        "sepal_width": 3.1,
                                        "petal_length": 1.5 + i / 5,
                                        "petal_width": 0.2 + i / 10,
                                    }
                                ],
                                "return_probabilities": True,
                            }
                        )
                        for i in range(20)
                    ],
                ),
            }
            bare_port = free_port()
            bare.start(
                "bare",
                [
                    str(BIN / "uvicorn"),
                    "bench.api_bare:app",
                    "--port",
                    str(bare_port),
                    "--workers",
                    "2",
                    "--log-level",
                    "warning",
                ],
                {**os.environ, "PYTHONPATH": str(ROOT)},
            )
            wait_for(
                lambda: http("GET", f"http://127.0.0.1:{bare_port}/bare")[0] == 200 if up(bare_port) else False,
                60,
                "the bare peer",
                bare,
            )
            errors = requests = 0
            for name, (method, paths, bodies) in scenarios.items():
                # Warm: the first request of each worker loads the model or the embedder.
                for _ in range(8):
                    http(method, stack.url + paths[0], json.loads(bodies[0]) if bodies else None, h)
                r = wrk(stack.url, method, paths, bodies, h["Authorization"], a.duration, a.connections, work)
                print(
                    f"{name}: p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms, {r['rps']} req/s, {r['errors']} errors",
                    flush=True,
                )
                result[f"{name}_p50_ms_50c"], result[f"{name}_p99_ms_50c"] = r["p50_ms"], r["p99_ms"]
                result[f"{name}_rps_50c"] = r["rps"]
                errors, requests = errors + r["errors"], requests + r["requests"]
                if r["errors"]:
                    result.setdefault("error_samples", {})[name] = r["raw"][-800:]
            r = wrk(f"http://127.0.0.1:{bare_port}", "GET", ["/bare"], [], "none", a.duration, a.connections, work)
            print(f"bare: p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms, {r['rps']} req/s", flush=True)
            result["bare_p50_ms_50c"], result["bare_p99_ms_50c"], result["bare_rps_50c"] = (
                r["p50_ms"],
                r["p99_ms"],
                r["rps"],
            )
            errors, requests = errors + r["errors"], requests + r["requests"]
            result["error_rate"] = round(errors / max(requests, 1), 6)
            result["load_requests"] = requests

            # WebSocket fan-out.
            s, dev, _ = http(
                "POST",
                stack.url + "/api/v3/auth/register",
                {
                    "username": "bench-device",
                    "password": "bench device password",
                    "role": "device",
                    "device_id": "bench-1",
                },
                h,
            )
            dtok = stack.token("bench-device", "bench device password")["Authorization"].removeprefix("Bearer ")
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.api_ws",
                    stack.url,
                    h["Authorization"].removeprefix("Bearer "),
                    dtok,
                    "-n",
                    str(a.subscribers),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=ROOT,
            )
            ws = (
                json.loads(out.stdout.strip().splitlines()[-1])
                if out.returncode == 0
                else {"ws_error": out.stderr[-800:]}
            )
            print("ws:", ws, flush=True)
            result.update(ws)

            if not a.skip_schemathesis:
                tested, failed, _ = schemathesis(
                    stack.url, h["Authorization"], work / "junit.xml", "not_a_server_error", 3600
                )
                result["schemathesis_operations"] = tested
                result["schemathesis_server_errors"] = len(failed)
                result["schemathesis_failed_operations"] = failed
                print("schemathesis:", len(failed), "of", tested, flush=True)
        finally:
            bare.stop()
            stack.stop()

    # Rate limit across two workers: one limit, one key, requests at 50 at once.
    limited = Stack(work / "limited", events=False, docs=0, api_env={"DWC_API_RATE_CREDENTIAL": "300/minute"})
    try:
        limited.start(dagster=False)
        s, key, _ = http("POST", limited.url + "/api/v3/security/api-keys", {"name": "load"}, limited.token())
        hk = {"X-API-Key": key["key"]}
        with ThreadPoolExecutor(50) as pool:
            answers = list(
                pool.map(
                    lambda _: http("GET", limited.url + "/api/v3/metrics/service/stats", headers=hk)[0], range(1500)
                )
            )
        accepted = answers.count(200)
        result["rate_limit"] = 300
        result["rate_limit_accepted"] = accepted
        result["rate_limit_overshoot"] = round(max(0, accepted - 300) / 300, 4)
        print(f"rate limit: {accepted} accepted of 1500 (limit 300)", flush=True)
    finally:
        limited.stop()

    targets = {
        "recs_p99_ms_50c": ("<=", 50),
        "predict_p99_ms_50c": ("<=", 50),
        "search_p99_ms_50c": ("<=", 100),
        "error_rate": ("==", 0),
        "rate_limit_overshoot": ("<=", 0.05),
        "ws_event_p99_ms": ("<=", 500),
        "schemathesis_server_errors": ("==", 0),
    }
    result["targets_met"] = {
        k: (result.get(k) is not None and (result[k] <= v if op == "<=" else result[k] == v))
        for k, (op, v) in targets.items()
    }
    result["targets_met"]["seed_calls"] = result.get("seed_calls_ok") == result.get("seed_calls_total")
    table = ["| figure | value |", "|---|---|"] + [
        f"| {k} | {v} |"
        for k, v in result.items()
        if not isinstance(v, (dict, list)) and k not in ("machine", "command")
    ]
    write_results(
        "api", result, "Load from wrk at 50 connections; the bare FastAPI endpoint is the same-run peer.", table
    )


if __name__ == "__main__":
    main()
