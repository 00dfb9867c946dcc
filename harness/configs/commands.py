"""Configs of the commands that are not a run or an evaluation: each command's flags are generated
from its dataclass (``selfsynth.config.add_arguments``), and the library function the command
calls takes the same object, so a notebook passes what the command line would."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from selfsynth.config import check_fields, field
from selfsynth.configs.sections import Endpoint, TaskSpec
from selfsynth.reports.tables import ACCURACY_RULES, FORMATS, TABLES

METRICS = tuple(sorted(ACCURACY_RULES))
REGISTRY_KINDS = ("judges", "methods", "tasks")  # selfsynth.registry.REGISTRIES (tested equal)


@dataclass
class DataConfig(TaskSpec):
    """``selfsynth data``: the task's dataset, read and checked; nothing more to set."""


@dataclass
class ExportLmmsConfig(TaskSpec):
    out: str | None = field(None, help="folder to pass to lmms-eval's --include_path", flags=("output_path",), required=True, metavar="DIR")
    split: list[Literal["train", "test"]] = field(default_factory=lambda: ["test"], repeat_flag="split", metavar="{train,test}",
                                                  help="split(s) to export, repeatable")
    max_new_tokens: int = field(256, help="answer length limit (paper: 256)", ge=1)


@dataclass
class ConceptsConfig(Endpoint, TaskSpec):
    """Step 0 on its own: the endpoint settings are ignored with ``from_json``."""

    out: str | None = field(None, help="concepts JSON to write (then pass it to `selfsynth run --concepts`)", required=True, metavar="FILE")
    from_json: str | None = field(None, help="import a descriptor file {class name: [concept, ...]} instead of asking an LLM", metavar="FILE")
    allow_missing: bool = field(False, switch=True, help="write the file even if some classes got no concept (a run then needs --concepts_allow_missing)")
    cache: str | None = field(None, help="response cache (default concepts_cache.sqlite beside --out): a re-run asks nothing", metavar="SQLITE")
    # the concept LLM writes a list of concepts per class: longer answers than the judge's
    max_tokens: int = field(512, help="max tokens of one answer", ge=1)


@dataclass
class MatchConfig(TaskSpec):
    label: str | None = field(None, help="the true class: also print both rules' verdicts on it")
    answers: list[str] = field(default_factory=list, positional="+", metavar="ANSWER", help="answer text(s) to read")


@dataclass
class TableConfig:
    number: Literal[TABLES] = field("1", positional="?", help="which table (default: 1)")
    out: list[str] = field(default_factory=lambda: ["runs"], repeat_flag="out", flags=("output_path",), metavar="DIR",
                           help="run folder to read, repeatable")
    experiment: str | None = field(None, help="only this experiment (default: every experiment found)")
    metric: Literal[METRICS] = field("accuracy", help="which accuracy")
    format: Literal[FORMATS] = field("md", help="output format")
    ci: bool = field(False, switch=True, help="add 95% intervals: hierarchical bootstrap over seeds, then test images")
    plots: bool = field(False, switch=True, help="also write the figures (PNG and SVG) to --plots-dir")
    plots_dir: str | None = field(None, help="where --plots writes (default: <first --out>/plots)", metavar="DIR")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class ReportConfig:
    out: str | None = field(None, positional=True, metavar="OUT_DIR", help="run store folder (the --out of `selfsynth run`)")
    html: str | None = field(None, help="where the report goes (default: OUT_DIR/report)", metavar="DIR")
    experiment: str = field("default", help="experiment sub-folder")
    regress: list[str] = field(default_factory=list, repeat_flag="regress", metavar="FILE",
                               help="a `selfsynth regress --out FILE` result shown on the Regression page; repeatable")
    title: str | None = field(None, help="the report's title (default: from the folder name)")
    judge: str | None = field(None, metavar="NAME", help="where an evaluation was graded by several judges, show this one (default: the first found)")


@dataclass
class NewMethodConfig:
    name: str | None = field(None, positional=True, help="method name, as `selfsynth run --method NAME` will take it (lowercase letters, digits, _)")
    out: str | None = field(None, help="folder to create (default ./selfsynth-NAME); must not exist or be empty", metavar="DIR")
    description: str | None = field(None, help="one line shown by `selfsynth ls methods`")


@dataclass
class GeneralDataConfig:
    llava_instruct: str | None = field(None, required=True, metavar="JSON",
                                       help="LLaVA-Instruct file: a JSON list of {id, image, conversations} (paper: complex_reasoning_77k.json)")
    images: str | None = field(None, required=True, metavar="DIR", help="folder holding the conversations' images (COCO train2017)")
    out: str | None = field(None, required=True, metavar="JSONL", help="training rows {id, image, question, answer} to write")


@dataclass
class LsConfig:
    kind: Literal[REGISTRY_KINDS] = field("tasks", positional=True, help="which registry to list")


@dataclass
class SelectEvalConfig:
    """What ``selfsynth select-eval`` adds to the run's settings (a ``RunConfig``)."""

    encoders: list[str] = field(default_factory=list, required=True, metavar="A,B",
                                help="comma-separated text encoders to compare (known names, local folders or cached hub ids)")
