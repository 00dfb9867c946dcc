"""CUB-200-2011 birds, 200 species, official split (5,994 train / 5,794 test).

Root: the ``CUB_200_2011`` folder or the folder holding it. Class "001.Black_footed_Albatross"
becomes "Black footed Albatross" (the official spelling is kept as the label, quirks included;
aliases carry the corrections, e.g. "Artic Tern" → "Arctic Tern"). Per-image attribute
annotations (``attributes/image_attribute_labels.txt`` named by ``attributes.txt``, which the
official archive puts beside the ``CUB_200_2011`` folder) are read on demand by
``image_attributes`` for concept-selection precision.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, require


def class_display_name(folder_name: str) -> str:
    """"001.Black_footed_Albatross" → "Black footed Albatross"."""
    _, _, name = folder_name.partition(".")
    return (name or folder_name).replace("_", " ").strip()


def _read_table(path: Path, columns: int) -> list[list[str]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); expected {columns} space-separated fields per line") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=columns - 1)
        if len(parts) < columns:
            raise UserError(f"{path}:{lineno}: expected {columns} space-separated fields, got {line.strip()!r}")
        rows.append(parts)
    return rows


class Cub200Task(DatasetTask):
    """CUB-200-2011 birds, 200 species, official split."""

    name = "cub200"
    published_split_sizes = (5994, 5794)  # official split
    domain = "bird"

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        self._attributes: dict[int, dict[int, list[str]]] = {}

    @property
    def folder(self) -> Path:
        if (self.root / "CUB_200_2011").is_dir():
            return self.root / "CUB_200_2011"
        if (self.root / "images.txt").is_file():
            return self.root
        raise UserError(f"{self.root / 'CUB_200_2011'} not found (expected the CUB_200_2011 folder with images.txt, or --root pointing at it)")

    def class_names(self) -> list[str]:
        if self._classes is None:
            path = require(self.folder / "classes.txt", "CUB's classes.txt ('<id> <NNN.Name>' per line)")
            rows = sorted(_read_table(path, 2), key=lambda r: int(r[0]))
            self._classes = [class_display_name(r[1].strip()) for r in rows]
        return list(self._classes)

    def _load_split(self, split: str) -> list[Sample]:
        folder = self.folder
        images = _read_table(require(folder / "images.txt", "'<image_id> <relative path>' per line"), 2)
        labels = dict(_read_table(require(folder / "image_class_labels.txt", "'<image_id> <class_id>' per line"), 2))
        is_train = dict(_read_table(require(folder / "train_test_split.txt", "'<image_id> <1 train|0 test>' per line"), 2))
        classes = self.class_names()
        boxes = {}
        if (folder / "bounding_boxes.txt").is_file():
            boxes = {r[0]: [float(v) for v in r[1].split()] for r in _read_table(folder / "bounding_boxes.txt", 2)}
        want = "1" if split == "train" else "0"
        samples = []
        for image_id, rel in sorted(images, key=lambda r: int(r[0])):
            rel = rel.strip()
            if image_id not in labels or image_id not in is_train:
                raise UserError(f"{folder}: image {image_id} ({rel}) has no class label or split entry")
            if is_train[image_id].strip() != want:
                continue
            class_id = int(labels[image_id])
            if not 1 <= class_id <= len(classes):
                raise UserError(f"{folder / 'image_class_labels.txt'}: class id {class_id} of image {image_id} is not in classes.txt")
            metadata: dict[str, Any] = {"image_id": int(image_id), "class_id": class_id, "relative_path": rel}
            if image_id in boxes:
                metadata["bbox_xywh"] = boxes[image_id]
            samples.append(Sample(str(image_id), str((folder / "images" / rel).resolve()), classes[class_id - 1], metadata))
        return samples

    # -- per-image attributes (concept-selection precision on CUB) -------------------------------
    def attributes_names_path(self) -> Path:
        candidates = [self.folder.parent / "attributes.txt", self.folder / "attributes.txt", self.folder / "attributes" / "attributes.txt"]
        for path in candidates:
            if path.is_file():
                return path
        raise UserError(f"CUB attributes.txt not found (looked in {', '.join(str(p) for p in candidates)})")

    def attribute_names(self) -> list[str]:
        """Readable names in attribute-id order: "has_wing_color::blue" → "blue wing color"."""
        rows = sorted(_read_table(self.attributes_names_path(), 2), key=lambda r: int(r[0]))
        return [attribute_phrase(r[1].strip()) for r in rows]

    def image_attributes(self, image_id: int | str, min_certainty: int = 3) -> list[str]:
        """Attributes annotated present on one image (certainty ≥ ``min_certainty``: 1 not visible,
        2 guessing, 3 probably, 4 definitely)."""
        if min_certainty not in self._attributes:
            self._attributes[min_certainty] = self._read_image_attributes(min_certainty)
        return list(self._attributes[min_certainty].get(int(image_id), []))

    def _read_image_attributes(self, min_certainty: int) -> dict[int, list[str]]:
        names = self.attribute_names()
        path = require(self.folder / "attributes" / "image_attribute_labels.txt",
                       "'<image_id> <attribute_id> <is_present> <certainty_id> <time>' per line")
        present: dict[int, list[str]] = {}
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                parts = line.split()
                if not parts:
                    continue
                # a few official lines carry an extra field; only the first four matter
                if len(parts) < 4:
                    raise UserError(f"{path}:{lineno}: expected at least 4 fields, got {line.strip()!r}")
                image_id, attr_id, is_present, certainty = (int(p) for p in parts[:4])
                if is_present == 1 and certainty >= min_certainty and 1 <= attr_id <= len(names):
                    present.setdefault(image_id, []).append(names[attr_id - 1])
        return present


def attribute_phrase(raw: str) -> str:
    """"has_bill_shape::curved_(up_or_down)" → "curved (up or down) bill shape"."""
    part, _, value = raw.partition("::")
    part = part.removeprefix("has_").replace("_", " ").strip()
    value = value.replace("_", " ").strip()
    return f"{value} {part}".strip()
