"""paho-mqtt clients (2.x, callback API version 2) without Dagster: the consumer runs on edge hosts
near the devices with only paho installed, and starts in a fraction of a second."""

from __future__ import annotations

import os
import ssl
import uuid
from dataclasses import dataclass


def make_client(
    client_id: str | None = None,
    persistent: bool = False,
    manual_ack: bool = False,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    ca_certs: str | None = None,
):
    """`persistent` keeps the session (and its queued QoS 1 messages) on the broker while the client
    is away; `manual_ack` leaves each PUBACK to the caller."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"dwc-{uuid.uuid4().hex[:12]}",
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if username:
        c.username_pw_set(username, password)
    if tls:
        c.tls_set(ca_certs=ca_certs, cert_reqs=ssl.CERT_REQUIRED)
    return c


@dataclass
class Settings:
    """What BrokerResource holds, read from the same DWC_MQTT_* variables."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "dwc-consumer"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None
    qos: int = 1
    keepalive: int = 30

    @classmethod
    def from_env(cls) -> Settings:
        e = os.environ.get
        return cls(
            host=e("DWC_MQTT_HOST", "127.0.0.1"),
            port=int(e("DWC_MQTT_PORT", "1883")),
            client_id=e("DWC_MQTT_CLIENT_ID", "dwc-consumer"),
            username=e("DWC_MQTT_USERNAME") or None,
            password=e("DWC_MQTT_PASSWORD") or None,
            tls=e("DWC_MQTT_TLS", "false") == "true",
            ca_certs=e("DWC_MQTT_CA_CERTS") or None,
        )

    def client(self, client_id: str | None = None, persistent: bool = False, manual_ack: bool = False):
        return make_client(client_id, persistent, manual_ack, self.username, self.password, self.tls, self.ca_certs)
