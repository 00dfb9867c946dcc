import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from selfsynth.errors import UserError
from selfsynth.registry import METHODS, TASKS, Registry

REPO = Path(__file__).resolve().parent.parent


class Alpha:
    """first thing"""


class Beta:
    """second thing"""


def test_collision_names_both_sources():
    reg = Registry("method", "selfsynth.test_none")
    reg.add("alpha", Alpha)
    with pytest.raises(UserError) as exc:
        reg.add("alpha", Beta)
    message = str(exc.value)
    assert "registered twice" in message
    assert "Alpha" in message and "Beta" in message


def test_decorator_registration_and_description():
    reg = Registry("judge", "selfsynth.test_none")

    @reg.register("gamma")
    class Gamma:
        """a gamma judge"""

    assert reg.get("gamma") is Gamma
    assert reg.describe("gamma") == "a gamma judge"


def test_unknown_name_suggests_closest():
    with pytest.raises(UserError) as exc:
        TASKS.get("stanford_dog")
    assert "did you mean 'stanford_dogs'" in str(exc.value)


def test_builtins_are_lazy_strings_until_used():
    # a fresh registry with the built-ins: other tests may already have looked up the shared one
    fresh = Registry("method", "selfsynth.methods", builtins=dict(METHODS._builtins), base="selfsynth.runner:Runner")
    entry = next(e for e in fresh.entries() if e.name == "ours")
    # listing must not import the runner module (and with it torch)
    assert isinstance(entry.target, str)


def _fake_plugin(tmp_path: Path, collide: bool = True) -> Path:
    """A plugin distribution on sys.path: its module and its dist-info with entry points."""
    site = tmp_path / "site"
    (site / "my_plugin").mkdir(parents=True)
    (site / "my_plugin" / "__init__.py").write_text(
        textwrap.dedent(
            '''
            class FancyMethod:
                """a plugin baseline from another package"""
            '''
        )
    )
    dist = site / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[selfsynth.methods]\nfancy = my_plugin:FancyMethod\n"
        + ("\n[selfsynth.tasks]\ncub200 = my_plugin:FancyMethod\n" if collide else "")
    )
    return site


def test_entry_point_plugin_is_listed(tmp_path):
    site = _fake_plugin(tmp_path)
    env = {"PYTHONPATH": f"{site}:{REPO}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "selfsynth", "ls", "methods"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert "fancy" in names and "ours" in names and "nl" in names
    fancy = next(line for line in lines if line.startswith("fancy"))
    assert fancy.split(None, 1)[1] == "a plugin baseline from another package"


def test_plugin_colliding_with_builtin_is_an_error(tmp_path):
    site = _fake_plugin(tmp_path)
    env = {"PYTHONPATH": f"{site}:{REPO}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "selfsynth", "ls", "tasks"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "registered twice" in out.stderr and "my_plugin:FancyMethod" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_plugin_of_the_wrong_type_fails_at_lookup(tmp_path):
    # FancyMethod is a plain class, not a Runner: listed, but refused where it would be used
    site = _fake_plugin(tmp_path, collide=False)
    env = {"PYTHONPATH": f"{site}:{REPO}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    toy_cache = tmp_path / "toy"
    out = subprocess.run([sys.executable, "-m", "selfsynth", "run", "--method", "fancy", "--toy_cache", str(toy_cache)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "method 'fancy'" in out.stderr and "not a subclass of selfsynth.runner.Runner" in out.stderr
    assert not toy_cache.exists()  # refused before the toy world was built


def test_typed_registry_checks_the_base_class():
    reg = Registry("task", "selfsynth.test_none", base="selfsynth.tasks.base:Task")
    reg.add("alpha", Alpha)
    reg.add("toy", "selfsynth.tasks.toy:ToyTask")
    assert reg.get("toy").__name__ == "ToyTask"
    with pytest.raises(UserError, match=r"task 'alpha' .* not a subclass of selfsynth.tasks.base.Task"):
        reg.get("alpha")


def test_cli_version_and_unknown_kind():
    out = subprocess.run([sys.executable, "-m", "selfsynth", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("selfsynth ")
