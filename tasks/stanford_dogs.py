"""Stanford Dogs, 120 breeds, official split (12,000 train / 8,580 test).

Root holds ``Images/n02085620-Chihuahua/*.jpg`` and ``train_list.mat`` / ``test_list.mat``
(from lists.tar, read with scipy.io). The breed is the folder name after its first "-" only
("n02099267-flat-coated_retriever" → "flat-coated retriever"). Labels keep ImageNet's WordNet
names; aliases add the names breeders use today.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, require


def breed_from_folder(folder_name: str) -> str:
    """"n02085620-Chihuahua" → "Chihuahua"; only the first "-" separates the WordNet id."""
    _, sep, breed = folder_name.partition("-")
    if not sep:
        raise UserError(f"Stanford Dogs folder {folder_name!r} does not look like '<wnid>-<breed>'")
    return breed.replace("_", " ").strip()


def _cell_to_str(value: Any) -> str:
    # loadmat wraps MATLAB strings in (nested) arrays; unwrap to the single string inside
    while isinstance(value, np.ndarray):
        if value.size != 1:
            if value.dtype.kind == "U" and value.ndim == 1:
                return "".join(value.tolist())
            raise ValueError(f"expected one string, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return str(value)


def read_list_mat(path: Path) -> tuple[list[str], list[int]]:
    """(relative file paths, 1-based labels) from train_list.mat / test_list.mat."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several unrelated types for a bad file
        raise UserError(f"{path} is not a readable MATLAB .mat file: {exc}") from exc
    if "file_list" not in mat or "labels" not in mat:
        raise UserError(f"{path}: expected variables 'file_list' and 'labels' (found {', '.join(k for k in mat if not k.startswith('__'))})")
    try:
        files = [_cell_to_str(v) for v in np.asarray(mat["file_list"], dtype=object).reshape(-1)]
        labels = [int(v) for v in np.asarray(mat["labels"]).reshape(-1)]
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: could not read file_list/labels: {exc}") from exc
    if len(files) != len(labels):
        raise UserError(f"{path}: file_list has {len(files)} entries but labels has {len(labels)}")
    return files, labels


class StanfordDogsTask(DatasetTask):
    """Stanford Dogs, 120 breeds, official split."""

    name = "stanford_dogs"
    published_split_sizes = (12000, 8580)  # official split
    domain = "dog"

    @property
    def images_dir(self) -> Path:
        return require(self.root / "Images", "Stanford Dogs' Images/ folder with <wnid>-<breed> subfolders")

    def class_names(self) -> list[str]:
        if self._classes is None:
            # label order = the label ids in the official lists; the folders give the names
            by_label: dict[int, str] = {}
            for split in ("train", "test"):
                path = self.root / f"{split}_list.mat"
                if not path.is_file():
                    continue
                files, labels = read_list_mat(path)
                for rel, lab in zip(files, labels):
                    by_label.setdefault(lab, breed_from_folder(rel.split("/")[0]))
            if not by_label:
                require(self.root / "train_list.mat", "Stanford Dogs' train_list.mat (from lists.tar)")
            self._classes = [by_label[k] for k in sorted(by_label)]
        return list(self._classes)

    def _load_split(self, split: str) -> list[Sample]:
        images_dir = self.images_dir
        files, labels = read_list_mat(require(self.root / f"{split}_list.mat", f"Stanford Dogs' {split}_list.mat (from lists.tar)"))
        samples = []
        for rel, lab in zip(files, labels):
            folder = rel.split("/")[0]
            breed = breed_from_folder(folder)
            samples.append(
                Sample(
                    id=Path(rel).stem,
                    image_path=str((images_dir / rel).resolve()),
                    label=breed,
                    metadata={"wnid": folder.partition("-")[0], "class_id": lab, "relative_path": rel},
                )
            )
        return samples
