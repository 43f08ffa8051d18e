"""Listing the landing zone: what is there, what changed, and which names are hostile."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class LandingFile:
    relpath: str
    abspath: str
    size: int
    mtime_ns: int
    problem: str | None = None  # a quarantine code when the file must not be read normally
    problem_reason: str | None = None


def _hostile(name: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in "\u2028\u2029" for ch in name)


def scan_landing(root: str) -> list[LandingFile]:
    """Every regular file under root, sorted by path. Hidden entries (".name") are skipped:
    by convention they are uploads still in progress (".report.pdf.part") or OS litter."""
    root = os.path.realpath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"landing zone {root!r} does not exist or is not a directory")
    out: list[LandingFile] = []
    stack = [root]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                rel = os.path.relpath(entry.path, root).replace(os.sep, "/")
                problem = reason = None
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if os.path.commonpath([root, target]) != root:
                        out.append(LandingFile(rel, entry.path, 0, 0, "symlink_outside_landing",
                                               "a symbolic link that points outside the landing zone; not followed"))
                        continue
                    if os.path.isdir(target):
                        continue  # its target is inside the landing zone and listed there
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                try:
                    st = entry.stat()
                except OSError as exc:
                    out.append(LandingFile(rel, entry.path, 0, 0, "unreadable", f"cannot stat the file: {exc.strerror}"))
                    continue
                if not entry.is_file():
                    continue  # sockets, FIFOs, devices
                if _hostile(rel):
                    problem, reason = "hostile_file_name", "the file name contains control or invisible characters"
                out.append(LandingFile(rel, entry.path, st.st_size, st.st_mtime_ns, problem, reason))
    out.sort(key=lambda f: f.relpath)
    return out


def listing_fingerprint(files: list[LandingFile]) -> str:
    """A digest of (path, size, mtime) of every file: equal listings give equal digests."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def newest_mtime_ns(files: list[LandingFile]) -> int:
    return max((f.mtime_ns for f in files), default=0)
