"""SQLite storage for agents: WAL mode, numbered migrations, validation."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
MAX_DESCRIPTION_LENGTH = 1024
BUSY_TIMEOUT_MS = 5000

# Numbered migrations, applied in order. Never edit or renumber an applied migration:
# append a new one instead.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )
        """,
    ),
    (
        2,
        """
        ALTER TABLE agents ADD COLUMN updated_at TEXT;
        UPDATE agents SET updated_at = created_at WHERE updated_at IS NULL;
        CREATE INDEX agents_created_at ON agents (created_at);
        """,
    ),
)


class ValidationError(ValueError):
    """Raised when an agent's fields are invalid."""


class AgentExistsError(Exception):
    """Raised when an agent with the same name already exists."""


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    description: str
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValidationError("name must be 1-64 characters of lowercase letters, digits and '-'")
    return name


def validate_description(description: object) -> str:
    if not isinstance(description, str):
        raise ValidationError("description must be a string")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(f"description must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def _row_to_agent(row: sqlite3.Row) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"] or row["created_at"],
    )


class AgentStore:
    """Agents in a SQLite database. One short-lived connection per operation (thread safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: autocommit; transactions are explicit (BEGIN IMMEDIATE).
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Enable WAL and apply pending migrations in order. Returns the versions applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        applied: list[int] = []
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"could not enable WAL mode on {self.path} (got {mode!r})")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            for version, sql in MIGRATIONS:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    done = conn.execute(
                        "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                    ).fetchone()
                    if done is None:
                        for statement in _split_sql(sql):
                            conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                            (version, _now()),
                        )
                        conn.execute(f"PRAGMA user_version = {int(version)}")
                        applied.append(version)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        return applied

    def schema_versions(self) -> list[int]:
        with self._connect() as conn:
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        return [int(row[0]) for row in rows]

    def ping(self) -> bool:
        """True when the database answers ``SELECT 1``."""
        try:
            with self._connect() as conn:
                return bool(conn.execute("SELECT 1").fetchone()[0] == 1)
        except sqlite3.Error:
            return False

    # -- agents -------------------------------------------------------------------------------

    def list_agents(self, limit: int | None = None, after: int = 0) -> list[Agent]:
        """Agents by id, those after ``after`` only, at most ``limit`` of them."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM agents WHERE id > ? ORDER BY id LIMIT ?",
                (after, -1 if limit is None else limit),
            ).fetchall()
        return [_row_to_agent(row) for row in rows]

    def count_agents(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM agents").fetchone()[0])

    def get_agent(self, agent_id: int) -> Agent | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return None if row is None else _row_to_agent(row)

    def create_agent(self, name: object, description: object = "") -> Agent:
        name = validate_name(name)
        description = validate_description(description)
        now = _now()
        try:
            with self._transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO agents (name, description, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (name, description, now, now),
                )
                agent_id = cur.lastrowid
        except sqlite3.IntegrityError as exc:
            raise AgentExistsError(f"an agent named {name!r} already exists") from exc
        assert agent_id is not None
        return Agent(agent_id, name, description, now, now)

    def update_agent(self, agent_id: int, description: object) -> Agent | None:
        description = validate_description(description)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE agents SET description = ?, updated_at = ? WHERE id = ?",
                (description, _now(), agent_id),
            )
            row = conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return None if row is None else _row_to_agent(row)

    def delete_agent(self, agent_id: int) -> bool:
        with self._transaction() as conn:
            cur = conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
            return cur.rowcount > 0


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (migrations contain no ';' in literals)."""
    return [part.strip() for part in script.split(";") if part.strip()]
