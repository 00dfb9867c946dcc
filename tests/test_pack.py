"""Image-packed training (``TrainConfig.pack_questions``): one multi-turn sequence per image, the
image encoded once, loss on every answer + EOS."""
from __future__ import annotations

from pathlib import Path

from selfsynth.io import read_jsonl
from selfsynth.train import AnswerOnlyCollator, TrainConfig, pack_by_image, train


QUESTIONS = ["What is this bird?", "Describe its crown.", "Which wing colour does it have? Explain."]


def _rows(world, n_images: int) -> list[dict]:
    root = Path(world.dataset_root)
    rows = []
    for row in read_jsonl(root / "train.jsonl")[:n_images]:
        for q, question in enumerate(QUESTIONS):
            rows.append({"id": f"{row['id']}-{q}", "image": str(root / row["image"]), "question": question,
                         "answer": f"Answer {q}: it is a {row['label']} with {row['visible_concepts'][q % len(row['visible_concepts'])]}."})
    return rows


def test_pack_by_image_groups_rows_in_first_seen_order():
    rows = [{"image": "b", "n": 0}, {"image": "a", "n": 1}, {"image": "b", "n": 2}, {"image": "c", "n": 3}, {"image": "a", "n": 4}]
    assert [[r["n"] for r in group] for group in pack_by_image(rows)] == [[0, 2], [1, 4], [3]]


def test_packed_sequence_holds_one_image_and_every_answer(toy_world, toy_lm):
    rows = _rows(toy_world, 2)
    collate = AnswerOnlyCollator(toy_lm.processor)
    tok = toy_lm.processor.tokenizer
    packed = collate(pack_by_image(rows))
    single = collate(rows)
    image_token = collate.image_token_id
    per_image = int((single["input_ids"][0] == image_token).sum())
    assert per_image > 1
    assert packed["input_ids"].shape[0] == 2 and single["input_ids"].shape[0] == 6
    for i in range(2):
        ids, labels = packed["input_ids"][i], packed["labels"][i]
        assert int((ids == image_token).sum()) == per_image  # the image once per sequence
        kept = labels[labels != -100].tolist()
        answers = rows[3 * i : 3 * i + 3]
        assert tok.decode(kept) == "".join(f" {r['answer']}</s>" for r in answers)
        # every labelled token is the input token at that position (the model's causal shift does the rest)
        assert ids[labels != -100].tolist() == kept
        text = tok.decode(ids[packed["attention_mask"][i] == 1].tolist())
        for r in answers:  # the questions are in the sequence, unlabelled
            assert r["question"] in text
    # packed tokens vs one sequence per row: the image (and the first prompt) is not repeated
    assert int(packed["attention_mask"].sum()) < int(single["attention_mask"].sum()) - 2 * 2 * per_image


def test_a_group_of_one_is_the_unpacked_row(toy_world, toy_lm):
    rows = _rows(toy_world, 1)[:2]
    collate = AnswerOnlyCollator(toy_lm.processor)
    a = collate([[rows[0]], [rows[1]]])
    b = collate(rows)
    for key in ("input_ids", "attention_mask", "labels", "pixel_values"):
        assert a[key].equal(b[key]), key


def test_packed_training_takes_one_sequence_per_image(tmp_path, toy_world):
    rows = _rows(toy_world, 8)  # 8 images x 3 questions
    common = dict(lora_r=4, lora_alpha=8, per_device_batch_size=8, epochs=1.0, learning_rate=1e-3)
    packed = train(toy_world.model_path, rows, tmp_path / "packed", TrainConfig(pack_questions=True, **common))
    plain = train(toy_world.model_path, rows, tmp_path / "plain", TrainConfig(**common))
    assert (packed.steps, plain.steps) == (1, 3)  # 8 sequences vs 24 at 8 per step
    assert packed.num_rows == plain.num_rows == 24
    assert 0 < packed.first_loss < 20 and 0 < plain.first_loss < 20
