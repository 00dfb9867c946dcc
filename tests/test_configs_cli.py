"""Configs in one package, every command's flags generated from a dataclass, and the package top
level as the Python API (``import selfsynth; selfsynth.run(...)``) without torch at import."""
from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import typing

import pytest

import selfsynth
from selfsynth import config as cfg
from selfsynth.cli import COMMANDS, build_parser, command_module, load, main
from selfsynth.configs.commands import REGISTRY_KINDS, ConceptsConfig, DataConfig, ExportLmmsConfig, MatchConfig
from selfsynth.configs.sections import DEFAULT_TASK, Endpoint, TaskSpec

# flags that are presentation or the config file itself, not settings of the library call
NOT_CONFIG = {"help", "json", "config_file", "config", "print_config"}
# commands whose flags are still declared by hand (each listed so that converting one fails here
# until it is taken off the list)
HAND_WRITTEN = {"demo", "toy", "regress", "reproduce"}


def leaf_fields(cls: type, prefix: str = "") -> set[str]:
    """Every flag destination ``add_arguments`` derives from ``cls`` (``section.name`` nested)."""
    hints = typing.get_type_hints(cls)
    names = set()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            names |= leaf_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            names.add(prefix + f.name)
    return names


def command_parser(name: str):
    parser = build_parser(name)
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return subparsers.choices[name]


def configs_of(name: str) -> tuple[type, ...]:
    """The dataclasses a command's flags come from: declared in the command table, or by its module."""
    if COMMANDS[name].config:
        return (load(COMMANDS[name].config),)
    return importlib.import_module(command_module(name)).CONFIGS


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - HAND_WRITTEN))
def test_every_option_of_a_command_is_a_field_of_its_configs(name):
    fields = set().union(*(leaf_fields(c) for c in configs_of(name)))
    dests = {action.dest for action in command_parser(name)._actions}
    assert dests - NOT_CONFIG, f"{name}: no option at all"
    assert dests - NOT_CONFIG <= fields, f"{name}: options not generated from {configs_of(name)}: {sorted(dests - NOT_CONFIG - fields)}"


def test_the_hand_written_list_is_exact():
    # a command converted since (the table or its module names its configs) must leave HAND_WRITTEN
    for name in HAND_WRITTEN:
        assert COMMANDS[name].config is None, name
        assert not hasattr(importlib.import_module(command_module(name)), "CONFIGS"), name


@pytest.mark.parametrize("name", sorted(n for n, c in COMMANDS.items() if c.config))
def test_a_command_the_table_declares_only_prints(name):
    # parse and call are the table's (one library function); the module only formats the result
    module = importlib.import_module(command_module(name))
    assert callable(module.show) and not hasattr(module, "add_parser") and not hasattr(module, "run")
    assert callable(load(COMMANDS[name].call))


@pytest.mark.parametrize("name, cls", [("data", DataConfig), ("export-lmms", ExportLmmsConfig)])
def test_data_and_export_lmms_help_lists_the_dataclass_flags(name, cls, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    for field_name in leaf_fields(cls):
        assert f"--{field_name} " in shown or f"--{field_name}," in shown, field_name
    # the task flags come from the shared section, listed under its title
    assert "task and dataset:" in shown and shown.index("task and dataset:") < shown.rindex("--task ")
    # the help text is the field's own
    help_of_root = next(f for f in dataclasses.fields(cls) if f.name == "root").metadata["help"]
    assert help_of_root.split(";")[0] in " ".join(shown.split())


def parse(argv: list[str], cls: type):
    parser = build_parser(argv[0])
    return cfg.from_args(cls, parser.parse_args(argv))


def test_generated_flags_keep_the_documented_spellings():
    config = parse(["export-lmms", "--task", "toy", "--output_path", "x", "--split", "test", "--split", "train",
                    "--max-new-tokens", "64", "--option", "a=1", "--option", "b=2"], ExportLmmsConfig)
    assert (config.out, config.split, config.max_new_tokens, config.task_options) == ("x", ["test", "train"], 64, ["a=1", "b=2"])
    assert parse(["export-lmms", "--out", "x"], ExportLmmsConfig).split == ["test"]  # the default
    config = parse(["concepts", "--task", "toy", "--out", "c.json", "--base-url", "http://h/v1", "--api-key-env", "K",
                    "--concurrency", "2", "--max-tokens", "100", "--price-input-per-mtok", "2.5", "--allow-missing",
                    "--from-json", "d.json"], ConceptsConfig)
    assert (config.base_url, config.api_key_env, config.max_concurrency, config.max_tokens) == ("http://h/v1", "K", 2, 100)
    assert (config.price_input_per_mtok, config.allow_missing, config.from_json) == (2.5, True, "d.json")
    assert parse(["concepts", "--out", "c.json"], ConceptsConfig).max_tokens == 512  # the concept LLM's own default
    config = parse(["match", "--task", "toy", "--toy-cache", "/c", "--label", "A", "one", "two"], MatchConfig)
    assert (config.answers, config.label, config.toy_cache) == (["one", "two"], "A", "/c")


def test_a_missing_required_flag_or_a_bad_choice_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["concepts", "--task", "toy"])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["table", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'7' is not one of 1, 11, 12, 13, transfer" in err[0]
    assert main(["export-lmms", "--out", "x", "--split", "dev"]) == 2
    assert "'dev' is not one of train, test" in capsys.readouterr().err


def test_shared_sections_are_declared_once():
    from selfsynth.configs import EvalConfig, JudgeCommandConfig, OpenAIJudgeConfig, RunConfig, SynthConfig

    for cls in (RunConfig, EvalConfig, DataConfig, ExportLmmsConfig, ConceptsConfig, MatchConfig, JudgeCommandConfig):
        assert issubclass(cls, TaskSpec), cls
    for cls in (OpenAIJudgeConfig, ConceptsConfig):
        assert issubclass(cls, Endpoint), cls
    # a subclass may change a default, not the meaning: same names, the judge's own base URL
    assert OpenAIJudgeConfig().base_url == "https://api.openai.com/v1" and Endpoint().base_url is None
    synth = SynthConfig(concept_model="m", concept_base_url="http://h/v1", concept_api_key_env="K", concept_concurrency=3,
                        concept_max_retries=1, concept_timeout=5.0, concept_temperature=0.5, concept_max_tokens=99)
    assert synth.concept_endpoint() == Endpoint(model="m", base_url="http://h/v1", api_key_env="K", max_concurrency=3,
                                                max_retries=1, timeout_s=5.0, temperature=0.5, max_tokens=99)
    # 1M prompt tokens at $2.5 and 0.5M completion tokens at $10 per million
    assert Endpoint(price_input_per_mtok=2.5, price_output_per_mtok=10).cost(1_000_000, 500_000) == pytest.approx(7.5)
    assert Endpoint(price_input_per_mtok=2.5).cost(1_000_000, 500_000) is None


def test_config_constants_match_what_they_stand_for():
    from selfsynth.registry import REGISTRIES
    from selfsynth.tasks.toy import ToyTask

    assert DEFAULT_TASK == ToyTask.name
    assert REGISTRY_KINDS == tuple(sorted(REGISTRIES))


def test_configs_are_one_object_wherever_imported():
    import selfsynth.configs as configs
    from selfsynth.api import EvalConfig
    from selfsynth.metrics.grading import JudgeConfig
    from selfsynth.runner import RunConfig
    from selfsynth.synth.config import SynthConfig
    from selfsynth.train import TrainConfig

    assert (configs.RunConfig, configs.EvalConfig, configs.TrainConfig, configs.SynthConfig, configs.JudgeConfig) == (
        RunConfig, EvalConfig, TrainConfig, SynthConfig, JudgeConfig)
    assert selfsynth.RunConfig is RunConfig
    for name in configs.__all__:
        assert dataclasses.is_dataclass(getattr(configs, name)), name
    with pytest.raises(AttributeError):
        configs.NoSuchConfig  # noqa: B018


def test_the_package_top_level_is_the_api():
    import selfsynth.api as api
    import selfsynth.evaluate  # noqa: F401  the scorer submodule must not take the API name
    from selfsynth.experiment import reproduce
    from selfsynth.reports.tables import build_table

    assert (selfsynth.run, selfsynth.evaluate, selfsynth.judge, selfsynth.regress) == (api.run, api.evaluate, api.judge, api.regress)
    assert (selfsynth.reproduce, selfsynth.build_table) == (reproduce, build_table)
    assert set(selfsynth.__all__) <= set(dir(selfsynth))


def test_import_selfsynth_and_ls_load_no_torch():
    code = ("import sys, selfsynth\n"
            "selfsynth.run, selfsynth.evaluate, selfsynth.RunConfig\n"
            "from selfsynth.cli import main\n"
            "assert main(['ls', 'methods']) == 0\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ours" in done.stdout.split()


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every ``selfsynth COMMAND ...`` line of the README and docs/ (continuations joined)."""
    import re
    import shlex
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    found = []
    for path in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for match in re.finditer(r"(?m)^\s*(?:\$ )?selfsynth ([a-z-]+)(?=[ \t]|$)([^\n#|&;`]*)", text):
            try:
                argv = [match.group(1), *shlex.split(match.group(2))]
            except ValueError:  # an unbalanced quote: prose that starts with the command's name
                continue
            if not any(marker in arg for arg in argv for marker in ("<", "...", "[")):  # a placeholder, not a command
                found.append((f"{path.name}: selfsynth {' '.join(argv)}", argv))
    return found


def test_every_documented_command_line_parses():
    commands = documented_commands()
    assert len(commands) > 40  # the README and the guides show that many
    for where, argv in commands:
        assert argv[0] in COMMANDS, where
        try:
            build_parser(argv[0]).parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{where}: exit {exc.code}")


def test_a_library_call_without_a_required_setting_names_it():
    from selfsynth.configs import GeneralDataConfig, JudgeCommandConfig, NewMethodConfig, ReportConfig
    from selfsynth.errors import UserError

    cases = [(selfsynth.judge, JudgeCommandConfig(), "eval_dir"), (load(COMMANDS["report"].call), ReportConfig(), "out"),
             (load(COMMANDS["concepts"].call), ConceptsConfig(), "out"),
             (load(COMMANDS["export-lmms"].call), ExportLmmsConfig(), "out"),
             (load(COMMANDS["new-method"].call), NewMethodConfig(), "name"),
             (load(COMMANDS["general-data"].call), GeneralDataConfig(images="x"), "llava_instruct, out")]
    for call, config, missing in cases:
        with pytest.raises(UserError, match=f"^{type(config).__name__}: {missing} must be given$"):
            call(config)
