"""Credentials: argon2 password hashes, short-lived access JWTs, revocable refresh tokens and hashed
API keys, and the scopes each role holds."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import store

SCOPES = {
    "documents:read": "read documents, their status, lineage and text",
    "documents:write": "upload documents into the landing zone",
    "search": "search the chunks",
    "runs:read": "read runs, declared objects and the event streams",
    "runs:launch": "launch work through Dagster: training, workflows, automations, tasks, schedules",
    "ml:predict": "predictions from the champion models",
    "recs:read": "recommendations",
    "recs:write": "post interactions and item features",
    "ledger:read": "read anchoring proofs and verify documents",
    "ledger:write": "declare chains, wallets, contracts, NFTs and anchor workflow transactions",
    "quantum": "declare and run quantum circuits and algorithms",
    "iot:read": "read devices, telemetry, anomalies and commands",
    "iot:write": "post telemetry (a device: its own only) and read its commands",
    "iot:command": "send commands to devices",
    "ai:generate": "generate text through the configured LLM",
    "notify:send": "send notifications",
    "metrics:read": "read metrics and service statistics",
    "metrics:write": "post custom counters",
    "keys:self": "manage one's own API keys",
    "admin": "users, everyone's API keys, the audit log and security statistics",
}

_ANALYST = {
    "documents:read",
    "search",
    "runs:read",
    "ml:predict",
    "recs:read",
    "ledger:read",
    "iot:read",
    "metrics:read",
    "keys:self",
}
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "engineer": frozenset(set(SCOPES) - {"admin"}),
    "analyst": frozenset(_ANALYST),
    # A device posts its own telemetry and reads its own commands (the routes check the device id).
    "device": frozenset({"iot:write", "keys:self"}),
}

# Roles whose document text and search snippets are masked, as in the analyst lake.
MASKED_ROLES = frozenset({"analyst", "device"})

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this when the user does not exist keeps a login's timing the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    scopes: frozenset[str]
    credential: str  # "jwt" or "api_key"
    device_id: str | None = None
    key_prefix: str | None = None

    @property
    def masked(self) -> bool:
        return self.role in MASKED_ROLES


class AuthError(Exception):
    """A missing, invalid, expired or revoked credential (401)."""


class Auth:
    def __init__(self, engine: sa.Engine, secret: str, access_ttl_s: int, refresh_ttl_s: int):
        self.engine, self.secret = engine, secret
        self.access_ttl_s, self.refresh_ttl_s = access_ttl_s, refresh_ttl_s

    def create_user(self, username: str, password: str, role: str, device_id: str | None = None) -> dict:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if len(password) < 12:
            raise ValueError("a password needs at least 12 characters")
        with self.engine.begin() as con:
            if con.execute(sa.select(store.users.c.id).where(store.users.c.username == username)).first():
                raise ValueError(f"user {username!r} exists")
            uid = con.execute(
                store.users.insert().values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    device_id=device_id,
                    created_at=time.time(),
                    disabled=False,
                )
            ).inserted_primary_key[0]
        return {"id": uid, "username": username, "role": role, "device_id": device_id}

    def _user(self, con, **where):
        cond = [getattr(store.users.c, k) == v for k, v in where.items()]
        return con.execute(sa.select(store.users).where(*cond)).first()

    def _principal(self, user, credential: str, scopes=None, key_prefix=None) -> Principal:
        role_scopes = ROLES.get(user.role, frozenset())
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            scopes=role_scopes if scopes is None else frozenset(scopes) & role_scopes,
            credential=credential,
            device_id=user.device_id,
            key_prefix=key_prefix,
        )

    def login(self, username: str, password: str) -> tuple[Principal, dict]:
        with self.engine.connect() as con:
            user = self._user(con, username=username)
        if user is None:
            verify_password(_DUMMY_HASH, password)
            raise AuthError("wrong username or password")
        if not verify_password(user.password_hash, password) or user.disabled:
            raise AuthError("wrong username or password")
        principal = self._principal(user, "jwt")
        return principal, self.issue(principal)

    def issue(self, principal: Principal) -> dict:
        now = int(time.time())
        access = jwt.encode(
            {
                "sub": str(principal.user_id),
                "name": principal.username,
                "role": principal.role,
                "iat": now,
                "nbf": now,
                "exp": now + self.access_ttl_s,
                "jti": uuid.uuid4().hex,
                "typ": "access",
            },
            self.secret,
            algorithm="HS256",
        )
        refresh = secrets.token_urlsafe(32)
        with self.engine.begin() as con:
            con.execute(
                store.refresh_tokens.insert().values(
                    token_hash=_digest(refresh),
                    user_id=principal.user_id,
                    issued_at=now,
                    expires_at=now + self.refresh_ttl_s,
                )
            )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.access_ttl_s,
            "role": principal.role,
        }

    def refresh(self, refresh_token: str) -> tuple[Principal, dict]:
        """A new pair for a valid refresh token, which is revoked (rotation: each is good once)."""
        now = time.time()
        with self.engine.begin() as con:
            row = con.execute(
                sa.select(store.refresh_tokens).where(store.refresh_tokens.c.token_hash == _digest(refresh_token))
            ).first()
            if row is None or row.revoked_at is not None or row.expires_at < now:
                raise AuthError("the refresh token is invalid, expired or revoked")
            con.execute(
                store.refresh_tokens.update()
                .where(store.refresh_tokens.c.token_hash == row.token_hash)
                .values(revoked_at=now)
            )
            user = self._user(con, id=row.user_id)
        if user is None or user.disabled:
            raise AuthError("the user is disabled")
        principal = self._principal(user, "jwt")
        return principal, self.issue(principal)

    def logout(self, refresh_token: str) -> bool:
        with self.engine.begin() as con:
            return bool(
                con.execute(
                    store.refresh_tokens.update()
                    .where(
                        store.refresh_tokens.c.token_hash == _digest(refresh_token),
                        store.refresh_tokens.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=time.time())
                ).rowcount
            )

    def from_bearer(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat", "sub", "typ"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the access token has expired: refresh it") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("the access token is invalid") from exc
        if claims.get("typ") != "access":
            raise AuthError("the access token is invalid")
        with self.engine.connect() as con:
            user = self._user(con, id=int(claims["sub"]))
        if user is None or user.disabled:
            raise AuthError("the user of this token no longer exists or is disabled")
        return self._principal(user, "jwt")

    # API keys: "dwc_<prefix>_<secret>"; the prefix finds the row, the SHA-256 of the whole key is
    # compared in constant time (a random 256-bit key needs no slow hash).
    def create_key(self, principal: Principal, name: str, scopes: list[str] | None, expires_at: float | None) -> dict:
        allowed = ROLES[principal.role]
        wanted = set(scopes) if scopes else set(allowed)
        unknown = wanted - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        if not wanted <= allowed:
            raise PermissionError(f"scopes beyond the role {principal.role}: {', '.join(sorted(wanted - allowed))}")
        prefix = secrets.token_hex(4)
        key = f"dwc_{prefix}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as con:
            kid = con.execute(
                store.api_keys.insert().values(
                    prefix=prefix,
                    key_hash=_digest(key),
                    user_id=principal.user_id,
                    name=name,
                    scopes=json.dumps(sorted(wanted)),
                    created_at=time.time(),
                    expires_at=expires_at,
                )
            ).inserted_primary_key[0]
        return {**self.key_info(kid), "key": key}

    def key_info(self, kid: int) -> dict:
        with self.engine.connect() as con:
            row = con.execute(
                sa.select(store.api_keys, store.users.c.username)
                .join(store.users, store.users.c.id == store.api_keys.c.user_id)
                .where(store.api_keys.c.id == kid)
            ).first()
        return _key_row(row) if row else None

    def list_keys(self, user_id: int | None) -> list[dict]:
        q = sa.select(store.api_keys, store.users.c.username).join(
            store.users, store.users.c.id == store.api_keys.c.user_id
        )
        if user_id is not None:
            q = q.where(store.api_keys.c.user_id == user_id)
        with self.engine.connect() as con:
            return [_key_row(r) for r in con.execute(q.order_by(store.api_keys.c.id)).all()]

    def revoke_key(self, kid: int) -> bool:
        with self.engine.begin() as con:
            return bool(
                con.execute(
                    store.api_keys.update()
                    .where(store.api_keys.c.id == kid, store.api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=time.time())
                ).rowcount
            )

    def from_api_key(self, key: str) -> Principal:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "dwc":
            raise AuthError("the API key is invalid")
        with self.engine.connect() as con:
            row = con.execute(sa.select(store.api_keys).where(store.api_keys.c.prefix == parts[1])).first()
            if row is None or not hmac.compare_digest(row.key_hash, _digest(key)):
                raise AuthError("the API key is invalid")
            if row.revoked_at is not None:
                raise AuthError("the API key has been revoked")
            if row.expires_at is not None and row.expires_at < time.time():
                raise AuthError("the API key has expired")
            user = self._user(con, id=row.user_id)
        if user is None or user.disabled:
            raise AuthError("the owner of this API key no longer exists or is disabled")
        return self._principal(user, "api_key", scopes=json.loads(row.scopes), key_prefix=row.prefix)


def _key_row(row) -> dict:
    return {
        "id": row.id,
        "prefix": f"dwc_{row.prefix}",
        "name": row.name,
        "owner": row.username,
        "scopes": json.loads(row.scopes),
        "created_at": store.iso(row.created_at),
        "expires_at": store.iso(row.expires_at),
        "revoked": row.revoked_at is not None,
    }
