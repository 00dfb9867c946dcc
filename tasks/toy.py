"""The offline toy world's dataset (layout: /work/notes/toy_layout.md, written by selfsynth.toy).

Per-image ground truth travels in ``Sample.metadata``: ``visible_concepts`` (phrased as in
concepts.json) and ``attributes`` ({part: value or None when hidden}).

The toy task is the embedded default: when a command leaves out the root, model, concepts or
general data, ``ToyTask.defaults`` builds (once) the toy world and supplies them, and
``ToyTask.run_preset`` holds the run settings measured to suit the toy model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.io import read_jsonl, read_mapping
from selfsynth.tasks.base import Sample, TaskDefaults
from selfsynth.tasks.common import DatasetOptions, DatasetTask, require
from selfsynth.config import field

BUILT_TEST_PER_CLASS = 8  # ToyDataConfig.test_per_class of the built world

# The paper's defaults target LLaVA-1.5-7B on GPUs. The toy base model is ~1 M parameters trained
# on a 2-core CPU, where lr 1e-5 for 2 epochs would change nothing; this preset holds the
# settings measured to teach it within about a minute per iteration.
RUN_PRESET: dict[str, Any] = {
    "iterations": 2,
    "gen_batch_size": 32,
    # one batch for the toy test split (96 prompts): faster than 32 (1.2-1.75x measured), the same
    # answers record by record (tests/test_toy_preset.py)
    "eval_batch_size": 128,
    "eval_max_new_tokens": 64,
    "train": {
        # measured on the toy model: lr 5e-3, r 16, batch 16, lm_head trained → species accuracy
        # 0.0 → 0.53 in 150 steps (lr 3e-3, 120 steps: 0.41)
        "learning_rate": 5e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "per_device_batch_size": 16,
        "train_lm_head": True,
        "epochs": 2,
    },
    # toy answers are one or two short sentences: shorter generation budgets, bigger batches
    "synth": {
        # 3 prompts x 4 samples: selection precision on toy was 0.965 with 6 descriptions per image
        "describe_samples": 4,
        "describe_max_new_tokens": 64,
        "rewrite_max_new_tokens": 64,
        "reject_max_new_tokens": 64,
        "batch_size": 64,
    },
}


@dataclass
class ToyOptions(DatasetOptions):
    test_per_class: int | None = field(
        None, help="test images per class (the built world has 8; more are drawn once on first use, the first 8 unchanged)", ge=1)


class ToyTask(DatasetTask):
    """Procedurally drawn toy birds with per-image ground-truth concepts (offline)."""

    name = "toy"
    domain = "toy"  # tasks/prompts/toy.yaml: the questions the toy base model was pre-trained on
    has_image_concepts = True
    Options = ToyOptions

    @classmethod
    def run_preset(cls) -> dict[str, Any]:
        return RUN_PRESET

    @classmethod
    def defaults(cls, cache_dir: str | None = None) -> TaskDefaults:
        """The generated toy world (built once under ``cache_dir``, default ~/.cache/selfsynth/toy)."""
        from selfsynth.toy import ensure_toy_world

        world = ensure_toy_world(cache_dir)
        return TaskDefaults(
            root=str(world.dataset_root), model=str(world.model_path),
            concepts=str(Path(world.dataset_root) / "concepts.json"), general_data=str(world.general_path),
        )

    @classmethod
    def default_general_data(cls, cache_dir: str | None = None) -> str | None:
        """Miniature general-ability benchmarks in the real schemas, built beside the toy world."""
        from selfsynth.toy import ensure_toy_world
        from selfsynth.toy.benchmarks import ensure_toy_benchmarks

        return str(ensure_toy_benchmarks(ensure_toy_world(cache_dir)))

    @classmethod
    def expected_split_sizes(cls, options: dict[str, Any]) -> tuple[int, int] | None:
        from selfsynth.toy.dataset import ToyDataConfig

        data = ToyDataConfig()
        per_class = cls.parse_options(options).test_per_class or data.test_per_class
        return (data.num_classes * data.train_per_class, data.num_classes * per_class)

    def _split_file(self, split: str) -> Path:
        per_class = self.options.test_per_class
        if split != "test" or per_class is None or per_class == BUILT_TEST_PER_CLASS:
            return require(self.root / f"{split}.jsonl", f"the toy world's {split} rows (one JSON object per line)")
        from selfsynth.toy.dataset import ToyDataConfig, extend_test_split

        built = read_mapping(self.root.parent / "BUILD_DONE.json", "the toy world's build record").get("config", {}).get("data", {})
        return extend_test_split(self.root, ToyDataConfig(**built), per_class)

    def image_concepts(self, sample: Sample) -> list[str]:
        return list(sample.metadata.get("visible_concepts", []))

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(root, **options)
        self._meta: dict[str, Any] | None = None

    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            path = self.root / "toy_meta.json"
            meta = read_mapping(path, "the toy world's toy_meta.json; build it with `selfsynth toy`")
            if not isinstance(meta.get("classes"), list) or not meta["classes"]:
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
        path = self._split_file(split)
        samples = []
        for number, row in enumerate(read_jsonl(path), 1):
            try:
                sample_id, image, label = row["id"], row["image"], row["label"]
            except (KeyError, TypeError) as exc:
                raise UserError(f"{path}: row {number}: expected a JSON object with id, image, label ({exc})") from exc
            if label not in classes:
                raise UserError(f"{path}: row {number}: label {label!r} is not in toy_meta.json classes")
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
