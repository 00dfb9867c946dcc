"""Persistent caches: ``KVStore`` (SQLite, safe across processes and, on a network file system,
across the nodes of a cluster) and the response cache on it, shared by generation, judge and concept calls; the embedding cache (``selfsynth.embed``)
stands on the same store.

A response key is a hash of everything that can change a response: the model (or judge)
fingerprint, the canonical inputs, the generation arguments and, for sampled outputs, the seed.
Changing any of them is a miss.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator


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


# SQLite's WAL mode keeps its index in shared memory, which processes on different hosts do not
# share: on these file systems (the run store of a cluster) the cache uses the rollback journal,
# whose file locks NFS (v4, or v3 with lockd), Lustre, GPFS and BeeGFS carry between nodes.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs", "fuse.glusterfs",
    "fuse.sshfs", "fuse.cephfs", "9p", "afs", "orangefs", "pvfs2", "panfs", "wekafs", "virtiofs",
})


def filesystem_type(path: str | Path, mounts: str | None = None) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts, or ``mounts`` in that
    format); "" where it cannot be told (not Linux)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return ""
    target = Path(path).resolve()
    best, kind = -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (target == point or point in target.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def journal_mode(path: str | Path, mounts: str | None = None) -> str:
    """WAL on a local disk (readers never wait for the writer), DELETE on a network file system."""
    return "DELETE" if filesystem_type(Path(path).parent, mounts) in NETWORK_FILESYSTEMS else "WAL"


class KVStore:
    """One SQLite table of key → value (text or bytes), the store under every persistent cache.

    ``journal_mode`` of its folder, one autocommit connection per thread, writes batched in one
    transaction and retried while another process holds the write lock."""

    WRITE_ATTEMPTS = 20

    def __init__(self, path: str | Path, table: str):
        if not table.isidentifier():
            raise ValueError(f"table name {table!r} is not an identifier")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.journal = journal_mode(self.path)
        self._local = threading.local()
        self._conn().execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, namespace TEXT NOT NULL, value NOT NULL, created REAL NOT NULL)"
        )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute(f"PRAGMA journal_mode={self.journal}")
            # NORMAL is durable in WAL mode only; the rollback journal needs FULL
            conn.execute(f"PRAGMA synchronous={'NORMAL' if self.journal == 'WAL' else 'FULL'}")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        found: dict[str, Any] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(f"SELECT key, value FROM {self.table} WHERE key IN ({marks})", chunk))
        return found

    def put_many(self, items: dict[str, Any], namespace: str) -> None:
        if not items:
            return
        now = time.time()
        rows = [(key, namespace, value, now) for key, value in items.items()]
        conn = self._conn()
        for attempt in range(self.WRITE_ATTEMPTS):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if "locked" not in str(exc) or attempt == self.WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def __len__(self) -> int:
        return self._conn().execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class ResponseCache:
    """Key → JSON value (generations, judge results, concept answers). ``hits``/``misses`` count
    lookups made through this object."""

    def __init__(self, path: str | Path):
        self.store = KVStore(path, "responses")
        self.path = self.store.path
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        found = {key: json.loads(value) for key, value in self.store.get_many(keys).items()}
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def recheck(self, keys: Iterable[str]) -> dict[str, Any]:
        """``get_many`` for keys that missed a moment ago (looked up again inside ``computing``):
        a key found now moves from the misses to the hits; one still missing is not counted twice."""
        keys = list(keys)
        found = {key: json.loads(value) for key, value in self.store.get_many(keys).items()}
        self.hits += len(found)
        self.misses -= len(found)
        return found

    def put(self, key: str, value: Any, namespace: str = "generation") -> None:
        self.put_many({key: value}, namespace)

    def put_many(self, items: dict[str, Any], namespace: str = "generation") -> None:
        self.store.put_many({key: canonical_json(value) for key, value in items.items()}, namespace)

    @contextlib.contextmanager
    def computing(self, keys: Iterable[str]) -> Iterator[None]:
        """Held while this process computes the values of ``keys`` (a set: order and repeats do
        not matter): another process about to compute the same set waits, then finds them cached
        (callers look the keys up again inside). Parallel lanes thus score or judge the answers
        they share once (the base model's, at iteration 0) instead of each paying for them.
        Sets that differ never wait for each other. The lock files lie beside the cache file."""
        from filelock import FileLock

        digest = hashlib.sha256("\n".join(sorted(set(keys))).encode("utf-8")).hexdigest()[:32]
        folder = self.path.with_name(self.path.name + ".locks")
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / f"{digest}.lock")):
            yield

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()
