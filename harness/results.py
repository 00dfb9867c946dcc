"""The one reader of stored results: file names, a run unit (``RunResults``), an evaluation folder
(``EvalResults``) and the walkers that find them. Tables, the HTML report, ``regress``, ``judge``
and ``reproduce`` read the store through this module only.

A run unit is the folder whose ``manifest.json`` records the run's config (``store.RunStore``
writes it before the first step); its ``results.json`` grows by one record per finished iteration.
A unit is found by its manifest, never by guessing which ``results.json`` belongs to a run.

The *fingerprint* of a run is a sha256 of its requested config (what ``resolve_run_config``
returned, before the task's defaults are filled in) without ``FINGERPRINT_EXCLUDES``: where the run
is stored (``out``, ``experiment``), the toy world's cache folder, ``iterations``, which may grow
(more iterations continue a run), and ``train.report_to`` (where curves are logged). Everything else — ``limit``, synthesis, training, judge, paths of
the dataset and the model — is part of what produced the numbers, so two configs that differ in it
never share a run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth import schema
from selfsynth.errors import UserError
from selfsynth.io import read_json

MANIFEST = "manifest.json"  # <unit>/: what produced the run (store.RunStore.write_manifest)
RESULTS = "results.json"  # <unit>/: one record per finished iteration (runner.Runner)
METRICS = "metrics.json"  # <eval folder>/: accuracy and its setup (selfsynth eval, a run's iter_<r>/eval)
RECORDS = "records.jsonl"  # <eval folder>/: one answer per test sample
JUDGE_METRICS = "judge_metrics.json"  # beside the records or in iter_<r>/judge_<name>/
JUDGE_RECORDS = "judge_records.jsonl"
GENERAL = "general.json"  # general-ability summary (metrics.general)
BENCHMARK_RESULTS = RESULTS  # lmms-eval's own output per benchmark inside a general step (not a run's)
SELECTION = "select_eval.json"  # concept-selection precision (selfsynth select-eval)
RUN_LOG = "run.log"
TRANSFER_DIR = "transfer"  # <unit>/transfer/<eval task>/: a run's final model on another task

FINGERPRINT_EXCLUDES = ("out", "experiment", "toy_cache", "iterations", "train.report_to")
# where training curves are logged changes no number (its default also depends on what is installed)
OBSERVATION_ONLY = ("train.report_to",)


def drop_fields(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``data`` without the (dotted) ``fields``; the input is not modified."""
    out = dict(data)
    for name in fields:
        head, _, rest = name.partition(".")
        if rest and isinstance(out.get(head), dict):
            out[head] = drop_fields(out[head], (rest,))
        elif not rest:
            out.pop(head, None)
    return out
# folders of a run that hold models, images, training data or caches, never a result file
_PRUNE = {"merged", "adapter", "model_images", "data", "train", "_shared", "__pycache__", ".git"}


# -- fingerprints ------------------------------------------------------------------------------------
def comparable_config(config: Any) -> dict[str, Any]:
    """A config (dataclass or dict) as plain JSON data without ``FINGERPRINT_EXCLUDES``."""
    from selfsynth import config as cfg

    data = cfg.to_dict(config) if dataclasses.is_dataclass(config) else dict(config)
    return drop_fields(json.loads(json.dumps(data, sort_keys=True)), FINGERPRINT_EXCLUDES)


def config_fingerprint(config: Any) -> str:
    text = json.dumps(comparable_config(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def first_difference(stored: Any, requested: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """(dotted field, stored value, requested value) of the first field that differs, or None."""
    if isinstance(stored, dict) and isinstance(requested, dict):
        for key in sorted(set(stored) | set(requested)):
            found = first_difference(stored.get(key), requested.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return None if stored == requested else (where, stored, requested)


# -- reading -----------------------------------------------------------------------------------------
def read_object(path: str | os.PathLike, version: int | None = None, what: str = "a result file") -> dict[str, Any]:
    """A JSON object from the store; a damaged or foreign file is one UserError line."""
    path = Path(path)
    try:
        data = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)}); {what} was damaged") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object ({what})")
    if version is not None:
        schema.require(data, version, str(path))
    return data


def _optional(path: Path, version: int | None = None, what: str = "a result file") -> dict[str, Any] | None:
    return read_object(path, version, what) if path.is_file() else None


@dataclass
class RunResults:
    """One run unit as stored: its manifest and (once an iteration finished) its results."""

    path: Path  # the unit folder: <out>/<experiment>/<task>/<method>[/seed_<s>]
    manifest: dict[str, Any]
    results: dict[str, Any] | None

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run used (defaults filled in)."""
        return self.manifest.get("config") or {}

    @property
    def requested(self) -> dict[str, Any] | None:
        """The config as asked for (before defaults), which the fingerprint covers; None for runs
        written before it was recorded."""
        return self.manifest.get("requested")

    @property
    def fingerprint(self) -> str | None:
        return self.manifest.get("fingerprint")

    @property
    def task(self) -> str:
        return str(self.config.get("task") or (self.results or {}).get("task"))

    @property
    def method(self) -> str:
        return str(self.config.get("method") or (self.results or {}).get("method"))

    @property
    def experiment(self) -> str:
        return str(self.config.get("experiment") or "default")

    @property
    def seed(self) -> int:
        seed = self.config.get("seed", (self.results or {}).get("seed", 0))
        return int(seed) if seed is not None else 0

    @property
    def iterations(self) -> list[dict[str, Any]]:
        """One record per finished iteration: {iteration, model, metrics, records, judge?, ...}."""
        return list((self.results or {}).get("iterations") or [])

    @property
    def expected_iterations(self) -> int:
        """Evaluated iterations a finished run holds: K + 1 for a training method, else 1."""
        expected = self.manifest.get("expected_iterations")
        if isinstance(expected, int):
            return expected
        from selfsynth.registry import METHODS  # runs written before the manifest recorded it

        try:
            trains = getattr(METHODS.get(self.method), "trains", True)
        except UserError:  # a plugin no longer installed: what was stored is all there is to judge by
            return max(len(self.iterations), 1)
        return int(self.config.get("iterations") or 0) + 1 if trains else 1

    def judge_outputs(self) -> dict[int, dict[str, Any]]:
        """Per iteration, its grading: recorded in results.json by ``run --judge``, else the
        judge_metrics.json a separate ``selfsynth judge`` wrote beside the iteration's records."""
        out = {}
        for record in self.iterations:
            iteration = int(record["iteration"])
            if record.get("judge"):
                out[iteration] = record["judge"]
                continue
            graded = _optional(self.path / f"iter_{iteration}" / "eval" / JUDGE_METRICS, what="a judge's metrics")
            if graded is not None:
                out[iteration] = graded
        return out

    def missing(self) -> list[str]:
        """What a finished run has and this one lacks (empty: complete)."""
        gaps = []
        done, expected = len(self.iterations), self.expected_iterations
        if done < expected:
            gaps.append(f"{done} of {expected} iterations")
        if self.config.get("judge") and any("judge" not in r for r in self.iterations):
            gaps.append("ungraded iterations")
        if self.config.get("general") and "general" not in (self.results or {}):
            gaps.append("no general-ability summary")
        return gaps

    @property
    def complete(self) -> bool:
        return not self.missing()

    def eval_folder(self, iteration: int) -> Path:
        return self.path / f"iter_{iteration}" / "eval"

    def transfer_folder(self, eval_task: str) -> Path:
        return self.path / TRANSFER_DIR / eval_task


def run_results_path(unit: str | os.PathLike) -> Path:
    return Path(unit) / RESULTS


def read_run(unit: str | os.PathLike) -> RunResults | None:
    """The run unit at ``unit``, or None when no run was started there."""
    unit = Path(unit)
    manifest = _optional(unit / MANIFEST, schema.RUN_MANIFEST, "a run manifest")
    if manifest is None:
        return None
    results = _optional(unit / RESULTS, schema.RUN_RESULTS, "a run's results")
    if results is not None and not isinstance(results.get("iterations"), list):
        raise UserError(f"{unit / RESULTS}: no 'iterations' list (not a run's results)")
    return RunResults(unit, manifest, results)


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _PRUNE and not d.startswith((".", "iter_")))
        yield Path(folder), dirs, files


def iter_runs(root: str | os.PathLike, experiment: str | None = None) -> Iterator[RunResults]:
    """Every run unit under ``root`` (a run store, an experiment folder or a unit), found by its
    manifest; with ``experiment``, only that experiment's runs."""
    for folder, dirs, files in _walk(Path(root)):
        if MANIFEST in files:
            run = read_run(folder)
            if run is not None and run.config.get("task") and run.config.get("method"):
                dirs[:] = [d for d in dirs if d != TRANSFER_DIR]  # a unit holds no other unit
                if experiment is None or run.experiment == experiment:
                    yield run


# -- evaluation folders ------------------------------------------------------------------------------
@dataclass
class EvalResults:
    """An evaluation folder: metrics.json (accuracy and the setup it was made with) and its records."""

    path: Path
    metrics: dict[str, Any]

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of what produced it, where the writer recorded one (transfer)."""
        return self.metrics.get("fingerprint")


def is_eval_folder(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path.name == METRICS and path.is_file()) or (path / METRICS).is_file()


def read_eval(path: str | os.PathLike, need_records: bool = True) -> EvalResults:
    """The evaluation folder ``path`` (or its metrics.json); a UserError when it is not one."""
    folder = Path(path)
    if folder.name == METRICS:
        folder = folder.parent
    needed = [folder / METRICS] + ([folder / RECORDS] if need_records else [])
    for file in needed:
        if not file.is_file():
            raise UserError(f"{folder}: expected an evaluation folder with {' and '.join(n.name for n in needed)} "
                            f"(missing {file.name}; written by `selfsynth eval` or a run's iter_<r>/eval/)")
    metrics = read_object(folder / METRICS, what="an evaluation's metrics")
    if "schema_version" in metrics:  # folders from before versioning are read as they are
        schema.require(metrics, schema.EVAL_METRICS, str(folder / METRICS))
    return EvalResults(folder, metrics)


def read_eval_optional(path: str | os.PathLike) -> EvalResults | None:
    return read_eval(path) if (Path(path) / METRICS).is_file() and (Path(path) / RECORDS).is_file() else None


def iter_transfers(root: str | os.PathLike) -> Iterator[EvalResults]:
    """Evaluations of a run's model outside its own iterations (``metrics.json`` recording a
    ``train_run``): the transfer evaluations."""
    for folder, _dirs, files in _walk(Path(root)):
        if METRICS in files and RECORDS in files:
            found = read_eval(folder)
            if found.metrics.get("train_run"):
                yield found


# -- other summaries ---------------------------------------------------------------------------------
def iter_named(root: str | os.PathLike, name: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, content) of every ``name`` (GENERAL, SELECTION) under ``root``."""
    for folder, _dirs, files in _walk(Path(root)):
        if name in files:
            yield folder / name, read_object(folder / name)


def iter_general(root: str | os.PathLike) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every general.json under ``root``, including those inside a run's iterations."""
    for folder, dirs, files in os.walk(Path(root)):
        dirs[:] = sorted(d for d in dirs if d not in _PRUNE and not d.startswith("."))
        if GENERAL in files:
            yield Path(folder) / GENERAL, read_object(Path(folder) / GENERAL)
