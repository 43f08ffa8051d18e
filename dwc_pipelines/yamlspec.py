"""YAML specs with located errors (plain Python): every mistake names the file, the line and the
field, for chain specs (chains/) and model specs (models/) alike."""

from __future__ import annotations

from typing import Any

import yaml


class SpecError(Exception):
    """One mistake in one spec, located: `file:line: field: message`."""

    def __init__(self, file: str, line: int | None, where: str, message: str):
        self.file, self.line, self.where, self.message = file, line, where, message
        super().__init__(f"{file}:{line or '?'}: {where}: {message}")


def load_yaml(text: str, file: str) -> tuple[Any, dict]:
    """The document and a map from field path (tuple) to its 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(file, mark.line + 1 if mark else None, "yaml", str(getattr(exc, "problem", exc))) from None
    lines: dict = {}
    scalars = yaml.SafeLoader("")

    def build(n, path: tuple):
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = k.value
                if key in out:
                    raise SpecError(file, k.start_mark.line + 1, ".".join(map(str, path + (key,))), "duplicate key")
                out[key] = build(v, path + (key,))
                lines[path + (key,)] = k.start_mark.line + 1  # a field's line is its key's
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        return scalars.construct_object(n, deep=True)

    return (build(node, ()) if node is not None else None), lines


class Checker:
    def __init__(self, file: str, lines: dict):
        self.file, self.lines = file, lines

    def fail(self, path: tuple, message: str):
        line = None
        for i in range(len(path), -1, -1):
            if path[:i] in self.lines:
                line = self.lines[path[:i]]
                break
        where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[") or "spec"
        raise SpecError(self.file, line, where, message)

    def mapping(self, value, path: tuple, allowed: set, required: set = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {type(value).__name__}")
        for key in value:
            if key not in allowed:
                self.fail(path + (key,), f"unknown field; allowed: {', '.join(sorted(allowed))}")
        for key in sorted(required):
            if key not in value:
                self.fail(path, f"missing required field '{key}'")
        return value

    def kind(self, value, path: tuple, kinds, what: str):
        if not isinstance(value, kinds):
            self.fail(path, f"must be {what}")
        return value
