"""A content-addressed store of original bytes on the local file system (plain Python)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path


class ContentStore:
    """Blobs at <root>/<h[:2]>/<sha256>; written once, atomically, never modified.

    One level of 256 folders keeps folders small (4,000 entries at a million blobs) without
    paying a mkdir for most new blobs, as a deeper fan-out would.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._made: set[Path] = set()

    def path_for(self, content_hash: str) -> Path:
        return self.root / content_hash[:2] / content_hash

    def has(self, content_hash: str) -> bool:
        return self.path_for(content_hash).exists()

    def put(self, data: bytes, content_hash: str | None = None) -> str:
        content_hash = content_hash or hashlib.sha256(data).hexdigest()
        target = self.path_for(content_hash)
        if not target.exists():
            if target.parent not in self._made:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(target.parent)
            tmp = target.parent / f".tmp-{os.getpid()}-{threading.get_ident()}"
            try:
                try:
                    fh = open(tmp, "wb")
                except FileNotFoundError:  # the directory went away since we made it
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fh = open(tmp, "wb")
                with fh:
                    fh.write(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return content_hash

    def put_file(self, source: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
        """Copy a file of any size into the store in bounded memory; returns its sha256."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                while block := src.read(chunk_size):
                    digest.update(block)
                    dst.write(block)
            content_hash = digest.hexdigest()
            target = self.path_for(content_hash)
            if target.exists():
                os.unlink(tmp)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            return content_hash
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, content_hash: str) -> bytes:
        return self.path_for(content_hash).read_bytes()
