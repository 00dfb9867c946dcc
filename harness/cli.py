"""`selfsynth` command line. Each subcommand lives in ``harness/commands/<name>.py``; modules are
imported only when their command runs, so ``selfsynth ls`` stays fast.

A command is either declared here whole — its flags generated from a config dataclass
(``config``), one library function called with the config (``call``), its result printed as JSON
(``--json``) or by the module's ``show(result, config)`` — or its module has ``add_parser(parser)``
and ``run(args) -> int`` of its own (a command whose config resolves in layers, or prints as it goes).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import sys
from dataclasses import dataclass

from selfsynth.errors import UserError

CONFIGS = "selfsynth.configs.commands"


@dataclass(frozen=True)
class Command:
    help: str  # one line, shown by `selfsynth --help`
    config: str | None = None  # "module:Class" whose fields are the flags, when this table declares the command
    call: str | None = None  # "module:function" called with that config
    json: str | None = None  # help of --json (print the result as JSON), when the result has one


# Only commands that work are listed here.
COMMANDS: dict[str, Command] = {
    "ls": Command("list registered tasks, methods or judges"),
    "toy": Command("build (once) the offline toy dataset and toy base model; print their paths"),
    "demo": Command("run every method on the offline toy world and print the accuracy table"),
    "table": Command("the paper's tables (1, 11, 12, 13, transfer) and plots from stored results"),
    "select-eval": Command("concept-selection precision per text encoder on a task (Table 13)"),
    "run": Command("run or resume one method on one task: synthesize, train, evaluate per iteration"),
    "data": Command("check a dataset folder: images per split, classes, unreadable files", f"{CONFIGS}:DataConfig",
                    "selfsynth.api:check_dataset", json="print one JSON object: task, root, splits, num_classes, skipped"),
    "eval": Command("accuracy of a model (+ adapter) on a task split: records.jsonl + metrics.json"),
    "match": Command("show which class each accuracy rule reads from answers (and, with --label, the verdicts)"),
    "concepts": Command("step 0 on its own: class concepts from an LLM endpoint (cached, costed) or a descriptor file",
                        f"{CONFIGS}:ConceptsConfig", "selfsynth.api:make_concepts", json="print the statistics as JSON"),
    "new-method": Command("scaffold a method as an installable plugin package (runner, entry point, toy-world test)",
                          f"{CONFIGS}:NewMethodConfig", "selfsynth.api:scaffold_method"),
    "reproduce": Command("regenerate a paper table from an experiment file: run missing cells, write tables and plots (--dry-run: plan and cost)"),
    "regress": Command("gate a checkpoint: paired accuracy comparison with a baseline evaluation; exit 1 on regression"),
    "claims": Command("the paper's claims checked over stored runs: paired intervals (seeds, then images) and verdicts"),
    "export-lmms": Command("write a task as a local lmms-eval task (JSONL + YAML) for --include_path", f"{CONFIGS}:ExportLmmsConfig",
                           "selfsynth.api:export_lmms", json="print the result as one JSON object"),
    "judge": Command("EE, CS (judge) and FS (reference-LM perplexity) of an evaluation folder's answers"),
    "general-data": Command("convert LLaVA-Instruct conversations (complex_reasoning_77k.json) into the general rows mixed 1:1 into training",
                            f"{CONFIGS}:GeneralDataConfig", "selfsynth.api:general_data", json="print the report as one JSON object"),
    "report": Command("write a static HTML report of a run folder (tables, samples, synthesis, regression)", f"{CONFIGS}:ReportConfig",
                      "selfsynth.api:html_report"),
    "general": Command("general ability (Table 11) through lmms-eval's own benchmarks on local copies; change vs a base model"),
}


def command_module(name: str) -> str:
    return "selfsynth.commands." + name.replace("-", "_")


def load(target: str):
    """The object a "module:name" string names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


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
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        if name == selected:
            _add_flags(sub, name)
    return parser


def _add_flags(parser: argparse.ArgumentParser, name: str) -> None:
    command = COMMANDS[name]
    if command.config is None:
        importlib.import_module(command_module(name)).add_parser(parser)
        return
    from selfsynth import config as cfg

    cfg.add_arguments(parser, load(command.config))
    if command.json:
        parser.add_argument("--json", action="store_true", help=command.json)


def _run(name: str, args: argparse.Namespace) -> int:
    command, module = COMMANDS[name], importlib.import_module(command_module(name))
    if command.config is None:
        return int(module.run(args) or 0)
    from selfsynth import config as cfg

    config = cfg.from_args(load(command.config), args)
    result = load(command.call)(config)
    print(json.dumps(result, sort_keys=True) if getattr(args, "json", False) else module.show(result, config))
    return 0


def main(argv: list[str] | None = None) -> int:
    # Bars redrawn into a log file or CI log are noise: off unless stderr is a terminal. A
    # TQDM_DISABLE the user set wins either way. Set before anything imports tqdm, which reads its
    # TQDM_* variables once, at import; the processes a command starts inherit it.
    quiet = "TQDM_DISABLE" not in os.environ and not _is_terminal(sys.stderr)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        return _main(argv)
    finally:
        if quiet:  # main() called in-process (tests, notebooks) leaves the environment as it was
            os.environ.pop("TQDM_DISABLE", None)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "json", False):  # stdout is for the JSON alone
        from selfsynth.tracking import quiet_offline_notice

        quiet_offline_notice()
    try:
        return _run(args.command, args)
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


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
