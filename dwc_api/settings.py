"""The service's configuration, from the environment only (docs/api.md lists every variable)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from dwc_resources.lakehouse import dwc_home

from .store import database_url


class ConfigError(RuntimeError):
    """A configuration the service refuses to start with; the message says what to set."""


def _private_file(path: Path, make) -> str:
    """The content of a 0600 file, created with make() on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()


def api_home() -> Path:
    return Path(dwc_home()) / "api"


@dataclass(frozen=True)
class Settings:
    secret: str = field(repr=False)
    database_url: str
    redis_url: str | None
    redis_prefix: str = "dwc_api"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 14 * 24 * 3600
    max_upload_bytes: int = 50 * 1024 * 1024
    self_registration: bool = False
    # Per credential and per client address; login attempts per address (password guessing).
    rate_credential: str = "1200/minute"
    rate_address: str = "2400/minute"
    rate_login: str = "20/minute"
    dagster_url: str = "http://127.0.0.1:3000"
    public_url: str = "http://127.0.0.1:8000"
    ws_queue: int = 256
    demo: bool = False

    @classmethod
    def from_env(cls, demo: bool = False, **overrides) -> Settings:
        env = os.environ.get
        secret = env("DWC_API_SECRET")
        if not secret:
            if not demo:
                raise ConfigError(
                    "DWC_API_SECRET is not set: the service signs its tokens with it and will not start without "
                    "one (generate it with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            secret = _private_file(api_home() / "demo-secret", lambda: secrets.token_urlsafe(48))
        if len(secret) < 32:
            raise ConfigError("DWC_API_SECRET is shorter than 32 characters: use a random secret of 32 or more")
        values = dict(
            secret=secret,
            database_url=database_url(),
            redis_url=env("DWC_API_REDIS_URL") or None,
            redis_prefix=env("DWC_API_REDIS_PREFIX", "dwc_api"),
            access_ttl_s=int(env("DWC_API_ACCESS_TTL", "900")),
            refresh_ttl_s=int(env("DWC_API_REFRESH_TTL", str(14 * 24 * 3600))),
            max_upload_bytes=int(float(env("DWC_API_MAX_UPLOAD_MB", "50")) * 1024 * 1024),
            self_registration=env("DWC_API_SELF_REGISTRATION", "false").lower() in ("1", "true", "yes"),
            rate_credential=env("DWC_API_RATE_CREDENTIAL", cls.rate_credential),
            rate_address=env("DWC_API_RATE_ADDRESS", cls.rate_address),
            rate_login=env("DWC_API_RATE_LOGIN", cls.rate_login),
            dagster_url=env("DWC_DAGSTER_URL", cls.dagster_url),
            public_url=env("DWC_API_PUBLIC_URL", cls.public_url),
            demo=demo,
        )
        values.update(overrides)
        return cls(**values)
