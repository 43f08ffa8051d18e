"""The FastAPI application: create_app(settings) wires the store, credentials, rate limits, audit,
metrics, problem details and every router."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from . import problems, store
from .deps import Service, client_address
from .ratelimit import RateLimits
from .security import Auth
from .settings import ConfigError, Settings

log = logging.getLogger("dwc_api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_DENIED = {401, 403, 413, 429}
_AUTH_EVENTS = {
    "/api/v3/security/auth/login",
    "/api/v3/security/auth/refresh",
    "/api/v3/security/auth/logout",
    "/api/v3/auth/register",
}


def build_service(settings: Settings) -> Service:
    engine = store.engine_for(settings.database_url)
    if settings.database_url.startswith("sqlite:"):
        store.migrate(engine)  # the embedded store creates itself; PostgreSQL waits for `dwc api migrate`
    missing = store.missing_tables(engine)
    if missing:
        raise ConfigError(f"the API store lacks the tables {', '.join(missing)}: run `dwc api migrate`")
    from .events import Hub
    from .platform import Platform

    return Service(
        settings=settings,
        engine=engine,
        auth=Auth(engine, settings.secret, settings.access_ttl_s, settings.refresh_ttl_s),
        limits=RateLimits(
            settings.redis_url,
            settings.rate_credential,
            settings.rate_address,
            settings.rate_login,
            settings.redis_prefix,
        ),
        hub=Hub(settings.ws_queue),
        platform=Platform(settings),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    svc = build_service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await svc.hub.start(svc)
        yield
        await svc.hub.stop()
        svc.engine.dispose()

    app = FastAPI(
        title="DWC /api/v3",
        version="3.0.0",
        description="Authenticated REST and real-time access to the Document Workflow Chain platform (docs/api.md).",
        lifespan=lifespan,
        responses={k: v for k, v in problems.PROBLEM_RESPONSES.items() if k in (401, 403, 422, 429)},
    )
    app.state.service = svc
    problems.install(app)

    from .metrics import observe

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        rid = request.headers.get("x-request-id", "")
        request.state.request_id = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        response.headers["X-Request-ID"] = request.state.request_id
        for k, v in (getattr(request.state, "rate_headers", None) or {}).items():
            response.headers.setdefault(k, v)
        observe(request.method, template, response.status_code, elapsed)
        if _audited(request, template, response.status_code):
            principal = getattr(request.state, "principal", None)
            await run_in_threadpool(
                svc.audit,
                request_id=request.state.request_id,
                actor=principal.username if principal else getattr(request.state, "actor", None),
                role=principal.role if principal else None,
                credential=principal.credential if principal else None,
                method=request.method,
                route=template,
                status=response.status_code,
                outcome=_outcome(response.status_code),
                client=client_address(request),
                detail=getattr(request.state, "audit_detail", None),
            )
        return response

    from .routes import register

    register(app)
    return app


def _audited(request: Request, template: str, status: int) -> bool:
    if template in _AUTH_EVENTS:
        return True
    return request.method not in _READ_METHODS or status in _DENIED


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 403: "forbidden", 429: "rate_limited", 413: "too_large"}.get(
        status, "client_error" if status < 500 else "server_error"
    )
