from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from .cas import ContentStore, Keyring, StoreConfig
from .lakehouse import dwc_home


class BlobStoreResource(dg.ConfigurableResource):
    """Content-addressed store of the original bytes of every file that was dropped, sealed with
    AES-256-GCM when keys are configured (plaintext otherwise)."""

    root: str = Field(description="Directory of the store; blobs are named by their sha256")
    encryption_keys: str | None = Field(
        default=None,
        description="Keys as 'key_id:base64_32_bytes[,key_id:...]' (from DWC_BLOB_KEYS); none: blobs stay plaintext",
    )
    active_key_id: str | None = Field(
        default=None, description="Key id that seals new blobs (DWC_BLOB_ACTIVE_KEY); default the first key listed"
    )

    @classmethod
    def local(cls) -> BlobStoreResource:
        return cls(root=os.path.join(dwc_home(), "blobs"), **encryption_from_env())

    def config(self) -> StoreConfig:
        return StoreConfig(self.root, Keyring.parse(self.encryption_keys, self.active_key_id or None))

    def store(self) -> ContentStore:
        return self.config().open()


def encryption_from_env() -> dict:
    """Key settings as EnvVars, so their values never show in the UI's resource config."""
    out: dict = {}
    if os.environ.get("DWC_BLOB_KEYS"):
        out["encryption_keys"] = dg.EnvVar("DWC_BLOB_KEYS")
    if os.environ.get("DWC_BLOB_ACTIVE_KEY"):
        out["active_key_id"] = dg.EnvVar("DWC_BLOB_ACTIVE_KEY")
    return out
