"""A lower layer never imports a higher one (README "Layout").

Every import of every module of the package is read with ``ast`` — function-level (lazy) imports
included, since they run all the same. Layers, top to bottom:

    6  selfsynth.cli, selfsynth.commands, selfsynth.__main__   parse flags, call the API, print
    5  selfsynth.api, selfsynth.experiment                      the Python API (experiments: reproduce)
    4  selfsynth.runner, selfsynth.runners, selfsynth.configs   the iteration loop, the methods, the
                                                                configs gathered in one package
    3  selfsynth.synth, selfsynth.metrics, selfsynth.reports,   synthesis, metrics, reports
       selfsynth.evaluate
    2  selfsynth.tasks, selfsynth.toy                           datasets; the embedded toy world
    1  everything else                                          core: config, registry, store,
                                                                caches, io, models, generation,
                                                                training, schema, llm_client, and
                                                                selfsynth.configs.sections (the config
                                                                sections every layer shares) ...

The registry names built-ins as ``"module:Class"`` strings, imported on lookup: data, not imports.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = {"harness": "selfsynth", "tasks": "selfsynth.tasks", "metrics": "selfsynth.metrics",
           "runners": "selfsynth.runners", "reports": "selfsynth.reports"}
LAYERS = [  # (module prefix, layer); the first prefix that matches wins
    ("selfsynth.cli", 6), ("selfsynth.commands", 6), ("selfsynth.__main__", 6),
    ("selfsynth.api", 5), ("selfsynth.experiment", 5),
    ("selfsynth.configs.sections", 1), ("selfsynth.configs", 4),
    ("selfsynth.runners", 4), ("selfsynth.runner", 4),
    ("selfsynth.synth", 3), ("selfsynth.metrics", 3), ("selfsynth.reports", 3), ("selfsynth.evaluate", 3),
    ("selfsynth.tasks", 2), ("selfsynth.toy", 2),
]
CORE = 1


def layer(module: str) -> int:
    for prefix, number in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return number
    return CORE


def package_modules() -> dict[str, Path]:
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def imported(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported selfsynth module, line) for every import statement in the file."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "selfsynth":  # `from selfsynth import schema`: each name is a module
                found += [(f"selfsynth.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((base, node.lineno))
    return [(name, line) for name, line in found if name == "selfsynth" or name.startswith("selfsynth.")]


MODULES = package_modules()


def test_every_folder_is_read():
    assert len(MODULES) > 50
    assert {"selfsynth.cli", "selfsynth.api", "selfsynth.runner", "selfsynth.tasks.base", "selfsynth.config"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_reaches_up(module):
    path = MODULES[module]
    upward = [f"{path.relative_to(REPO)}:{line} imports {name} (layer {layer(name)} > {layer(module)})"
              for name, line in imported(path, module) if layer(name) > layer(module)]
    assert not upward, "\n".join(upward)


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    # a core module importing the API inside a function, and a task importing a runner relatively
    core = tmp_path / "core.py"
    core.write_text("def f():\n    from selfsynth.api import run\n    return run\n")
    assert imported(core, "selfsynth.store") == [("selfsynth.api", 2)]
    task = tmp_path / "task.py"
    task.write_text("from ..runner import Runner\nfrom selfsynth import schema, api\n")
    found = imported(task, "selfsynth.tasks.task")
    assert found == [("selfsynth.runner", 1), ("selfsynth.schema", 2), ("selfsynth.api", 2)]
    assert [layer(name) for name, _ in found] == [4, CORE, 5]
