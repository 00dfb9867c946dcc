"""Multi-node safety of the run store: a writer's temp files are kept while it holds their lock,
whatever host it runs on, and removed once it was killed; the cache's journal suits the file
system it lives on."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from selfsynth.cache import KVStore, filesystem_type, journal_mode
from selfsynth.io import atomic_open, held_temp, remove_stale_temps

# A writer "on" host argv[2]: socket.gethostname is replaced before selfsynth names any temp. It
# opens a file write and a model-folder write in the shared folder, says so, waits for the other
# writer to say the same, runs the stale-temp cleanup a run does at its start, reports what it
# removed, and finishes both writes when told to.
WRITER = textwrap.dedent(
    """
    import json, socket, sys, time
    from pathlib import Path
    socket.gethostname = lambda: sys.argv[2]
    from selfsynth.io import atomic_open, remove_stale_temps
    from selfsynth.models import atomic_dir

    shared, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    def wait_for(path):
        while not path.exists():
            time.sleep(0.02)
    with atomic_open(shared / f"{me}.jsonl") as handle, atomic_dir(shared / f"{me}-merged") as folder:
        handle.write("first half\\n")
        (folder / "weights.bin").write_bytes(b"x" * 1000)
        (shared / f"{me}.ready").write_text("")
        wait_for(shared / f"{other}.ready")
        removed = remove_stale_temps(shared)
        (shared / f"{me}.removed").write_text(json.dumps([p.name for p in removed]))
        wait_for(shared / "go")
        handle.write("second half\\n")
    """
)


def spawn(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, *map(str, args)])


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, f"writer exited with {proc.returncode} before writing {path.name}"
        assert time.time() < deadline, f"{path.name} not written in {timeout} s"
        time.sleep(0.02)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_two_writers_on_two_hosts_keep_each_others_temps(tmp_path):
    import json

    a, b = spawn(tmp_path, "node-a", "node-b"), spawn(tmp_path, "node-b", "node-a")
    for proc, name in ((a, "node-a"), (b, "node-b")):
        wait_for(tmp_path / f"{name}.removed", proc)
    # both cleaned the shared folder while the other was mid-write: neither removed anything
    assert json.loads((tmp_path / "node-a.removed").read_text()) == []
    assert json.loads((tmp_path / "node-b.removed").read_text()) == []
    names = temps(tmp_path)
    for host, proc in (("node-a", a), ("node-b", b)):
        # each writer's file temp and folder temp (and their locks) are there, named by host and pid
        assert len([n for n in names if f"{host}-{proc.pid}-" in n and n.endswith(".tmp")]) == 1
        assert len([n for n in names if f".tmp-{host}-{proc.pid}-" in n and not n.endswith(".lock")]) == 1
    # a third process (this one, another host name) finds both writers live as well
    assert remove_stale_temps(tmp_path) == []
    (tmp_path / "go").write_text("")
    assert [a.wait(timeout=60), b.wait(timeout=60)] == [0, 0]
    for host in ("node-a", "node-b"):
        assert (tmp_path / f"{host}.jsonl").read_text() == "first half\nsecond half\n"
        assert (tmp_path / f"{host}-merged" / "weights.bin").stat().st_size == 1000
    assert temps(tmp_path) == []  # finished writers leave no temp and no lock


def test_a_killed_writers_temps_are_removed_from_another_host(tmp_path):
    victim = spawn(tmp_path, "node-c", "nobody")  # waits forever for "nobody" once its temps exist
    wait_for(tmp_path / "node-c.ready", victim)
    assert len(temps(tmp_path)) == 4  # file temp, folder temp, a lock for each
    assert remove_stale_temps(tmp_path) == []
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    removed = sorted(p.name for p in remove_stale_temps(tmp_path))
    assert len(removed) == 2 and all(f"node-c-{victim.pid}-" in name for name in removed)
    assert temps(tmp_path) == []  # the locks went with them
    assert not (tmp_path / "node-c.jsonl").exists() and not (tmp_path / "node-c-merged").exists()


def test_liveness_is_the_lock_not_the_pid(tmp_path, monkeypatch):
    def no_kill(*args):
        raise AssertionError("liveness must not be probed with a signal")

    monkeypatch.setattr(os, "kill", no_kill)
    # a temp named after a process that exists (this one) but whose lock nobody holds: stale
    with held_temp(tmp_path / "orphan.json") as orphan:
        orphan.write_text("half")
    assert orphan.exists()
    # a temp named after a pid that exists nowhere here, with its lock held: live
    with held_temp(tmp_path / "live.json") as live:
        foreign = live.with_name(live.name.replace(f"-{os.getpid()}-", "-999999999-"))
        os.rename(f"{live}.lock", f"{foreign}.lock")
        foreign.write_text("being written")
        assert remove_stale_temps(tmp_path) == [orphan]
        assert foreign.exists() and not orphan.exists()
        os.rename(f"{foreign}.lock", f"{live}.lock")
    assert remove_stale_temps(tmp_path) == [foreign]


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "out.json") as handle:
            handle.write("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


MOUNTS = textwrap.dedent(
    """
    overlay / overlay rw,relatime 0 0
    server:/export /shared nfs4 rw,relatime,vers=4.2 0 0
    /dev/sda1 /shared/local ext4 rw 0 0
    """
)


@pytest.mark.parametrize(("path", "kind", "mode"), [
    ("/shared/runs/cache.sqlite", "nfs4", "DELETE"),
    ("/shared/local/runs/cache.sqlite", "ext4", "WAL"),
    ("/home/me/runs/cache.sqlite", "overlay", "WAL"),
    ("/shared/cache.sqlite", "nfs4", "DELETE"),
])
def test_cache_journal_follows_the_file_system(path, kind, mode):
    assert filesystem_type(Path(path).parent, MOUNTS) == kind
    assert journal_mode(path, MOUNTS) == mode


def test_cache_on_a_network_file_system_uses_the_rollback_journal(tmp_path, monkeypatch):
    import selfsynth.cache as cache

    mounts = f"server:/export {tmp_path} nfs4 rw 0 0\n"
    real = cache.journal_mode
    monkeypatch.setattr(cache, "journal_mode", lambda path: real(path, mounts))
    store = KVStore(tmp_path / "cache.sqlite", "things")
    store.put_many({"a": "1"}, namespace="test")
    assert store.get_many(["a"]) == {"a": "1"}
    assert sqlite3.connect(tmp_path / "cache.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not list(tmp_path.glob("*-wal")) and not list(tmp_path.glob("*-shm"))
