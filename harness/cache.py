"""Persistent response cache shared by generation and judge calls.

SQLite in WAL mode, safe across processes. The key is a hash of everything that can change a
response: the model (or judge) fingerprint, the canonical inputs, the generation arguments and,
for sampled outputs, the seed. Changing any of them is a miss.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def make_key(fingerprint: str, inputs: Any, gen_args: dict | None = None, seed: int | None = None) -> str:
    """Cache key: sha256 over (fingerprint, canonical inputs, generation args, seed)."""
    payload = canonical_json({"fingerprint": fingerprint, "inputs": inputs, "gen_args": gen_args or {}, "seed": seed})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def wal_connection(local: threading.local, path: Path) -> sqlite3.Connection:
    """This thread's autocommit connection to ``path`` in WAL mode (opened on first use)."""
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        local.conn = conn
    return conn


class ResponseCache:
    """Key → JSON value. ``hits``/``misses`` count lookups made through this object."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        conn = self._conn()
        conn.execute(SCHEMA)
        conn.commit()

    def _conn(self) -> sqlite3.Connection:
        return wal_connection(self._local, self.path)

    def get(self, key: str) -> Any | None:
        row = self._conn().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        found: dict[str, Any] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in conn.execute(f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put(self, key: str, value: Any, namespace: str = "generation") -> None:
        self.put_many({key: value}, namespace)

    def put_many(self, items: dict[str, Any], namespace: str = "generation") -> None:
        if not items:
            return
        now = time.time()
        rows = [(key, namespace, canonical_json(value), now) for key, value in items.items()]
        conn = self._conn()
        for attempt in range(20):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if "locked" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
