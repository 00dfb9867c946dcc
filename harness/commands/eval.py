"""`selfsynth eval`: accuracy of a model (optionally + LoRA adapter) on one task's split.

Writes ``records.jsonl`` and ``metrics.json`` under ``--out`` and prints the headline numbers.
For task toy, ``--root`` and ``--model`` default to the generated toy world and its base model.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from selfsynth.errors import UserError

log = logging.getLogger(__name__)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--model", default=None, metavar="PATH_OR_ID",
                        help="model folder or hub id already in the local cache; default for task toy: the toy base model")
    parser.add_argument("--adapter", default=None, metavar="DIR", help="LoRA adapter folder applied on top of --model")
    parser.add_argument("--root", default=None, metavar="DIR", help="dataset folder; default for task toy: the generated toy world")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="which split to evaluate")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N samples (recorded in metrics.json)")
    parser.add_argument("--out", "--output_path", dest="out", default=None, metavar="DIR",
                        help="output folder (default runs/eval/<task>/<split>-<model fingerprint>)")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16, help="generation batch size")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=256, help="answer length limit (paper: 256)")
    parser.add_argument("--cache", default=None, metavar="SQLITE", help="response cache file (default <out>/cache.sqlite)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="task option, repeatable (see `selfsynth data`)")
    parser.add_argument("--prompts", default=None, metavar="YAML",
                        help="YAML overriding the task domain's prompts (the question asked is its first explain prompt)")
    parser.add_argument("--json", action="store_true", help="print metrics.json to stdout")


def resolve_model_and_root(task_name: str, model: str | None, root: str | None) -> tuple[str, str]:
    if task_name == "toy" and (model is None or root is None):
        from selfsynth.toy import ensure_toy_world

        world = ensure_toy_world()
        model = model or str(world.model_path)
        root = root or str(world.dataset_root)
    if model is None:
        raise UserError(f"task {task_name!r} needs --model (a model folder or a hub id in the local cache)")
    if root is None:
        raise UserError(f"task {task_name!r} needs --root (the dataset folder)")
    return model, root


def select_samples(task, split: str, limit: int | None):
    samples = task.load(split)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit {limit}: expected a positive number")
        if limit < len(samples):
            log.warning("--limit %d: evaluating %d of %d %s samples; not a full-split number", limit, limit, len(samples), split)
        samples = samples[:limit]
    return samples


def run(args: argparse.Namespace) -> int:
    from selfsynth.cache import ResponseCache
    from selfsynth.api import build_task, parse_options
    from selfsynth.evaluate import evaluate
    from selfsynth.models import load_model
    from selfsynth.tasks.prompts import load_prompts

    model, root = resolve_model_and_root(args.task, args.model, args.root)
    task = build_task(args.task, root, parse_options(args.option))
    prompts = load_prompts(task.domain, args.prompts)  # a bad file fails before the model loads
    samples = select_samples(task, args.split, args.limit)
    lm = load_model(model, adapter=args.adapter)
    out = Path(args.out) if args.out else Path("runs") / "eval" / task.name / f"{args.split}-{lm.fingerprint[:12]}"
    cache = ResponseCache(args.cache or out / "cache.sqlite")
    metrics = evaluate(
        task, samples, lm, out, cache=cache, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        extra={"split": args.split, "limit": args.limit, "adapter": args.adapter, "root": str(task.root), "prompts": args.prompts},
        prompts=prompts,
    )
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
        return 0
    low, high = metrics["accuracy_ci95"]
    print(f"{task.name}/{args.split}: n={metrics['n']}  accuracy={metrics['accuracy']:.4f} [{low:.4f}, {high:.4f}]  "
          f"accuracy_paper={metrics['accuracy_paper']:.4f}")
    for flag in metrics.get("flags", []):
        print(f"note: {flag}")
    print(f"records: {out / 'records.jsonl'}")
    return 0
