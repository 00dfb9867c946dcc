"""One toy world per checkout: `make demo`, the tests and the README's commands (no --toy_cache)
find the same build in ``<checkout>/.cache/toy``; an installed package uses the user cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures_toy import REPO, TOY_CACHE


def test_the_default_cache_of_this_checkout_is_the_one_the_tests_and_demo_use():
    from selfsynth.toy.world import default_cache

    assert default_cache() == TOY_CACHE == REPO / ".cache" / "toy"
    # the demo's experiment names the same folder (relative to the checkout, where make runs)
    demo = (REPO / "experiments" / "toy" / "demo.yaml").read_text()
    assert "toy_cache: .cache/toy" in demo


def test_an_installed_package_uses_the_user_cache(tmp_path):
    from selfsynth.toy.world import DEFAULT_CACHE, checkout_cache

    installed = tmp_path / "site-packages" / "selfsynth" / "toy" / "world.py"
    installed.parent.mkdir(parents=True)
    installed.touch()
    (tmp_path / "site-packages" / "pyproject.toml").touch()  # even beside a stray pyproject
    assert checkout_cache(installed) is None
    assert DEFAULT_CACHE == Path("~/.cache/selfsynth/toy")

    checkout = tmp_path / "checkout"
    source = checkout / "harness" / "toy" / "world.py"
    source.parent.mkdir(parents=True)
    source.touch()
    assert checkout_cache(source) is None  # a folder named harness is not a checkout without its pyproject
    (checkout / "pyproject.toml").touch()
    assert checkout_cache(source) == checkout.resolve() / ".cache" / "toy"


def test_selfsynth_toy_without_out_reuses_the_checkouts_world(toy_world, tmp_path):
    # from another working directory and with another HOME: the build the suite made is found, none is started
    env = {**os.environ, "HOME": str(tmp_path / "home"), "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "selfsynth", "toy", "--json"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    paths = json.loads(done.stdout)
    assert Path(paths["model_path"]) == Path(toy_world.model_path)
    assert Path(paths["dataset_root"]).is_relative_to(TOY_CACHE)
    assert not (tmp_path / "home" / ".cache" / "selfsynth").exists()
