"""The task interface every dataset module implements.

A task reads one published dataset layout from a root folder and yields samples; it knows its
class names and their aliases, and its domain's prompts (kept as YAML under ``tasks/prompts/``).
Its options are a typed dataclass (``Task.Options``), checked when the task is built; its defaults
(root, model, concepts, a config preset) come from the ``run_preset``/``defaults`` hooks, so no
code outside a task's module needs to know the task by name.
"""
from __future__ import annotations

import abc
import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence, TypeVar

from selfsynth import config as cfg
from selfsynth.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    id: str  # stable id within the dataset (joins records back to the data)
    image_path: str  # absolute path to the image file
    label: str  # human-readable class name, e.g. "Black footed Albatross"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prompts:
    """A domain's prompts. ``explain[0]`` is the evaluation question (README "Accuracy: how an answer is read")."""

    domain: str
    describe: list[str]  # step 1: describe the object's appearance, not the background
    simple: list[str]  # "what is this"
    explain: list[str]  # name + explanation
    cot: list[str]  # chain of thought
    label_sentence: str  # one sentence that states the label, "{label}" placeholder
    yes_no: str | None = None  # a yes/no evaluation question, for tasks that ask one (chest_xray)

    def hidden_context(self, question: str, label: str, concepts: Sequence[str]) -> str:
        """Step 3's user turn: a hidden context stating the label and the image's concepts, then
        the question. (Changing the text: bump ``REWRITE_CONTEXT_VERSION`` in synth/rewrite.py.)"""
        # kept short: it is prepended to every step-3 question, and small models pay per token
        features = "; ".join(concepts) if concepts else "none noted"
        return (
            f"Hidden notes (use them, never mention them): {self.label_sentence.format(label=label)} "
            f"Visible features: {features}.\n{question}"
        )


@dataclass
class TaskOptions:
    """Options of a task (``--option KEY=VALUE``, RunConfig ``task_options``). A task with options
    subclasses this dataclass and names it as its ``Options``."""

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass(frozen=True)
class TaskDefaults:
    """What a task supplies when the user leaves a setting out (``None``: nothing, ask the user)."""

    root: str | None = None  # dataset folder
    model: str | None = None  # base model folder or hub id
    concepts: str | None = None  # class concepts JSON {class: [concepts]}
    general_data: str | None = None  # general instruction rows mixed 1:1 into training


class Task(abc.ABC):
    """Base class. Subclasses set ``name``/``domain`` and implement ``load``."""

    name: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    Options: ClassVar[type] = TaskOptions
    # True when samples carry their image's true visible concepts (``image_concepts``)
    has_image_concepts: ClassVar[bool] = False
    # caveats recorded with every accuracy of this task (metrics.json "flags")
    accuracy_notes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, root: str | Path, **options: Any):
        self.root = Path(root)
        self.options = self.parse_options(options)
        self.skipped: list[str] = []  # corrupt/unreadable files passed over, with their paths

    # -- options and defaults ------------------------------------------------------------------
    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> Any:
        """``options`` (values may be strings, as typed on the command line) as ``cls.Options``; an
        unknown key is a UserError that names the valid ones."""
        return cfg.from_dict(cls.Options, options, f"task {cls.name!r} option")

    @classmethod
    def run_preset(cls) -> dict[str, Any]:
        """RunConfig keys layered under the user's YAML and flags (defaults < preset < YAML < flags),
        e.g. settings measured to suit a small model. Cheap: nothing is built."""
        return {}

    @classmethod
    def defaults(cls, cache_dir: str | None = None) -> TaskDefaults:
        """Root, model, concepts and general data for settings the user left out. May build what
        it returns (the toy world) under ``cache_dir``; called only when something is missing."""
        return TaskDefaults()

    @classmethod
    def has_defaults(cls) -> bool:
        """Whether ``defaults`` supplies a root and model (checked without building anything)."""
        return cls.defaults.__func__ is not Task.defaults.__func__

    #: (train, test) images of the published split, for cost estimates when the data is elsewhere
    published_split_sizes: ClassVar[tuple[int, int] | None] = None

    @classmethod
    def expected_split_sizes(cls, options: dict[str, Any]) -> tuple[int, int] | None:
        """(train, test) images expected with ``options``, without reading the dataset."""
        return cls.published_split_sizes

    @classmethod
    def default_general_data(cls, cache_dir: str | None = None) -> str | None:
        """Folder of local general-ability benchmark copies a run's ``--general`` reads when the
        user names none (``None``: the user must); may build them (the toy miniatures)."""
        return None

    def image_concepts(self, sample: Sample) -> list[str]:
        """The concepts truly visible in ``sample``'s image, for tasks with ``has_image_concepts``."""
        raise UserError(f"task {self.name!r} has no per-image concepts; pass a concepts file")

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


def parse_option_pairs(pairs: list[str]) -> dict[str, str]:
    """``["seed=1", "train_size=500"]`` → ``{"seed": "1", "train_size": "500"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"task option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def task_class(name: str) -> type[Task]:
    """The registered task class ``name`` (a one-line error naming the closest names if unknown)."""
    from selfsynth.registry import TASKS

    return TASKS.get(name)


def build_task(name: str, root: str | Path | None, options: dict[str, Any] | None = None, cache_dir: str | None = None) -> Task:
    """The task ``name`` on ``root``; without a root, the task's default (e.g. the generated toy
    world under ``cache_dir``). Options are checked before any default is built."""
    cls = task_class(name)
    parsed = cls.parse_options(options or {})
    if root is None:
        root = cls.defaults(cache_dir).root
        if root is None:
            raise UserError(f"task {name!r} needs --root (the dataset folder)")
    return cls(root, **{f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)})


def split_seed(seed: int, split: str) -> int:
    """The subset seed of ``split``: the global seed for train, seed + 1 for test, so that a run's
    test subset and ``selfsynth eval --limit`` with the same seed pick the same images."""
    return seed + 1 if split == "test" else seed


def subset(items: Sequence[T], limit: int | None, seed: int, label: Callable[[T], str] = lambda s: s.label) -> list[T]:
    """A seeded class-balanced subset of at most ``limit`` items, in the original order: classes
    take turns (sorted by name), each giving a random item of its own. The choice depends only on
    the items' labels in order, so records written in sample order subset like the samples."""
    if limit is not None and limit < 1:
        raise UserError(f"limit {limit}: expected a positive number")
    if limit is None or limit >= len(items):
        return list(items)
    by_class: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_class.setdefault(label(item), []).append(index)
    rng = random.Random(seed)
    for indices in by_class.values():
        rng.shuffle(indices)
    chosen: list[int] = []
    queues = [by_class[name] for name in sorted(by_class)]
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return [items[i] for i in sorted(chosen)]
