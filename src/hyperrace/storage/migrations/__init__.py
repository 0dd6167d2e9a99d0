"""Alembic migrations of the hyperrace schema (run through :func:`hyperrace.storage.upgrade`)."""
