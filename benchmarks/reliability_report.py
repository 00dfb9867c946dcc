"""Run the reliability tests and write docs/reliability.md: each guarantee, the test that proves
it, whether it passed here, and the figures the tests measured.

    python -m benchmarks.reliability_report [--out docs/reliability.md] [-k EXPR]

The tests write their figures (bad inputs tried, faults injected and survived, kill points,
samples lost) only when SELFSYNTH_RELIABILITY_FIGURES names a folder; this script sets it for its
own pytest run. Takes minutes on 2 CPU cores (the kill test trains the toy model twice).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_reliability_inputs.py", "tests/test_reliability_llm.py", "tests/test_reliability_runs.py",
         "tests/test_reliability_ownership.py", "tests/test_reliability_properties.py", "tests/test_reliability_preflight.py",
         "tests/test_reliability_decisions.py", "tests/test_reliability_examples.py", "tests/test_foundation_llm_client.py"]

GUARANTEES = [
    ("A user mistake is one line on stderr naming the file or flag and what was expected, exit 2, never a traceback",
     "tests/test_reliability_inputs.py::test_bad_input_is_one_line_exit_2"),
    ("An unreadable image (zero bytes, corrupt) is a counted skip; a non-RGB one is read as RGB",
     "tests/test_reliability_inputs.py::test_unreadable_images_are_counted_skips"),
    ("A flaky judge endpoint (30% of requests: 429, 500, stall, dropped connection, body not JSON) costs counted retries, "
     "never a sample; in-flight requests stay within the concurrency bound; the API key is in no file or message",
     "tests/test_reliability_llm.py::test_flaky_judge_server_costs_retries_not_samples"),
    ("The same for the concept LLM of step 0", "tests/test_reliability_llm.py::test_flaky_concepts_server_costs_retries_not_classes"),
    ("A misconfigured endpoint (HTTP 500 to every json_schema request, as llama.cpp's server) is refused after one probe, "
     "in seconds, with the option to change", "tests/test_reliability_llm.py::test_misconfigured_endpoint_is_refused_after_one_probe"),
    ("A server that stopped answering is given up within the timeout budget, not after every retry",
     "tests/test_reliability_llm.py::test_silent_endpoint_is_refused_within_the_timeout_budget"),
    ("`selfsynth run` SIGKILLed at every stage resumes to results identical to an uninterrupted run with the same seed "
     "(byte for byte, timings aside: the same command twice gives the same bytes), leaving no temporary file",
     "tests/test_reliability_runs.py::test_kill_at_every_stage_resumes_to_identical_results"),
    ("The same seed gives identical answers; another seed changes them",
     "tests/test_reliability_runs.py::test_same_seed_same_bytes_other_seed_other_answers"),
    ("A second `selfsynth run` on a run folder in use is refused in one line and changes nothing",
     "tests/test_reliability_runs.py::test_second_run_on_a_folder_in_use_is_refused"),
    ("Every command that writes (run, eval, judge, report, table --plots, reproduce, export-lmms, new-method, toy) refuses, "
     "in one line, an output folder it did not make (no `.selfsynth-output.json` marker), leaving the user's files as they were",
     "tests/test_reliability_ownership.py::test_a_folder_the_command_did_not_make_is_refused_untouched"),
    ("A report rebuilt in its own folder keeps files the user put there and removes only the files an earlier report recorded",
     "tests/test_reliability_ownership.py::test_report_rebuilt_in_its_own_folder_keeps_planted_files_and_drops_only_its_stale_ones"),
    ("Single-file outputs (concepts, general data) leave their neighbours alone",
     "tests/test_reliability_ownership.py::test_single_file_outputs_leave_their_neighbours_alone"),
    ("Any bytes in a concepts/config file (junk, other encodings, BOMs, deep nesting, non-text keys) give a mapping or one line naming the file",
     "tests/test_reliability_properties.py::test_read_mapping_gives_a_mapping_or_one_line"),
    ("JSON-lines, CSV and image readers: a value of the promised type or one line naming the file (and line)",
     "tests/test_reliability_properties.py::test_jsonl_rows_are_objects_or_one_line_naming_file_and_line"),
    ("The label reader never crashes and never credits a class whose words the answer does not contain",
     "tests/test_reliability_properties.py::test_the_class_reader_never_credits_a_class_the_answer_does_not_name"),
    ("A config file with random keys and values is a valid config or one line, never a traceback",
     "tests/test_reliability_properties.py::test_a_config_file_is_a_valid_config_or_one_line"),
    ("An uncached text encoder, a judge without its key or an uncached fluency model stops `selfsynth run` before any model loads",
     "tests/test_reliability_preflight.py::test_a_missing_input_stops_the_run_before_any_model_loads"),
    ("Without HF_HUB_OFFLINE, a hub that cannot be reached is one line naming the `hf download` to run",
     "tests/test_reliability_preflight.py::test_without_offline_mode_an_unreachable_hub_is_one_line"),
    ("`selfsynth reproduce --dry-run` lists each missing input of each cell",
     "tests/test_reliability_preflight.py::test_dry_run_lists_each_missing_input"),
    ("A 200 reply that is not a chat completion (HTML page, cut JSON, no choices) is retried by the openai SDK's own loop and counted",
     "tests/test_foundation_llm_client.py::test_a_200_that_is_not_a_completion_is_retried_by_the_sdk"),
    ("Replies without choices, refusals and replies cut at the token limit are ordinary replies, never a crash",
     "tests/test_foundation_llm_client.py::test_every_reply_shape_is_a_chat_reply"),
    ("regress.json keeps absolute folders and the ids of lost/gained samples; the report shows those, not a recount",
     "tests/test_reliability_decisions.py::test_report_shows_the_stored_ids_not_a_recount"),
    ("`regress --candidate-out` never overwrites a folder it did not make",
     "tests/test_reliability_decisions.py::test_candidate_out_never_overwrites_a_folder_regress_did_not_make"),
    ("The CI example passes inputs through environment variables, never `${{ }}` inside a script; a hub id is fetched in its own step",
     "tests/test_reliability_examples.py::test_no_expression_inside_a_script_and_every_script_parses"),
]

_RESULT = re.compile(r"^(tests/\S+?)(?:\[(.*?)\])? (PASSED|FAILED|ERROR|SKIPPED)")


def run_tests(figures: Path, select: str | None) -> tuple[dict[str, list[str]], int]:
    env = {**os.environ, "SELFSYNTH_RELIABILITY_FIGURES": str(figures), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    argv = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *TESTS] + (["-k", select] if select else [])
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    outcomes: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        match = _RESULT.match(line)
        if match:
            outcomes.setdefault(match.group(1), []).append(match.group(3))
    return outcomes, done.returncode


def load(figures: Path, group: str) -> list[dict]:
    path = figures / f"{group}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


def verdict(results: list[str] | None) -> str:
    if not results:
        return "not run"
    failed = sum(r in ("FAILED", "ERROR") for r in results)
    return f"{len(results) - failed}/{len(results)} passed" if failed or len(results) > 1 else "passed"


def render(outcomes: dict[str, list[str]], figures: Path) -> str:
    bad = load(figures, "bad_inputs")
    faults = load(figures, "faults")
    fail_fast = load(figures, "fail_fast")
    kills = load(figures, "kills")
    lines = [
        "# Reliability",
        "",
        "What the harness promises when things go wrong, the test that proves each promise, and what",
        "the tests measured on the machine that last ran",
        "`python -m benchmarks.reliability_report` (it rewrites this file).",
        "",
        f"Last run: Python {platform.python_version()} on {platform.system()} {platform.machine()}.",
        "",
        "| Guarantee | Test | Result |",
        "|---|---|---|",
    ]
    for text, test in GUARANTEES:
        lines.append(f"| {text} | `{test}` | {verdict(outcomes.get(test))} |")
    lines += ["", "Output folders carry a `.selfsynth-output.json` marker saying which command made them (a report",
              "also lists the files it wrote there): a command writes into a new or empty folder or one of its own,",
              "refuses any other in one line, and removes only files it recorded. Every file a user hands in",
              "(JSON, YAML, JSON lines, CSV, images) is read through `selfsynth.io` (`read_user_text`,",
              "`read_mapping`, `iter_jsonl`, `read_csv_rows`, `open_user_image`): encoding errors, byte-order",
              "marks, empty or huge files, binary junk and wrong top-level types are one line naming the file.",
              "Hypothesis tests (fixed budget: derandomized, 120 examples per property) check those readers,",
              "the label reader and the config parser.", "", "## Figures", ""]
    skips = sum(1 for b in bad if b["exit"] == 0)
    lines.append(f"- Bad inputs tried: **{len(bad)}** ({len(bad) - skips} one-line errors with exit 2, "
                 f"{skips} images read or skipped and counted).")
    for f in faults:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(f["by_kind"].items()))
        lines.append(f"- Flaky endpoint, {f['name']}: {f['requests']} requests, **{f['injected']} faults injected** ({kinds}), "
                     f"**{f['survived']} survived** by a counted retry; {f['samples']} samples, **{f['samples_lost']} lost**; "
                     f"at most {f['max_in_flight']} requests in flight (bound {f['bound']}).")
    for f in fail_fast:
        lines.append(f"- Fail fast, {f['name']}: stopped after {f['requests']} requests in {f['seconds']} s: `{f['message']}`")
    for k in kills:
        lines.append(f"- Kills: **{len(k['survived'])} of {len(k['kill_points'])} kill points survived** "
                     f"({', '.join(k['kill_points'])}); after the re-run {k['files_different']} of {k['files_compared']} "
                     f"result files differ from the uninterrupted run ({k['answers_compared']} answers compared), "
                     f"{k['temp_files_removed']} temp files of the killed writers removed, none left.")
    lines += ["", "## Bad inputs and their messages", "", "| Input | Exit | Message |", "|---|---|---|"]
    for b in bad:
        message = re.sub(r"/\S*/(pytest-of-[^/]+/pytest-\d+|tmp\w*)/[^/ ]+", "<tmp>", b["message"]).replace("|", "\\|")
        lines.append(f"| {b['name'].replace('_', ' ')} | {b['exit']} | `{message}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "reliability.md"), help="markdown file to write")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression (a subset; the page says which ran)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        outcomes, code = run_tests(Path(folder), args.select)
        text = render(outcomes, Path(folder))
    from selfsynth.io import write_text

    write_text(args.out, text)
    print(f"wrote {args.out}; pytest exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
