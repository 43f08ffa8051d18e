"""Login, refresh, logout, registration, users and API keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .. import store
from ..deps import caller, login_limited, require, service
from ..problems import Problem
from ..security import ROLES, AuthError, Principal


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class Registration(BaseModel):
    username: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=12, max_length=1024)
    role: str = Field(default="analyst", pattern="^(admin|engineer|analyst|device)$")
    device_id: str | None = Field(default=None, max_length=128)


class User(BaseModel):
    id: int
    username: str
    role: str
    device_id: str | None = None


class Me(User):
    scopes: list[str]
    credential: str


class KeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] | None = Field(default=None, description="default: every scope of the caller's role")
    expires_at: datetime | None = None


class KeyInfo(BaseModel):
    id: int
    prefix: str
    name: str
    owner: str
    scopes: list[str]
    created_at: str | None
    expires_at: str | None
    revoked: bool


class NewKey(KeyInfo):
    key: str = Field(description="shown once: only its hash is stored")


class Done(BaseModel):
    ok: bool = True


def routers():
    r = APIRouter(prefix="/api/v3", tags=["security"])

    @r.post("/security/auth/login", response_model=Tokens, dependencies=[Depends(login_limited)])
    async def login(body: Login, request: Request):
        """Username and password for a short-lived access token and a refresh token."""
        svc = service(request)
        request.state.actor = body.username
        try:
            principal, tokens = await run_in_threadpool(svc.auth.login, body.username, body.password)
        except AuthError as exc:
            raise Problem(401, "unauthenticated", str(exc)) from exc
        request.state.principal = principal
        return tokens

    @r.post("/security/auth/refresh", response_model=Tokens, dependencies=[Depends(login_limited)])
    async def refresh(body: RefreshBody, request: Request):
        """A new token pair; the refresh token sent is revoked (each is good once)."""
        try:
            principal, tokens = await run_in_threadpool(service(request).auth.refresh, body.refresh_token)
        except AuthError as exc:
            raise Problem(401, "unauthenticated", str(exc)) from exc
        request.state.principal = principal
        return tokens

    @r.post("/security/auth/logout", response_model=Done)
    async def logout(body: RefreshBody, request: Request, principal: Principal = Depends(caller)):
        """Revoke a refresh token."""
        return {"ok": await run_in_threadpool(service(request).auth.logout, body.refresh_token)}

    @r.get("/security/auth/me", response_model=Me)
    async def me(principal: Principal = Depends(caller)):
        return {
            "id": principal.user_id,
            "username": principal.username,
            "role": principal.role,
            "device_id": principal.device_id,
            "scopes": sorted(principal.scopes),
            "credential": principal.credential,
        }

    @r.post("/auth/register", response_model=User, status_code=201)
    async def register(body: Registration, request: Request):
        """Create a user: admins always; anyone else only when self-registration is on (as an analyst)."""
        svc = service(request)
        principal = None
        if request.headers.get("authorization") or request.headers.get("x-api-key"):
            principal = caller(request, _bearer_of(request), request.headers.get("x-api-key"))
        is_admin = principal is not None and "admin" in principal.scopes
        if not is_admin:
            if not svc.settings.self_registration:
                raise Problem(403, "forbidden", "self-registration is off: an admin creates users")
            if body.role != "analyst":
                raise Problem(403, "forbidden", "self-registered users are analysts; an admin grants other roles")
        request.state.actor = body.username
        try:
            return await run_in_threadpool(
                svc.auth.create_user, body.username, body.password, body.role, body.device_id
            )
        except ValueError as exc:
            raise Problem(
                409 if "exists" in str(exc) else 422,
                "conflict" if "exists" in str(exc) else "invalid_request",
                str(exc),
            ) from exc

    @r.get("/security/users", response_model=list[User])
    async def users(request: Request, principal: Principal = Depends(require("admin"))):
        with service(request).engine.connect() as con:
            rows = con.execute(sa.select(store.users).order_by(store.users.c.id)).all()
        return [{"id": u.id, "username": u.username, "role": u.role, "device_id": u.device_id} for u in rows]

    @r.post("/security/api-keys", response_model=NewKey, status_code=201)
    async def create_key(body: KeyRequest, request: Request, principal: Principal = Depends(require("keys:self"))):
        """A new API key with the given scopes (within the caller's role); the key is shown once."""
        expires = body.expires_at.timestamp() if body.expires_at else None
        try:
            return await run_in_threadpool(service(request).auth.create_key, principal, body.name, body.scopes, expires)
        except ValueError as exc:
            raise Problem(422, "invalid_request", str(exc)) from exc
        except PermissionError as exc:
            raise Problem(403, "forbidden", str(exc)) from exc

    @r.get("/security/api-keys", response_model=list[KeyInfo])
    async def list_keys(request: Request, principal: Principal = Depends(require("keys:self"))):
        """The caller's keys (an admin's: everyone's), by prefix only."""
        owner = None if "admin" in principal.scopes else principal.user_id
        return await run_in_threadpool(service(request).auth.list_keys, owner)

    def _own_key(request: Request, principal: Principal, key_id: int) -> dict:
        info = service(request).auth.key_info(key_id)
        if info is None or ("admin" not in principal.scopes and info["owner"] != principal.username):
            raise Problem(404, "not_found", f"no API key {key_id}")
        return info

    @r.delete("/security/api-keys/{key_id}", response_model=Done)
    async def revoke_key(key_id: int, request: Request, principal: Principal = Depends(require("keys:self"))):
        _own_key(request, principal, key_id)
        return {"ok": service(request).auth.revoke_key(key_id)}

    @r.post("/security/api-keys/{key_id}/rotate", response_model=NewKey, status_code=201)
    async def rotate_key(key_id: int, request: Request, principal: Principal = Depends(require("keys:self"))):
        """Revoke a key and issue a new one with the same name, scopes and expiry."""
        info = _own_key(request, principal, key_id)
        if info["revoked"]:
            raise Problem(409, "conflict", f"API key {key_id} is revoked already")
        svc = service(request)
        with svc.engine.connect() as con:
            row = con.execute(sa.select(store.api_keys.c.expires_at).where(store.api_keys.c.id == key_id)).first()
        owner = principal
        if info["owner"] != principal.username:  # an admin rotating someone else's key keeps its owner
            with svc.engine.connect() as con:
                user = con.execute(sa.select(store.users).where(store.users.c.username == info["owner"])).first()
            owner = svc.auth._principal(user, "jwt")
        new = svc.auth.create_key(owner, info["name"], info["scopes"], row.expires_at)
        svc.auth.revoke_key(key_id)
        return new

    @r.get("/security/roles")
    async def roles(principal: Principal = Depends(caller)) -> dict[str, list[str]]:
        """Each role's scopes."""
        return {role: sorted(scopes) for role, scopes in ROLES.items()}

    return [r]


def _bearer_of(request: Request):
    from fastapi.security import HTTPAuthorizationCredentials

    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
