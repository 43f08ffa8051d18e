"""`dwc api`: serve the service, create users, migrate its store."""

from __future__ import annotations

import getpass
import os
import secrets
import sys

from .settings import ConfigError, Settings, _private_file, api_home


def register(sub) -> None:
    p = sub.add_parser("api", help="the /api/v3 service: serve, create-user, migrate")
    api_sub = p.add_subparsers(dest="api_command", required=True)
    s = api_sub.add_parser("serve", help="serve the API with uvicorn")
    s.add_argument("--host", default=os.environ.get("DWC_API_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("DWC_API_PORT", "8000")))
    s.add_argument("--workers", type=int, default=int(os.environ.get("DWC_API_WORKERS", "1")))
    s.add_argument(
        "--demo",
        action="store_true",
        help="without DWC_API_SECRET: a random signing key in a 0600 file under DWC_HOME, and a first admin "
        "whose random password is written beside it and printed once",
    )
    s.set_defaults(func=cmd_serve)
    u = api_sub.add_parser("create-user", help="create a user (the first admin: --role admin)")
    u.add_argument("username")
    u.add_argument("--role", default="analyst", choices=["admin", "engineer", "analyst", "device"])
    u.add_argument("--device-id", help="the device a `device` user posts telemetry for")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else prompt)")
    u.set_defaults(func=cmd_create_user)
    m = api_sub.add_parser("migrate", help="create the service's tables in DWC_API_DATABASE_URL (idempotent)")
    m.set_defaults(func=cmd_migrate)


def _settings(demo: bool = False) -> Settings | None:
    try:
        return Settings.from_env(demo=demo)
    except ConfigError as exc:
        print(f"dwc api: {exc}", file=sys.stderr)
        return None


def cmd_migrate(args) -> int:
    from . import store

    settings = _settings(demo=not os.environ.get("DWC_API_SECRET"))
    if settings is None:
        return 1
    created = store.migrate(store.engine_for(settings.database_url))
    print(
        f"API store {settings.database_url.split('@')[-1]}: "
        + (f"created {', '.join(created)}" if created else "up to date")
    )
    return 0


def cmd_create_user(args) -> int:
    from . import store
    from .security import Auth

    settings = _settings(demo=not os.environ.get("DWC_API_SECRET"))
    if settings is None:
        return 1
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    engine = store.engine_for(settings.database_url)
    store.migrate(engine) if settings.database_url.startswith("sqlite:") else None
    try:
        user = Auth(engine, settings.secret, 60, 60).create_user(args.username, password, args.role, args.device_id)
    except ValueError as exc:
        print(f"dwc api create-user: {exc}", file=sys.stderr)
        return 1
    print(f"created {user['role']} {user['username']} (id {user['id']})")
    return 0


def ensure_demo_admin(settings: Settings) -> str | None:
    """The demo's first admin: a random password in a 0600 file under DWC_HOME, created once."""
    from . import store
    from .security import Auth

    engine = store.engine_for(settings.database_url)
    store.migrate(engine)
    path = api_home() / "admin-password"
    fresh = not path.exists()
    password = _private_file(path, lambda: secrets.token_urlsafe(18))
    auth = Auth(engine, settings.secret, 60, 60)
    try:
        auth.create_user("admin", password, "admin")
    except ValueError:
        pass  # exists from an earlier demo
    engine.dispose()
    return password if fresh else None


def cmd_serve(args) -> int:
    import uvicorn

    settings = _settings(demo=args.demo)
    if settings is None:
        return 1
    if args.demo:
        os.environ["DWC_API_DEMO"] = "1"
        password = ensure_demo_admin(settings)
        where = api_home() / "admin-password"
        if password:
            print(f"demo admin: user admin, password {password} (also in {where}, mode 0600; shown this once)")
        else:
            print(f"demo admin: user admin, password in {where}")
    print(f"DWC API on http://{args.host}:{args.port} (docs at /docs, OpenAPI at /openapi.json)")
    uvicorn.run(
        "dwc_api.server:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=os.environ.get("DWC_API_LOG_LEVEL", "warning"),
    )
    return 0
