"""Every router of the service."""

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    from . import auth, documents, iot, ledger, ml, operations, quantum, realtime, recs, tasks, workflows

    for module in (operations, auth, documents, realtime, workflows, ml, recs, ledger, quantum, tasks, iot):
        for router in module.routers():
            app.include_router(router)
