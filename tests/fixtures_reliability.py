"""Figures the reliability tests measure (bad inputs tried, faults injected and survived, kill
points), collected by `benchmarks/reliability_report.py` for docs/reliability.md. The script sets
SELFSYNTH_RELIABILITY_FIGURES for its own pytest run only; without it nothing is written."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FIGURES_ENV = "SELFSYNTH_RELIABILITY_FIGURES"


def record_figure(group: str, name: str, figures: dict[str, Any]) -> None:
    folder = os.environ.get(FIGURES_ENV)
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / f"{group}.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"name": name, **figures}, sort_keys=True) + "\n")
