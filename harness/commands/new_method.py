"""`selfsynth new-method NAME`: scaffold a method as its own installable package
(``selfsynth.scaffold``: a runner, its entry point, a toy-world test and a README)."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg
from selfsynth.configs.commands import NewMethodConfig

CONFIGS = (NewMethodConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, NewMethodConfig)


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import scaffold_method

    config = cfg.from_args(NewMethodConfig, args)
    written = scaffold_method(config)
    for path in written:
        print(path)
    out = config.out or "selfsynth-" + config.name.replace("_", "-")
    print(f"next: pip install -e {out} && selfsynth ls methods && selfsynth run --task toy --method {config.name} --iterations 1 --limit 12")
    return 0
