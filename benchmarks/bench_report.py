"""Benchmark of `selfsynth report` at the scale of a real run.

A synthetic run folder in the run store's schemas: 6,000 test images (500×375 JPEGs, 200 classes,
in the toy task's layout) × 20 evaluated models (4 methods × iterations 0–4), each with its
records and judge records (4 judged claims per answer). Measures the report's writing time
(thumbnails drawn, then reused) and, in headless Chromium when installed, the time until the first
view and the samples view have rendered (the page's own ``performance.now()`` at the end of
rendering, from navigation start). Prints one JSON object, with the writing's CPU time (all
threads) beside its wall time, since a shared machine stretches the wall time; exits 1 when over
budget (write ≤ 30 s, first view ≤ 2 s).

    python benchmarks/bench_report.py [--images 6000 --methods 4 --iterations 5 --work DIR]
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selfsynth.results import MANIFEST, RESULTS

WRITE_BUDGET_S = 30.0
RENDER_BUDGET_MS = 2000
METHODS = ["nl", "lge", "ours", "no_filter"]
CONCEPTS = ["red crown", "short conical beak", "forked tail", "white eye ring", "streaked breast", "yellow wing bars",
            "black throat", "long hooked beak", "rounded wings", "spotted back"]


def make_dataset(root: Path, images: int, classes: int, seed: int) -> list[tuple[str, str]]:
    from PIL import Image

    from selfsynth.io import write_json, write_jsonl

    names = [f"Species {k:03d}" for k in range(classes)]
    write_json(root / "toy_meta.json", {"classes": names})
    rows, samples = [], []
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(images):
        sid, label = f"test_{i:05d}", names[i % classes]
        path = root / "images" / f"{sid}.jpg"
        if not path.is_file():
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            Image.new("RGB", (500, 375), colour).save(path, quality=85)
        rows.append({"id": sid, "image": f"images/{sid}.jpg", "label": label})
        samples.append((sid, label))
    write_jsonl(root / "test.jsonl", rows)
    return samples


def make_run(out: Path, root: Path, samples: list[tuple[str, str]], methods: list[str], iterations: int, seed: int) -> None:
    from selfsynth.io import write_json, write_jsonl

    rng = random.Random(seed)
    for method in methods:
        unit = out / "default" / "toy" / method
        entries = []
        for iteration in range(iterations):
            folder = unit / f"iter_{iteration}" / "eval"
            p_correct = 0.3 + 0.1 * iteration
            records, judged = [], []
            for sid, label in samples:
                hit = rng.random() < p_correct
                named = label if hit else f"Species {rng.randrange(200):03d}"
                picked = rng.sample(CONCEPTS, 4)
                answer = (f"This bird is a {named}. I can tell from its {picked[0]} and its {picked[1]}; the {picked[2]} "
                          f"and the {picked[3]} also fit this species rather than a similar one, which would show other markings.")
                records.append({"id": sid, "label": label, "question": "Which bird species is this? Explain.",
                                "answer": answer, "match": hit, "paper_match": hit})
                claims = [{"claim": c, "reference": c, "reference_similarity": round(rng.random(), 6), "contrast": CONCEPTS[0],
                           "contrast_similarity": round(rng.random(), 6), "consistent": rng.random() < 0.6} for c in picked]
                judged.append({"schema_version": 1, "id": sid, "label": label, "answer": answer, "concepts": picked[:3],
                               "ee": 1, "cs": sum(c["consistent"] for c in claims) / 4, "judge": "local-proxy",
                               "judge_status": "scored", "judge_error": None,
                               "judge_detail": {"attribute_claims": claims, "other_claims": ["this bird is"]}, "fs": 12.5})
            write_jsonl(folder / "records.jsonl", records)
            write_jsonl(folder / "judge_records.jsonl", judged)
            accuracy = sum(r["match"] for r in records) / len(records)
            metrics = {"accuracy": accuracy, "accuracy_paper": accuracy, "n": len(records), "task": "toy"}
            write_json(folder / "metrics.json", metrics)
            write_json(folder / "judge_metrics.json", {"ee": 1.0, "cs": 0.6, "n": len(records), "judge": {"judge": "local-proxy"}})
            entries.append({"iteration": iteration, "metrics": metrics, "records": str((folder / "records.jsonl").relative_to(out))})
        write_json(unit / MANIFEST, {"schema_version": 1, "expected_iterations": len(entries),
                                            "config": {"task": "toy", "method": method, "seed": 0, "root": str(root)}})
        write_json(unit / RESULTS, {"schema_version": 1, "task": "toy", "method": method, "seed": 0, "limit": None,
                                           "n_test": len(samples), "config": {"root": str(root), "task_options": []},
                                           "iterations": entries})


def render_ms(index: Path, fragment: str, profile: Path) -> tuple[int | None, float]:
    """(the page's render-finished time in ms, wall seconds of the whole browser run)."""
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        return None, 0.0
    started = time.perf_counter()
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--dump-dom",
                          index.as_uri() + fragment], capture_output=True, text=True, timeout=120).stdout
    wall = time.perf_counter() - started
    body = re.search(r"<body[^>]*>", dom)
    state = re.search(r'data-state="(\w+)"', body.group(0)) if body else None
    found = re.search(r'data-render-ms="(\d+)"', body.group(0)) if body else None
    if not state or state.group(1) != "ready" or not found:
        raise SystemExit(f"the report did not finish rendering {fragment!r}: {body.group(0) if body else dom[:300]}")
    return int(found.group(1)), round(wall, 2)


def main(argv: list[str] | None = None) -> int:
    from selfsynth.reports.html import build_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--methods", type=int, default=4, help=f"how many of {METHODS}")
    parser.add_argument("--iterations", type=int, default=5, help="iterations 0..N-1 per method")
    parser.add_argument("--work", default=None, help="folder for the synthetic run (kept; default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        started = time.perf_counter()
        samples = make_dataset(work / "dataset", args.images, args.classes, args.seed)
        out = work / "runs"
        if out.exists():
            shutil.rmtree(out)
        make_run(out, work / "dataset", samples, METHODS[: args.methods], args.iterations, args.seed)
        setup_s = time.perf_counter() - started
        html = work / "report"
        if html.exists():
            shutil.rmtree(html)
        cpu = time.process_time()
        first = build_report(out, html)
        first_cpu = time.process_time() - cpu
        again = build_report(out, html)
        overview_ms, overview_wall = render_ms(first.index, "", work / "profile")
        samples_ms, samples_wall = render_ms(first.index, "#view=samples&method=ours&correct=wrong", work / "profile")
        opened_ms, _ = render_ms(first.index, f"#view=samples&open={first_uid(samples)}", work / "profile")
        size_mb = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 2**20
        result = {
            "benchmark": "report", "images": args.images, "models": first.columns, "setup_s": round(setup_s, 1),
            "write_s": first.seconds, "write_cpu_s": round(first_cpu, 1), "rewrite_s_thumbnails_reused": again.seconds,
            "thumbnails": first.thumbnails,
            "report_mb": round(size_mb, 1),
            "first_view_render_ms": overview_ms, "samples_view_render_ms": samples_ms, "opened_sample_render_ms": opened_ms,
            "browser_wall_s": {"overview": overview_wall, "samples": samples_wall},
            "budget": {"write_s": WRITE_BUDGET_S, "first_view_ms": RENDER_BUDGET_MS},
            "python": sys.version.split()[0], "platform": platform.platform(),
        }
        if overview_ms is None:
            result["browser"] = "chromium not installed: render times not measured"
        print(json.dumps(result, indent=2))
        over = first.seconds > WRITE_BUDGET_S or any(ms is not None and ms > RENDER_BUDGET_MS for ms in (overview_ms, samples_ms))
        return 1 if over else 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def first_uid(samples: list[tuple[str, str]]) -> str:
    return f"toy%3A{samples[0][0]}"


if __name__ == "__main__":
    sys.exit(main())
