"""Write the README's demo numbers from the demo's stored runs, so they cannot drift from them.

    python -m benchmarks.readme_numbers [--out runs/toy] [--readme README.md] [--check]

The block between ``<!-- demo-numbers -->`` and ``<!-- /demo-numbers -->`` in the README is
replaced by: the claims' verdicts (``selfsynth claims --format md``), then Tables 1, 12 and 13 as
``selfsynth table N --out DIR`` prints them, then the toy world's fingerprint (sha256 of its
dataset files and of its model weights, each over sorted relative paths and contents). With
``--check`` nothing is written: exit 1 when the README differs from what the store gives.
Run it after ``make demo``.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- demo-numbers -->", "<!-- /demo-numbers -->"
TABLES = ("1", "12", "13")


def tree_digest(folder: Path, suffixes: tuple[str, ...] | None = None) -> str:
    """sha256 over (relative path, bytes) of every file under ``folder`` (optionally by suffix)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and (suffixes is None or p.suffix in suffixes)):
        digest.update(str(path.relative_to(folder)).encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def toy_fingerprint(world_root: Path) -> dict[str, str]:
    """What must be identical for two machines to start from the same toy world."""
    return {"dataset": tree_digest(world_root / "dataset")[:16],
            "weights": tree_digest(world_root / "model", (".safetensors",))[:16]}


def table_text(number: str, out: Path) -> str:
    """Exactly what ``selfsynth table NUMBER --out OUT`` prints."""
    from selfsynth.api import paper_table
    from selfsynth.configs.commands import TableConfig

    text, _, _ = paper_table(TableConfig(number=number, out=[str(out)]))
    return text


def demo_block(out: Path, world_root: Path | None = None) -> str:
    from selfsynth.reports.claims import check_claims, render_claims

    # the store as the README's reader types it: relative to the checkout when it lies inside it
    shown = out.resolve().relative_to(REPO) if out.resolve().is_relative_to(REPO) else out
    parts = [BEGIN, f"<!-- written by `python -m benchmarks.readme_numbers --out {shown}`; do not edit by hand -->", "",
             "Verdicts (`selfsynth claims --out runs/toy --format md`):", "",
             render_claims(check_claims([out]), "md"), ""]
    for number in TABLES:
        parts += [table_text(number, out), ""]
    if world_root is not None:
        fingerprint = toy_fingerprint(world_root)
        parts += [f"Toy world `{world_root.name}`: dataset sha256 `{fingerprint['dataset']}`, "
                  f"model weights sha256 `{fingerprint['weights']}` (`python -m benchmarks.readme_numbers` prints them).", ""]
    parts.append(END)
    return "\n".join(parts)


def replace_block(readme: str, block: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"readme_numbers: the README has no {BEGIN} ... {END} block")
    return readme[:start] + block + readme[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/toy", help="the demo's run store (make demo writes runs/toy)")
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    parser.add_argument("--toy-world", default=None, help="the toy world folder (default: the checkout's, as make demo uses)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the README differs")
    args = parser.parse_args(argv)
    from selfsynth.errors import UserError
    from selfsynth.io import atomic_open
    from selfsynth.toy.world import ToyConfig, default_cache

    world = Path(args.toy_world) if args.toy_world else default_cache() / ToyConfig().key()
    try:
        block = demo_block(Path(args.out), world if (world / "dataset").is_dir() else None)
    except UserError as exc:
        print(f"readme_numbers: {exc}", file=sys.stderr)
        return 2
    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    updated = replace_block(text, block)
    if args.check:
        if updated != text:
            print(f"readme_numbers: {readme} differs from what {args.out} gives (run without --check to rewrite)", file=sys.stderr)
            return 1
        return 0
    with atomic_open(readme, "w") as handle:
        handle.write(updated)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
