import json
import os
import pickle
import time

import dagster as dg
from pydantic import Field

from .lakehouse import dwc_home


class ModelStoreResource(dg.ConfigurableResource):
    """Fitted models that assets hand to each other (recommenders, for fold-in without
    retraining): one pickle per model, replaced atomically, with the version that made it.
    Only the platform writes and reads these files."""

    path: str = Field(description="Folder of the model files")

    @classmethod
    def local(cls) -> "ModelStoreResource":
        return cls(path=os.path.join(dwc_home(), "models"))

    def save(self, name: str, obj, version: str, **meta) -> str:
        os.makedirs(self.path, exist_ok=True)
        target = os.path.join(self.path, f"{name}.pkl")
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(
                {"version": version, "saved_at": time.time(), "meta": meta, "model": obj},
                fh,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        os.replace(tmp, target)
        return target

    def load(self, name: str):
        """(model, version), or (None, None) when it was never saved."""
        target = os.path.join(self.path, f"{name}.pkl")
        if not os.path.exists(target):
            return None, None
        with open(target, "rb") as fh:
            stored = pickle.load(fh)
        return stored["model"], stored["version"]

    def describe(self) -> str:
        return json.dumps(sorted(os.listdir(self.path)) if os.path.isdir(self.path) else [])
