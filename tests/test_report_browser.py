"""The report in real headless Chromium: counts, filters, an opened sample's claims, the synthesis
and regression pages, untrusted text staying text, and a screenshot.

The page keeps its state in the URL hash, so each state is one ``--dump-dom`` of a URL; the
page marks ``<body data-state="ready">`` once a view has finished rendering.
"""
from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from selfsynth.cli import main
from selfsynth.reports.html import build_report
from selfsynth.io import read_jsonl

from tests.test_report_support import (  # noqa: F401
    CONCEPTS,
    HOSTILE_CLASS,
    OUTCOMES,
    TEST,
    answer_for,
    expected_filter_count,
    make_run_folder,
    toy_run,
)

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: `apt-get install -y chromium`, which `make install` runs as root); "
    "the report's browser tests need a real browser",
)


def chromium(url: str, profile: Path, *extra: str) -> str:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *extra, url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Page(HTMLParser):
    """The dumped DOM as a flat list of (tag, attributes) plus its text."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and (cls is None or cls in a.get("class", "").split())]

    def body(self) -> dict[str, str]:
        return self.find("body")[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    out, _ = make_run_folder(base)
    base_eval, cand_eval = (out / "default/toy/ours/seed_0" / f"iter_{i}" / "eval" for i in (1, 2))
    regress = base / "regress.json"
    main(["regress", "--baseline", str(base_eval), "--candidate", str(cand_eval), "--out", str(regress)])
    index = build_report(out, regress=[regress]).index
    return index, base / "chromium-profile"


def open_view(report, fragment: str) -> Page:
    index, profile = report
    page = Page(chromium(index.as_uri() + "#" + fragment, profile, "--dump-dom"))
    assert page.body().get("data-state") == "ready", page.body()
    assert "data-error" not in page.body()
    return page


def shown_samples(page: Page) -> int:
    count = int(page.find("p", None)[[a.get("id") for a in page.find("p")].index("sample-count")]["data-count"])
    assert len(page.find("details", "sample")) == count  # all fit on one page here
    return count


def test_samples_view_lists_every_test_image(report):
    page = open_view(report, "view=samples")
    assert shown_samples(page) == len(TEST)
    assert len(page.find("img", "thumb")) == len(TEST)


@pytest.mark.parametrize("fragment, expected", [
    ("method=ours&iteration=2&correct=wrong", expected_filter_count("ours", 2, "wrong")),
    ("method=nl&correct=correct", expected_filter_count("nl", None, "correct")),
    ("class=Azure%20Warbler", 2),
    ("a=ours%401&b=ours%402&change=gained", sum(1 for a, b in zip(OUTCOMES[("ours", 1)], OUTCOMES[("ours", 2)]) if b and not a)),
    ("q=azure", sum(1 for i, (sid, label) in enumerate(TEST) if "azure" in label.lower()
                    or any("azure" in answer_for(sid, label, bool(OUTCOMES[key][i])).lower() for key in OUTCOMES))),
])
def test_filters_change_the_count(report, fragment, expected):
    assert expected != len(TEST)
    assert shown_samples(open_view(report, "view=samples&" + fragment)) == expected


def test_opened_sample_shows_claims_and_untrusted_text_stays_text(report, tmp_path):
    index, profile = report
    page = open_view(report, "view=samples&sample=toy%3At5&open=toy%3At5")
    assert shown_samples(page) == 1
    assert page.find("details", "sample")[0].get("open") is not None
    judged = sum(1 for key in OUTCOMES if key[0] == "ours")
    assert len(page.find("li", "accepted")) == judged and len(page.find("li", "rejected")) == judged
    text = "".join(page.text)
    assert all(concept in text for concept in CONCEPTS[HOSTILE_CLASS][:2])  # reference concepts, as text
    assert HOSTILE_CLASS in text and "<script>document.body.dataset.pwned=2</script>" in text
    assert "data-pwned" not in page.body()  # no planted handler or script ran
    scripts = [a.get("src", "") for a in page.find("script")]
    assert scripts and all(src == "report.js" or src.startswith("data/") for src in scripts)
    assert all(a.get("class") == "thumb" and a["src"].startswith("thumbs/") for a in page.find("img"))
    assert not page.find("b") and not any(k.startswith("on") for _, attrs in page.elements for k in attrs)
    shot = tmp_path / "sample.png"
    chromium(index.as_uri() + "#view=samples&sample=toy%3At5&open=toy%3At5", profile, "--hide-scrollbars",
             "--window-size=1280,900", f"--screenshot={shot}")
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        low, high = image.convert("L").getextrema()
        assert high - low > 100  # not a blank page


def test_synthesis_view_marks_kept_concepts(report):
    page = open_view(report, "view=synthesis&open=toy%3Ar0")
    assert page.find("p")[[a.get("id") for a in page.find("p")].index("synth-count")]["data-count"] == "2"
    assert len(page.find("tr", "kept")) == 2 + 2  # kept concepts, kept rewritten answers
    assert len(page.find("tr", "dropped")) == 1
    assert len(page.find("li", "chosen")) == 1  # kept and trained on
    assert len(page.find("li", "chosen-rejected")) == 1  # best-scoring but without the label: replaced


def test_regression_view_links_lost_samples(report):
    page = open_view(report, "view=regression")
    links = [a["href"] for a in page.find("a") if a.get("href", "").startswith("#view=samples")]
    lost = [sid for (sid, _), b, a in zip(TEST, OUTCOMES[("ours", 1)], OUTCOMES[("ours", 2)]) if b and not a]
    assert any("change=lost" in href for href in links)
    assert any(f"sample=toy%3A{lost[0]}" in href for href in links)
    followed = open_view(report, next(h for h in links if "change=lost" in h)[1:])
    assert shown_samples(followed) == len(lost)


@pytest.mark.slow
def test_real_toy_run_in_the_browser(toy_run, tmp_path):
    out, results = toy_run
    index = build_report(out, tmp_path / "report").index
    report = (index, tmp_path / "profile")
    assert results["n_test"] <= 25  # one page
    assert shown_samples(open_view(report, "view=samples")) == results["n_test"]
    last = results["iterations"][-1]
    wrong = sum(not r["match"] for r in read_jsonl(out / last["records"]))
    page = open_view(report, f"view=samples&method=ours&iteration={last['iteration']}&correct=wrong")
    assert int(next(a for a in page.find("p") if a.get("id") == "sample-count")["data-count"]) == wrong
    # an answer the judge found attribute claims in, opened with only its model shown
    iteration, sample = next((entry["iteration"], row) for entry in results["iterations"]
                             for row in read_jsonl((out / entry["records"]).parent.parent / "judge_local" / "judge_records.jsonl")
                             if row["judge_detail"]["attribute_claims"])
    claims = sample["judge_detail"]["attribute_claims"]
    fragment = f"view=samples&method=ours&iteration={iteration}&sample=toy%3A{sample['id']}&open=toy%3A{sample['id']}"
    page = open_view(report, fragment)
    assert len(page.find("li", "accepted")) == sum(c["consistent"] for c in claims)
    assert len(page.find("li", "rejected")) == sum(not c["consistent"] for c in claims)
    shot = tmp_path / "toy_sample.png"
    chromium(index.as_uri() + "#" + fragment, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,900", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
