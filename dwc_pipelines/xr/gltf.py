"""A small, deterministic glTF 2.0 binary (GLB) writer: indexed meshes, PBR materials, instancing.

Deterministic by construction: no timestamps, JSON in insertion order with fixed float rounding,
buffers 4-byte aligned with zero padding. The same inputs give the same bytes, so an unchanged scene
is an unchanged file (and an unchanged data version in Dagster).
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache

import numpy as np

FLOAT, UINT16, UINT32 = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES, LINES = 4, 1
INSTANCING = "EXT_mesh_gpu_instancing"


def _round(value, digits: int = 5):
    if isinstance(value, float):
        r = round(value, digits)
        return 0.0 if r == 0 else r  # no "-0.0"
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    if isinstance(value, np.generic):
        return _round(value.item(), digits)
    return value


class GLB:
    def __init__(self, generator: str = "DWC xr"):
        self.doc: dict = {
            "asset": {"version": "2.0", "generator": generator},
            "scene": 0,
            "scenes": [{"nodes": []}],
            "nodes": [],
            "meshes": [],
            "materials": [],
            "accessors": [],
            "bufferViews": [],
            "buffers": [{"byteLength": 0}],
        }
        self.bin = bytearray()
        self._materials: dict = {}
        self.extensions: set[str] = set()
        self.required: set[str] = set()

    def _view(self, data: bytes, target: int | None) -> int:
        while len(self.bin) % 4:
            self.bin.append(0)
        view = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.bin += data
        self.doc["bufferViews"].append(view)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = ARRAY_BUFFER) -> int:
        if array.dtype.kind == "f":
            array, ctype = np.ascontiguousarray(array, dtype="<f4"), FLOAT
        else:
            big = int(array.max()) if array.size else 0
            array, ctype = (
                (np.ascontiguousarray(array, dtype="<u2"), UINT16)
                if big < 65535
                else (np.ascontiguousarray(array, dtype="<u4"), UINT32)
            )
        count = array.shape[0] if kind != "SCALAR" else array.size
        acc = {
            "bufferView": self._view(array.tobytes(), target),
            "componentType": ctype,
            "count": int(count),
            "type": kind,
        }
        if ctype == FLOAT and count:
            # Bounds of the stored float32 values exactly (POSITION needs them; the validator checks them).
            flat = array.reshape(count, -1)
            acc["min"] = [float(v) for v in flat.min(axis=0)]
            acc["max"] = [float(v) for v in flat.max(axis=0)]
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def material(
        self, rgba: tuple, name: str, metallic: float = 0.0, roughness: float = 0.55, emissive: tuple | None = None
    ) -> int:
        key = (tuple(_round(list(rgba), 4)), name)
        if key not in self._materials:
            mat = {
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": _round(list(rgba), 4),
                    "metallicFactor": metallic,
                    "roughnessFactor": roughness,
                },
            }
            if emissive:
                mat["emissiveFactor"] = _round(list(emissive), 4)
            self.doc["materials"].append(mat)
            self._materials[key] = len(self.doc["materials"]) - 1
        return self._materials[key]

    def mesh(
        self,
        name: str,
        positions: np.ndarray,
        indices: np.ndarray,
        material: int,
        normals: np.ndarray | None = None,
        mode: int = TRIANGLES,
    ) -> int:
        attrs = {"POSITION": self.accessor(positions, "VEC3")}
        if normals is not None:
            attrs["NORMAL"] = self.accessor(normals, "VEC3")
        prim = {
            "attributes": attrs,
            "indices": self.accessor(indices.reshape(-1), "SCALAR", ELEMENT_ARRAY_BUFFER),
            "material": material,
            "mode": mode,
        }
        self.doc["meshes"].append({"name": name, "primitives": [prim]})
        return len(self.doc["meshes"]) - 1

    def node(
        self,
        name: str,
        mesh: int | None = None,
        translation=None,
        scale=None,
        extras: dict | None = None,
        children: list[int] | None = None,
        root: bool = True,
    ) -> int:
        node: dict = {"name": name}
        if mesh is not None:
            node["mesh"] = mesh
        if translation is not None:
            node["translation"] = _round([float(v) for v in translation])
        if scale is not None:
            node["scale"] = _round([float(v) for v in scale])
        if children:
            node["children"] = children
        if extras:
            node["extras"] = _round(extras)
        self.doc["nodes"].append(node)
        index = len(self.doc["nodes"]) - 1
        if root:
            self.doc["scenes"][0]["nodes"].append(index)
        return index

    def instanced(self, name: str, mesh: int, translations: np.ndarray, scales: np.ndarray, extras: dict) -> int:
        """One node drawing `mesh` at every translation (EXT_mesh_gpu_instancing): thousands of items in one draw."""
        self.extensions.add(INSTANCING)
        self.required.add(INSTANCING)
        node = self.node(name, mesh, extras=extras)
        self.doc["nodes"][node]["extensions"] = {
            INSTANCING: {
                "attributes": {
                    "TRANSLATION": self.accessor(translations.astype("<f4"), "VEC3", None),
                    "SCALE": self.accessor(scales.astype("<f4"), "VEC3", None),
                }
            }
        }
        return node

    def to_bytes(self) -> bytes:
        doc = dict(self.doc)
        for key in ("nodes", "materials", "meshes", "accessors", "bufferViews"):
            if not doc[key]:
                del doc[key]  # the validator refuses empty arrays
        if not doc["scenes"][0]["nodes"]:
            doc["scenes"] = [{}]
        if self.extensions:
            doc["extensionsUsed"] = sorted(self.extensions)
        if self.required:
            doc["extensionsRequired"] = sorted(self.required)
        while len(self.bin) % 4:
            self.bin.append(0)
        if self.bin:
            doc["buffers"] = [{"byteLength": len(self.bin)}]
        else:
            del doc["buffers"]
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        text += b" " * (-len(text) % 4)
        chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
        if self.bin:
            chunks += struct.pack("<II", len(self.bin), 0x004E4942) + bytes(self.bin)
        return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


@lru_cache(maxsize=4)
def icosphere(subdivisions: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere: positions (= normals) float32 and triangle indices."""
    t = (1 + 5**0.5) / 2
    verts = [
        (-1, t, 0),
        (1, t, 0),
        (-1, -t, 0),
        (1, -t, 0),
        (0, -1, t),
        (0, 1, t),
        (0, -1, -t),
        (0, 1, -t),
        (t, 0, -1),
        (t, 0, 1),
        (-t, 0, -1),
        (-t, 0, 1),
    ]
    faces = [
        (0, 11, 5),
        (0, 5, 1),
        (0, 1, 7),
        (0, 7, 10),
        (0, 10, 11),
        (1, 5, 9),
        (5, 11, 4),
        (11, 10, 2),
        (10, 7, 6),
        (7, 1, 8),
        (3, 9, 4),
        (3, 4, 2),
        (3, 2, 6),
        (3, 6, 8),
        (3, 8, 9),
        (4, 9, 5),
        (2, 4, 11),
        (6, 2, 10),
        (8, 6, 7),
        (9, 8, 1),
    ]
    verts = [np.array(v, float) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        cache: dict = {}

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = (verts[a] + verts[b]) / 2
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.array(verts, dtype="<f4"), np.array(faces, dtype="<u2")


def box() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit cube centred on the origin: 24 vertices (flat normals), 12 triangles."""
    pos, nor, idx = [], [], []
    for axis in range(3):
        for sign in (1.0, -1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = np.roll(np.eye(3), 1, axis=0)[axis], np.roll(np.eye(3), 2, axis=0)[axis]
            base = len(pos)
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                pos.append(0.5 * (n + du * u + dv * v))
                nor.append(n)
            idx += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    pos, idx = np.array(pos, "<f4"), np.array(idx, "<u2")
    tri = pos[idx]
    inward = np.einsum("ij,ij->i", np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), tri.mean(axis=1)) < 0
    idx[inward] = idx[inward][:, ::-1]  # counter-clockwise seen from outside, as glTF front faces are
    return pos, np.array(nor, "<f4"), idx


# Colour-blind-safe categorical palette (Okabe-Ito), linear-ish RGB in 0..1.
PALETTE = [
    (0.90, 0.62, 0.0),
    (0.34, 0.71, 0.91),
    (0.0, 0.62, 0.45),
    (0.94, 0.89, 0.26),
    (0.0, 0.45, 0.70),
    (0.84, 0.37, 0.0),
    (0.80, 0.47, 0.65),
    (0.6, 0.6, 0.6),
]


def srgb_to_linear(c: float) -> float:
    # glTF's baseColorFactor is linear; the palette is specified in sRGB.
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def colour(i: int) -> tuple:
    r, g, b = PALETTE[i % len(PALETTE)]
    return (srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b), 1.0)
