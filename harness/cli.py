"""`selfsynth` command line. Each subcommand lives in ``harness/commands/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``; modules are imported only when their
command runs, so ``selfsynth ls`` stays fast."""
from __future__ import annotations

import argparse
import errno
import importlib
import sys

from selfsynth.errors import UserError

# name -> (module, one-line help). Only commands that work are listed here.
COMMANDS: dict[str, tuple[str, str]] = {
    "ls": ("selfsynth.commands.ls", "list registered tasks, methods or judges"),
    "toy": ("selfsynth.commands.toy", "build (once) the offline toy dataset and toy base model; print their paths"),
    "demo": ("selfsynth.commands.demo", "run every method on the offline toy world and print the accuracy table"),
    "table": ("selfsynth.commands.table", "the paper's tables (1, 11, 12, 13, transfer) and plots from stored results"),
    "select-eval": ("selfsynth.commands.select_eval", "concept-selection precision per text encoder on a task (Table 13)"),
    "run": ("selfsynth.commands.run", "run or resume one method on one task: synthesize, train, evaluate per iteration"),
    "data": ("selfsynth.commands.data", "check a dataset folder: images per split, classes, unreadable files"),
    "eval": ("selfsynth.commands.eval", "accuracy of a model (+ adapter) on a task split: records.jsonl + metrics.json"),
    "match": ("selfsynth.commands.match", "show which class each accuracy rule reads from answers (and, with --label, the verdicts)"),
    "concepts": ("selfsynth.commands.concepts", "step 0 on its own: class concepts from an LLM endpoint (cached, costed) or a descriptor file"),
    "new-method": ("selfsynth.commands.new_method", "scaffold a method as an installable plugin package (runner, entry point, toy-world test)"),
    "reproduce": ("selfsynth.commands.reproduce", "regenerate a paper table from an experiment file: run missing cells, write tables and plots (--dry-run: plan and cost)"),
    "regress": ("selfsynth.commands.regress", "gate a checkpoint: paired accuracy comparison with a baseline evaluation; exit 1 on regression"),
    "claims": ("selfsynth.commands.claims", "the paper's claims checked over stored runs: paired intervals (seeds, then images) and verdicts"),
    "export-lmms": ("selfsynth.commands.export_lmms", "write a task as a local lmms-eval task (JSONL + YAML) for --include_path"),
    "judge": ("selfsynth.commands.judge", "EE, CS (judge) and FS (reference-LM perplexity) of an evaluation folder's answers"),
    "general-data": ("selfsynth.commands.general_data", "convert LLaVA-Instruct conversations (complex_reasoning_77k.json) into the general rows mixed 1:1 into training"),
    "report": ("selfsynth.commands.report", "write a static HTML report of a run folder (tables, samples, synthesis, regression)"),
    "general": ("selfsynth.commands.general", "general ability (Table 11) through lmms-eval's own benchmarks on local copies; change vs a base model"),
}


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("selfsynth-harness")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Only the selected command's module is imported (commands may pull in torch)."""
    parser = argparse.ArgumentParser(prog="selfsynth", description="SelfSynth evaluation and benchmark harness")
    parser.add_argument("--version", action="version", version=f"selfsynth {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            importlib.import_module(module_name).add_parser(sub)
        sub.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        print(f"selfsynth {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # a full disk is the user's to fix, not a bug: one line naming what could not be written
        print(f"selfsynth {args.command}: error: {exc.filename or 'a write'}: no space left on device; free space and re-run", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"selfsynth {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
