"""What every route shares: the service object, the caller (credential, scopes, rate limit) and the
audit trail."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from . import store
from .problems import Problem
from .ratelimit import RateLimits
from .security import Auth, AuthError, Principal
from .settings import Settings


@dataclass
class Service:
    settings: Settings
    engine: sa.Engine
    auth: Auth
    limits: RateLimits
    hub: object = None
    platform: object = None
    started_at: float = field(default_factory=time.time)

    def objects(self, kind: str) -> store.Objects:
        return store.Objects(self.engine, kind)

    def audit(self, **row) -> None:
        detail = row.pop("detail", None)
        with self.engine.begin() as con:
            con.execute(
                store.audit_log.insert().values(
                    at=time.time(), detail=json.dumps(detail, default=str) if detail else None, **row
                )
            )


def service(request: Request) -> Service:
    return request.app.state.service


_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v3/security/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (dwc_<prefix>_<secret>)")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(svc: Service, request: Request, kind: str, who: str) -> None:
    allowed, headers = svc.limits.hit(kind, who)
    request.state.rate_headers = headers
    if not allowed:
        raise Problem(429, "rate_limited", f"too many requests for this {kind}: retry later", headers=headers)


def caller(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    api_key: str | None = Depends(_api_key),
) -> Principal:
    """The authenticated caller, rate-limited per address and per credential (401 without one)."""
    svc = service(request)
    _limit(svc, request, "address", client_address(request))
    try:
        if api_key:
            principal = svc.auth.from_api_key(api_key)
        elif bearer and bearer.scheme.lower() == "bearer":
            principal = svc.auth.from_bearer(bearer.credentials)
        else:
            raise AuthError("no credential: send Authorization: Bearer <token> or X-API-Key")
    except AuthError as exc:
        raise Problem(401, "unauthenticated", str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    request.state.principal = principal
    _limit(svc, request, "credential", f"{principal.credential}:{principal.key_prefix or principal.user_id}")
    return principal


def require(scope: str):
    """A dependency that admits callers holding `scope` (403 otherwise)."""

    def check(principal: Principal = Depends(caller)) -> Principal:
        if scope not in principal.scopes:
            raise Problem(403, "forbidden", f"the role {principal.role} (or this API key) lacks the scope {scope!r}")
        return principal

    check.scope = scope
    return check


def login_limited(request: Request) -> None:
    svc = service(request)
    _limit(svc, request, "login", client_address(request))
