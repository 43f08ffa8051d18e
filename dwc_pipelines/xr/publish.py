"""A built scene goes out: the GLB (written only when its bytes changed), the validator's verdict, the
optimised copy, the viewer page, a screenshot, and its row in `xr.scenes`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg

from dwc_resources.duck import transaction

from ..plots import png_markdown
from ..shared import markdown_table, utcnow
from .viewer import write_if_changed, write_page

SCENES_DDL = """
CREATE SCHEMA IF NOT EXISTS xr;
CREATE TABLE IF NOT EXISTS xr.scenes (
    scene VARCHAR NOT NULL,              -- document_map | device_twin | workflow_map
    path VARCHAR NOT NULL,               -- the GLB
    viewer_path VARCHAR,                 -- its static viewer page
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    items INTEGER NOT NULL,              -- documents, devices or steps shown
    nodes INTEGER NOT NULL,              -- glTF nodes
    meshes INTEGER NOT NULL,
    instanced BOOLEAN NOT NULL,
    bytes_per_item DOUBLE NOT NULL,
    validator VARCHAR,                   -- version, or why it did not run
    validator_errors INTEGER,
    validator_warnings INTEGER,
    validator_infos INTEGER,
    optimized_bytes BIGINT,
    screenshot_path VARCHAR,
    screenshot_nonblank BOOLEAN,
    built_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
"""


def nonblank(png: str) -> bool:
    """Did anything render: more than one colour in the middle of the picture (the canvas)?"""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    h, w, _ = img.shape
    middle = img[h // 5 : h - h // 10, w // 10 : w - w // 10]
    return int((np.abs(middle - middle[0, 0]).sum(axis=2) > 30).sum()) > 50


def publish(
    con,
    tools,
    scene: str,
    data: bytes,
    stats,
    title: str,
    subtitle: str,
    run_id: str,
    screenshot: bool = True,
    log=print,
) -> dict:
    os.makedirs(tools.scenes_dir, exist_ok=True)
    glb = os.path.join(tools.scenes_dir, f"{scene}.glb")
    sha = hashlib.sha256(data).hexdigest()
    prior = con.execute("SELECT * FROM xr.scenes WHERE scene = ?", [scene]).fetchall()
    names = [d[0] for d in con.description] if prior else []
    prior = dict(zip(names, prior[0])) if prior else None
    written = write_if_changed(glb, data)
    unchanged = prior is not None and prior["sha256"] == sha and not written
    messages = []
    if unchanged:
        log(f"{scene}: inputs unchanged, {glb} is byte-identical ({sha[:12]}); nothing rebuilt")
        row = prior
        # The page is the viewer's, not the scene's: a newer viewer (its legend, its bundle) reaches old scenes.
        write_page(glb, title, subtitle, tools.bundle(), stats.legend, stats.note)
    else:
        row = {
            "scene": scene,
            "path": glb,
            "sha256": sha,
            "size_bytes": len(data),
            "items": stats.items,
            "nodes": stats.nodes,
            "meshes": stats.meshes,
            "instanced": stats.instanced,
            "bytes_per_item": round(stats.bytes_per_item, 2),
            "validator": None,
            "validator_errors": None,
            "validator_warnings": None,
            "validator_infos": None,
            "optimized_bytes": None,
            "screenshot_path": None,
            "screenshot_nonblank": None,
            "viewer_path": None,
            "built_at": utcnow(),
            "run_id": run_id,
        }
        missing = tools.validator_missing()
        if missing:
            row["validator"] = f"not run: {missing}"
        else:
            report = tools.validate([glb])[0]
            row.update(
                validator=report["validator"],
                validator_errors=report["errors"],
                validator_warnings=report["warnings"],
                validator_infos=report["infos"],
            )
            messages = report["messages"]
            log(
                f"{scene}: glTF validator {report['validator']}: {report['errors']} errors, {report['warnings']} warnings"
            )
        if tools.optimize and tools.optimizer():
            opt = os.path.join(tools.scenes_dir, f"{scene}.optimized.glb")
            try:
                tools.optimize_glb(glb, opt)
                row["optimized_bytes"] = os.path.getsize(opt)
            except Exception as exc:  # the optimiser is a convenience: its failure is reported, not fatal
                log(f"{scene}: optimisation failed: {exc}")
        row["viewer_path"] = write_page(glb, title, subtitle, tools.bundle(), stats.legend, stats.note)
        if screenshot and tools.browser_path():
            png = os.path.join(tools.scenes_dir, f"{scene}.png")
            try:
                tools.screenshot(row["viewer_path"], png)
                row["screenshot_path"], row["screenshot_nonblank"] = png, nonblank(png)
            except Exception as exc:
                log(f"{scene}: no screenshot: {exc}")
        with transaction(con):
            con.execute("DELETE FROM xr.scenes WHERE scene = ?", [scene])
            cols = [c[0] for c in con.execute("SELECT * FROM xr.scenes LIMIT 0").description]
            con.execute(
                f"INSERT INTO xr.scenes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols],
            )
    scenes = con.execute("SELECT count(*) FROM xr.scenes").fetchall()[0][0]
    meta = {
        "dagster/row_count": scenes,
        "path": dg.MetadataValue.path(row["path"]),
        "viewer": dg.MetadataValue.path(row["viewer_path"] or ""),
        "sha256": row["sha256"],
        "size_bytes": row["size_bytes"],
        "items": row["items"],
        "gltf_nodes": row["nodes"],
        "bytes_per_item": row["bytes_per_item"],
        "instanced": row["instanced"],
        "rebuilt": not unchanged,
        "validator": row["validator"] or "-",
    }
    for key in ("validator_errors", "validator_warnings", "validator_infos", "optimized_bytes"):
        if row[key] is not None:
            meta[key] = int(row[key])
    if messages:
        meta["validator_messages"] = dg.MetadataValue.md(markdown_table(["message"], [(m,) for m in messages], 160))
    if row["screenshot_path"] and os.path.exists(row["screenshot_path"]):
        meta["screenshot"] = dg.MetadataValue.md(png_markdown(Path(row["screenshot_path"]).read_bytes(), title))
        meta["screenshot_nonblank"] = bool(row["screenshot_nonblank"])
    return {"sha256": row["sha256"], "metadata": meta, "row": row}
