"""Every config of the harness, importable from one place: ``from selfsynth.configs import RunConfig``.

``sections`` holds the parts several configs share (``TaskSpec``, ``Endpoint``), ``run`` the run
and evaluation configs, ``commands`` and ``judge`` the configs of the other commands; the rest
are re-exported from the module that uses them. Names resolve on first use, so importing this
package loads nothing heavy (and a section can be imported from any layer without a cycle).
"""
from __future__ import annotations

from selfsynth.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "selfsynth.configs.sections": ("TaskSpec", "Endpoint"),
    "selfsynth.configs.run": ("RunConfig", "EvalConfig"),
    "selfsynth.configs.commands": ("DataConfig", "ExportLmmsConfig", "ConceptsConfig", "MatchConfig", "TableConfig", "ReportConfig",
                                   "NewMethodConfig", "GeneralDataConfig", "LsConfig", "SelectEvalConfig"),
    "selfsynth.configs.judge": ("JudgeCommandConfig",),
    "selfsynth.train": ("TrainConfig",),
    "selfsynth.synth.config": ("SynthConfig",),
    "selfsynth.generate": ("GenerateConfig",),
    "selfsynth.metrics.grading": ("GradingSettings", "JudgeConfig"),
    "selfsynth.metrics.judges.local": ("LocalJudgeConfig",),
    "selfsynth.metrics.judges.openai_judge": ("OpenAIJudgeConfig",),
    "selfsynth.metrics.general": ("GeneralConfig",),
})
