"""The landing-zone sensor, evaluated with build_sensor_context."""

import os
import time

import dagster as dg

from dwc_resources import LakehouseResource, LandingZoneResource
from dwc_sensors.landing import landing_zone_sensor


def evaluate(landing: LandingZoneResource, cursor=None, instance=None):
    # No lake behind the landing zone: on its first look the sensor finds nothing ingested.
    lake = LakehouseResource.local(os.path.join(landing.path, os.pardir, "no-lake"))
    ctx = dg.build_sensor_context(cursor=cursor, resources={"landing": landing, "warehouse": lake}, instance=instance)
    return landing_zone_sensor(ctx)


def test_new_files_make_one_run_with_a_deterministic_key(tmp_path):
    for i in range(3000):
        (tmp_path / f"doc-{i:04d}.txt").write_text(f"document {i}")
    landing = LandingZoneResource(path=str(tmp_path), settle_seconds=0)
    first = evaluate(landing)
    assert isinstance(first, dg.SensorResult)
    assert len(first.run_requests) == 1, "a drop of thousands of files is one run"
    again = evaluate(landing)
    assert again.run_requests[0].run_key == first.run_requests[0].run_key
    assert first.run_requests[0].tags["dwc/files"] == "3000"
    # Same listing as the cursor: nothing to do.
    skip = evaluate(landing, cursor=first.cursor)
    assert isinstance(skip, dg.SkipReason)


def test_changed_and_deleted_files_trigger_a_new_run(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    landing = LandingZoneResource(path=str(tmp_path), settle_seconds=0)
    first = evaluate(landing)
    (tmp_path / "a.txt").write_text("one, changed")
    os.utime(tmp_path / "a.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = evaluate(landing, cursor=first.cursor)
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    (tmp_path / "a.txt").unlink()
    (tmp_path / "b.txt").unlink()
    emptied = evaluate(landing, cursor=changed.cursor)
    assert isinstance(emptied, dg.SensorResult), "removing every file is a change: tombstones are due"


def test_waits_for_a_drop_to_settle(tmp_path):
    (tmp_path / "arriving.pdf").write_bytes(b"%PDF-1.4 partial")
    landing = LandingZoneResource(path=str(tmp_path), settle_seconds=60)
    result = evaluate(landing)
    assert isinstance(result, dg.SkipReason) and "settle" in result.skip_message


def test_cursor_stays_when_scan_fails(tmp_path):
    landing = LandingZoneResource(path=str(tmp_path / "missing"), settle_seconds=0)
    lake = LakehouseResource.local(str(tmp_path / "no-lake"))
    ctx = dg.build_sensor_context(cursor="previous", resources={"landing": landing, "warehouse": lake})
    result = landing_zone_sensor(ctx)
    assert isinstance(result, dg.SkipReason) and "cannot scan" in result.skip_message
    assert ctx.cursor == "previous"


def test_what_the_lake_holds_is_not_pending(tmp_path):
    import duckdb

    from dwc_pipelines.ingestion.landing import pending_in, scan_landing

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    files = scan_landing(str(tmp_path))
    con = duckdb.connect()
    con.execute("CREATE SCHEMA docs")
    con.execute(
        "CREATE TABLE docs.sources (source_path VARCHAR, doc_id VARCHAR, size_bytes BIGINT, mtime_ns BIGINT, status VARCHAR)"
    )
    con.executemany(
        "INSERT INTO docs.sources VALUES (?, ?, ?, ?, 'active')",
        [(f.relpath, f.relpath, f.size, f.mtime_ns) for f in files],
    )
    assert pending_in(con, files) == 0
    (tmp_path / "a.txt").write_text("a, changed")
    os.utime(tmp_path / "a.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    (tmp_path / "c.txt").write_text("new")
    assert pending_in(con, scan_landing(str(tmp_path))) == 2, "a changed file and a new one"
    (tmp_path / "b.txt").unlink()
    assert pending_in(con, scan_landing(str(tmp_path))) == 3, "and a removed one (a tombstone is due)"


def test_installing_tesseract_is_a_change_that_starts_a_run(tmp_path, monkeypatch):
    from dwc_pipelines.ingestion import ocr

    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 a scan, quarantined as ocr_unavailable")
    landing = LandingZoneResource(path=str(tmp_path), settle_seconds=0)
    monkeypatch.setattr(ocr, "available", lambda: False)
    before = evaluate(landing)
    assert isinstance(evaluate(landing, cursor=before.cursor), dg.SkipReason)
    monkeypatch.setattr(ocr, "available", lambda: True)
    after = evaluate(landing, cursor=before.cursor)
    assert after.run_requests[0].run_key != before.run_requests[0].run_key
