"""The offline toy world's dataset (layout: /work/notes/toy_layout.md, written by selfsynth.toy).

Per-image ground truth travels in ``Sample.metadata``: ``visible_concepts`` (phrased as in
concepts.json) and ``attributes`` ({part: value or None when hidden}).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.tasks.base import Sample
from selfsynth.tasks.common import DatasetTask, require


class ToyTask(DatasetTask):
    """Procedurally drawn toy birds with per-image ground-truth concepts (offline)."""

    name = "toy"
    domain = "toy"  # tasks/prompts/toy.yaml: the questions the toy base model was pre-trained on

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        self._meta: dict[str, Any] | None = None

    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            path = require(self.root / "toy_meta.json", "the toy world's toy_meta.json; build it with `selfsynth demo` or harness.toy")
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path} is not valid JSON: {exc}") from exc
            if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list) or not meta["classes"]:
                raise UserError(f"{path}: expected an object with a non-empty 'classes' list")
            self._meta = meta
        return self._meta

    def class_names(self) -> list[str]:
        return [str(c) for c in self.meta()["classes"]]

    def class_attributes(self) -> dict[str, dict[str, str]]:
        return dict(self.meta().get("class_attributes", {}))

    def class_concepts_path(self) -> Path:
        """concepts.json: {class name: [concept, ...]}, the step-0 import format."""
        return require(self.root / "concepts.json", "the toy world's class concepts {class name: [concept, ...]}")

    def _load_split(self, split: str) -> list[Sample]:
        classes = set(self.class_names())
        path = require(self.root / f"{split}.jsonl", f"the toy world's {split} rows (one JSON object per line)")
        samples = []
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    sample_id, image, label = row["id"], row["image"], row["label"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise UserError(f"{path}:{lineno}: expected a JSON object with id, image, label ({exc})") from exc
                if label not in classes:
                    raise UserError(f"{path}:{lineno}: label {label!r} is not in toy_meta.json classes")
                image_path = Path(image) if Path(image).is_absolute() else self.root / image
                samples.append(
                    Sample(
                        id=str(sample_id),
                        image_path=str(image_path.resolve()),
                        label=label,
                        metadata={
                            "visible_concepts": list(row.get("visible_concepts", [])),
                            "attributes": dict(row.get("attributes", {})),
                        },
                    )
                )
        return samples
