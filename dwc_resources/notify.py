"""Notifications: e-mail over SMTP, generic and Slack-compatible webhooks, and a file outbox
(the embedded default), with a delivery log that makes every message idempotent.

The log (SQLite, safe for the concurrent writers that sensors and steps are) holds one row per
(idempotency key, channel). A message whose key was delivered before on a channel is not sent
again, so a retried step or a re-fired sensor never makes a message arrive twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import sqlite3
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import dagster as dg
from pydantic import Field

from .lakehouse import dwc_home

LOG_DDL = """
CREATE TABLE IF NOT EXISTS deliveries (
    idempotency_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,          -- delivered | failed | not_configured
    attempts INTEGER NOT NULL,
    error TEXT,
    subject TEXT NOT NULL,
    recipient TEXT,
    source TEXT,                   -- what sent it: chain/step or sensor
    first_attempt_at TEXT NOT NULL,
    last_attempt_at TEXT NOT NULL,
    PRIMARY KEY (idempotency_key, channel)
)
"""


@dataclass
class Message:
    subject: str
    body: str
    idempotency_key: str
    source: str = ""
    to: list[str] = field(default_factory=list)


@dataclass
class Delivery:
    channel: str
    status: str  # delivered | duplicate | failed | not_configured
    attempts: int = 0
    error: str | None = None


class TransientError(Exception):
    pass


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class NotificationsResource(dg.ConfigurableResource):
    """Where notifications go. Unconfigured channels are logged as `not_configured`, not errors."""

    log_path: str = Field(description="SQLite delivery log (idempotency and status of every message)")
    outbox_dir: str | None = Field(default=None, description="File channel: one .eml per message (embedded default)")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, description="Use dg.EnvVar")
    smtp_starttls: bool = False
    mail_from: str = "dwc@localhost"
    mail_to: list[str] = Field(default_factory=list, description="Default recipients of the email channel")
    webhook_url: str | None = Field(default=None, description="Generic JSON webhook; use dg.EnvVar for secrets in URLs")
    slack_webhook_url: str | None = Field(default=None, description="Slack-compatible incoming webhook; use dg.EnvVar")
    failure_channels: list[str] = Field(
        default_factory=lambda: ["outbox"], description="Channels of run-failure alerts"
    )
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0

    @classmethod
    def local(cls) -> NotificationsResource:
        home = dwc_home()
        return cls(log_path=os.path.join(home, "notifications.sqlite"), outbox_dir=os.path.join(home, "outbox"))

    def _log(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        con = sqlite3.connect(self.log_path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(LOG_DDL)
        return con

    def deliveries(self) -> list[dict]:
        with closing(self._log()) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM deliveries ORDER BY first_attempt_at, channel")]

    def send(self, message: Message, channels: list[str]) -> list[Delivery]:
        """Deliver on each channel at most once per idempotency key, retrying transient failures."""
        out = []
        with closing(self._log()) as con:
            for channel in channels:
                row = con.execute(
                    "SELECT status, attempts FROM deliveries WHERE idempotency_key = ? AND channel = ?",
                    (message.idempotency_key, channel),
                ).fetchone()
                if row and row[0] == "delivered":
                    out.append(Delivery(channel, "duplicate", 0))
                    continue
                delivery = self._deliver(channel, message)
                attempts = (row[1] if row else 0) + delivery.attempts
                now = _now()
                con.execute(
                    """INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (idempotency_key, channel) DO UPDATE SET status = excluded.status,
                       attempts = excluded.attempts, error = excluded.error, last_attempt_at = excluded.last_attempt_at""",
                    (
                        message.idempotency_key,
                        channel,
                        delivery.status,
                        attempts,
                        delivery.error,
                        message.subject,
                        self._recipient(channel, message),
                        message.source,
                        now,
                        now,
                    ),
                )
                con.commit()
                out.append(delivery)
        return out

    def _recipient(self, channel: str, message: Message) -> str | None:
        return {
            "email": ", ".join(message.to or self.mail_to),
            "outbox": self.outbox_dir,
            "webhook": "webhook",
            "slack": "slack",
        }.get(channel)

    def _deliver(self, channel: str, message: Message) -> Delivery:
        send = {"outbox": self._outbox, "email": self._email, "webhook": self._webhook, "slack": self._slack}.get(
            channel
        )
        if send is None:
            return Delivery(channel, "failed", 0, f"unknown channel '{channel}'")
        attempts, error = 0, None
        while attempts < self.max_attempts:
            attempts += 1
            try:
                if send(message) is False:
                    return Delivery(channel, "not_configured", 0, f"channel '{channel}' is not configured")
                return Delivery(channel, "delivered", attempts)
            except TransientError as exc:
                error = str(exc)
            except Exception as exc:  # a permanent refusal: asking again would not help
                return Delivery(channel, "failed", attempts, f"{type(exc).__name__}: {exc}"[:500])
            if attempts < self.max_attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempts - 1))
        return Delivery(channel, "failed", attempts, error)

    def _email_message(self, message: Message, to: list[str]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = ", ".join(to)
        msg["Subject"] = message.subject
        # The same key gives the same Message-ID: receivers can drop a duplicate too.
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
        msg["Message-ID"] = make_msgid(idstring=digest, domain="dwc.local")
        msg["X-DWC-Idempotency-Key"] = message.idempotency_key
        msg.set_content(message.body)
        return msg

    def _outbox(self, message: Message):
        if not self.outbox_dir:
            return False
        os.makedirs(self.outbox_dir, exist_ok=True)
        name = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24] + ".eml"
        path = os.path.join(self.outbox_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(bytes(self._email_message(message, message.to or self.mail_to or ["outbox@localhost"])))
        os.replace(tmp, path)

    def _email(self, message: Message):
        to = message.to or self.mail_to
        if not self.smtp_host or not to:
            return False
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_seconds) as smtp:
                if self.smtp_starttls:
                    smtp.starttls()
                if self.smtp_username:
                    smtp.login(self.smtp_username, self.smtp_password or "")
                smtp.send_message(self._email_message(message, to))
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # 4xx: try again later
                raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise

    def _post(self, url: str, payload: dict, key: str) -> None:
        req = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "dwc-notifications"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise TransientError(f"HTTP {exc.code}") from exc
            raise RuntimeError(f"HTTP {exc.code}: {exc.read()[:200]!r}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc

    def _webhook(self, message: Message):
        if not self.webhook_url:
            return False
        self._post(
            self.webhook_url,
            {
                "subject": message.subject,
                "text": message.body,
                "source": message.source,
                "idempotency_key": message.idempotency_key,
            },
            message.idempotency_key,
        )

    def _slack(self, message: Message):
        if not self.slack_webhook_url:
            return False
        self._post(self.slack_webhook_url, {"text": f"*{message.subject}*\n{message.body}"}, message.idempotency_key)
