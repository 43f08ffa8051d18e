"""Listing the landing zone: what is there, what changed, and which names are hostile."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .text import has_control_characters


@dataclass(frozen=True)
class LandingFile:
    relpath: str
    abspath: str
    size: int
    mtime_ns: int
    problem: str | None = None  # a quarantine code when the file must not be read normally
    problem_reason: str | None = None


def _hostile(relpath: str) -> str | None:
    """Why a name is unsafe to carry into logs, tables and other systems, or None."""
    if has_control_characters(relpath):
        return "the file name contains control or invisible characters"
    if "\\" in relpath and any(part in ("..", ".") for part in relpath.replace("\\", "/").split("/")):
        return "the file name holds a Windows-style path traversal ('..\\')"
    return None


def _special_reason(mode: int) -> str:
    import stat

    kind = next(
        (
            name
            for test, name in (
                (stat.S_ISFIFO, "a named pipe (FIFO)"),
                (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"),
            )
            if test(mode)
        ),
        "not a regular file",
    )
    return f"{kind}, not a regular file: never read"


def iter_landing(root: str) -> Iterator[LandingFile]:
    """Every regular file under root, in no particular order, without holding the listing.
    Hidden entries (".name") are skipped: by convention they are uploads still in progress
    (".report.pdf.part") or OS litter."""
    root = os.path.realpath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"landing zone {root!r} does not exist or is not a directory")
    stack = [root]
    prefix = len(root) + (0 if root.endswith(os.sep) else 1)  # entry.path is root + sep + name
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.name.startswith(".") and not entry.name.startswith(".."):
                    continue  # hidden; "..\\" names are not hidden but hostile, and are reported
                rel = entry.path[prefix:] if os.sep == "/" else os.path.relpath(entry.path, root).replace(os.sep, "/")
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if os.path.commonpath([root, target]) != root:
                        yield LandingFile(
                            rel,
                            entry.path,
                            0,
                            0,
                            "symlink_outside_landing",
                            "a symbolic link that points outside the landing zone; not followed",
                        )
                        continue
                    if os.path.isdir(target):
                        continue  # its target is inside the landing zone and listed there
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                try:
                    st = entry.stat()
                except OSError as exc:
                    yield LandingFile(rel, entry.path, 0, 0, "unreadable", f"cannot stat the file: {exc.strerror}")
                    continue
                if not entry.is_file():
                    # Never opened (reading a FIFO blocks), but recorded: the user sees why it was not taken.
                    yield LandingFile(rel, entry.path, 0, st.st_mtime_ns, "special_file", _special_reason(st.st_mode))
                    continue
                reason = _hostile(rel)
                yield LandingFile(
                    rel, entry.path, st.st_size, st.st_mtime_ns, "hostile_file_name" if reason else None, reason
                )


def scan_landing(root: str) -> list[LandingFile]:
    """The whole listing, sorted by path."""
    return sorted(iter_landing(root), key=lambda f: f.relpath)


def listing_fingerprint(files: list[LandingFile], salt: str = "") -> str:
    """A digest of (path, size, mtime) of every file: equal listings give equal digests. A `salt`
    makes the same listing another state (OCR having become available)."""
    h = hashlib.sha256(salt.encode())
    for f in files:
        h.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def newest_mtime_ns(files: list[LandingFile]) -> int:
    return max((f.mtime_ns for f in files), default=0)


# What an ingest run compares, shared with the landing-zone sensor. A listed file `l` is unchanged
# when a live source row `s` with its shown path has its size and mtime.
UNCHANGED = "s.status <> 'deleted' AND s.size_bytes = l.size_bytes AND s.mtime_ns = l.mtime_ns"
# Files quarantined because OCR was missing (the same bytes): read again once Tesseract is installed.
_AWAITING_OCR = """LEFT JOIN (SELECT DISTINCT source_path, content_hash FROM docs.quarantine
                              WHERE reason_code = 'ocr_unavailable') w
                   ON w.source_path = s.source_path AND w.content_hash = s.content_hash"""


def todo_sql(listing: str, rehash: bool = False, ocr_ready: bool = False) -> str:
    """Per listed file of `listing` (its columns and more), `todo`: whether an ingest run reads it.
    One row per listed file even where two raw names show as the same path."""
    todo = "true" if rehash else f"NOT coalesce(bool_or({UNCHANGED}), false)"
    join = ""
    if ocr_ready and not rehash:
        todo += " OR coalesce(bool_or(s.status = 'quarantined' AND w.source_path IS NOT NULL), false)"
        join = _AWAITING_OCR
    return f"""SELECT l.*, {todo} AS todo
               FROM ({listing}) l LEFT JOIN docs.sources s USING (source_path) {join} GROUP BY ALL"""


# Live sources no longer in the listing `{listing}`: their documents become tombstones.
GONE = """SELECT s.source_path, s.doc_id, s.status FROM docs.sources s
          ANTI JOIN {listing} l USING (source_path) WHERE s.status <> 'deleted'"""


def pending_in(con, files: list[LandingFile], ocr_ready: bool = False) -> int:
    """How many files of a listing an ingest run would read or tombstone, by the lake's registry
    (docs.sources) on `con`: what ingestion compares, read without running it."""
    import pyarrow as pa

    listing = pa.table(
        {
            "source_path": [f.relpath for f in files],
            "size_bytes": pa.array([f.size for f in files], pa.int64()),
            "mtime_ns": pa.array([f.mtime_ns for f in files], pa.int64()),
        }
    )
    con.register("_sensor_listing", listing)
    try:
        changed = con.execute(
            f"SELECT count(*) FILTER (todo) FROM ({todo_sql('FROM _sensor_listing', ocr_ready=ocr_ready)})"
        ).fetchall()[0][0]
        gone = con.execute(f"SELECT count(*) FROM ({GONE.format(listing='_sensor_listing')})").fetchall()[0][0]
        return changed + gone
    finally:
        con.unregister("_sensor_listing")
