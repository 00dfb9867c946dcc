"""`selfsynth new-method NAME`: scaffold a method as its own installable package
(``selfsynth.scaffold``: a runner, its entry point, a toy-world test and a README; flags from
``NewMethodConfig``, declared in ``selfsynth.cli``)."""
from __future__ import annotations

from pathlib import Path


def show(written: list[Path], config) -> str:
    out = config.out or "selfsynth-" + config.name.replace("_", "-")
    return "\n".join([*map(str, written), f"next: pip install -e {out} && selfsynth ls methods && "
                      f"selfsynth run --task toy --method {config.name} --iterations 1 --limit 12"])
