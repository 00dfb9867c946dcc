"""Figures beside the tables (matplotlib, Agg backend, each as PNG and SVG), from stored results:

- ``accuracy_<task>``: accuracy per iteration, one line per method (the mean over seeds), a band
  of its 95% interval from the hierarchical bootstrap of ``selfsynth claims`` and ``table --ci``
  (seeds, then the test images of each; seeds alone for a metric without per-image scores, and no
  band for one seed without them) — inside the metric's range by construction (error bars where
  a method has one iteration);
- ``cs_<task>``: the cognition score per iteration, the same way;
- ``concept_precision``: Table 13's precision per text encoder and task, with the random-selection
  baseline and error bars over seeds.

A missing value is a gap, never a zero: an iteration with no stored value breaks its line, and an
encoder without a stored precision gets no bar but an "n/a" mark.

Every figure has a title, labelled axes and a legend, so it reads without the table.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from selfsynth.reports.tables import Store, cell, display_name, method_sort_key

FORMATS = ("png", "svg")


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    from selfsynth.io import atomic_open

    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        with atomic_open(path, "wb", encoding=None) as handle:
            fig.savefig(handle, format=fmt, bbox_inches="tight", dpi=150)
        paths.append(path)
    return paths


def _safe_stem(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def per_iteration_plot(store: Store, metric: str, label: str, out_dir: Path, stem_prefix: str) -> list[Path]:
    """One figure per task: ``metric`` per iteration, mean over seeds with a 95% interval band."""
    from selfsynth.reports.claims import image_groups
    from selfsynth.reports.stats import hierarchical_bootstrap

    plt = _figure()
    written: list[Path] = []
    images = image_groups(store)
    tasks = sorted({r["task"] for r in store.iterations})
    for task in tasks:
        axis = sorted({r["iteration"] for r in store.iterations if r["task"] == task})
        rows = [r for r in store.iterations if r["task"] == task and r[metric] is not None]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for method in sorted({r["method"] for r in rows}, key=method_sort_key):
            by_iteration: dict[int, list[float]] = {}
            for r in rows:
                if r["method"] == method:
                    by_iteration.setdefault(r["iteration"], []).append(r[metric])
            # every iteration of the task on the axis: one with no value is NaN, a gap in the line
            present = [cell(by_iteration[x]) for x in sorted(by_iteration)]
            cells = {x: cell(by_iteration[x]) for x in by_iteration}
            xs = axis if len(by_iteration) > 1 else sorted(by_iteration)
            means = [cells[x]["mean"] if x in cells else math.nan for x in xs]
            bands = [_band(images, task, method, x, metric, by_iteration.get(x, []), hierarchical_bootstrap) for x in xs]
            lows, highs = [b[0] for b in bands], [b[1] for b in bands]
            seeds = max(c["n"] for c in present)
            name = f"{display_name(method)} (n={seeds} seed{'s' if seeds != 1 else ''})"
            if len(xs) == 1:
                yerr = [[max(means[0] - lows[0], 0.0)], [max(highs[0] - means[0], 0.0)]] if not math.isnan(lows[0]) else None
                ax.errorbar(xs, means, yerr=yerr, fmt="o", capsize=4, label=name)
            else:
                (line,) = ax.plot(xs, means, marker="o", label=name)
                ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(f"{task}: {label} per iteration (mean over seeds, 95% interval)")
        ax.set_xlabel("iteration (0 = base model)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({r["iteration"] for r in rows}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written += _save(fig, out_dir, f"{stem_prefix}_{_safe_stem(task)}")
        plt.close(fig)
    return written


def _band(images: dict, task: str, method: str, iteration: int, metric: str, seed_values: list[float],
          bootstrap: Any) -> tuple[float, float]:
    """The 95% interval of one point: seeds then images where per-image scores are stored, else
    seeds alone; (NaN, NaN) — no band — with neither."""
    groups = [g for (_, t, m, i, name), arrays in images.items() if (t, m, i, name) == (task, method, iteration, metric) for g in arrays]
    if not groups and len(seed_values) > 1:
        groups = [[v] for v in seed_values]
    interval = bootstrap(groups) if groups else None
    return (interval.low, interval.high) if interval else (math.nan, math.nan)


def selection_plot(store: Store, out_dir: Path) -> list[Path]:
    """Table 13 as grouped bars: precision per encoder for each task, random baseline as a marker."""
    plt = _figure()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for data in store.selection:
        for encoder, result in (data.get("encoders") or {}).items():
            grouped.setdefault((data.get("task", "–"), encoder), []).append(result)
    if not grouped:
        return []
    tasks = sorted({t for t, _ in grouped})
    encoders = sorted({e for _, e in grouped})
    width = 0.8 / len(encoders)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * len(encoders)), 4))
    for k, encoder in enumerate(encoders):
        xs, means, spread, randoms = [], [], [], []
        for i, task in enumerate(tasks):
            results = grouped.get((task, encoder))
            if not results:
                continue
            precision = cell(r.get("precision") for r in results)
            baseline = cell(r.get("random_precision") for r in results)
            xs.append(i + (k - (len(encoders) - 1) / 2) * width)
            means.append(precision["mean"] if precision else math.nan)  # no bar, not a 0 bar
            spread.append(((precision or {}).get("std") or 0.0) if precision else math.nan)
            randoms.append(baseline["mean"] if baseline else None)
        bars = ax.bar(xs, means, width=width * 0.9, yerr=spread, capsize=4, label=encoder)
        for x, mean in zip(xs, means):
            if math.isnan(mean):
                ax.annotate("n/a", (x, 0.02), ha="center", fontsize=8, color=bars.patches[0].get_facecolor() if bars.patches else None)
        ax.scatter([x for x, r in zip(xs, randoms) if r is not None], [r for r in randoms if r is not None],
                   marker="_", s=400, color="black", label="random selection" if k == 0 else None, zorder=3)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(tasks)
    ax.set_ylim(0, 1)
    ax.set_title("Concept-selection precision per text encoder (mean ± std over seeds)")
    ax.set_xlabel("task")
    ax.set_ylabel("precision of selected concepts")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    written = _save(fig, out_dir, "concept_precision")
    plt.close(fig)
    return written


def write_plots(store: Store, out_dir: str | Path, metric: str = "accuracy") -> list[Path]:
    """Every figure the stored results allow, into ``out_dir``; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = per_iteration_plot(store, metric, metric.replace("_", " "), out, "accuracy")
    written += per_iteration_plot(store, "cs", "cognition score (CS)", out, "cs")
    written += selection_plot(store, out)
    return written



