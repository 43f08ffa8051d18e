"""Every router of the service."""

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    from . import auth, documents, operations, platform_calls, realtime

    for module in (operations, auth, documents, realtime, platform_calls):
        for router in module.routers():
            app.include_router(router)
