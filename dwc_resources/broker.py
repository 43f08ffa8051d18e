"""The MQTT broker (paho-mqtt 2.x, callback API version 2): connection settings and clients."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class BrokerResource(dg.ConfigurableResource):
    """Mosquitto or EMQX. Credentials come from dg.EnvVar; TLS when `tls` is set."""

    host: str = Field(default="127.0.0.1")
    port: int = Field(default=1883)
    tls: bool = Field(default=False, description="Connect over TLS (port 8883 usually)")
    ca_certs: str | None = Field(default=None, description="CA bundle for the broker's certificate")
    username: str | None = Field(default=None)
    password: str | None = Field(default=None, description="Use dg.EnvVar")
    client_id: str = Field(default="dwc-consumer", description="Id of the telemetry consumer's persistent session")
    qos: int = Field(default=1, ge=0, le=2)
    keepalive: int = Field(default=30)

    def client(self, client_id: str | None = None, persistent: bool = False, manual_ack: bool = False):
        """A paho client; `persistent` keeps the session (and its queued QoS 1 messages) on the broker
        while the client is away."""
        from .mqtt import make_client

        return make_client(client_id, persistent, manual_ack, self.username, self.password, self.tls, self.ca_certs)

    def publish_many(
        self, messages: list[tuple[str, str]], qos: int = 1, timeout_s: float = 10.0, retain: bool = False
    ) -> list[str | None]:
        """Publish (topic, payload) pairs on one connection and wait for each PUBACK; per message,
        None when the broker acknowledged it, else the reason it was not."""
        import paho.mqtt.client as mqtt

        if not messages:
            return []
        c = self.client()
        try:
            c.connect(self.host, self.port, keepalive=self.keepalive)
        except (OSError, ValueError) as exc:
            return [f"cannot connect to {self.host}:{self.port}: {exc}"] * len(messages)
        c.loop_start()
        try:
            infos = [c.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages]
            out = []
            for info in infos:
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    out.append(f"publish refused: {mqtt.error_string(info.rc)}")
                    continue
                try:
                    info.wait_for_publish(timeout=timeout_s)
                except (RuntimeError, ValueError) as exc:
                    out.append(str(exc))
                    continue
                out.append(None if info.is_published() else f"no acknowledgement within {timeout_s:.0f}s")
            return out
        finally:
            c.disconnect()
            c.loop_stop()
