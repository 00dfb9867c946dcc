"""Packages whose names load on first use, so that importing a package (``selfsynth``,
``selfsynth.synth``, ...) imports nothing heavy (no torch) until a name is used."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__, __getattr__, __dir__`` for ``package``; ``modules`` maps each module to the
    names the package takes from it."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return sorted(where), __getattr__, __dir__
