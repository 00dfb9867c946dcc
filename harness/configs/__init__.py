"""Every config of the harness, importable from one place: ``from selfsynth.configs import RunConfig``.

``sections`` holds the parts several configs share (``TaskSpec``, ``Endpoint``), ``run`` the run
and evaluation configs, ``commands`` and ``judge`` the configs of the other commands; the rest are re-exported
from the module that uses them. Names resolve on first use, so importing this package loads
nothing heavy (and a section can be imported from any layer without a cycle).
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "TaskSpec": "selfsynth.configs.sections",
    "Endpoint": "selfsynth.configs.sections",
    "RunConfig": "selfsynth.configs.run",
    "EvalConfig": "selfsynth.configs.run",
    "DataConfig": "selfsynth.configs.commands",
    "ExportLmmsConfig": "selfsynth.configs.commands",
    "ConceptsConfig": "selfsynth.configs.commands",
    "MatchConfig": "selfsynth.configs.commands",
    "JudgeCommandConfig": "selfsynth.configs.judge",
    "TableConfig": "selfsynth.configs.commands",
    "ReportConfig": "selfsynth.configs.commands",
    "NewMethodConfig": "selfsynth.configs.commands",
    "GeneralDataConfig": "selfsynth.configs.commands",
    "LsConfig": "selfsynth.configs.commands",
    "SelectEvalConfig": "selfsynth.configs.commands",
    "TrainConfig": "selfsynth.train",
    "SynthConfig": "selfsynth.synth.config",
    "GenerateConfig": "selfsynth.generate",
    "GradingSettings": "selfsynth.metrics.grading",
    "JudgeConfig": "selfsynth.metrics.grading",
    "LocalJudgeConfig": "selfsynth.metrics.judges.local",
    "OpenAIJudgeConfig": "selfsynth.metrics.judges.openai_judge",
    "GeneralConfig": "selfsynth.metrics.general",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
