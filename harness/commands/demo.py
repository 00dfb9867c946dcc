"""`selfsynth demo`: the whole method offline on the toy world — every method, K iterations,
then the accuracy table. Re-running resumes (finished steps are skipped)."""
from __future__ import annotations

import argparse
import time


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--output_path", dest="out", default="runs/demo", help="run store folder (default: runs/demo)")
    parser.add_argument("--methods", default="base,nl,lge,ours,no_filter", help="comma-separated methods to run")
    parser.add_argument("--iterations", type=int, default=2, help="iterations K per method (default: 2)")
    parser.add_argument("--limit", type=int, default=48, help="cap train and test images (default: 48, 4 per class, so the demo takes minutes on 2 CPU cores)")
    parser.add_argument("--seed", type=int, default=0, help="global seed")
    parser.add_argument("--toy-cache", "--toy_cache", dest="toy_cache", default=None, help="toy world cache folder (default: <checkout>/.cache/toy when running from a source checkout, else ~/.cache/selfsynth/toy)")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import resolve_run_config
    from selfsynth.api import run as execute
    from selfsynth.reports.tables import build_table, render
    from selfsynth.tasks.toy import ToyTask

    timings = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        overrides = {"task": ToyTask.name, "method": method, "out": args.out, "iterations": args.iterations, "seed": args.seed}
        if args.toy_cache is not None:
            overrides["toy_cache"] = args.toy_cache
        if args.limit is not None:
            overrides["limit"] = args.limit
        config = resolve_run_config(None, overrides)
        started = time.time()
        print(f"== {method}: {config.iterations if method != 'base' else 0} iteration(s)", flush=True)
        execute(config)
        timings[method] = round(time.time() - started, 1)
    print()
    print(render(build_table("1", [args.out], experiment="default"), "md"))
    print("\nwall seconds per method (this invocation; resumed steps cost ~0):", timings)
    print(f"run folder: {args.out}  (re-print with: selfsynth table --out {args.out})")
    return 0
