"""One module per external system, each a dg.ConfigurableResource (plain helpers beside them)."""

from .ai import AIResource, LocalAIResource
from .blobs import BlobStoreResource
from .landing import LandingZoneResource
from .llm import LLMResource
from .warehouse import WarehouseResource

__all__ = ["AIResource", "BlobStoreResource", "LandingZoneResource", "LLMResource", "LocalAIResource", "WarehouseResource"]
