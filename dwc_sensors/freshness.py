"""Freshness alerts: assets whose users care about their age declare a FreshnessPolicy (warn and
fail windows); this sensor compares each one's last materialisation with its windows and sends a
notification when an asset turns stale (WARN, FAIL) and when it recovers. Alerts fire on changes
of state only, and the cursor (the last state per asset) moves only after the sends succeeded."""

import json
import os
import time
from dataclasses import dataclass

import dagster as dg

from dwc_resources.notify import Message, NotificationsResource


@dataclass(frozen=True)
class Window:
    fail_s: float
    warn_s: float | None


def state_of(age_s: float | None, window: Window) -> str:
    """PASS, WARN or FAIL for an asset last materialised `age_s` seconds ago (UNKNOWN: never)."""
    if age_s is None:
        return "UNKNOWN"
    if age_s > window.fail_s:
        return "FAIL"
    if window.warn_s is not None and age_s > window.warn_s:
        return "WARN"
    return "PASS"


def transitions(before: dict[str, str], now: dict[str, str]) -> list[tuple[str, str, str]]:
    """(asset, old, new) for every asset that turned stale, got staler, or recovered."""
    out = []
    for key, new in sorted(now.items()):
        old = before.get(key, "PASS")
        if new != old and new in ("WARN", "FAIL") or (new == "PASS" and old in ("WARN", "FAIL")):
            out.append((key, old, new))
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def alert(key: str, old: str, new: str, age_s: float | None, window: Window, ui_url: str, last_at: float) -> Message:
    link = f"{ui_url.rstrip('/')}/assets/{key}"
    if new == "PASS":
        subject, body = (
            f"DWC asset fresh again: {key}",
            f"{key} was materialised {_hours(age_s or 0)} ago; it is fresh again.",
        )
    else:
        limit = window.fail_s if new == "FAIL" else window.warn_s
        subject = f"DWC asset {'stale' if new == 'FAIL' else 'getting stale'} ({new}): {key}"
        body = (
            f"{key} was last materialised {_hours(age_s or 0)} ago, beyond its {new.lower()} window of "
            f"{_hours(limit or 0)}.\nIts upstream runs may have failed or its schedule may be stopped."
        )
    return Message(
        subject=subject,
        body=f"{body}\n\nAsset: {link}\n",
        source="freshness_alerts",
        # one alert per asset, state and last materialisation, however often the sensor runs
        idempotency_key=f"freshness/{key}/{new}/{int(last_at)}",
    )


def _now() -> float:
    return time.time()


@dg.sensor(
    name="freshness_alerts",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notifies when an asset with a freshness policy turns stale, and when it recovers.",
)
def freshness_alerts(context: dg.SensorEvaluationContext, notifications: NotificationsResource):
    now = _now()
    windows = {
        node.key: Window(
            node.freshness_policy.fail_window.to_timedelta().total_seconds(),
            node.freshness_policy.warn_window.to_timedelta().total_seconds()
            if node.freshness_policy.warn_window
            else None,
        )
        for node in context.repository_def.asset_graph.asset_nodes
        if isinstance(node.freshness_policy, dg.FreshnessPolicy) and hasattr(node.freshness_policy, "fail_window")
    }
    if not windows:
        return dg.SkipReason("no asset declares a freshness policy")
    ages: dict[str, float | None] = {}
    for key in windows:
        event = context.instance.get_latest_materialization_event(key)
        ages[key.to_user_string()] = (now - event.timestamp) if event else None
    states = {k.to_user_string(): state_of(ages[k.to_user_string()], w) for k, w in windows.items()}
    before = json.loads(context.cursor) if context.cursor else {}
    changes = transitions(before, states)
    ui = os.environ.get("DWC_UI_URL", "http://127.0.0.1:3000")
    for key, old, new in changes:
        window = windows[dg.AssetKey.from_user_string(key)]
        last_at = now - (ages[key] or 0)
        deliveries = notifications.send(
            alert(key, old, new, ages[key], window, ui, last_at), notifications.failure_channels
        )
        failed = [d for d in deliveries if d.status == "failed"]
        if failed:  # the cursor stays: the next tick tries again
            raise Exception(f"freshness alert for {key} not delivered: {', '.join(d.channel for d in failed)}")
        context.log.info(f"{key}: {old} -> {new}; " + ", ".join(f"{d.channel}: {d.status}" for d in deliveries))
    context.update_cursor(json.dumps(states, sort_keys=True))
    if not changes:
        return dg.SkipReason("freshness unchanged: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
