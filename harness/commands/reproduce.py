"""`selfsynth reproduce EXPERIMENT.yaml`: run what is missing of an experiment (task × method ×
seed cells), then write its tables (md, LaTeX, CSV, JSON) and plots; `--dry-run` lists the cells,
what is done, every missing input, and what the rest will cost."""
from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", metavar="EXPERIMENT.yaml", help="experiment file (see experiments/)")
    parser.add_argument("--out", "--output_path", dest="out", default=None, metavar="DIR",
                        help="run store folder (default: the experiment's `out`); experiments sharing it share cells")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="list cells, status, missing inputs and the cost estimate; run nothing (exit 2 when an input is missing)")
    parser.add_argument("--launcher", default="local", choices=("local", "slurm", "submitit_local"),
                        help="local: this machine; slurm: the (task, seed) lanes as one job array, select-eval and transfer as jobs after their lanes; submitit_local: submitit's local executor")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="local and submitit_local: at most N lanes at once, each with slurm.gpus_per_cell GPUs of the visible ones (an inherited CUDA_VISIBLE_DEVICES is divided, not replaced); local CPU lanes share the cores (see --threads)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="local: torch CPU threads per lane (default: the usable cores divided among --jobs CPU lanes, "
                             "else torch's default); CPU results can differ with the thread count, so pin it to repeat a CPU run's numbers")
    parser.add_argument("--new-run-on-change", "--new_run_on_change", dest="new_run_on_change", action="store_true",
                        help="a cell whose folder holds a run of another config runs in a folder of its own "
                             "(default: stop, naming the first differing field)")
    parser.add_argument("--json", action="store_true", help="print the plan (--dry-run) or the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from selfsynth.errors import UserError
    from selfsynth.experiment import dry_run, reproduce

    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: expected a positive number")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: expected a positive number")
    if args.threads is not None and args.launcher != "local":
        raise UserError(f"--threads applies to --launcher local; {args.launcher} lanes get slurm.cpus_per_cell CPUs")
    if args.dry_run:
        report, text = dry_run(args.experiment, args.out)
        print(json.dumps(report, indent=2) if args.json else text)
        if report["missing"]:
            raise UserError(f"{args.experiment}: {len(report['missing'])} input(s) missing (listed above)")
        return 0
    from selfsynth.api import RUN_STORE_FILES
    from selfsynth.experiment import load_experiment
    from selfsynth.io import claim_output_dir

    # the experiment's run store is ours or new, before any cell file is written into it
    claim_output_dir(load_experiment(args.experiment, args.out).out, "run", adopt=RUN_STORE_FILES)
    outcome = reproduce(args.experiment, args.out, launcher=args.launcher, jobs=args.jobs,
                        on_change="new_run" if args.new_run_on_change else "stop", threads=args.threads)
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        for table in outcome["tables"]:
            print(table + "\n")
        print(f"tables and plots: {outcome['folder']}")
        print("\n" + outcome["claims"])
    return 1 if outcome["failed"] else 0
