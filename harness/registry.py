"""One typed registry for tasks, methods (runners) and judges.

Entries are either objects or lazy ``"module:attr"`` strings, so listing names never imports
torch. Third-party plugins arrive through entry-point groups (``selfsynth.tasks``,
``selfsynth.methods``, ``selfsynth.judges``) and are read on first use.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from selfsynth.errors import UserError

T = TypeVar("T")


@dataclass
class Entry:
    name: str
    target: Any  # an object, or "module:attr" to import on first use
    description: str
    source: str  # where it was registered, for collision messages

    def load(self) -> Any:
        if isinstance(self.target, str):
            module_name, _, attr = self.target.partition(":")
            try:
                obj = importlib.import_module(module_name)
                for part in attr.split(".") if attr else []:
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as exc:
                raise UserError(f"{self.name!r} (from {self.source}) could not be loaded from {self.target!r}: {exc}") from exc
            self.target = obj
        return self.target


class Registry(Generic[T]):
    """Name → entry, with collision errors, "did you mean" and lazy entry-point plugins."""

    def __init__(self, kind: str, entry_point_group: str, builtins: dict[str, tuple[str, str]] | None = None,
                 base: str | type | None = None, identity: str | None = None):
        """``base``: the class every entry must subclass, or ``"module:Class"`` (imported at the
        first lookup, so the registry imports nothing above the core). ``identity``: a class
        attribute that must equal the registry key (a method's ``name`` names its run folders)."""
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.base = base
        self.identity = identity
        self._entries: dict[str, Entry] = {}
        self._builtins = builtins or {}
        self._loaded = False

    # -- registration -----------------------------------------------------------------------
    def add(self, name: str, target: Any, description: str = "", source: str = "") -> None:
        source = source or _describe_source(target)
        existing = self._entries.get(name)
        if existing is not None:
            if existing.source == source:
                return  # the same module re-imported; not a real collision
            raise UserError(
                f"{self.kind} {name!r} is registered twice: by {existing.source} and by {source}"
            )
        if not isinstance(target, str):  # a lazy target is checked when it is first loaded
            self._check_identity(name, target, source)
        self._entries[name] = Entry(name, target, description or _first_doc_line(target), source)

    def _check_identity(self, name: str, obj: Any, source: str) -> None:
        if self.identity is None or not isinstance(obj, type):
            return
        value = getattr(obj, self.identity, None)
        if value != name:
            raise UserError(f"{self.kind} {name!r} (from {source}): its class {obj.__module__}.{obj.__qualname__} has "
                            f"{self.identity} = {value!r}; a {self.kind} is registered under its class's {self.identity}")

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator for our own classes: ``@METHODS.register("ours")``."""

        def wrap(obj: T) -> T:
            self._ensure_loaded()
            self.add(name, obj, description, source=_describe_source(obj))
            return obj

        return wrap

    # -- lookup -----------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name, (target, description) in self._builtins.items():
            self.add(name, target, description, source=f"selfsynth built-in {target}")
        for ep in metadata.entry_points(group=self.entry_point_group):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
            self.add(ep.name, ep.value, "", source=f"entry point {ep.value} of {dist_name}")

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        self._ensure_loaded()
        for name in sorted(self._entries):
            yield self._entries[name]

    def describe(self, name: str) -> str:
        entry = self._entry(name)
        if not entry.description:
            entry.description = _first_doc_line(entry.load())
        return entry.description

    def _entry(self, name: str) -> Entry:
        self._ensure_loaded()
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "none"
            raise UserError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        return self._entries[name]

    def get(self, name: str) -> T:
        """The entry ``name``, loaded; a plugin that is not a subclass of ``base``, or whose
        identity attribute is not ``name``, is a UserError."""
        entry = self._entry(name)
        obj = entry.load()
        base = self._base()
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise UserError(f"{self.kind} {name!r} (from {entry.source}) is {obj!r}, not a subclass of {base.__module__}.{base.__qualname__}")
        # a lazy entry (built-in, entry point) is a class only from here: its identity is checked now
        self._check_identity(name, obj, entry.source)
        return obj

    def _base(self) -> type | None:
        if isinstance(self.base, str):
            self.base = Entry(f"base of {self.kind}s", self.base, "", "selfsynth").load()
        return self.base

    def display_name(self, name: str) -> str:
        """What tables and the report call entry ``name``: its class's ``display_name``, else the
        name itself (also for a name no longer registered, e.g. a stored run of an uninstalled plugin)."""
        self._ensure_loaded()
        if name not in self._entries:
            return name
        try:
            obj = self.get(name)
        except UserError:
            return name
        return getattr(obj, "display_name", "") or name

    def __contains__(self, name: str) -> bool:
        self._ensure_loaded()
        return name in self._entries


def _describe_source(target: Any) -> str:
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or type(target).__module__
    qual = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{qual}"


def _first_doc_line(target: Any) -> str:
    if isinstance(target, str):
        return ""
    doc = (getattr(target, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


# Built-ins are lazy so `selfsynth ls` stays fast and torch-free.
TASKS: Registry = Registry(
    "task",
    "selfsynth.tasks",
    base="selfsynth.tasks.base:Task",
    builtins={
        "toy": ("selfsynth.tasks.toy:ToyTask", "procedurally drawn toy birds with per-image ground-truth concepts (offline)"),
        "cub200": ("selfsynth.tasks.cub200:Cub200Task", "CUB-200-2011 birds, 200 species, official split"),
        "stanford_dogs": ("selfsynth.tasks.stanford_dogs:StanfordDogsTask", "Stanford Dogs, 120 breeds, official split"),
        "fgvc_aircraft": ("selfsynth.tasks.fgvc_aircraft:FgvcAircraftTask", "FGVC-Aircraft 2013b, 100 variants"),
        "pld": ("selfsynth.tasks.pld:PldTask", "PlantVillage leaf disease, seeded stratified split"),
        "ham10000": ("selfsynth.tasks.ham10000:Ham10000Task", "HAM10000 skin lesions, 7 diagnoses, split grouped by lesion"),
        "chest_xray": ("selfsynth.tasks.chest_xray:ChestXrayTask", "pediatric chest x-ray, normal vs pneumonia"),
    },
)
METHODS: Registry = Registry(
    "method",
    "selfsynth.methods",
    base="selfsynth.runner:Runner",
    identity="name",
    builtins={
        "base": ("selfsynth.runners.base:BaseRunner", "untouched model, zero-shot"),
        "nl": ("selfsynth.runners.nl:NlRunner", "label only answers, iterated"),
        "lge": ("selfsynth.runners.lge:LgeRunner", "label + class-level general explanation"),
        "ours": ("selfsynth.runners.ours:OursRunner", "self-synthesized image-level explanations + reward-free rejection filter"),
        "no_filter": ("selfsynth.runners.no_filter:NoFilterRunner", "ours without InfoNCE ranking or label check (Table 12)"),
    },
)
JUDGES: Registry = Registry(
    "judge",
    "selfsynth.judges",
    base="selfsynth.metrics.judges.base:Judge",
    builtins={
        "local": ("selfsynth.metrics.judges.local:LocalJudge", "offline embedding-similarity proxy for EE/CS (reported as local-proxy)"),
        "openai": ("selfsynth.metrics.judges.openai_judge:OpenAIJudge", "LLM judge over any OpenAI-compatible endpoint, versioned rubric, cached"),
    },
)

REGISTRIES = {"tasks": TASKS, "methods": METHODS, "judges": JUDGES}
