"""Property-based tests (Hypothesis) over everything that reads what a user wrote: the file
readers of ``selfsynth.io``, the label reader and the config parser. Whatever the input, the
outcome is a value of the promised type or one ``UserError`` line naming the file — never another
exception. The budget is fixed (derandomized examples, no deadline) so the suite stays stable and
the whole module runs in well under a minute."""
from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from selfsynth.errors import UserError
from selfsynth.io import iter_jsonl, open_user_image, read_csv_rows, read_json, read_mapping

BUDGET = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# bytes a user file might hold: junk, text in other encodings, byte-order marks, JSON/YAML fragments
FRAGMENTS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"{", b"}", b"[", b"]", b'"a"', b":", b",", b"1", b"-", b"\n",
             b"null", b"true", b"a: b", b"- x", b"&a", b"*a", b"!!python/object:os.system", b"\xe9", b"\xc3\xa9", b"#", b"\t"]
user_bytes = st.one_of(st.binary(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map(b"".join))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                           max_leaves=12)


def one_line(exc: UserError, path: Path) -> None:
    message = str(exc)
    assert "\n" not in message and str(path) in message, message


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@BUDGET
@given(data=user_bytes, suffix=st.sampled_from([".json", ".yaml"]))
@example(data="ü: 1".encode("latin-1"), suffix=".yaml")  # the non-UTF-8 concepts file of the bad-input matrix
@example(data=b"\xef\xbb\xbf{\"a\": 1}", suffix=".json")
@example(data=b"[" * 5000, suffix=".json")
def test_read_mapping_gives_a_mapping_or_one_line(tmp_path, data, suffix):
    path = _write(tmp_path, "concepts" + suffix, data)
    try:
        value = read_mapping(path, "a JSON object {class name: [concept, ...]}", flag="--concepts")
    except UserError as exc:
        one_line(exc, path)
    else:
        assert isinstance(value, dict)


@BUDGET
@given(value=json_values, bom=st.booleans())
def test_read_json_round_trips_any_value_with_or_without_a_byte_order_mark(tmp_path, value, bom):
    path = _write(tmp_path, "value.json", (b"\xef\xbb\xbf" if bom else b"") + json.dumps(value).encode())
    assert read_json(path) == value


@BUDGET
@given(lines=st.lists(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), user_bytes), max_size=6))
def test_jsonl_rows_are_objects_or_one_line_naming_file_and_line(tmp_path, lines):
    path = _write(tmp_path, "train.jsonl", b"\n".join(lines))
    try:
        rows = list(iter_jsonl(path))
    except UserError as exc:
        one_line(exc, path)
    else:
        assert all(isinstance(row, dict) for _, row in rows)
        assert [n for n, _ in rows] == sorted({n for n, _ in rows})


@BUDGET
@given(data=user_bytes)
@example(data=b"\xef\xbb\xbfimage_id,dx\nISIC_1,mel\n")
def test_csv_rows_or_one_line(tmp_path, data):
    path = _write(tmp_path, "HAM10000_metadata.csv", data)
    try:
        rows = read_csv_rows(path, "the HAM10000 metadata CSV")
    except UserError as exc:
        one_line(exc, path)
    else:
        assert all(isinstance(row, dict) for row in rows)
        if data.startswith(b"\xef\xbb\xbfimage_id"):
            assert rows == [{"image_id": "ISIC_1", "dx": "mel"}]  # the byte-order mark is not part of the first column


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00"
       b"\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


@BUDGET
@given(cut=st.integers(0, len(PNG)), junk=st.binary(max_size=40))
def test_images_truncated_or_junk_are_one_line(tmp_path, cut, junk):
    path = _write(tmp_path, "img.png", PNG[:cut] + junk)
    try:
        image = open_user_image(path)
    except UserError as exc:
        one_line(exc, path)
    else:
        assert image.size == (1, 1)


# -- the label reader ------------------------------------------------------------------------------
WORDS = ["red", "finch", "blue", "jay", "crow", "grey", "737", "800", "tern", "forster"]
CUES = ["not", "no", "this", "is", "a", "but", "therefore", "the", "answer", "it", "bird", "rather", "than", "s", "es"]
SEPARATORS = [" ", ", ", ". ", "; ", "-", "'s ", "\n", " (", ") ", "’"]
class_names = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join), min_size=1, max_size=4, unique=True)


@st.composite
def answers(draw):
    words = draw(st.lists(st.sampled_from(WORDS + CUES), max_size=14))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, seps))
    return text if draw(st.booleans()) else text.upper() if draw(st.booleans()) else text + draw(st.text(max_size=20))


def _forms(token: str) -> set[str]:
    # what a class word may look like in an answer: itself, a plural, or with/without a possessive s
    return {token, token + "s", token + "es"} | ({token[:-1]} if token.endswith("s") else set())


def _mentions(answer: str, name: str) -> bool:
    from selfsynth.tasks.labels import normalize_label

    said = set(normalize_label(answer).split())
    return all(_forms(token) & said for token in normalize_label(name).split())


@BUDGET
@given(names=class_names, answer=answers())
def test_the_class_reader_never_credits_a_class_the_answer_does_not_name(names, answer):
    from selfsynth.tasks.labels import ClassReader, match

    reader = ClassReader({name: () for name in names})
    verdict = reader.read(answer).verdict
    assert verdict is None or verdict in names
    if verdict is not None:
        assert _mentions(answer, verdict), (answer, verdict)
    for name in names:
        credited = reader.match(answer, name)
        assert credited == (verdict == name)
        # the one-label reader: never a class whose words are not in the answer
        if match(answer, name):
            assert _mentions(answer, name), (answer, name)


@BUDGET
@given(answer=st.text(max_size=60), label=st.text(max_size=20))
def test_match_never_crashes_on_any_text(answer, label):
    from selfsynth.tasks.labels import match, normalize_label, paper_match

    result = match(answer, label)
    assert isinstance(result, bool) and isinstance(paper_match(answer, label), bool)
    if result:
        assert normalize_label(label)  # an empty label is never read from an answer


# -- the config parser -----------------------------------------------------------------------------
def _run_config_fields() -> list[str]:
    import dataclasses

    from selfsynth.runner import RunConfig

    return [f.name for f in dataclasses.fields(RunConfig)]


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(string.printable, max_size=8),
                         st.sampled_from(["1e400", "inf", "-1", "0", "true", "ours", "toy", "a,b", "[1]", "{}"]))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.one_of(st.text(string.ascii_lowercase + "_", max_size=8), st.integers(), st.sampled_from(["lr", "max_steps", "encoder", "seed"])),
    inner, max_size=3), max_leaves=8)


@BUDGET
@given(data=st.data())
@example(data=None)
def test_a_config_file_is_a_valid_config_or_one_line(tmp_path, data):
    import yaml

    from selfsynth import config as cfg
    from selfsynth.runner import RunConfig

    fields = _run_config_fields()
    if data is None:  # keys of two types: sorting them for the message must not fail
        content = {1: "x", "tsk": "toy", None: 2}
    else:
        keys = st.one_of(st.sampled_from(fields + ["train", "synth", "judging", "generate"]),
                         st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), st.integers(), st.booleans())
        content = data.draw(st.dictionaries(keys, yaml_values, max_size=5))
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True))
    try:
        config = cfg.resolve(RunConfig, path)
    except UserError as exc:
        one_line(exc, path)
    else:
        assert isinstance(config, RunConfig)
