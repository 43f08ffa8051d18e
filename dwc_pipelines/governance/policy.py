"""Retention policies from YAML (plain Python): validated with file:line errors, evaluated in SQL."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from ..yamlspec import Checker, SpecError, load_yaml

_KEEP = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$")
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
_MATCH_FIELDS = {"source", "format", "extension", "topic"}


@dataclass(frozen=True)
class Policy:
    name: str
    match: dict
    keep_days: int
    basis: str  # created | ingested
    delete_source: bool

    def matches(self, source_path: str, fmt: str | None, extension: str | None, topic: str | None) -> bool:
        m = self.match
        if (
            "source" in m
            and not fnmatch.fnmatchcase(source_path, m["source"])
            and not fnmatch.fnmatchcase(source_path, m["source"].removeprefix("**/"))
        ):
            return False
        if "format" in m and fmt != m["format"]:
            return False
        if "extension" in m and (extension or "").lstrip(".") != str(m["extension"]).lstrip("."):
            return False
        if "topic" in m and topic != m["topic"]:
            return False
        return True


def load_policies(path: str | Path) -> list[Policy]:
    path = Path(path)
    if not path.exists():
        raise SpecError(str(path), None, "spec", "retention policy file not found")
    doc, lines = load_yaml(path.read_text(), str(path))
    ck = Checker(str(path), lines)
    ck.mapping(doc or {}, (), {"policies"}, {"policies"})
    out: list[Policy] = []
    names: set[str] = set()
    for i, p in enumerate(ck.kind(doc["policies"], ("policies",), list, "a list of policies")):
        at = ("policies", i)
        ck.mapping(p, at, {"name", "match", "keep", "from", "delete_source"}, {"name", "match", "keep"})
        name = ck.kind(p["name"], at + ("name",), str, "a name")
        if name in names:
            ck.fail(at + ("name",), f"duplicate policy name {name!r}")
        names.add(name)
        match = ck.mapping(p["match"], at + ("match",), _MATCH_FIELDS)
        if not match:
            ck.fail(at + ("match",), f"needs at least one of {', '.join(sorted(_MATCH_FIELDS))}")
        m = _KEEP.match(str(p["keep"]))
        if not m or int(m.group(1)) <= 0:
            ck.fail(at + ("keep",), "a positive number and a unit: d, w, m or y (for example 10y, 30d)")
        basis = p.get("from", "created")
        if basis not in ("created", "ingested"):
            ck.fail(at + ("from",), "created or ingested")
        delete = p.get("delete_source", True)
        if not isinstance(delete, bool):
            ck.fail(at + ("delete_source",), "true or false")
        out.append(Policy(name, dict(match), int(m.group(1)) * _UNIT_DAYS[m.group(2)], basis, delete))
    return out


def first_match(policies: list[Policy], source_path: str, fmt, extension, topic) -> Policy | None:
    return next((p for p in policies if p.matches(source_path, fmt, extension, topic)), None)
