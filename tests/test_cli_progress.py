"""Progress bars: off when stderr is not a terminal, unless the user set TQDM_DISABLE themselves.

Each case runs ``selfsynth.cli.main`` in a fresh interpreter, because tqdm reads its TQDM_*
variables once, when it is first imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# the command (replaced) reports TQDM_DISABLE and whether a default tqdm bar is off
CHILD = r"""
import io, json, os, sys
from selfsynth import cli

class Terminal(io.StringIO):
    def isatty(self):
        return True

def run(name, args):
    from tqdm.auto import tqdm
    seen = {"env": os.environ.get("TQDM_DISABLE"), "bar_off": tqdm(range(1), file=io.StringIO()).disable}
    print(json.dumps(seen), file=sys.__stdout__)
    return 0

cli._run = run
if sys.argv[1] == "terminal":
    sys.stderr = Terminal()
code = cli.main(["ls", "tasks"])
print(json.dumps({"code": code, "env_after": os.environ.get("TQDM_DISABLE")}), file=sys.__stdout__)
"""


def run_main(stderr: str, tqdm_disable: str | None) -> tuple[dict, dict]:
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    if tqdm_disable is not None:
        env["TQDM_DISABLE"] = tqdm_disable
    done = subprocess.run([sys.executable, "-c", CHILD, stderr], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    seen, after = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert after["code"] == 0
    return seen, after


def test_bars_are_off_when_stderr_is_not_a_terminal():
    seen, after = run_main("pipe", None)
    assert seen == {"env": "1", "bar_off": True}
    assert after["env_after"] is None  # main() called in-process leaves the environment as it was


def test_bars_stay_on_in_a_terminal():
    seen, _ = run_main("terminal", None)
    assert seen == {"env": None, "bar_off": False}


@pytest.mark.parametrize("stderr", ["pipe", "terminal"])
@pytest.mark.parametrize("value", ["0", "1"])
def test_an_explicit_tqdm_disable_is_kept(stderr, value):
    seen, after = run_main(stderr, value)
    assert seen["env"] == value and after["env_after"] == value
