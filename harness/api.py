"""The Python API that every command wraps (as lm-eval's ``simple_evaluate``): a notebook calls
the same functions the CLI does. Commands only parse flags, call one of these and print."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from selfsynth import config as cfg
from selfsynth.errors import UserError


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["seed=1", "train_size=500"]`` → ``{"seed": "1", "train_size": "500"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"task option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def build_task(name: str, root: str | None, options: dict[str, Any] | None = None):
    """The task ``name`` on ``root``; for toy without a root, the generated toy world."""
    from selfsynth.registry import TASKS

    task_cls = TASKS.get(name)
    if root is None:
        if name != "toy":
            raise UserError(f"task {name!r} needs --root (the dataset folder)")
        from selfsynth.toy import ensure_toy_world

        root = str(ensure_toy_world().dataset_root)
    return task_cls(root, **(options or {}))


def resolve_run_config(config_file: str | None = None, overrides: dict[str, Any] | None = None):
    """defaults < toy preset (task toy) < YAML < flags."""
    from selfsynth.runner import RunConfig

    overrides = overrides or {}
    first = cfg.resolve(RunConfig, config_file, overrides)
    preset = None
    if first.task == "toy":
        from selfsynth.presets import TOY_RUN_PRESET

        preset = TOY_RUN_PRESET
    return cfg.resolve(RunConfig, config_file, overrides, base=preset)


def prepare_run(config):
    """Fill toy defaults, build the task, open store and cache. Returns (config, task, store, cache)."""
    import dataclasses

    from selfsynth.cache import ResponseCache
    from selfsynth.store import RunStore

    if config.task == "toy" and (config.root is None or config.model is None):
        from selfsynth.toy import ensure_toy_world

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
    task = build_task(config.task, config.root, parse_options(config.task_options))
    store = RunStore(Path(config.out), experiment=config.experiment)
    cache = ResponseCache(Path(config.out) / "cache.sqlite")
    return config, task, store, cache


def run(config) -> dict[str, Any]:
    """Run or resume one method on one task (a resolved ``RunConfig``); returns the results dict."""
    from selfsynth.models import model_fingerprint
    from selfsynth.registry import METHODS

    config, task, store, cache = prepare_run(config)
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


def read_answers(task_name: str, answers: list[str], root: str | None = None, options: dict[str, Any] | None = None,
                 label: str | None = None) -> list[dict[str, Any]]:
    """Per answer, what each accuracy rule reads from it (``selfsynth match``): ours, the verdict,
    why, and every class mention with the cue that negates it; the published rule, every class it
    credits. With ``label``, both rules' verdicts on it."""
    task = build_task(task_name, root, options)
    reader = task.answer_reader()
    if label is not None and label not in reader.classes:
        raise UserError(f"--label {label!r} is not a class of task {task_name!r} (classes: {', '.join(reader.classes)})")
    rows = []
    for answer in answers:
        reading = reader.read(answer)
        ours, paper = reading.as_dict(), {"classes": reader.paper_classes(answer)}
        if label is not None:
            ours["match"] = reading.verdict == label
            paper["match"] = bool(reader.paper_match(answer, label))
        rows.append({"answer": answer, "label": label, "rule": reader.rule, "ours": ours, "paper": paper})
    return rows
