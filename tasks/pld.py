"""PlantVillage leaf diseases (PLD): ``<Crop>___<Disease>/`` folders, seeded stratified split.

The paper uses 37 classes with 5,279 train / 47,523 test images. PlantVillage has 38 classes
(54,305 colour images); dropping "Blueberry___healthy" (1,502 images, a crop with no disease
class) leaves 52,803, one image off the paper's 52,802 total, so that is our default exclusion.
This is an inference from the counts, not a documented fact: pass ``classes`` (a list or a
comma-separated string of folder names) or ``exclude`` to choose.

Split sizes: ``train_size`` / ``test_size`` (defaults 5,279 / 47,523). When the folder holds fewer
images than their sum, both are scaled to what is there, keeping the ratio (≈10% train); when it
holds more, the extra images are left out. The split is stratified by class and seeded (``seed``,
default 0), so it is the same on every machine with the same files.

Root: the folder holding the class folders, or any folder above it (e.g. the PlantVillage-Dataset
checkout, where ``raw/color`` is preferred over ``grayscale``/``segmented``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth.config import field
from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, SeededSplitOptions, is_image_file, require

DEFAULT_EXCLUDE = ("Blueberry___healthy",)
PAPER_TRAIN, PAPER_TEST = 5279, 47523


def class_display_name(folder: str) -> str:
    """"Tomato___Tomato_Yellow_Leaf_Curl_Virus" → "Tomato Yellow Leaf Curl Virus";
    "Corn_(maize)___Common_rust_" → "Corn Common rust"; "Apple___healthy" → "Apple healthy"."""
    crop, _, disease = folder.partition("___")
    crop = crop_name(folder)
    disease = " ".join(re.sub(r"\(.*?\)", " ", disease).replace("_", " ").split())
    if disease.lower().startswith(crop.lower() + " "):
        disease = disease[len(crop) + 1:]
    return f"{crop} {disease}".strip()


def crop_name(folder: str) -> str:
    """"Corn_(maize)___Common_rust_" → "Corn"; "Pepper,_bell___healthy" → "Pepper bell"."""
    crop = re.sub(r"\(.*?\)", " ", folder.partition("___")[0]).replace("_", " ")
    return " ".join(crop.replace(",", " ").split())


@dataclass
class PldOptions(SeededSplitOptions):
    train_size: int = field(PAPER_TRAIN, help="training images (scaled down with test_size when the folder holds fewer)", ge=1)
    test_size: int = field(PAPER_TEST, help="test images (scaled down with train_size when the folder holds fewer)", ge=1)
    classes: list[str] | None = field(None, help="class folders to use, comma-separated (default: all but exclude)")
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE), help="class folders left out when classes is not given")


class PldTask(DatasetTask):
    """PlantVillage leaf disease, seeded stratified split."""

    name = "pld"
    published_split_sizes = (5279, 47523)  # the paper's split
    domain = "leaf"
    Options = PldOptions

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        self.seed = self.options.seed
        self.train_size = self.options.train_size
        self.test_size = self.options.test_size
        self._folders: list[str] | None = None
        self._splits: dict[str, list[Sample]] | None = None

    @property
    def class_dir(self) -> Path:
        require(self.root, "a PlantVillage folder with <Crop>___<Disease> class folders")
        found = [d for d in [self.root, *sorted(self.root.glob("*")), *sorted(self.root.glob("*/*")), *sorted(self.root.glob("*/*/*"))]
                 if d.is_dir() and "__MACOSX" not in d.parts and any(c.is_dir() and "___" in c.name for c in d.iterdir())]
        if not found:
            raise UserError(f"{self.root}: no <Crop>___<Disease> class folders found (looked up to 3 levels down)")
        if len(found) > 1:
            colour = [d for d in found if d.name.lower() == "color"]
            if len(colour) == 1:
                return colour[0]
            if found[0] == self.root:
                return self.root
            raise UserError(f"{self.root}: several folders hold class folders ({', '.join(str(d) for d in found)}); pass one of them as --root")
        return found[0]

    def class_folders(self) -> list[str]:
        if self._folders is None:
            available = sorted(c.name for c in self.class_dir.iterdir() if c.is_dir() and "___" in c.name)
            chosen = self.options.classes
            if chosen:
                missing = [c for c in chosen if c not in available]
                if missing:
                    raise UserError(f"{self.class_dir}: class folder(s) {', '.join(missing)} not found (available: {', '.join(available)})")
                folders = chosen
            else:
                exclude = set(self.options.exclude)
                folders = [c for c in available if c not in exclude]
            if len(folders) < 2:
                raise UserError(f"{self.class_dir}: need at least 2 class folders, found {len(folders)}")
            self._folders = folders
        return list(self._folders)

    def class_names(self) -> list[str]:
        return [class_display_name(f) for f in self.class_folders()]

    def answer_reader(self):
        """Our rule with two-part names: a class is named by its crop and its disease, in either
        order ("a healthy bell pepper leaf"), with the aliases of ``tasks/aliases/pld.yaml``."""
        if getattr(self, "_answer_reader", None) is None:
            from selfsynth.tasks.aliases import load_alias_file
            from selfsynth.tasks.labels import ClassReader

            table = load_alias_file(self.name)
            parts = {}
            for folder in self.class_folders():
                name, crop = class_display_name(folder), crop_name(folder)
                parts[name] = (crop, name[len(crop):].strip())
            self._answer_reader = ClassReader({c: tuple(self.aliases(c)) for c in self.class_names()}, parts,
                                              {"crop": table["crops"], "disease": table["diseases"]})
        return self._answer_reader

    def planned_sizes(self, total: int, n_classes: int = 1) -> tuple[int, int]:
        """(train, test) counts for ``total`` available images (see module doc); when scaled,
        each split keeps at least one image per class."""
        want = self.train_size + self.test_size
        if total >= want:
            return self.train_size, self.test_size
        train = round(total * self.train_size / want)
        train = min(max(train, n_classes), total - n_classes)
        return train, total - train

    def _all_samples(self) -> dict[str, list[Sample]]:
        if self._splits is None:
            from sklearn.model_selection import train_test_split

            samples = []
            for folder in self.class_folders():
                label = class_display_name(folder)
                for path in sorted(p for p in (self.class_dir / folder).iterdir() if is_image_file(p)):
                    samples.append(Sample(f"{folder}/{path.name}", str(path.resolve()), label, {"class_folder": folder}))
            n_train, n_test = self.planned_sizes(len(samples), len(self.class_folders()))
            labels = [s.label for s in samples]
            try:
                train, test = train_test_split(
                    samples, train_size=n_train, test_size=n_test, stratify=labels, random_state=self.seed
                )
            except ValueError as exc:
                raise UserError(f"{self.class_dir}: cannot split {len(samples)} images into {n_train} train / {n_test} test stratified by class: {exc}") from exc
            order = {s.id: i for i, s in enumerate(samples)}
            self._splits = {"train": sorted(train, key=lambda s: order[s.id]), "test": sorted(test, key=lambda s: order[s.id])}
        return self._splits

    def _load_split(self, split: str) -> list[Sample]:
        return list(self._all_samples()[split])
