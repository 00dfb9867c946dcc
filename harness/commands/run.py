"""`selfsynth run`: run or resume one method on one task (synthesize → train → evaluate, per iteration)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import config as cfg
from harness.errors import UserError


def add_parser(parser: argparse.ArgumentParser) -> None:
    from harness.runner import RunConfig

    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of RunConfig keys (flags override it)")
    cfg.add_arguments(parser, RunConfig)
    parser.add_argument("--output_path", dest="out", default=argparse.SUPPRESS, metavar="DIR", help="alias of --out")
    parser.add_argument("--json", action="store_true", help="print the results object as JSON")


def resolve_run_config(config_file: str | None, overrides: dict[str, Any]):
    """defaults < toy preset (task toy) < YAML < flags."""
    from harness.runner import RunConfig

    first = cfg.resolve(RunConfig, config_file, overrides)
    preset = toy_preset() if first.task == "toy" else None
    return cfg.resolve(RunConfig, config_file, overrides, base=preset)


def toy_preset() -> dict[str, Any]:
    from harness.presets import TOY_RUN_PRESET

    return TOY_RUN_PRESET


def prepare(config):
    """Fill toy defaults, build the task, open store and cache. Returns (config, task, store, cache)."""
    import dataclasses

    from harness.cache import ResponseCache
    from harness.registry import TASKS
    from harness.store import RunStore

    if config.task == "toy" and (config.root is None or config.model is None):
        from harness.toy import ensure_toy_world

        world = ensure_toy_world(config.toy_cache)
        train = config.train
        if train.general_data is None:
            train = dataclasses.replace(train, general_data=str(world.general_path))
        config = dataclasses.replace(
            config,
            root=config.root or str(world.dataset_root),
            model=config.model or str(world.model_path),
            concepts=config.concepts or str(Path(world.dataset_root) / "concepts.json"),
            train=train,
        )
    if config.root is None:
        raise UserError(f"task {config.task!r} needs --root (the dataset folder)")
    if config.model is None:
        raise UserError("--model is required for tasks other than toy (a local folder or hub id)")
    from harness.commands.data import parse_options

    task = TASKS.get(config.task)(config.root, **parse_options(config.task_options))
    store = RunStore(Path(config.out), experiment=config.experiment)
    cache = ResponseCache(Path(config.out) / "cache.sqlite")
    return config, task, store, cache


def execute(config) -> dict[str, Any]:
    from harness.models import model_fingerprint
    from harness.registry import METHODS

    config, task, store, cache = prepare(config)
    runner_cls = METHODS.get(config.method)
    unit = store.unit_dir(task.name, runner_cls.name or config.method)
    unit.mkdir(parents=True, exist_ok=True)
    store.write_manifest(
        unit,
        cfg.to_dict(config),
        seeds={"seed": config.seed},
        fingerprints={"base_model": model_fingerprint(config.model)},
        extra={"limit": config.limit},
    )
    if config.limit is not None:
        print(f"selfsynth run: --limit {config.limit}: results are for a subset and not comparable to the paper", file=sys.stderr)
    runner = runner_cls(config, task, store, cache, config.model)
    return runner.run()


def run(args: argparse.Namespace) -> int:
    import json

    from harness.runner import RunConfig

    config = resolve_run_config(args.config_file, cfg.overrides_from_args(args, RunConfig))
    results = execute(config)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(format_iterations(results))
    return 0


def format_iterations(results: dict[str, Any]) -> str:
    from tabulate import tabulate

    rows = []
    for record in results["iterations"]:
        metrics = record.get("metrics", {})
        rows.append([
            record["iteration"],
            metrics.get("accuracy"),
            metrics.get("accuracy_paper"),
            (record.get("data") or {}).get("n_examples", "-"),
            (record.get("train") or {}).get("final_loss", "-"),
        ])
    title = f"{results['task']} / {results['method']} (n_test={results['n_test']}, limit={results['limit']})"
    return title + "\n" + tabulate(rows, headers=["iteration", "accuracy", "accuracy_paper", "train examples", "final loss"], floatfmt=".3f")
