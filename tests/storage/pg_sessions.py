"""What the PostgreSQL storage tests do to the server's sessions (imported by name, as the fault
suite imports its kit)."""

from __future__ import annotations

import psycopg


def drop_connections(url: str) -> int:
    """Terminate every server session on ``url``'s database but the caller's; their number."""
    base, _, db = url.rpartition("/")
    dsn = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (db,),
        ).fetchall()
    return len(rows)
