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


# -- reading user files ---------------------------------------------------------------------------
# Every file a user hands us goes through ``read_user_text`` (or ``iter_jsonl``/``open_user_image``):
# a missing file, binary junk, a file far too large, bytes that are not UTF-8 or the wrong top-level
# type are one UserError line naming the file and what it should hold, never a traceback.
MAX_TEXT_BYTES = 512 * 1024 * 1024  # a config, concepts or label file this large is not one


def _where(path: Path, flag: str) -> str:
    return f"{flag} {path}" if flag else str(path)


def read_user_text(path: str | os.PathLike, what: str, flag: str = "", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text of a user's file, decoded as UTF-8 (a leading byte-order mark dropped)."""
    from selfsynth.errors import UserError

    path = Path(path)
    where = _where(path, flag)
    if not path.is_file():
        raise UserError(f"{where}: {'is a folder' if path.is_dir() else 'not found'} (expected {what})")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"{where}: {size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB a file of {what} may have")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{where}: cannot read it ({exc.strerror or exc}); expected {what}") from None
    return decode_user_bytes(data, where, what)


def decode_user_bytes(data: bytes, where: str, what: str) -> str:
    from selfsynth.errors import UserError

    if b"\x00" in data[:65536]:
        raise UserError(f"{where}: binary data (NUL bytes), not text; expected {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: not UTF-8 text (byte {exc.start}); expected {what}; re-save it as UTF-8") from None


def read_json(path: str | os.PathLike, what: str = "JSON", flag: str = "") -> Any:
    """The JSON value in a file; unreadable or invalid JSON is a user error naming the file."""
    from selfsynth.errors import UserError

    text = read_user_text(path, what, flag)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{_where(Path(path), flag)}: not valid JSON ({exc.msg} at line {exc.lineno}); expected {what}") from None
    except RecursionError:
        raise UserError(f"{_where(Path(path), flag)}: JSON nested too deeply; expected {what}") from None


def iter_jsonl(path: str | os.PathLike, what: str = "one JSON object per line", flag: str = "") -> Iterator[tuple[int, Any]]:
    """(line number, row) of each non-blank line of a JSON-lines file, streamed; a line that is
    not a JSON object, binary junk or bytes that are not UTF-8 are a user error naming file and line."""
    from selfsynth.errors import UserError

    path = Path(path)
    where = _where(path, flag)
    if not path.is_file():
        raise UserError(f"{where}: {'is a folder' if path.is_dir() else 'not found'} (expected {what})")
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            line = decode_user_bytes(raw, f"{where}:{lineno}", what).strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}:{lineno}: not valid JSON ({exc.msg}); expected {what}") from None
            except RecursionError:
                raise UserError(f"{where}:{lineno}: JSON nested too deeply; expected {what}") from None
            if not isinstance(row, dict):
                raise UserError(f"{where}:{lineno}: a JSON {type(row).__name__}, expected {what}")
            yield lineno, row


def read_jsonl(path: str | os.PathLike, what: str = "one JSON object per line", flag: str = "") -> list[dict]:
    """Rows of a JSON-lines file; a line that is not a JSON object is a user error naming file and line."""
    return [row for _, row in iter_jsonl(path, what, flag)]


def read_mapping(path: str | os.PathLike, what: str, flag: str = "") -> dict[str, Any]:
    """The object at the top of a JSON file (``.json``) or YAML file (any other suffix); a missing
    file, a syntax error or another top-level type is a user error naming the file and ``what`` it
    should hold (and the ``flag`` that named the file). An empty YAML file is an empty mapping."""
    import yaml

    from selfsynth.errors import UserError

    path = Path(path)
    where = _where(path, flag)
    if path.suffix == ".json":
        data = read_json(path, what, flag)
    else:
        text = read_user_text(path, what, flag)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{where}: invalid YAML{at}; expected {what}") from None
        except (RecursionError, ValueError, TypeError):  # YAML that parses to something Python cannot hold
            raise UserError(f"{where}: YAML that cannot be read as data; expected {what}") from None
        if data is None:
            return {}
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected {what}, got {type(data).__name__}")
    bad = _non_text_keys(data)
    if bad:  # YAML reads `707:` as a number, `no:` as false and `~:` as null
        kind = "null" if bad[0] is None else "true/false" if isinstance(bad[0], bool) else "a number" if isinstance(bad[0], (int, float)) else type(bad[0]).__name__
        raise UserError(f"{where}: key {bad[0]!r} is {kind}, not text (quote it); expected {what}")
    return data


def _non_text_keys(value: Any, depth: int = 0) -> list[Any]:
    """The first mapping key anywhere in ``value`` that is not a string, as a one-item list ([] when all are)."""
    if depth > 100:
        return []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return [key]
            found = _non_text_keys(item, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _non_text_keys(item, depth + 1)
            if found:
                return found
    return []


def read_csv_rows(path: str | os.PathLike, what: str, flag: str = "", delimiter: str | None = None) -> list[dict[str, str]]:
    """Rows of a CSV (or TSV) file with a header line, as dicts; the delimiter is sniffed from the
    header when not given. A file without a header or with binary junk is a user error."""
    import csv
    import io as _io

    from selfsynth.errors import UserError

    text = read_user_text(path, what, flag)
    where = _where(Path(path), flag)
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise UserError(f"{where}: empty or without a header line; expected {what}")
    if delimiter is None:
        delimiter = "\t" if "\t" in header else ";" if header.count(";") > header.count(",") else ","
    try:
        return [dict(row) for row in csv.DictReader(_io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise UserError(f"{where}: not valid CSV ({exc}); expected {what}") from None


def open_user_image(path: str | os.PathLike, what: str = "an image", flag: str = ""):
    """The image at ``path``, fully decoded (a truncated or non-image file fails here, not later)."""
    from PIL import Image, UnidentifiedImageError

    from selfsynth.errors import UserError

    where = _where(Path(path), flag)
    if not Path(path).is_file():
        raise UserError(f"{where}: not found (expected {what})")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{where}: not a readable image ({type(exc).__name__}); expected {what}") from None


# -- output folders -------------------------------------------------------------------------------
# A folder selfsynth writes into carries this marker (what made it, and for the commands that clean
# up after themselves, which files they wrote): a command never clears or overwrites a folder
# without it, and never removes a file it did not list there.
OWNER_MARKER = ".selfsynth-output.json"


def _marker(folder: Path) -> dict[str, Any] | None:
    path = folder / OWNER_MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def output_owner(path: str | os.PathLike) -> tuple[Path, str] | None:
    """(folder, kind) of the nearest folder at or above ``path`` that selfsynth made, or None."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        found = _marker(folder)
        if found is not None:
            return folder, found["kind"]
    return None


def claim_output_dir(path: str | os.PathLike, kind: str, flag: str = "--out", accept: Iterable[str] = (),
                     adopt: Iterable[str] = ()) -> Path:
    """Make ``path`` an output folder of ``kind`` and return it: a new or empty folder gets the
    marker; a folder carrying our marker of ``kind`` (or of a kind in ``accept``), or lying inside
    such a folder, is reused; a folder holding a file for every glob pattern in ``adopt`` (what a
    version of selfsynth before the marker left there) is marked and reused. Anything else is a user error:
    selfsynth does not write into a folder it did not make."""
    from selfsynth.errors import UserError

    path = Path(path)
    where = _where(path, flag)
    if path.exists() and not path.is_dir():
        raise UserError(f"{where}: exists and is not a folder")
    kinds = {kind, *accept}
    owner = output_owner(path)
    here = owner is not None and owner[0] == path.absolute()
    if here and owner[1] not in kinds:
        raise UserError(f"{where}: holds the output of another selfsynth command ({owner[1]}), not {kind}; pick another folder")
    empty = not path.is_dir() or not any(path.iterdir())
    # inside a run store (a run's iter_<r>/eval) or a folder of the same kind: ours by construction
    inside = owner is not None and not here and owner[1] in kinds | {"run"}
    adopt = list(adopt)
    if not (here or inside or empty or (adopt and all(any(path.glob(name)) for name in adopt))):
        raise UserError(f"{where}: not empty and not made by selfsynth (no {OWNER_MARKER} in it); pass a new or empty "
                        "folder: selfsynth does not clear or overwrite a folder it did not make")
    path.mkdir(parents=True, exist_ok=True)
    if not here and (empty or not inside):
        write_json(path / OWNER_MARKER, {"kind": kind, "made_by": "selfsynth"})
    return path


def owned_files(folder: str | os.PathLike) -> set[str]:
    """The files (relative paths) recorded in ``folder``'s marker as written by its command."""
    found = _marker(Path(folder)) or {}
    return {str(name) for name in found.get("files", []) if isinstance(name, str)}


def record_owned_files(folder: str | os.PathLike, written: Iterable[str | os.PathLike]) -> list[Path]:
    """Record ``written`` (paths inside ``folder``) as this command's files and delete the files the
    previous write recorded that this one did not write again (an earlier, larger report's chunks);
    nothing that was never recorded is touched. Returns what was removed."""
    folder = Path(folder)
    found = _marker(folder) or {"kind": "unknown", "made_by": "selfsynth"}
    names = sorted({Path(os.path.relpath(Path(p), folder)).as_posix() for p in written})
    removed = []
    for stale in sorted(owned_files(folder) - set(names)):
        target = folder / stale
        if ".." in Path(stale).parts or not target.is_file():
            continue
        target.unlink()
        removed.append(target)
    write_json(folder / OWNER_MARKER, {**found, "files": names})
    return removed


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths show up in records; keep them JSON-native
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
