"""Notifications against real local receivers: an SMTP server (aiosmtpd) and an HTTP receiver
for generic and Slack-compatible webhooks. Retries, idempotency and the delivery log."""

import email
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from dwc_resources.notify import Message, NotificationsResource
from dwc_sensors.notify import notify_on_run_failure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPServer:
    """aiosmtpd on a free port; `refuse` first answers a number of messages with 451 (try later)."""

    def __init__(self, refuse: int = 0):
        self.messages: list[email.message.Message] = []
        self.refuse = refuse
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 Requested action aborted: try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Receiver:
    """An HTTP endpoint that records JSON posts; `statuses` scripts its first answers."""

    def __init__(self, statuses=()):
        self.posts: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.posts.append({"path": self.path, "body": body, "key": self.headers.get("Idempotency-Key")})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def resource(tmp_path, **kw) -> NotificationsResource:
    return NotificationsResource(log_path=str(tmp_path / "log.sqlite"), backoff_seconds=0.01, timeout_seconds=5, **kw)


def test_email_over_smtp_is_retried_on_4xx_and_sent_once(tmp_path):
    with SMTPServer(refuse=1) as smtp:
        n = resource(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, mail_to=["legal@example.com"])
        msg = Message("Contract review", "Two contracts need review.", "chain/x/1", source="test")
        [d] = n.send(msg, ["email"])
        assert (d.status, d.attempts) == ("delivered", 2)
        assert [d.status for d in n.send(msg, ["email"])] == ["duplicate"]
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received["Subject"] == "Contract review" and received["To"] == "legal@example.com"
    assert received["X-DWC-Idempotency-Key"] == "chain/x/1"
    assert "Two contracts need review." in received.get_payload()
    [row] = n.deliveries()
    assert (row["channel"], row["status"], row["attempts"], row["recipient"]) == (
        "email",
        "delivered",
        2,
        "legal@example.com",
    )


def test_webhooks_generic_and_slack_retry_5xx_and_never_arrive_twice(tmp_path):
    with Receiver(statuses=[503, 500]) as hook, Receiver() as slack:
        n = resource(tmp_path, webhook_url=hook.url + "/hook", slack_webhook_url=slack.url + "/services/T/B/X")
        msg = Message("Digest ready", "3 documents", "digest/2026-11-23")
        deliveries = n.send(msg, ["webhook", "slack"])
        assert [(d.channel, d.status, d.attempts) for d in deliveries] == [
            ("webhook", "delivered", 3),
            ("slack", "delivered", 1),
        ]
        n.send(msg, ["webhook", "slack"])
    assert len(hook.posts) == 1 and len(slack.posts) == 1
    assert hook.posts[0]["body"] == {
        "subject": "Digest ready",
        "text": "3 documents",
        "source": "",
        "idempotency_key": "digest/2026-11-23",
    }
    assert hook.posts[0]["key"] == "digest/2026-11-23"
    assert slack.posts[0]["body"] == {"text": "*Digest ready*\n3 documents"}


def test_failures_are_logged_and_asked_again_later(tmp_path):
    with Receiver(statuses=[500, 500, 500]) as hook:
        n = resource(tmp_path, webhook_url=hook.url, max_attempts=3)
        msg = Message("s", "b", "k1")
        [d] = n.send(msg, ["webhook"])
        assert d.status == "failed" and "HTTP 500" in d.error
        [d] = n.send(msg, ["webhook"])  # the receiver recovered: a failed key is not a delivered one
        assert d.status == "delivered"
    [row] = n.deliveries()
    assert (row["status"], row["attempts"]) == ("delivered", 4)
    with Receiver(statuses=[404]) as hook:
        n = resource(tmp_path, webhook_url=hook.url)
        [d] = n.send(Message("s", "b", "k2"), ["webhook"])
        assert (d.status, d.attempts) == ("failed", 1), "a 4xx is permanent: no retry"
    [d] = resource(tmp_path).send(Message("s", "b", "k3"), ["slack"])
    assert d.status == "not_configured"


def test_outbox_writes_one_file_per_message(tmp_path):
    n = resource(tmp_path, outbox_dir=str(tmp_path / "outbox"))
    for _ in range(2):
        n.send(Message("Hello", "World", "k"), ["outbox"])
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    parsed = email.message_from_bytes(eml.read_bytes())
    assert parsed["Subject"] == "Hello" and "World" in parsed.get_payload()


def test_run_failure_sensor_notifies_once_per_failed_run(tmp_path, instance):
    @dg.op
    def explode():
        raise RuntimeError("the warehouse is on fire")

    @dg.job
    def doomed():
        explode()

    result = doomed.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    run = instance.get_run_by_id(result.run_id)
    with Receiver() as hook:
        n = resource(tmp_path, webhook_url=hook.url, failure_channels=["webhook"])
        for _ in range(2):  # a sensor may see the same failure again after a restart
            ctx = dg.build_run_status_sensor_context(
                sensor_name="notify_on_run_failure",
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=run,
                resources={"notifications": n},
            ).for_run_failure()
            notify_on_run_failure(ctx)
    assert len(hook.posts) == 1
    body = hook.posts[0]["body"]
    assert body["subject"] == "DWC run failed: doomed" and result.run_id in body["text"]
    assert hook.posts[0]["key"] == f"run-failure/{result.run_id}"


@pytest.mark.parametrize("channel", ["email", "webhook"])
def test_unreachable_receivers_fail_cleanly(tmp_path, channel):
    port = free_port()  # nothing listens there
    n = resource(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_to=["a@example.com"],
        webhook_url=f"http://127.0.0.1:{port}/",
        max_attempts=2,
    )
    [d] = n.send(Message("s", "b", "k"), [channel])
    assert (d.status, d.attempts) == ("failed", 2)
