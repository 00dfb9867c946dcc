"""Shared pieces of the dataset modules: path checks, image validation, the image loader hook.

Corrupt images: ``load(split)`` checks every image cheaply with ``PIL.Image.verify`` (header and
structure, no full decode) and leaves out the ones that fail, recording their paths in
``task.skipped``; ``selfsynth data`` reports them. A file whose header is intact but whose pixel
data is truncated passes ``verify``; ``open_image`` then raises a ``UserError`` naming the file,
so a caller that wants to survive such files catches it and skips the sample. Pass
``verify=False`` to skip the check (e.g. on a dataset already validated with ``selfsynth data``).
"""
from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dataclasses import dataclass

from selfsynth.config import field
from selfsynth.errors import UserError
from selfsynth.tasks.base import Prompts, Sample, Task, TaskOptions

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLITS = ("train", "test")


def require(path: Path, what: str) -> Path:
    """``path`` if it exists, else a UserError naming it and what it should be."""
    if not path.exists():
        raise UserError(f"{path} not found (expected {what})")
    return path


def is_image_file(path: Path) -> bool:
    # macOS resource forks ("._x.jpg") and other hidden files look like images but are not
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def image_is_readable(path: str | Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False


@dataclass
class DatasetOptions(TaskOptions):
    """Options every dataset task accepts; a task with more subclasses this."""

    verify: bool = field(True, help="check every image when a split is loaded and skip unreadable ones (see selfsynth.tasks.common)")
    prompts: str | None = field(None, help="YAML file replacing the domain's built-in prompts")


@dataclass
class SeededSplitOptions(DatasetOptions):
    """Options of a task that draws its own train/test split (the dataset publishes none)."""

    seed: int = field(0, help="seed of the task's train/test split (the same on every machine with the same files)")


class DatasetTask(Task):
    """Base for our dataset modules: caching, verification, prompts override, ``open_image``."""

    Options = DatasetOptions

    def __init__(self, root: str | Path, **options: Any):
        super().__init__(Path(root).expanduser(), **options)
        self._cache: dict[str, list[Sample]] = {}
        self._skipped_by_split: dict[str, list[str]] = {}
        self._classes: list[str] | None = None  # a subclass's class names, read from the layout once

    # -- subclass hook --------------------------------------------------------------------------
    @abc.abstractmethod
    def _load_split(self, split: str) -> list[Sample]:
        """All samples of ``split`` from the layout, images unchecked."""

    # -- Task API -------------------------------------------------------------------------------
    def load(self, split: str) -> list[Sample]:
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r} for task {self.name} (expected one of {', '.join(SPLITS)})")
        if split not in self._cache:
            samples = self._load_split(split)
            if self.options.verify:
                samples = self._drop_unreadable(split, samples)
            self._cache[split] = samples
        return list(self._cache[split])

    def _drop_unreadable(self, split: str, samples: Sequence[Sample]) -> list[Sample]:
        from tqdm.auto import tqdm

        kept, bad = [], []
        for sample in tqdm(samples, desc=f"{self.name}/{split}: checking images", unit="img", leave=False):
            (kept if image_is_readable(sample.image_path) else bad).append(sample)
        self._skipped_by_split[split] = [s.image_path for s in bad]
        for s in bad:
            if s.image_path not in self.skipped:
                self.skipped.append(s.image_path)
        if bad:
            log.warning("%s/%s: skipped %d unreadable image(s), e.g. %s", self.name, split, len(bad), bad[0].image_path)
        return kept

    def skipped_in(self, split: str) -> list[str]:
        return list(self._skipped_by_split.get(split, []))

    def prompts(self) -> Prompts:
        from selfsynth.tasks.prompts import load_prompts

        return load_prompts(self.domain, self.options.prompts)

    def open_image(self, sample: Sample):
        """The image as the model should see it (RGB). Subclasses crop or adjust here."""
        from PIL import Image

        try:
            with Image.open(sample.image_path) as image:
                return image.convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise UserError(f"cannot read image {sample.image_path}: {exc}") from exc

    def aliases(self, label: str) -> tuple[str, ...]:
        return tuple(self._alias_table().get(label, ()))

    def _alias_table(self) -> Mapping[str, Iterable[str]]:
        """The task's reviewed alias table, ``tasks/aliases/<name>.yaml`` (none: no aliases)."""
        from selfsynth.tasks.aliases import load_aliases

        return load_aliases(self.name)

    def confusers(self, label: str) -> tuple[str, ...]:
        """Other class names (and aliases) that contain ``label``; masked by ``labels.match``."""
        from selfsynth.tasks.labels import confusers_for

        cache = self.__dict__.setdefault("_confusers", {})
        if label not in cache:
            cache[label] = confusers_for(label, self.class_names(), self.aliases)
        return cache[label]

    def match(self, answer: str, label: str) -> bool:
        """Our accuracy rule for this task: the verdict read over every class and alias is ``label``."""
        return self.answer_reader().match(answer, label)


def sorted_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def has_custom_image_loader(task: Task) -> bool:
    """True when ``task.open_image`` changes images (e.g. FGVC's crop), so generation must read
    the transformed image rather than the file on disk."""
    method = getattr(type(task), "open_image", None)
    return method is not None and method not in (DatasetTask.open_image, Task.open_image)


def write_model_image(task: Task, sample: Sample, path: Path) -> str:
    """Write ``task.open_image(sample)`` as a lossless PNG at ``path``; returns the path.
    (The lmms-eval bridge writes its images the same way, so both read identical bytes.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    task.open_image(sample).save(path, format="PNG")
    return str(path)
