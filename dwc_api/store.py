"""The service's own transactional store: users, API keys, refresh tokens, the audit log and the
objects that callers declare (ML models, blockchains, schedules...). SQLite under DWC_HOME by default,
PostgreSQL in production (its own database), chosen by DWC_API_DATABASE_URL only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(128), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("device_id", sa.String(128)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("role", sa.String(32)),
    sa.Column("credential", sa.String(16)),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(256), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("client", sa.String(64)),
    sa.Column("detail", sa.Text),
)

# What callers declare through the API (an ML model, a blockchain, a cron schedule...): a kind, the
# body as sent and a state the platform fills in. The public id is "<kind>_<seq>" (ml_model_1).
objects = sa.Table(
    "objects",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("owner", sa.String(128)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)

# Documents uploaded through the API, until (and after) ingestion gives them a row in the lake.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("doc_id", sa.String(64), primary_key=True),
    sa.Column("source_path", sa.String(1024), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("uploaded_by", sa.String(128)),
    sa.Column("uploaded_at", sa.Float, nullable=False),
)

# Interactions posted through the API: they land as event files for the recs assets, and are kept
# here too so that recommendations fold them in at once (before the next load).
interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("item_id", sa.String(256), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("category", sa.String(64), primary_key=True),
    sa.Column("metric_type", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def database_url() -> str:
    """The store of this environment: DWC_API_DATABASE_URL, else SQLite under DWC_HOME."""
    import os

    from dwc_resources.lakehouse import dwc_home

    return os.environ.get("DWC_API_DATABASE_URL") or f"sqlite:///{Path(dwc_home()) / 'api' / 'api.db'}"


def new_audit_rows(url: str, after_id: int, limit: int = 100_000) -> list[tuple]:
    """Audit rows with an id above `after_id` (what the ops mart has not loaded yet); none when the
    store was never created (the API never ran)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    engine = engine_for(url)
    try:
        if "audit_log" not in sa.inspect(engine).get_table_names():
            return []
        cols = [c for c in audit_log.c if c.name != "detail"]
        with engine.connect() as con:
            return [
                tuple(r)
                for r in con.execute(
                    sa.select(*cols).where(audit_log.c.id > after_id).order_by(audit_log.c.id).limit(limit)
                ).all()
            ]
    finally:
        engine.dispose()


def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_con, _):
            # Several uvicorn workers write the audit log at once: WAL lets readers go on meanwhile.
            dbapi_con.execute("PRAGMA journal_mode=WAL")
            dbapi_con.execute("PRAGMA synchronous=NORMAL")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: sa.Engine) -> list[str]:
    """Create the tables that are missing; returns their names (idempotent)."""
    existing = set(sa.inspect(engine).get_table_names())
    metadata.create_all(engine)
    return [t for t in metadata.tables if t not in existing]


def missing_tables(engine: sa.Engine) -> list[str]:
    existing = set(sa.inspect(engine).get_table_names())
    return [t for t in metadata.tables if t not in existing]


def public_id(kind: str, seq: int) -> str:
    return f"{kind}_{seq}"


def parse_id(kind: str, ident: str) -> int | None:
    prefix = f"{kind}_"
    if not ident.startswith(prefix) or not ident[len(prefix) :].isdigit():
        return None
    return int(ident[len(prefix) :])


class Objects:
    """The declared objects of one kind."""

    def __init__(self, engine: sa.Engine, kind: str):
        self.engine, self.kind = engine, kind

    def create(self, body: dict, owner: str | None, state: dict | None = None) -> dict:
        now = time.time()
        with self.engine.begin() as con:
            seq = con.execute(
                objects.insert().values(
                    kind=self.kind,
                    owner=owner,
                    created_at=now,
                    updated_at=now,
                    body=json.dumps(body, default=str),
                    state=json.dumps(state or {}, default=str),
                )
            ).inserted_primary_key[0]
        return self.get(public_id(self.kind, seq))

    def get(self, ident: str) -> dict | None:
        seq = parse_id(self.kind, ident)
        if seq is None:
            return None
        with self.engine.connect() as con:
            row = con.execute(sa.select(objects).where(objects.c.seq == seq, objects.c.kind == self.kind)).first()
        return _object(row) if row else None

    def update_state(self, ident: str, **changes) -> dict:
        seq = parse_id(self.kind, ident)
        with self.engine.begin() as con:
            row = con.execute(sa.select(objects.c.state).where(objects.c.seq == seq)).first()
            state = {**json.loads(row.state), **changes}
            con.execute(
                objects.update()
                .where(objects.c.seq == seq)
                .values(state=json.dumps(state, default=str), updated_at=time.time())
            )
        return self.get(ident)

    def list(self, limit: int = 100) -> list[dict]:
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(objects).where(objects.c.kind == self.kind).order_by(objects.c.seq.desc()).limit(limit)
            ).all()
        return [_object(r) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as con:
            return con.execute(
                sa.select(sa.func.count()).select_from(objects).where(objects.c.kind == self.kind)
            ).scalar_one()


def _object(row) -> dict:
    return {
        "id": public_id(row.kind, row.seq),
        "kind": row.kind,
        "owner": row.owner,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        **json.loads(row.body),
        **json.loads(row.state),
    }


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
