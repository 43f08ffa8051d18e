"""Scenes from platform data, as GLB bytes: the document map, the device twin, the workflow map.

Each builder takes plain rows and returns (bytes, stats); no Dagster, no warehouse. Every item a person
may point at is named: a node's `name` and `extras.label`, or, for an instanced mesh, an entry of its
node's `extras.instances` (in instance order), so a viewer can label it and XR session events can name it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .gltf import GLB, LINES, PALETTE, box, colour, icosphere, srgb_to_linear

RADIUS = 10.0  # the scenes fit in about 20 m: walkable in room-scale XR


@dataclass
class Stats:
    items: int
    nodes: int
    meshes: int
    bytes: int
    instanced: bool
    # What the viewer's legend says: (sRGB hex colour, meaning) per colour, and how sizes and places read.
    legend: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""

    @property
    def bytes_per_item(self) -> float:
        return self.bytes / max(1, self.items)


def _stats(g: GLB, data: bytes, items: int, legend=(), note: str = "") -> Stats:
    return Stats(items, len(g.doc["nodes"]), len(g.doc["meshes"]), len(data), bool(g.extensions), list(legend), note)


def hex_colour(rgb: tuple) -> str:
    """An sRGB triple in 0..1 as a CSS colour."""
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb[:3])


def project_3d(embeddings: np.ndarray) -> np.ndarray:
    """PCA to three dimensions, scaled into the scene's radius; deterministic (each axis's sign is fixed
    so its largest loading is positive)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if len(x) == 0:
        return np.zeros((0, 3))
    x = x - x.mean(axis=0)
    if len(x) == 1 or not np.any(x):
        return np.zeros((len(x), 3))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:3]
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
    p = x @ vt.T
    if p.shape[1] < 3:
        p = np.hstack([p, np.zeros((len(p), 3 - p.shape[1]))])
    scale = np.abs(p).max() or 1.0
    return p / scale * RADIUS


def _label(title: str | None, fallback: str, limit: int = 60) -> str:
    text = " ".join((title or fallback).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def document_map(docs: list[dict], instancing_threshold: int = 256) -> tuple[bytes, Stats]:
    """Documents placed by their embeddings, one colour per topic, sized by length.

    docs: dicts with doc_id, title, topic, word_count, embedding. Up to `instancing_threshold` documents,
    a node per document (sharing one sphere per topic); beyond it, one instanced node per topic."""
    docs = sorted(docs, key=lambda d: d["doc_id"])
    g = GLB("DWC xr document map")
    if not docs:
        data = g.to_bytes()
        return data, _stats(g, data, 0)
    positions = project_3d(np.array([d["embedding"] for d in docs]))
    words = np.array([max(1, int(d.get("word_count") or 1)) for d in docs], dtype=np.float64)
    sizes = 0.12 + 0.38 * np.sqrt(words / words.max())
    topics = sorted({d.get("topic") or "unknown" for d in docs})
    sphere, faces = icosphere(1)
    meshes = {
        t: g.mesh(f"sphere {t}", sphere, faces, g.material(colour(i), f"topic {t}"), normals=sphere)
        for i, t in enumerate(topics)
    }
    instanced = len(docs) > instancing_threshold
    for topic in topics:
        members = [i for i, d in enumerate(docs) if (d.get("topic") or "unknown") == topic]
        if instanced:
            g.instanced(
                f"topic {topic}",
                meshes[topic],
                positions[members],
                np.repeat(sizes[members, None], 3, axis=1),
                {
                    "topic": topic,
                    "count": len(members),
                    "instances": [
                        {
                            "name": docs[i]["doc_id"],
                            "label": _label(docs[i].get("title"), docs[i]["doc_id"]),
                            "words": int(words[i]),
                        }
                        for i in members
                    ],
                },
            )
            continue
        children = [
            g.node(
                docs[i]["doc_id"],
                meshes[topic],
                translation=positions[i],
                scale=[sizes[i]] * 3,
                extras={
                    "label": _label(docs[i].get("title"), docs[i]["doc_id"]),
                    "topic": topic,
                    "words": int(words[i]),
                },
                root=False,
            )
            for i in members
        ]
        g.node(f"topic {topic}", children=children, extras={"topic": topic, "count": len(members)})
    data = g.to_bytes()
    legend = [(hex_colour(PALETTE[i % len(PALETTE)]), f"topic: {t}") for i, t in enumerate(topics)]
    note = "Position: documents with similar embeddings sit close. Size: grows with the square root of the word count."
    return data, _stats(g, data, len(docs), legend, note)


def naive_document_map(docs: list[dict]) -> bytes:
    """The baseline the benchmark compares with: every document its own mesh, accessors and node."""
    docs = sorted(docs, key=lambda d: d["doc_id"])
    g = GLB("naive document map")
    positions = project_3d(np.array([d["embedding"] for d in docs]))
    sphere, faces = icosphere(1)
    topics = sorted({d.get("topic") or "unknown" for d in docs})
    for d, p in zip(docs, positions):
        m = g.mesh(
            d["doc_id"],
            sphere * 0.3 + p.astype("f4"),
            faces,
            g.material(colour(topics.index(d.get("topic") or "unknown")), d.get("topic") or "unknown"),
            normals=sphere,
        )
        g.node(d["doc_id"], m, extras={"label": _label(d.get("title"), d["doc_id"])})
    return g.to_bytes()


HEALTH = {
    "online": (0.0, 0.62, 0.45),
    "stale": (0.90, 0.62, 0.0),
    "offline": (0.84, 0.15, 0.1),
    "never_seen": (0.55, 0.55, 0.55),
    "unregistered": (0.80, 0.47, 0.65),
}


def _linear(rgb: tuple) -> tuple:
    return tuple(srgb_to_linear(c) for c in rgb) + (1.0,)


def device_layout(devices: list[dict]) -> np.ndarray:
    """x/z positions: by latitude and longitude where known (equirectangular about the fleet's centre),
    else on a grid beside the located ones."""
    located = [i for i, d in enumerate(devices) if d.get("lat") is not None and d.get("lon") is not None]
    out = np.zeros((len(devices), 2))
    if located:
        lat0 = float(np.mean([devices[i]["lat"] for i in located]))
        lon0 = float(np.mean([devices[i]["lon"] for i in located]))
        xy = np.array(
            [[(devices[i]["lon"] - lon0) * math.cos(math.radians(lat0)), devices[i]["lat"] - lat0] for i in located]
        )
        span = np.abs(xy).max() or 1.0
        out[located] = xy / span * RADIUS * 0.8
    rest = [i for i in range(len(devices)) if i not in set(located)]
    cols = max(1, math.ceil(math.sqrt(len(rest) or 1)))
    for k, i in enumerate(rest):
        out[i] = (RADIUS + 2 + (k % cols) * 1.5, (k // cols) * 1.5 - RADIUS * 0.5)
    return out


def device_twin(devices: list[dict]) -> tuple[bytes, Stats]:
    """The fleet on a floor: a box per device, coloured by health, its latest readings in its extras.

    devices: dicts with device_id, type, location, lat, lon, status, firmware, latest (dict metric -> value)."""
    devices = sorted(devices, key=lambda d: d["device_id"])
    g = GLB("DWC xr device twin")
    pos, nor, idx = box()
    floor = g.mesh(
        "floor",
        pos * np.array([2 * RADIUS + 6, 0.02, 2 * RADIUS + 6], "f4"),
        idx,
        g.material((0.05, 0.06, 0.08, 1.0), "floor", roughness=0.9),
        normals=nor,
    )
    g.node("floor", floor, translation=[2.0, -0.02, 0.0])
    meshes = {
        s: g.mesh(f"device {s}", pos, idx, g.material(_linear(rgb), f"health {s}", metallic=0.1), normals=nor)
        for s, rgb in HEALTH.items()
    }
    xy = device_layout(devices)
    for d, (x, z) in zip(devices, xy):
        status = d.get("status") if d.get("status") in HEALTH else "never_seen"
        latest = d.get("latest") or {}
        g.node(
            d["device_id"],
            meshes[status],
            translation=[x, 0.4, z],
            scale=[0.6, 0.8, 0.6],
            extras={
                "label": f"{d['device_id']} ({status})",
                "type": d.get("type"),
                "location": d.get("location"),
                "status": status,
                "firmware": d.get("firmware"),
                "latest": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in sorted(latest.items())},
            },
        )
    data = g.to_bytes()
    legend = [(hex_colour(rgb), f"health: {s.replace('_', ' ')}") for s, rgb in HEALTH.items()]
    note = "A box per device, placed by latitude and longitude where known, else on a grid beside the map."
    return data, _stats(g, data, len(devices), legend, note)


STATUS = {
    "fresh": (0.0, 0.62, 0.45),
    "stale": (0.90, 0.62, 0.0),
    "failed": (0.84, 0.15, 0.1),
    "never": (0.45, 0.45, 0.5),
}
STATUS_MEANING = {
    "fresh": "materialized after everything it reads",
    "stale": "an upstream changed since",
    "failed": "a result of its latest version failed",
    "never": "not materialized yet",
}


def workflow_status(last: float | None, upstream_last: list[float | None], failed: int) -> str:
    """fresh: materialised after everything it reads; stale: an upstream changed since; failed: a result
    of its latest version failed; never: not materialised yet."""
    if last is None:
        return "never"
    if failed:
        return "failed"
    return "stale" if any(u is not None and u > last for u in upstream_last) else "fresh"


def workflow_map(chains: list[dict]) -> tuple[bytes, Stats]:
    """Each chain's asset graph laid out in 3D (a row per chain, its steps in order along x), nodes as
    boxes coloured by status, edges as lines.

    chains: dicts with name and nodes [{key, label, status, rows, failed}] and edges [(from key, to key)]."""
    g = GLB("DWC xr workflow map")
    pos, nor, idx = box()
    meshes = {
        s: g.mesh(f"step {s}", pos, idx, g.material(_linear(rgb), f"status {s}"), normals=nor)
        for s, rgb in STATUS.items()
    }
    where: dict[str, np.ndarray] = {}
    items = 0
    for row, chain in enumerate(sorted(chains, key=lambda c: c["name"])):
        children = []
        for col, node in enumerate(chain["nodes"]):
            p = np.array([col * 2.5, 0.6 + 0.3 * (col % 2), row * 3.0])
            where[node["key"]] = p
            children.append(
                g.node(
                    node["key"],
                    meshes[node["status"]],
                    translation=p,
                    scale=[1.2, 0.8, 0.8],
                    extras={
                        "label": f"{node['label']} ({node['status']})",
                        "status": node["status"],
                        "rows": node.get("rows"),
                        "failed": node.get("failed"),
                    },
                    root=False,
                )
            )
            items += 1
        g.node(
            f"chain {chain['name']}", children=children, extras={"label": chain["name"], "steps": len(chain["nodes"])}
        )
    edges = sorted({(a, b) for c in chains for a, b in c["edges"] if a in where and b in where})
    if edges:
        points = np.array([where[k] for e in edges for k in e], "f4")
        lines = g.mesh(
            "edges", points, np.arange(len(points), dtype="u2"), g.material((0.8, 0.8, 0.85, 1.0), "edge"), mode=LINES
        )
        g.node("edges", lines, extras={"count": len(edges)})
    data = g.to_bytes()
    legend = [(hex_colour(rgb), f"{s}: {STATUS_MEANING[s]}") for s, rgb in STATUS.items()]
    note = "A row per chain, its steps left to right; lines join a step to the steps it reads."
    return data, _stats(g, data, items, legend, note)
