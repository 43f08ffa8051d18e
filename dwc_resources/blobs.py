from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from .warehouse import dwc_home


class BlobStoreResource(dg.ConfigurableResource):
    """Content-addressed store of the original bytes of every file that was dropped."""

    root: str = Field(description="Directory of the store; blobs are named by their sha256")

    @classmethod
    def local(cls) -> "BlobStoreResource":
        return cls(root=os.path.join(dwc_home(), "blobs"))

