"""The factory uvicorn imports in every worker (`dwc api serve`)."""

import os


def app():
    from .app import create_app
    from .settings import Settings

    return create_app(Settings.from_env(demo=os.environ.get("DWC_API_DEMO") == "1"))
