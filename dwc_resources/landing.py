from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from .lakehouse import dwc_home


class LandingZoneResource(dg.ConfigurableResource):
    """The directory users drop documents into, and the limits applied to what they drop."""

    path: str = Field(description="Landing directory, scanned recursively; hidden files are ignored")
    max_file_bytes: int = Field(default=50 * 1024 * 1024, description="Larger files are quarantined as too_large")
    max_uncompressed_bytes: int = Field(default=200 * 1024 * 1024, description="Zip-bomb guard for DOCX/EPUB")
    max_pdf_pages: int = Field(default=2000)
    workers: int = Field(default=0, description="Extraction processes; 0 means one per CPU core")
    batch_size: int = Field(default=500, description="Files per committed staging batch (bounds memory)")
    settle_seconds: float = Field(default=5.0, description="The sensor waits until no file changed for this long")
    labels_path: str | None = Field(
        default=None,
        description="Folder of label CSVs (source_path or content_hash, label); default: beside the landing zone",
    )

    @classmethod
    def local(cls) -> LandingZoneResource:
        return cls(path=os.path.join(dwc_home(), "landing"))

    events_path: str | None = Field(
        default=None,
        description="Folder of interaction event files (JSON lines or CSV); default: beside the landing zone",
    )

    telemetry_path: str | None = Field(
        default=None,
        description="Telemetry landing: the MQTT consumer's micro-batches, one folder per hour, and an "
        "optional devices.yaml registry; default: beside the landing zone",
    )

    xr_events_path: str | None = Field(
        default=None, description="Folder of XR session event files (JSON lines); default: beside the landing zone"
    )

    def effective_xr_events_path(self) -> str:
        return self.xr_events_path or os.path.join(os.path.dirname(os.path.abspath(self.path)), "xr_events")

    def effective_telemetry_path(self) -> str:
        return self.telemetry_path or os.path.join(os.path.dirname(os.path.abspath(self.path)), "telemetry")

    def effective_events_path(self) -> str:
        return self.events_path or os.path.join(os.path.dirname(os.path.abspath(self.path)), "events")

    def effective_labels_path(self) -> str:
        return self.labels_path or os.path.join(os.path.dirname(os.path.abspath(self.path)), "labels")

    def effective_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)
