"""Configs check themselves when built: a bad value fails as one line (exit 2) before any model,
dataset or toy world loads; task options are typed; `run --print-config` shows the resolved config."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfsynth import config as cfg
from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.configs import RunConfig
from selfsynth.synth.config import SynthConfig
from selfsynth.train import TrainConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("flags", "names"), [
    (["--synth.tau", "0"], ["synth", "tau", "> 0"]),
    (["--train.bf16", "maybe"], ["bf16", "'maybe'", "auto, true, false"]),
    (["--task_options", "sede=1"], ["task 'toy' option", "'sede'", "(valid: ", "prompts", "verify"]),
    (["--limit", "0"], ["limit", ">= 1"]),
    (["--synth.reject_top_p", "1.5"], ["reject_top_p", "<= 1"]),
    (["--train.learning_rate=-1e-5"], ["learning_rate", "> 0"]),
])
def test_bad_run_flags_fail_in_one_line_before_the_toy_world(flags, names, tmp_path, capsys):
    toy_cache = tmp_path / "toy"
    assert main(["run", "--task", "toy", "--toy_cache", str(toy_cache), "--out", str(tmp_path / "runs"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("selfsynth run: error: ") and err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)
    assert not toy_cache.exists() and not (tmp_path / "runs").exists()  # nothing was built or written


def test_bad_flag_exits_2_in_a_fresh_process_without_torch(tmp_path):
    # a fresh interpreter: one stderr line, no traceback, and torch (any model code) never imported
    code = ("import sys; from selfsynth.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--task", "toy", "--toy_cache", str(tmp_path / "toy"), "--synth.tau", "0"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "tau" in proc.stderr and "Traceback" not in proc.stderr


def test_pld_options_are_typed_and_unknown_ones_name_the_valid_ones(tmp_path, capsys):
    from selfsynth.tasks.pld import PldTask

    options = PldTask.parse_options({"seed": "3", "train_size": "10", "classes": "A___x,B___y"})
    assert (options.seed, options.train_size, options.classes) == (3, 10, ["A___x", "B___y"])
    assert options.exclude == ["Blueberry___healthy"] and options.verify is True
    with pytest.raises(UserError, match=r"valid: classes, exclude, prompts, seed, test_size, train_size, verify"):
        PldTask.parse_options({"train_sizes": "10"})
    with pytest.raises(UserError, match=r"train_size 0: expected >= 1"):
        PldTask.parse_options({"train_size": "0"})
    assert main(["data", "--task", "pld", "--root", str(tmp_path), "--option", "seed=x"]) == 2
    assert "'x' is not a valid int" in capsys.readouterr().err


def test_checks_hold_when_built_from_python():
    with pytest.raises(ValueError, match="tau 0: expected > 0"):
        SynthConfig(tau=0)
    with pytest.raises(ValueError, match="positive sum"):
        SynthConfig(rewrite_p_simple=0, rewrite_p_explain=0, rewrite_p_cot=0)
    with pytest.raises(ValueError, match="bf16 'yes'"):
        TrainConfig(bf16="yes")
    with pytest.raises(ValueError, match="lora_targets is empty"):
        TrainConfig(lora_targets=[])
    assert TrainConfig(lora_targets=[], full_finetune=True).full_finetune
    with pytest.raises(ValueError, match="iterations -1"):
        RunConfig(iterations=-1)


def test_yaml_bool_reaches_a_string_choice(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  bf16: false\n")
    assert cfg.resolve(RunConfig, path).train.bf16 == "false"


def test_print_config_shows_the_resolved_layers(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("iterations: 3\nsynth:\n  tau: 0.2\n")
    toy_cache = tmp_path / "toy"
    argv = ["run", "--config", str(path), "--train.lora_r", "8", "--toy_cache", str(toy_cache), "--print-config"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    resolved = cfg.from_dict(RunConfig, printed)  # the printed YAML is a valid config file
    assert resolved.iterations == 3 and resolved.synth.tau == 0.2  # from the YAML
    assert resolved.train.lora_r == 8  # from the flag
    assert resolved.train.learning_rate == 5e-3 and resolved.synth.describe_samples == 4  # the toy task's preset
    assert resolved.synth.k_std == SynthConfig().k_std  # a default
    assert not toy_cache.exists()  # printing builds nothing
