"""Freshness alerts: states and transitions as pure logic; the sensor on a real instance sends one
alert when an asset turns stale, none while it stays stale, and one when it recovers."""

import json
import time
from datetime import timedelta
from email import message_from_bytes

import dagster as dg

from dwc_resources.notify import NotificationsResource
from dwc_sensors.freshness import Window, freshness_alerts, state_of, transitions


def test_states_and_transitions():
    w = Window(fail_s=3600, warn_s=1800)
    assert [state_of(a, w) for a in (None, 60, 1900, 4000)] == ["UNKNOWN", "PASS", "WARN", "FAIL"]
    assert state_of(4000, Window(3600, None)) == "FAIL" and state_of(2000, Window(3600, None)) == "PASS"
    assert transitions({}, {"a": "PASS", "b": "WARN", "c": "UNKNOWN"}) == [("b", "PASS", "WARN")]
    assert transitions({"b": "WARN"}, {"b": "FAIL"}) == [("b", "WARN", "FAIL")]
    assert transitions({"b": "FAIL"}, {"b": "FAIL"}) == []
    assert transitions({"b": "FAIL"}, {"b": "PASS"}) == [("b", "FAIL", "PASS")]


def test_the_sensor_alerts_on_staleness_once_and_on_recovery(tmp_path, instance, monkeypatch):
    from dwc_sensors import freshness

    clock = {"skew": 0.0}
    monkeypatch.setattr(freshness, "_now", lambda: time.time() + clock["skew"])

    @dg.asset(
        key=["recs", "recommendations_demo"],
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(minutes=2), warn_window=timedelta(minutes=1)
        ),
    )
    def demo():
        return 1

    @dg.asset(key=["misc", "no_policy"])
    def other():
        return 2

    notifications = NotificationsResource(log_path=str(tmp_path / "n.sqlite"), outbox_dir=str(tmp_path / "outbox"))
    defs = dg.Definitions(assets=[demo, other], sensors=[freshness_alerts], resources={"notifications": notifications})
    repo = defs.get_repository_def()
    assert dg.materialize([demo, other], instance=instance).success

    def tick(cursor):
        ctx = dg.build_sensor_context(
            instance=instance, cursor=cursor, repository_def=repo, resources={"notifications": notifications}
        )
        freshness_alerts(ctx)
        return ctx.cursor

    cursor = tick(None)
    assert json.loads(cursor) == {"recs/recommendations_demo": "PASS"}, "assets without a policy are not watched"
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    clock["skew"] = 150  # two and a half minutes later
    cursor = tick(cursor)
    assert json.loads(cursor) == {"recs/recommendations_demo": "FAIL"}
    cursor = tick(cursor)  # still stale: no second alert
    mails = sorted((tmp_path / "outbox").iterdir())
    assert len(mails) == 1
    mail = message_from_bytes(mails[0].read_bytes())
    assert "stale (FAIL): recs/recommendations_demo" in mail["Subject"]
    assert "/assets/recs/recommendations_demo" in mail.get_payload(decode=True).decode()

    clock["skew"] = 0
    assert dg.materialize([demo], instance=instance).success
    cursor = tick(cursor)
    assert json.loads(cursor) == {"recs/recommendations_demo": "PASS"}
    mails = sorted((tmp_path / "outbox").iterdir(), key=lambda p: p.stat().st_mtime)
    assert len(mails) == 2 and "fresh again" in message_from_bytes(mails[-1].read_bytes())["Subject"]


def test_project_assets_declare_freshness():
    from dwc_pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    with_policy = {n.key.to_user_string() for n in graph.asset_nodes if n.freshness_policy is not None}
    assert {"ai/document_enrichment", "recs/recommendations", "ops/audit_trail", "iot/rollups_hourly"} <= with_policy
