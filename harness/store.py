"""The run store: one folder per (experiment, task, method[, seed], iteration, step).

A step's folder is filled by its step function; the completion marker ``_done.json`` is written
last (atomically), so a folder without it is an interrupted step: it is wiped and redone on the
next run, while finished steps are skipped. The manifest records what produced the run.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from selfsynth import schema
from selfsynth.errors import UserError
from selfsynth.io import read_json, write_json

DONE_MARKER = "_done.json"
TRACKED_PACKAGES = (
    "selfsynth-harness", "torch", "transformers", "peft", "accelerate", "sentence-transformers",
    "numpy", "lmms-eval", "openai",
)


def _safe(part: str) -> str:
    if not part or "/" in part or part in {".", ".."}:
        raise UserError(f"invalid run-store path component {part!r}")
    return part


@dataclass
class StepResult:
    path: Path
    info: dict[str, Any]
    skipped: bool  # True when the step was already finished and not recomputed


@dataclass
class RunStore:
    root: Path
    experiment: str = "default"
    seed: int | None = None  # runs of other seeds live side by side: <method>/seed_<s>/...
    computed: list[str] = field(default_factory=list)  # steps computed by this process, in order
    reused: list[str] = field(default_factory=list)  # finished steps skipped by this process

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def unit_dir(self, task: str, method: str, iteration: int | None = None) -> Path:
        path = self.root / _safe(self.experiment) / _safe(task) / _safe(method)
        if self.seed is not None:
            path = path / f"seed_{int(self.seed)}"
        return path / f"iter_{iteration}" if iteration is not None else path

    def step_dir(self, task: str, method: str, iteration: int | None, step: str) -> Path:
        return self.unit_dir(task, method, iteration) / _safe(step)

    @staticmethod
    def is_done(path: Path) -> bool:
        return (Path(path) / DONE_MARKER).is_file()

    def run_step(
        self,
        task: str,
        method: str,
        iteration: int | None,
        step: str,
        fn: Callable[[Path], dict[str, Any] | None],
    ) -> StepResult:
        """Run ``fn(step_dir)`` unless the step already finished. ``fn`` returns a JSON-able summary."""
        path = self.step_dir(task, method, iteration, step)
        label = str(path.relative_to(self.root))
        if self.is_done(path):
            self.reused.append(label)
            return StepResult(path, read_json(path / DONE_MARKER).get("info", {}), skipped=True)
        if path.exists():
            # An interrupted attempt: its partial files are untrusted. Steps that resume inside
            # themselves (per-sample caches) keep their progress in the response cache, not here.
            shutil.rmtree(path)
        path.mkdir(parents=True)
        started = time.time()
        info = fn(path) or {}
        write_json(path / DONE_MARKER, {"info": info, "seconds": round(time.time() - started, 3), "finished": time.time()})
        self.computed.append(label)
        return StepResult(path, info, skipped=False)

    def write_manifest(
        self,
        unit_dir: Path,
        config: dict[str, Any],
        seeds: dict[str, int],
        fingerprints: dict[str, str],
        extra: dict[str, Any] | None = None,
        extendable: tuple[str, ...] = ("iterations",),
    ) -> Path:
        """Write ``unit_dir/manifest.json``; refuse to resume a unit made with another config.

        Keys in ``extendable`` may differ (e.g. more iterations continue a finished run)."""
        path = Path(unit_dir) / "manifest.json"
        previous = read_json(path) if path.is_file() else None
        manifest = {
            "schema_version": schema.RUN_MANIFEST,
            "config": config,
            "seeds": seeds,
            "fingerprints": fingerprints,
            "versions": package_versions(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            # CPU results can differ with the thread count (reproduce --threads): how this one ran
            "torch_threads": _torch_threads(),
            "git": git_revision(),
            "command": sys.argv,
            **(extra or {}),
        }
        from selfsynth.results import OBSERVATION_ONLY, drop_fields

        def comparable(c: dict[str, Any]) -> dict[str, Any]:
            return drop_fields(c, (*extendable, *OBSERVATION_ONLY))

        if previous is not None and comparable(previous.get("config", {})) != comparable(config):
            raise UserError(
                f"{path} was written by a run with a different config; use another --out or --experiment "
                "(resuming would mix results of two configs)"
            )
        if previous is not None:
            manifest["created"] = previous.get("created", time.time())
            manifest["resumed"] = previous.get("resumed", 0) + 1
        else:
            manifest["created"] = time.time()
        write_json(path, manifest)
        return path


def run_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """For a path inside a run unit (e.g. ``<unit>/iter_<r>/train/merged``): the run's folder, task,
    method, seed and iteration, from the unit's manifest; None for a path outside any run."""
    path = Path(os.path.abspath(path))  # not resolve(): a linked model folder still belongs to its run
    iteration = next((int(p.name[5:]) for p in [path, *path.parents] if p.name.startswith("iter_") and p.name[5:].isdigit()), None)
    for folder in [path, *path.parents][:6]:
        manifest = folder / "manifest.json"
        if manifest.is_file():
            run_config = read_json(manifest).get("config", {})
            return {"run": str(folder), "task": run_config.get("task"), "method": run_config.get("method"),
                    "seed": run_config.get("seed"), "iteration": iteration, "experiment": run_config.get("experiment")}
    return None


def plugin_provenance(group: str, name: str, obj: Any) -> dict[str, Any] | None:
    """Where a class registered as ``name`` comes from, when it is not ours: its distribution and
    version (through the entry point of ``group``, else the package that holds its module) and a
    sha256 of its source (every .py file of its top-level package, by relative path), so a run
    records exactly which plugin code produced it. None for the harness's own classes."""
    import hashlib
    import importlib.util

    module = getattr(obj, "__module__", "") or ""
    top = module.split(".")[0]
    if top == "selfsynth":
        return None
    dist_name = None
    for ep in metadata.entry_points(group=group, name=name):
        dist_name = ep.dist.metadata["Name"] if ep.dist is not None else None
    if dist_name is None:
        dist_name = next(iter(metadata.packages_distributions().get(top, [])), None)
    version = None
    if dist_name is not None:
        try:
            version = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            pass
    spec = importlib.util.find_spec(top)
    digest = hashlib.sha256()
    if spec is not None and spec.submodule_search_locations:
        folders = [Path(f) for f in spec.submodule_search_locations]
        files = sorted((p.relative_to(folder).as_posix(), p) for folder in folders for p in folder.rglob("*.py"))
    elif spec is not None and spec.origin:
        files = [(Path(spec.origin).name, Path(spec.origin))]
    else:
        files = []
    for rel, path in files:
        digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return {
        "name": name, "group": group, "object": f"{module}:{getattr(obj, '__qualname__', '')}",
        "distribution": dist_name, "version": version,
        "source_sha256": digest.hexdigest() if files else None, "source_files": len(files),
    }


def _torch_threads() -> int | None:
    try:
        import torch  # every run that writes a manifest uses torch; imported once per process
    except ImportError:
        return None
    return torch.get_num_threads()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> dict[str, Any]:
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if rev.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


