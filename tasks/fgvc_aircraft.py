"""FGVC-Aircraft 2013b, 100 variants, official split (6,667 trainval / 3,333 test).

Root: ``fgvc-aircraft-2013b`` (or its parent, or its ``data`` folder). Rows of
``data/images_variant_{trainval,test}.txt`` are "<image id> <variant>", split on the first space
only (variants contain spaces and slashes: "Boeing 717", "F/A-18"). Images carry a 20-pixel
copyright banner at the bottom, which ``open_image`` crops off.

Accuracy note: the published matching rule deletes digits, so "737-800" matches an answer naming
any aircraft; ``accuracy_paper`` is reported for comparison only and flagged on this task.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, require

log = logging.getLogger(__name__)

BANNER_PX = 20
PAPER_ACCURACY_WARNING = (
    "fgvc_aircraft: accuracy_paper (the published rule) deletes digits, so variants such as "
    "737-700/737-800 are indistinguishable and the number is meaningless here; use accuracy"
)
_warned = False


class FgvcAircraftTask(DatasetTask):
    """FGVC-Aircraft 2013b, 100 variants."""

    name = "fgvc_aircraft"
    published_split_sizes = (6667, 3333)  # trainval / test
    domain = "aircraft"
    accuracy_notes = (PAPER_ACCURACY_WARNING,)

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        global _warned
        if not _warned:
            _warned = True
            log.warning(PAPER_ACCURACY_WARNING)

    @property
    def data_dir(self) -> Path:
        for candidate in (self.root / "fgvc-aircraft-2013b" / "data", self.root / "data", self.root):
            if (candidate / "images_variant_trainval.txt").is_file() or (candidate / "images_variant_test.txt").is_file():
                return candidate
        raise UserError(
            f"{self.root / 'fgvc-aircraft-2013b' / 'data' / 'images_variant_trainval.txt'} not found "
            "(expected the fgvc-aircraft-2013b folder, its parent, or its data/ folder)"
        )

    def _read_pairs(self, name: str) -> list[tuple[str, str]]:
        path = require(self.data_dir / name, "'<image id> <label>' per line")
        pairs = []
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                line = line.rstrip("\n\r")
                if not line.strip():
                    continue
                image_id, sep, value = line.partition(" ")
                if not sep or not value.strip():
                    raise UserError(f"{path}:{lineno}: expected '<image id> <label>', got {line!r}")
                pairs.append((image_id.strip(), value.strip()))
        return pairs

    def class_names(self) -> list[str]:
        if self._classes is None:
            variants = self.data_dir / "variants.txt"
            if variants.is_file():
                self._classes = [l.strip() for l in variants.read_text(encoding="utf-8").splitlines() if l.strip()]
            else:
                seen: set[str] = set()
                for split_file in ("images_variant_trainval.txt", "images_variant_test.txt"):
                    if (self.data_dir / split_file).is_file():
                        seen.update(v for _, v in self._read_pairs(split_file))
                self._classes = sorted(seen)
        return list(self._classes)

    def _load_split(self, split: str) -> list[Sample]:
        file_split = "trainval" if split == "train" else "test"
        variants = self._read_pairs(f"images_variant_{file_split}.txt")
        extra: dict[str, dict[str, str]] = {}
        for level in ("family", "manufacturer"):
            path = self.data_dir / f"images_{level}_{file_split}.txt"
            if path.is_file():
                for image_id, value in self._read_pairs(path.name):
                    extra.setdefault(image_id, {})[level] = value
        known = set(self.class_names())
        images = self.data_dir / "images"
        samples = []
        for image_id, variant in variants:
            if variant not in known:
                raise UserError(f"{self.data_dir / f'images_variant_{file_split}.txt'}: variant {variant!r} is not in variants.txt")
            samples.append(
                Sample(image_id, str((images / f"{image_id}.jpg").resolve()), variant, {"variant": variant, **extra.get(image_id, {})})
            )
        return samples

    def open_image(self, sample: Sample):
        """The image without its 20-px copyright banner (as the dataset's authors advise)."""
        image = super().open_image(sample)
        width, height = image.size
        if height <= BANNER_PX:
            raise UserError(f"image {sample.image_path} is only {height} px high; cannot crop the {BANNER_PX}-px banner")
        return image.crop((0, 0, width, height - BANNER_PX))
