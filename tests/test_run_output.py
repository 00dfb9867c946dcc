"""What reaches the terminal: a run's library warnings go to its run.log (our step lines and
notices stay on stderr), and the toy world's build says when it starts, waits and ends."""
from __future__ import annotations

import logging
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import selfsynth.toy.world as world
from selfsynth.io import write_json
from selfsynth.models import quiet_model_loading
from selfsynth.runner import LOG_FILE, WARNINGS_LOGGER, Runner
from selfsynth.toy import ToyConfig, ToyDataConfig


def _to_stderr(message, category, filename, lineno, file=None, line=None):
    # Python's default display; pytest records warnings instead, which would keep stderr empty
    # whether or not the run routes them
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _library_call():  # a library's deprecation notice, raised as transformers raises its own
    warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed", FutureWarning, stacklevel=2)


def _unit_owner(root: Path):
    """What Runner._log_file reads of a runner: its store's unit folder, task and method names."""
    return SimpleNamespace(store=SimpleNamespace(unit_dir=lambda task, method: root / task / method),
                           task=SimpleNamespace(name="toy"), name="ours")


def test_library_warnings_of_a_run_go_to_run_log_not_the_terminal(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", _to_stderr)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as under `selfsynth run`: nobody else prints
    handlers_before = list(logging.getLogger(WARNINGS_LOGGER).handlers)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with Runner._log_file(_unit_owner(tmp_path)):
            _library_call()
            print("toy/ours seed 0 · iter 1 · train: 48 items in 3.0 s", file=sys.stderr)
            logging.getLogger("selfsynth.api").warning("--limit 6: not a full-split number")
        during = capfd.readouterr().err
        _library_call()  # after the run: displayed as before
        after = capfd.readouterr().err
    log = (tmp_path / "toy" / "ours" / LOG_FILE).read_text(encoding="utf-8")

    assert "is_gradient_checkpointing" not in during
    assert "iter 1 · train: 48 items" in during and "--limit 6: not a full-split number" in during
    # the whole warning is kept: category, message and where it was raised
    assert f"{__file__}:" in log and "FutureWarning: `is_gradient_checkpointing` is deprecated and will be removed" in log
    assert log.count("is_gradient_checkpointing") == 1  # the one after the run is not in it

    assert "FutureWarning: `is_gradient_checkpointing` is deprecated" in after
    assert warnings.showwarning is _to_stderr
    assert logging.getLogger(WARNINGS_LOGGER).handlers == handlers_before


def test_warning_display_is_restored_when_the_run_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", _to_stderr)
    filters = list(warnings.filters)
    try:
        with Runner._log_file(_unit_owner(tmp_path)):
            warnings.simplefilter("ignore")  # a library changing the filters mid-run
            raise RuntimeError("training diverged")
    except RuntimeError:
        pass
    assert warnings.showwarning is _to_stderr and warnings.filters == filters


def test_model_loading_bars_are_off_meanwhile_and_as_before_after():
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    try:
        for loading_on, downloads_on in ((True, True), (True, False), (False, True)):
            hf_logging.enable_progress_bar() if loading_on else hf_logging.disable_progress_bar()
            enable_progress_bars() if downloads_on else disable_progress_bars()
            with quiet_model_loading():
                # "Loading weights" off; a download's bar as the user had it
                assert not hf_logging.is_progress_bar_enabled() and are_progress_bars_disabled() is not downloads_on
            assert (hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()) == (loading_on, not downloads_on)
    finally:
        hf_logging.enable_progress_bar() if before[0] else hf_logging.disable_progress_bar()
        disable_progress_bars() if before[1] else enable_progress_bars()


def _fake_build(tmp: Path, config: ToyConfig) -> None:  # the folder a build leaves, in no time
    tmp.mkdir(parents=True)
    write_json(tmp / "BUILD_DONE.json", {"key": config.key()})


def test_toy_world_build_says_where_how_long_and_once(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(world, "_build", _fake_build)
    monkeypatch.chdir(tmp_path)
    built = world.ensure_toy_world(".cache/toy")
    lines = capfd.readouterr().err.splitlines()
    key = ToyConfig().key()
    assert lines == [f"toy world: building in .cache/toy/{key} (once per cache folder; {world.BUILD_ESTIMATE})",
                     "toy world: built in 0 s"]
    assert Path(built.root).name == key

    assert world.ensure_toy_world(".cache/toy") == built
    assert capfd.readouterr().err == ""  # reused: nothing to say

    tiny = ToyConfig(data=ToyDataConfig(seed=5), pretrain_steps=2)  # not the default size: no estimate
    world.ensure_toy_world(".cache/toy", tiny)
    assert capfd.readouterr().err.splitlines()[0] == f"toy world: building in .cache/toy/{tiny.key()} (once per cache folder)"


def test_toy_world_build_shows_no_loading_bars(tmp_path, monkeypatch):
    from transformers.utils import logging as hf_logging

    seen = []
    monkeypatch.setattr(world, "_build_pinned", lambda tmp, config: seen.append(hf_logging.is_progress_bar_enabled()))
    hf_logging.enable_progress_bar()
    world._build(tmp_path / "w", ToyConfig())
    # the training bar is the Trainer's own (train.py), not one of these
    assert seen == [False] and hf_logging.is_progress_bar_enabled()


def test_toy_world_waiting_for_another_build_says_so_once(tmp_path, capfd, monkeypatch):
    from filelock import FileLock

    builds = []
    monkeypatch.setattr(world, "_build", lambda tmp, config: builds.append(tmp))
    config = ToyConfig()
    results = []
    other = FileLock(str(tmp_path / f"{config.key()}.lock"))  # another process's build holds it
    other.acquire()
    try:
        waiter = threading.Thread(target=lambda: results.append(world.ensure_toy_world(tmp_path, config)))
        waiter.start()
        said = ""
        deadline = time.monotonic() + 30
        while "waiting" not in said and time.monotonic() < deadline:
            time.sleep(0.05)
            said += capfd.readouterr().err
        _fake_build(tmp_path / config.key(), config)  # the other build finishes
    finally:
        other.release()
    waiter.join(30)
    said += capfd.readouterr().err
    assert said.splitlines() == [f"toy world: waiting for another process's build of {tmp_path / config.key()}"]
    assert builds == [] and results and Path(results[0].root) == tmp_path / config.key()
