"""Small JPEG thumbnails of the dataset images, written once and reused by later reports."""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

THUMB_SIZE = 96
THUMB_QUALITY = 80


def thumbnail_name(image_path: str) -> str | None:
    """File name of an image's thumbnail, keyed by its path, size and modification time (a
    changed image gets a new thumbnail); None when the image is not there."""
    try:
        stat = os.stat(image_path)
    except OSError:
        return None
    key = f"{os.path.abspath(image_path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{THUMB_SIZE}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20] + ".jpg"


def _write_one(source: str, target: Path) -> bool:
    from PIL import Image

    if target.is_file() and target.stat().st_size > 0:
        return True
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with Image.open(source) as image:
            # JPEG: decode at the smallest DCT scale that still covers the thumbnail (~4x less work)
            image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))
            image = image.convert("RGB")
            image.thumbnail((THUMB_SIZE, THUMB_SIZE))
            image.save(tmp, format="JPEG", quality=THUMB_QUALITY)
        # rename without fsync: a thumbnail is derived data, redrawn when missing; an fsync per
        # file would cost minutes on a 6,000-image split
        os.replace(tmp, target)
        return True
    except (OSError, ValueError) as exc:  # unreadable image: shown as "no image", counted
        log.warning("%s: no thumbnail (%s)", source, exc)
        tmp.unlink(missing_ok=True)
        return False


def write_thumbnails(jobs: Iterable[tuple[str, str]], folder: Path, workers: int | None = None) -> set[str]:
    """Write each (image path, thumbnail name) once into ``folder``; returns the names that failed."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = list(dict.fromkeys(jobs))
    # PIL decodes and encodes without the GIL, so threads use the cores
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ok = list(pool.map(lambda job: _write_one(job[0], folder / job[1]), todo))
    return {name for (_, name), flag in zip(todo, ok) if not flag}
