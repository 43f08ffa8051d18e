import os
import socket
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Real data beside the checkout (never bundled); DWC_SHARED_DATA points elsewhere when needed.
SHARED_DATA = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data")
sys.path.insert(0, str(ROOT))


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip on a developer's machine that lacks something; fail in CI, where a skip would hide
    a broken install step."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def require_service(host: str, port: int, name: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        require(False, f"{name} is not reachable at {host}:{port} ({exc})")


def require_shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    require(path.exists(), f"shared data {path} is absent (it lives beside the checkout, not in it)")
    return path


class Env:
    """A DWC deployment in a temporary directory: landing zone, blobs, warehouse, snapshot."""

    def __init__(self, root: Path):
        from dwc_resources import BlobStoreResource, LakehouseResource

        self.root = root
        self.landing = root / "landing"
        self.landing.mkdir(parents=True, exist_ok=True)
        self.warehouse = LakehouseResource.local(str(root), memory_limit="512MB")
        self.configure_landing()
        # Beside the landing zone, as under DWC_HOME: labels, events, telemetry, xr_events.
        self.folders = {name: str(root / name) for name in ("labels", "events", "telemetry", "xr_events")}
        self.blobs = BlobStoreResource(root=str(root / "blobs"))

    def configure_landing(self, **overrides) -> None:
        from dwc_resources import LandingZoneResource

        settings = {"path": str(self.landing), "workers": 1, "settle_seconds": 0, **overrides}
        self.landing_resource = LandingZoneResource(**settings)

    def configure_folder(self, name: str, path: str) -> None:
        self.folders[name] = path

    def resources(self) -> dict:
        from dwc_resources import LocalAIResource
        from dwc_resources.landing import DropFolderResource
        from dwc_resources.model_store import ModelStoreResource
        from dwc_resources.notify import NotificationsResource
        from dwc_resources.quantum import QuantumResource
        from dwc_resources.tracking import TrackingResource

        return {
            "warehouse": self.warehouse,
            "landing": self.landing_resource,
            **{f"{name}_folder": DropFolderResource(path=path) for name, path in self.folders.items()},
            "blob_store": self.blobs,
            "ai": LocalAIResource(),
            "tracking": TrackingResource(
                tracking_uri=f"sqlite:///{self.root}/mlflow/mlflow.db",
                artifact_location=f"file://{self.root}/mlflow/artifacts",
            ),
            "notifications": NotificationsResource(
                log_path=str(self.root / "notify.sqlite"), outbox_dir=str(self.root / "outbox")
            ),
            "model_store": ModelStoreResource(path=str(self.root / "models")),
            "quantum": QuantumResource(),
            "chain": self.chain(),
        }

    def chain(self):
        from dwc_resources.chain import ChainResource, NetworkConfig

        return ChainResource(
            networks=[
                NetworkConfig(name="embedded", kind="embedded", state_path=str(self.root / "chain" / "embedded.sqlite"))
            ],
            deployments_path=str(self.root / "chain" / "deployments.json"),
        )

    def write(self, rel: str, data) -> Path:
        path = self.landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def defs(self) -> dg.Definitions:
        from dwc_pipelines import ingestion

        return dg.Definitions.merge(ingestion.defs, dg.Definitions(resources=self.resources()))

    def run_ingest(self, instance) -> dg.ExecuteInProcessResult:
        return self.defs().resolve_job_def("ingest_job").execute_in_process(instance=instance)

    def query(self, sql: str, params=None) -> list[tuple]:
        """The analyst lake (masked)."""
        with self.warehouse.reader() as con:
            return con.execute(sql, params or []).fetchall()

    def unmasked(self, sql: str, params=None) -> list[tuple]:
        """The lake itself: unmasked text and the internal tables."""
        with self.warehouse.unmasked_reader() as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture
def env(tmp_path) -> Env:
    return Env(tmp_path / "dwc")


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as inst:
        yield inst


def require_tesseract() -> None:
    """Skip without Tesseract, except in CI (`.ci/run` installs it): there the OCR tests must run."""
    import shutil

    if shutil.which("tesseract") is None:
        if os.environ.get("CI"):
            pytest.fail("Tesseract is not installed (apt-get install tesseract-ocr); CI installs it in .ci/run")
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr)")
