"""HAM10000 dermoscopic images, 7 diagnoses, seeded split grouped by lesion.

Root holds ``HAM10000_metadata`` (as distributed by the Harvard Dataverse, no extension) or
``HAM10000_metadata.csv`` (Kaggle), and the images anywhere below it (``HAM10000_images_part_1/``,
``..._part_2/``), found by ``image_id``. Several images show the same lesion, so the split groups
by ``lesion_id`` (no lesion in both splits), stratified by diagnosis, ≈50/50, seeded by ``seed``
(default 0). Metadata rows whose image file is missing are an error naming the first few.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, SeededSplitOptions, is_image_file

DX_NAMES: dict[str, str] = {
    "akiec": "Actinic keratoses",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesions",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic nevi",
    "vasc": "Vascular lesions",
}
REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx")


class Ham10000Task(DatasetTask):
    """HAM10000 skin lesions, 7 diagnoses, split grouped by lesion."""

    name = "ham10000"
    published_split_sizes = (5008, 5007)  # about half of 10,015 images, grouped by lesion
    domain = "skin_lesion"
    Options = SeededSplitOptions  # seed: of the lesion-grouped, diagnosis-stratified split

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        self.seed = self.options.seed
        self._splits: dict[str, list[Sample]] | None = None

    def class_names(self) -> list[str]:
        return [DX_NAMES[k] for k in sorted(DX_NAMES)]

    @property
    def metadata_path(self) -> Path:
        for name in ("HAM10000_metadata", "HAM10000_metadata.csv", "HAM10000_metadata.tab"):
            if (self.root / name).is_file():
                return self.root / name
        raise UserError(f"{self.root / 'HAM10000_metadata'} not found (expected the HAM10000 metadata CSV, with or without .csv)")

    def _rows(self) -> list[dict[str, str]]:
        path = self.metadata_path
        from selfsynth.io import read_user_text

        # binary junk, a byte-order mark or bytes that are not UTF-8: one line naming the file
        text = read_user_text(path, "the HAM10000 metadata CSV")
        with io.StringIO(text, newline="") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = [c.strip().strip('"') for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise UserError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(REQUIRED_COLUMNS)}, ...)")
            rows = []
            for lineno, raw in enumerate(reader, 2):
                row = {k.strip().strip('"'): (v or "").strip().strip('"') for k, v in raw.items() if k is not None}
                if row["dx"] not in DX_NAMES:
                    raise UserError(f"{path}:{lineno}: unknown dx {row['dx']!r} (expected one of {', '.join(sorted(DX_NAMES))})")
                rows.append(row)
        if not rows:
            raise UserError(f"{path}: no rows")
        return rows

    def _image_index(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for path in sorted(self.root.rglob("*")):
            if "__MACOSX" in path.parts or not is_image_file(path):
                continue
            index.setdefault(path.stem, path)
        return index

    def _all_samples(self) -> dict[str, list[Sample]]:
        if self._splits is None:
            import numpy as np
            from sklearn.model_selection import StratifiedGroupKFold

            rows = self._rows()
            index = self._image_index()
            missing = [r["image_id"] for r in rows if r["image_id"] not in index]
            if missing:
                raise UserError(
                    f"{self.root}: {len(missing)} image(s) named in {self.metadata_path.name} not found below the root, "
                    f"e.g. {', '.join(m + '.jpg' for m in missing[:3])}"
                )
            samples = [
                Sample(
                    r["image_id"],
                    str(index[r["image_id"]].resolve()),
                    DX_NAMES[r["dx"]],
                    {k: r.get(k, "") for k in ("lesion_id", "dx", "dx_type", "age", "sex", "localization")},
                )
                for r in rows
            ]
            groups = [s.metadata["lesion_id"] for s in samples]
            labels = [s.metadata["dx"] for s in samples]
            if len(set(groups)) < 2:
                raise UserError(f"{self.metadata_path}: need at least 2 distinct lesion_id values to split")
            splitter = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=self.seed)
            train_idx, test_idx = next(splitter.split(np.zeros(len(samples)), labels, groups))
            by_id = sorted(range(len(samples)), key=lambda i: samples[i].id)
            train_set, test_set = set(train_idx.tolist()), set(test_idx.tolist())
            self._splits = {
                "train": [samples[i] for i in by_id if i in train_set],
                "test": [samples[i] for i in by_id if i in test_set],
            }
        return self._splits

    def _load_split(self, split: str) -> list[Sample]:
        return list(self._all_samples()[split])
