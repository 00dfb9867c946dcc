"""Result tables from the run store: every number traces back to a results.json and its records."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from selfsynth.errors import UserError
from selfsynth.io import read_json

METHOD_ORDER = ["base", "nl", "lge", "ours", "no_filter"]


def collect(out: str | Path, experiment: str = "default") -> pd.DataFrame:
    """One row per (task, method, iteration) found under ``out/experiment``."""
    root = Path(out) / experiment
    if not root.is_dir():
        raise UserError(f"{root}: no such run folder (expected --out DIR containing experiment {experiment!r})")
    rows: list[dict[str, Any]] = []
    for path in sorted(root.glob("*/*/results.json")):
        results = read_json(path)
        for record in results.get("iterations", []):
            metrics = record.get("metrics") or {}
            rows.append({
                "task": results["task"],
                "method": results["method"],
                "iteration": record["iteration"],
                "accuracy": metrics.get("accuracy"),
                "accuracy_paper": metrics.get("accuracy_paper"),
                "n": metrics.get("n"),
                "limit": results.get("limit"),
                "source": str(path.relative_to(Path(out))),
            })
    if not rows:
        raise UserError(f"{root}: no results.json found (run `selfsynth run` first)")
    return pd.DataFrame(rows)


def accuracy_table(frame: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Methods × iterations of one metric per task (the layout of the paper's Table 1 rows)."""
    table = frame.pivot_table(index=["task", "method"], columns="iteration", values=metric, aggfunc="first")
    table.columns = [f"iter {c}" for c in table.columns]
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    table = table.reset_index()
    table["_order"] = table["method"].map(lambda m: order.get(m, len(order)))
    table = table.sort_values(["task", "_order", "method"]).drop(columns="_order")
    return table.set_index(["task", "method"])


def render(table: pd.DataFrame, fmt: str = "github") -> str:
    if fmt == "csv":
        return table.to_csv()
    if fmt == "latex":
        return table.to_latex(float_format="%.3f")
    # a zero-shot method has no iterations ≥ 1: shown as "-", not as a number
    frame = table.reset_index()
    for column in table.columns:
        frame[column] = [f"{v:.3f}" if pd.notna(v) else "-" for v in frame[column]]
    return frame.to_markdown(tablefmt=fmt, index=False, disable_numparse=True)
