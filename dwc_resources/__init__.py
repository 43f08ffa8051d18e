"""One module per external system, each a dg.ConfigurableResource (plain helpers beside them)."""

from .blobs import BlobStoreResource
from .landing import LandingZoneResource
from .warehouse import WarehouseResource

__all__ = ["BlobStoreResource", "LandingZoneResource", "WarehouseResource"]
