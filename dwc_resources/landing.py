from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from .lakehouse import dwc_home


class LandingZoneResource(dg.ConfigurableResource):
    """The directory users drop documents into, and the limits applied to what they drop."""

    path: str = Field(description="Landing directory, scanned recursively; hidden files are ignored")
    max_file_bytes: int = Field(default=50 * 1024 * 1024, description="Larger files are quarantined as too_large")
    max_text_chars: int = Field(
        default=5_000_000,
        description="Text kept per document (about 2,000 pages); longer texts are cut and flagged text_truncated, "
        "so one huge file cannot exhaust a step's memory",
    )
    max_uncompressed_bytes: int = Field(default=200 * 1024 * 1024, description="Zip-bomb guard for DOCX/EPUB")
    max_pdf_pages: int = Field(default=2000)
    ocr_languages: str = Field(
        default="eng", description="Tesseract language packs for scans and images, '+'-joined (eng+deu)"
    )
    workers: int = Field(default=0, description="Extraction processes; 0 means one per CPU core")
    batch_size: int = Field(default=500, description="Files per committed staging batch (bounds memory)")
    settle_seconds: float = Field(default=5.0, description="The sensor waits until no file changed for this long")

    @classmethod
    def local(cls) -> LandingZoneResource:
        return cls(path=os.path.join(dwc_home(), "landing"))

    def effective_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


# What each drop folder holds; the resource key is `<name>_folder`.
DROP_FOLDERS = {
    "labels": "label files (CSV: source_path or content_hash, label) for the document classifier",
    "events": "interaction event files (JSON lines or CSV) for the recommenders",
    "telemetry": "the MQTT consumer's micro-batches, one folder per hour, and an optional devices.yaml registry",
    "xr_events": "XR session event files (JSON lines)",
}


class DropFolderResource(dg.ConfigurableResource):
    """A folder that another system drops files into for one family of assets (see DROP_FOLDERS)."""

    path: str = Field(description="The folder; it need not exist until something is dropped into it")

    @classmethod
    def local(cls, name: str) -> DropFolderResource:
        """Under DWC_HOME, beside the landing zone."""
        return cls(path=os.path.join(dwc_home(), name))
