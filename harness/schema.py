"""Schema versions of the JSON files the harness writes, in one place.

Every file below records its version as ``"schema_version"``. Bump a version when its file's
layout changes in a way an older reader would misread (a renamed or re-meant key); adding keys
needs no bump. Readers that depend on a layout check it with ``require``.
"""
from __future__ import annotations

from typing import Any

from selfsynth.errors import UserError

RUN_MANIFEST = 1  # <run unit>/manifest.json: config, seeds, fingerprints, versions (store.RunStore)
RUN_RESULTS = 1  # <run unit>/results.json: per-iteration metrics and provenance (runner.Runner)
EVAL_METRICS = 1  # <eval>/metrics.json: accuracy, CIs, per-class (metrics.accuracy, evaluate)
JUDGE = 1  # judge_records.jsonl rows and judge_metrics.json: EE, CS, FS (metrics.grading)
SELECTION_EVAL = 1  # concept-selection precision report (metrics.select_eval)
GENERAL = 1  # general.json: general-ability benchmarks through lmms-eval (metrics.general)
REGRESS_REPORT = 2  # `selfsynth regress --out`: the paired gate's report (reports.regress)


def require(data: Any, version: int, where: str) -> None:
    """A UserError unless ``data`` is an object recording ``schema_version == version``."""
    found = data.get("schema_version") if isinstance(data, dict) else None
    if found != version:
        raise UserError(f"{where}: schema_version {found!r}, expected {version} (written by another version of selfsynth?)")
