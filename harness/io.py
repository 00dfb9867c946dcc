"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

A reader never sees a truncated file: either the old content or the complete new one.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    with held_temp(path) as tmp:
        try:
            with open(tmp, "xb" if binary else "x", encoding=None if binary else encoding) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                from selfsynth.errors import UserError

                raise UserError(f"{path}: no space left on device while writing it (the previous version, if any, is intact); free space and re-run") from None
            raise


# Temp names carry the writer's host and pid (for people reading a folder) and a random part; the
# writer's liveness is the lock it holds on ``<temp>.lock`` for as long as the temp exists, never
# its pid: a pid means nothing on another node of a cluster sharing the folder. flock on NFS is
# carried by POSIX byte-range locks (Linux >= 2.6.12), so a writer on another node is seen as live.
_TEMP_NAME = re.compile(r"^\..+\.(?:[A-Za-z0-9_-]+-\d+-[0-9a-f]{8}\.tmp|(?:tmp|old)-[A-Za-z0-9_-]+-\d+-[0-9a-f]{8})$")
LOCK_SUFFIX = ".lock"


def writer_tag() -> str:
    """``<host>-<pid>`` of this process, as it appears in its temp names."""
    import socket

    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"
    return f"{host}-{os.getpid()}"


def temp_name(path: str | os.PathLike, kind: str = "") -> Path:
    """A fresh temp path beside ``path``: ``.<name>.<host>-<pid>-<random>.tmp`` for a file, or
    ``.<name>.<kind>-<host>-<pid>-<random>`` (kind ``tmp`` or ``old``) for a folder."""
    import secrets

    path = Path(path)
    unique = f"{writer_tag()}-{secrets.token_hex(4)}"
    return path.parent / (f".{path.name}.{kind}-{unique}" if kind else f".{path.name}.{unique}.tmp")


@contextlib.contextmanager
def held_temp(path: str | os.PathLike, kind: str = "") -> Iterator[Path]:
    """A fresh temp path beside ``path`` (see ``temp_name``) whose lock is held while the block
    runs; the caller creates and removes the temp itself. The lock is taken before the temp
    exists, so ``remove_stale_temps`` never sees an unlocked temp of a live writer."""
    import fcntl

    tmp = temp_name(path, kind)
    lock = Path(f"{tmp}{LOCK_SUFFIX}")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)  # closing drops the lock; a killed writer's is dropped by the OS


def _lock_free(lock: Path) -> bool:
    """True when no process holds ``lock`` (or it is gone): its writer ended or was killed."""
    import fcntl

    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also releases the probe's lock when it got one
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files of ``atomic_open`` and temp folders of ``selfsynth.models.atomic_dir``
    under ``folder`` whose writer no longer holds their lock (killed mid-write), on any host; a live
    writer's are kept. Returns what was removed."""
    import shutil

    removed = []
    for path in sorted(Path(folder).rglob(".*")):
        orphan_lock = path.name.endswith(LOCK_SUFFIX) and _TEMP_NAME.match(path.name[: -len(LOCK_SUFFIX)])
        if orphan_lock and not path.with_name(path.name[: -len(LOCK_SUFFIX)]).exists():
            if _lock_free(path):  # a writer that ended between its rename and its unlock, or a kill
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            continue
        if _TEMP_NAME.match(path.name) is None:
            continue
        lock = Path(f"{path}{LOCK_SUFFIX}")
        if not _lock_free(lock):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        removed.append(path)
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    count = 0
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
            count += 1
    return count


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, row) of each non-blank line of a JSON-lines file, streamed; a line that is
    not JSON is a user error naming file and line."""
    from selfsynth.errors import UserError

    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(_decoded_lines(handle, path), 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{lineno}: not valid JSON ({exc.msg}); expected one JSON object per line") from None


def _decoded_lines(handle, path) -> Iterator[str]:
    from selfsynth.errors import UserError

    try:
        yield from handle
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; expected one JSON object per line") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Rows of a JSON-lines file; a line that is not JSON is a user error naming file and line."""
    return [row for _, row in iter_jsonl(path)]


def read_mapping(path: str | os.PathLike, what: str, flag: str = "") -> dict[str, Any]:
    """The object at the top of a JSON file (``.json``) or YAML file (any other suffix); a missing
    file, a syntax error or another top-level type is a user error naming the file and ``what`` it
    should hold (and the ``flag`` that named the file). An empty YAML file is an empty mapping."""
    import yaml

    from selfsynth.errors import UserError

    path = Path(path)
    where = f"{flag} {path}" if flag else str(path)
    if not path.is_file():
        raise UserError(f"{where}: not found (expected {what})")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}); expected {what}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{where}: invalid YAML{at}; expected {what}") from None
    if data is None and path.suffix != ".json":
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected {what}, got {type(data).__name__}")
    return data


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths show up in records; keep them JSON-native
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
