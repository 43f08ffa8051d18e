"""XR: deterministic GLB scenes that pass the Khronos glTF validator, viewer pages that render in a real
browser, incremental builds, and XR session analytics with quarantine."""

import base64
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess

import dagster as dg
import numpy as np
import pytest

from dwc_pipelines.xr import scenes, sessions
from dwc_pipelines.xr.gltf import INSTANCING
from dwc_resources.xr_tools import XRToolsResource

from .conftest import ROOT, require
from .test_ingestion import PROSE


def docs(n: int, seed: int = 3) -> list[dict]:
    rnd = np.random.default_rng(seed)
    centres = rnd.normal(size=(4, 16))
    topics = ["contract", "invoice", "news", "manual"]
    out = []
    for i in range(n):
        t = i % 4
        out.append(
            {
                "doc_id": f"doc{i:06d}",
                "title": f"Document {i} about {topics[t]}",
                "topic": topics[t],
                "word_count": 50 + (i * 37) % 900,
                "embedding": (centres[t] + 0.2 * rnd.normal(size=16)).tolist(),
            }
        )
    return out


def glb_json(data: bytes) -> dict:
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    size, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A and size % 4 == 0
    return json.loads(data[20 : 20 + size])


def tools(tmp_path) -> XRToolsResource:
    return XRToolsResource(scenes_dir=str(tmp_path / "xr"))


def require_validator(t: XRToolsResource):
    missing = t.validator_missing()
    require(missing is None, missing or "")


def test_document_map_is_deterministic_labelled_and_instanced_when_large():
    small = docs(40)
    a, stats = scenes.document_map(small)
    b, _ = scenes.document_map(list(reversed(small)))
    assert a == b, "the same documents in another order give the same bytes"
    assert scenes.document_map(small[:-1])[0] != a
    doc = glb_json(a)
    named = {n["name"] for n in doc["nodes"] if "extras" in n and "label" in n["extras"]}
    assert named == {d["doc_id"] for d in small} and stats.items == 40 and not stats.instanced
    assert all("indices" in p for m in doc["meshes"] for p in m["primitives"]), "every mesh is indexed"
    assert all("pbrMetallicRoughness" in m for m in doc["materials"])
    assert len(doc["meshes"]) == 4, "one sphere per topic, shared by its documents"
    big, big_stats = scenes.document_map(docs(3000))
    bdoc = glb_json(big)
    assert big_stats.instanced and INSTANCING in bdoc["extensionsRequired"]
    labels = [i["name"] for n in bdoc["nodes"] for i in n.get("extras", {}).get("instances", [])]
    assert sorted(labels) == [f"doc{i:06d}" for i in range(3000)], "every instance is named, once"
    assert big_stats.bytes_per_item < 200, big_stats.bytes_per_item
    assert len(scenes.naive_document_map(docs(300))) / 300 > 4 * (scenes.document_map(docs(300))[1].bytes_per_item)


def test_device_layout_status_colours_and_workflow_status():
    devices = [
        {"device_id": "a", "lat": 52.0, "lon": 4.0, "status": "online", "latest": {"temp": 21.5}},
        {"device_id": "b", "lat": 52.1, "lon": 4.2, "status": "offline"},
        {"device_id": "c", "status": "weird"},
    ]
    xy = scenes.device_layout(devices)
    assert np.abs(xy[:2]).max() <= scenes.RADIUS and xy[2][0] > scenes.RADIUS, "an unlocated device stands aside"
    data, stats = scenes.device_twin(devices)
    doc = glb_json(data)
    by_name = {n["name"]: n for n in doc["nodes"]}
    assert by_name["a"]["extras"]["latest"] == {"temp": 21.5} and by_name["c"]["extras"]["status"] == "never_seen"
    assert stats.items == 3
    assert scenes.workflow_status(None, [], 0) == "never"
    assert scenes.workflow_status(10.0, [5.0], 0) == "fresh"
    assert scenes.workflow_status(10.0, [11.0], 0) == "stale"
    assert scenes.workflow_status(10.0, [5.0], 2) == "failed"


def test_every_scene_passes_the_khronos_validator(tmp_path):
    t = tools(tmp_path)
    require_validator(t)
    out = tmp_path / "scenes"
    out.mkdir()
    chains = [
        {
            "name": "review",
            "nodes": [
                {"key": "chains/review/select", "label": "select", "status": "fresh"},
                {"key": "chains/review/memo", "label": "memo", "status": "stale", "failed": 0},
            ],
            "edges": [("chains/review/select", "chains/review/memo")],
        }
    ]
    builds = {
        "map_small": scenes.document_map(docs(30))[0],
        "map_instanced": scenes.document_map(docs(2000))[0],
        "naive": scenes.naive_document_map(docs(50)),
        "empty_map": scenes.document_map([])[0],
        "twin": scenes.device_twin(
            [{"device_id": f"d{i}", "lat": 50 + i / 10, "lon": 4, "status": "online"} for i in range(9)]
        )[0],
        "workflow": scenes.workflow_map(chains)[0],
    }
    for name, data in builds.items():
        (out / f"{name}.glb").write_bytes(data)
    reports = {os.path.basename(r["file"])[:-4]: r for r in t.validate([str(out / f"{n}.glb") for n in builds])}
    for name, report in reports.items():
        assert report["errors"] == 0 and report["warnings"] == 0, (name, report["messages"])
    assert reports["map_instanced"]["info"]["drawCallCount"] == 4, "one draw call per topic for 2,000 documents"


def test_session_events_are_validated_with_reasons():
    good = {
        "event_id": "e1",
        "session_id": "s1",
        "ts": "2026-11-30T10:00:00Z",
        "type": "gaze",
        "scene": "document_map",
        "target": "doc1",
        "duration_ms": 1200,
    }
    assert sessions.parse(json.dumps(good))["duration_ms"] == 1200.0
    cases = {
        "not_json": "{nope",
        "schema": json.dumps({**good, "session_id": 7}),
        "unknown_type": json.dumps({**good, "type": "teleport"}),
        "bad_timestamp": json.dumps({**good, "ts": "2026-11-30T10:00:00"}),
        "bad_duration": json.dumps({**good, "duration_ms": 0}),
        "unknown_scene": json.dumps({**good, "scene": "lobby"}),
        "oversized": json.dumps({**good, "target": "x" * 20_000}),
    }
    for code, line in cases.items():
        with pytest.raises(sessions.Bad) as info:
            sessions.parse(line)
        assert info.value.code == code and info.value.reason, code
    events, bad = sessions.read_file(("\n".join([json.dumps(good), "[]", ""]) + "\n").encode())
    assert len(events) == 1 and bad[0][:2] == (2, "schema")
    assert sessions.read_file(b"\xff\xfe garbage")[1][0][1] == "not_utf8"


def build_corpus(env, instance):
    from dwc_pipelines.enrichment.assets import document_enrichment

    topics = [
        "The supplier shall deliver under this agreement and the contract terms.",
        "Invoice total due within thirty days, payment by bank transfer.",
        "The team won the final as the striker scored twice.",
    ]
    for i in range(12):
        env.write(f"docs/d{i:02d}.txt", f"{topics[i % 3]} Item {i}. " + PROSE)
    assert env.run_ingest(instance).success
    assert dg.materialize([document_enrichment], resources=env.resources(), instance=instance).success


def test_scene_assets_validate_render_and_skip_unchanged_inputs(env, instance, tmp_path):
    from dwc_pipelines.xr.assets import DOCUMENT_MAP, device_twin, document_map, workflow_map

    build_corpus(env, instance)
    t = tools(tmp_path)
    require_validator(t)
    require(t.browser_path() is not None, "Chromium is not installed (Debian: apt-get install chromium)")
    resources = {**env.resources(), "xr_tools": t}
    first = dg.materialize([document_map, device_twin, workflow_map], resources=resources, instance=instance)
    assert first.success
    rows = env.query(
        "SELECT scene, items, validator_errors, screenshot_nonblank, size_bytes, viewer_path, sha256 "
        "FROM xr.scenes ORDER BY scene"
    )
    assert [r[0] for r in rows] == ["device_twin", "document_map", "workflow_map"]
    by = {r[0]: r for r in rows}
    assert by["document_map"][1] == 12 and by["workflow_map"][1] > 4 and by["device_twin"][1] == 0
    assert all(r[2] == 0 for r in rows), "0 validator errors on every scene"
    assert by["document_map"][3] and by["workflow_map"][3], "the screenshots show something"
    meta = {
        e.asset_key: e.step_materialization_data.materialization.metadata
        for e in first.get_asset_materialization_events()
    }[DOCUMENT_MAP]
    assert meta["validator_errors"].value == 0 and meta["screenshot"].value.startswith(
        "![DWC document map](data:image/png"
    )
    assert meta["rebuilt"].value is True
    glb = tmp_path / "xr" / "document_map.glb"
    before = glb.read_bytes()
    assert hashlib.sha256(before).hexdigest() == by["document_map"][6]
    mtime = glb.stat().st_mtime_ns
    again = dg.materialize([document_map], resources=resources, instance=instance)
    meta2 = again.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    assert meta2["rebuilt"].value is False and glb.read_bytes() == before and glb.stat().st_mtime_ns == mtime
    versions = [
        e.step_materialization_data.materialization.tags.get("dagster/data_version")
        for r in (first, again)
        for e in r.get_asset_materialization_events()
        if e.asset_key == DOCUMENT_MAP
    ]
    assert versions[0] == versions[1] == by["document_map"][6], "same bytes, same data version"
    # The workflow map is the chains' asset graph, the edge from one chain's memos to the chain they feed included.
    from dwc_pipelines.chains.assets import chains_dir
    from dwc_pipelines.chains.spec import load_chains

    specs = {c.name: c for c in load_chains(chains_dir())[0]}
    expected = sum(len(c.steps) for c in specs.values()) + sum(
        1
        for c in specs.values()
        if c.select.get("from_chain")
        for s in specs[c.select["from_chain"]].steps
        if s.uses == "generate"
    )
    edges = [n for n in glb_json((tmp_path / "xr" / "workflow_map.glb").read_bytes())["nodes"] if n["name"] == "edges"]
    assert edges[0]["extras"]["count"] == expected and expected > sum(len(c.steps) for c in specs.values())
    if t.optimizer():
        assert meta["optimized_bytes"].value > 0 and (tmp_path / "xr" / "document_map.optimized.glb").exists()


def test_the_viewer_page_renders_in_headless_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    require(os.path.exists(chromium), "Chromium is not installed (Debian: apt-get install chromium)")
    from dwc_pipelines.xr.viewer import write_page

    out = tmp_path / "scenes"
    out.mkdir()
    data, stats = scenes.document_map(docs(400))
    (out / "map.glb").write_bytes(data)
    bundle = str(ROOT / "xr" / "dist" / "dwc-viewer.js")
    page_path = write_page(str(out / "map.glb"), "Map", "400 documents", bundle, stats.legend, stats.note)
    shot = tmp_path / "viewer.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--enable-unsafe-swiftshader"],
        )
        page = browser.new_page(viewport={"width": 800, "height": 600})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"file://{page_path}")
        page.wait_for_function(
            "window.DWC_VIEWER && (window.DWC_VIEWER.loaded || window.DWC_VIEWER.error)", timeout=60_000
        )
        state = page.evaluate("window.DWC_VIEWER")
        assert state["loaded"] and not state["error"] and not errors, (state, errors)
        assert state["meshes"] == 4, "one instanced mesh per topic"
        # The legend says what each colour means and how size reads.
        legend = page.locator("#legend")
        assert legend.is_visible() and legend.locator("li").count() == 4
        assert "topic: " in legend.inner_text() and "word count" in legend.inner_text()
        page.wait_for_function("window.DWC_VIEWER.frames > 2")
        png = base64.b64decode(page.evaluate("document.querySelector('canvas').toDataURL('image/png')").split(",")[1])
        page.screenshot(path=str(shot))
        browser.close()
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    background = np.array([0x10, 0x14, 0x1C])
    lit = (np.abs(pixels - background).sum(axis=2) > 40).sum()
    assert lit > 2000, f"the canvas is blank ({lit} lit pixels)"
    assert shot.stat().st_size > 5000
    print(f"screenshot: {shot}")


def test_xr_session_marts_from_the_sample_sessions(env, instance):
    from dwc_pipelines.ingestion.ingest import doc_id_for
    from dwc_pipelines.xr.assets import session_events, session_marts

    build_corpus(env, instance)
    target = env.landing.parent / "xr_events"
    target.mkdir()
    doc = doc_id_for("docs/d01.txt")
    lines = [
        json.dumps(
            {
                "event_id": "s-start",
                "session_id": "s1",
                "ts": "2026-11-30T10:00:00Z",
                "type": "session_start",
                "device": "quest-3",
                "scene": "document_map",
            }
        )
    ]
    for i in range(5):
        lines.append(
            json.dumps(
                {
                    "event_id": f"g{i}",
                    "session_id": "s1",
                    "ts": f"2026-11-30T10:00:{10 + i:02d}Z",
                    "type": "gaze",
                    "scene": "document_map",
                    "target": doc,
                    "duration_ms": 1000 + i,
                }
            )
        )
    lines += [
        json.dumps(
            {
                "event_id": "p1",
                "session_id": "s1",
                "ts": "2026-11-30T10:00:20Z",
                "type": "pointer",
                "scene": "document_map",
                "target": doc,
            }
        ),
        json.dumps({"event_id": "end", "session_id": "s1", "ts": "2026-11-30T10:01:00Z", "type": "session_end"}),
        "garbage",
        lines[1],
    ]
    (target / "a.jsonl").write_text("\n".join(lines) + "\n")
    resources = env.resources()
    result = dg.materialize([session_events, session_marts], resources=resources, instance=instance)
    assert result.success
    assert env.query("SELECT count(*) FROM xr.session_events") == [(8,)], "the replayed event is dropped"
    assert env.query("SELECT reason_code FROM xr.events_quarantine") == [("not_json",)]
    assert env.query("SELECT duration_s, interactions, gazes, device FROM xr.sessions") == [(60.0, 1, 5, "quest-3")]
    assert env.query("SELECT doc_id, round(dwell_s, 3), rank FROM xr.document_views") == [(doc, 5.01, 1)]
    (marts,) = [
        e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["xr", "session_marts"])
    ]
    assert marts["dagster/table_name"].value == "xr.sessions" and marts["dagster/row_count"].value == 1
    assert "duration_s" in {c.name for c in marts["dagster/column_schema"].schema.columns}
    assert "rank" in {c.name for c in marts["columns/xr.document_views"].schema.columns}
    # Unchanged files are not reloaded; a changed file replaces its own rows.
    again = dg.materialize([session_events], resources=resources, instance=instance)
    meta = again.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    assert meta["files_unchanged"].value == 1 and env.query("SELECT count(*) FROM xr.session_events") == [(8,)]


def test_viewer_bundle_matches_its_sources():
    node = shutil.which("node")
    require(node is not None, "node is not installed (Debian: nodejs)")
    require((ROOT / "xr" / "node_modules" / "esbuild").is_dir(), "esbuild is not installed (make install-test)")
    out = subprocess.run([node, "build.js", "--check"], cwd=ROOT / "xr", capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
