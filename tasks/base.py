"""The task interface every dataset module implements.

A task reads one published dataset layout from a root folder and yields samples; it knows its
class names and their aliases, and its domain's prompts (kept as YAML under ``tasks/prompts/``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Sample:
    id: str  # stable id within the dataset (joins records back to the data)
    image_path: str  # absolute path to the image file
    label: str  # human-readable class name, e.g. "Black footed Albatross"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prompts:
    """A domain's prompts. ``explain[0]`` is the evaluation question (DESIGN §3)."""

    domain: str
    describe: list[str]  # step 1: describe the object's appearance, not the background
    simple: list[str]  # "what is this"
    explain: list[str]  # name + explanation
    cot: list[str]  # chain of thought
    label_sentence: str  # one sentence that states the label, "{label}" placeholder
    yes_no: str | None = None  # a yes/no evaluation question, for tasks that ask one (chest_xray)


class Task(abc.ABC):
    """Base class. Subclasses set ``name``/``domain`` and implement ``load``."""

    name: ClassVar[str] = ""
    domain: ClassVar[str] = ""

    def __init__(self, root: str | Path, **options: Any):
        self.root = Path(root)
        self.options = options
        self.skipped: list[str] = []  # corrupt/unreadable files passed over, with their paths

    @abc.abstractmethod
    def load(self, split: str) -> list[Sample]:
        """Samples of ``split`` ("train" or "test"), in a deterministic order."""

    @abc.abstractmethod
    def class_names(self) -> list[str]:
        """Human-readable class names, in label-index order."""

    def aliases(self, label: str) -> tuple[str, ...]:
        """Other accepted spellings of ``label`` for ``selfsynth.tasks.labels.match``."""
        return ()

    def answer_reader(self):
        """How our accuracy rule reads an answer's verdict on this task (``selfsynth.tasks.labels``):
        a ``ClassReader`` over ``class_names`` and ``aliases``, built once."""
        if getattr(self, "_answer_reader", None) is None:
            from selfsynth.tasks.labels import ClassReader

            self._answer_reader = ClassReader({c: tuple(self.aliases(c)) for c in self.class_names()})
        return self._answer_reader

    def evaluation_question(self, prompts: Prompts) -> str:
        """The question every test image is asked: the domain's first ``explain`` prompt."""
        return prompts.explain[0]

    def open_image(self, sample: Sample):
        """The image the model sees (PIL, RGB); tasks override it for crops such as FGVC's banner."""
        from PIL import Image

        with Image.open(sample.image_path) as image:
            return image.convert("RGB")

    def prompts(self) -> Prompts:
        from selfsynth.tasks.prompts import load_prompts

        return load_prompts(self.domain)
