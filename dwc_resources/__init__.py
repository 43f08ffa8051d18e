"""One module per external system, each a dg.ConfigurableResource (plain helpers beside them).

The resource classes load on first use, so plain helpers (`dwc_resources.pii`, `.cas`, `.duck`)
import without Dagster: ingestion workers use them and start faster.
"""

import importlib

_EXPORTS = {
    "AIResource": ".ai",
    "LocalAIResource": ".ai",
    "BlobStoreResource": ".blobs",
    "LandingZoneResource": ".landing",
    "LLMResource": ".llm",
    "LakehouseResource": ".lakehouse",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(name)
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
