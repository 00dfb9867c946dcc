"""SelfSynth evaluation and benchmark harness.

The Python API a notebook calls (the functions every ``selfsynth`` command wraps)::

    import selfsynth
    # defaults < the task's preset < these overrides, checked as `selfsynth run` checks its flags
    config = selfsynth.resolve_run_config(overrides={"task": "toy", "method": "ours", "iterations": 1, "limit": 12})
    results = selfsynth.run(config)
    metrics, folder = selfsynth.evaluate(selfsynth.EvalConfig(task="toy", limit=12))

Names resolve on first use, so ``import selfsynth`` (and ``selfsynth ls``) loads neither torch
nor a model library.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_API = {
    "run": "selfsynth.api",
    "evaluate": "selfsynth.api",
    "resolve_run_config": "selfsynth.api",
    "judge": "selfsynth.api",
    "regress": "selfsynth.api",
    "reproduce": "selfsynth.experiment",
    "build_table": "selfsynth.reports.tables",
}
_CONFIGS = ("RunConfig", "EvalConfig", "TrainConfig", "SynthConfig", "GenerateConfig", "JudgeConfig", "GradingSettings",
            "TaskSpec", "Endpoint")

__all__ = sorted([*_API, *_CONFIGS])


def _api_name(name: str, module: str) -> property:
    def get(package: types.ModuleType) -> Any:
        return package.__dict__.get(f"_set_{name}") or getattr(importlib.import_module(module), name)

    def set_(package: types.ModuleType, value: Any) -> None:
        # importing the submodule `selfsynth.evaluate` (the sample scorer) sets the package's
        # attribute of that name: the API function keeps the name; anything else is an override
        if not isinstance(value, types.ModuleType):
            package.__dict__[f"_set_{name}"] = value

    return property(get, set_)


# the package's class gets the API names as properties: resolved on use, never shadowed by a submodule
sys.modules[__name__].__class__ = type("SelfSynthPackage", (types.ModuleType,),
                                       {name: _api_name(name, module) for name, module in _API.items()})


def __getattr__(name: str) -> Any:
    if name in _CONFIGS:
        return getattr(importlib.import_module("selfsynth.configs"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
