"""A protocol test double of the OpenAI HTTP API (chat completions and embeddings, no streaming).

It speaks the real wire format over a real socket, and follows a script of behaviours so tests
can provoke what production endpoints do: 429 with Retry-After, 500, slow answers (timeouts),
malformed bodies and answers that are not the JSON that was asked for.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LLMDouble:
    def __init__(self, default_content: str = '{"label": "ok"}', responder=None):
        self.script: deque = deque()
        self.responder = responder  # body -> content, for answers that depend on the request
        self.default_content = default_content
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LLMDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *behaviours) -> "LLMDouble":
        """Queue behaviours: ("status", code, headers), ("sleep", s), ("malformed",), ("content", text)."""
        self.script.extend(behaviours)
        return self

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: bytes, headers: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with double._lock:
                    double.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    step = double.script.popleft() if double.script else ("ok",)
                    double.in_flight += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                try:
                    if double.delay:
                        time.sleep(double.delay)
                    self._answer(step, body)
                finally:
                    with double._lock:
                        double.in_flight -= 1

            def _answer(self, step, body):
                kind = step[0]
                if kind == "status":
                    err = {"error": {"message": f"scripted {step[1]}", "type": "test", "code": None}}
                    return self._send(step[1], json.dumps(err).encode(), step[2] if len(step) > 2 else None)
                if kind == "sleep":
                    time.sleep(step[1])
                    step = ("ok",)
                if kind == "malformed":
                    return self._send(200, b'{"id": "chatcmpl-x", "choices": [')
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [
                        {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0]}
                        for i, t in enumerate(inputs)
                    ]
                    tokens = sum(len(t.split()) for t in inputs)
                    out = {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    }
                    return self._send(200, json.dumps(out).encode())
                content = (
                    step[1]
                    if kind == "content"
                    else (double.responder(body) if double.responder else double.default_content)
                )
                out = {
                    "id": "chatcmpl-double",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                return self._send(200, json.dumps(out).encode())

        return Handler
