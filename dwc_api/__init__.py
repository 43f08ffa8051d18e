"""The /api/v3 service: an authenticated REST and real-time layer over the platform (docs/api.md).

It launches work through the Dagster instance and reads what assets materialized; users, API keys and
the audit log live in its own transactional store (store.py)."""
