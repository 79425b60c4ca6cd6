"""Dataset snapshots: content addressing, reuse without rewriting, normalised labels, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from app.domain import DatasetSnapshot, DatasetSpec
from workers.ml.errors import BadInputError
from workers.ml.normalise import EVAL_SPLIT, TRAIN_SPLIT
from workers.ml.snapshot import METADATA_FILE, create_snapshot, load_snapshot_splits


def write_csv(path: Path, rows: list[tuple[str, object]], header: str = "review,stars") -> Path:
    path.write_text(header + "\n" + "".join(f'"{text}",{label}\n' for text, label in rows))
    return path


def file_stamps(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
    }


def test_tweet_snapshot_is_shuffled_before_capping(tweet_snapshot: DatasetSnapshot) -> None:
    assert tweet_snapshot.label_names == ["negative", "neutral", "positive"]
    assert (tweet_snapshot.train_rows, tweet_snapshot.eval_rows) == (200, 96)
    assert tweet_snapshot.source == "tweet-sentiment"
    assert not tweet_snapshot.has_text_pair
    splits = load_snapshot_splits(tweet_snapshot)
    assert splits[TRAIN_SPLIT].column_names == ["text", "label"]
    # The CSV is sorted by label: without a shuffle the first 200 rows would all be negative.
    assert set(splits[TRAIN_SPLIT]["label"]) == {0, 1, 2}
    assert set(splits[EVAL_SPLIT]["label"]) == {0, 1, 2}
    assert set(splits[TRAIN_SPLIT]["text"]).isdisjoint(splits[EVAL_SPLIT]["text"])


def test_same_input_reuses_the_snapshot_without_rewriting(
    tweet_snapshot: DatasetSnapshot, snapshot_root: Path
) -> None:
    before = file_stamps(Path(tweet_snapshot.path))
    again = create_snapshot(
        DatasetSpec(source="tweet-sentiment", max_train_samples=200, max_eval_samples=96),
        snapshot_root,
    )
    assert again == tweet_snapshot
    assert file_stamps(Path(tweet_snapshot.path)) == before
    leftovers = [p.name for p in snapshot_root.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_different_options_or_content_give_different_ids(tmp_path: Path) -> None:
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(40)]
    csv = write_csv(tmp_path / "reviews.csv", rows)
    spec = DatasetSpec(source=str(csv), text_field="review", label_field="stars")
    first = create_snapshot(spec, tmp_path / "snaps")
    seeded = create_snapshot(spec.model_copy(update={"split_seed": 1}), tmp_path / "snaps")
    assert seeded.snapshot_id != first.snapshot_id
    write_csv(csv, [*rows, ("one more", "pos")])
    edited = create_snapshot(spec, tmp_path / "snaps")
    assert edited.snapshot_id not in {first.snapshot_id, seeded.snapshot_id}
    assert (first.train_rows, first.eval_rows) == (36, 4)  # holdout_fraction 0.1: no such split


def test_string_labels_map_to_sorted_names(tmp_path: Path) -> None:
    rows = [(f"t{i}", ["pos", "neg", "neu"][i % 3]) for i in range(30)]
    csv = write_csv(tmp_path / "r.csv", rows)
    spec = DatasetSpec(source=str(csv), text_field="review", label_field="stars")
    snap = create_snapshot(spec, tmp_path / "snaps")
    assert snap.label_names == ["neg", "neu", "pos"]
    train = load_snapshot_splits(snap)[TRAIN_SPLIT]
    names = train.features["label"].names
    for row in train:
        original = rows[int(row["text"][1:])][1]
        assert names[row["label"]] == original


def test_integer_labels_sort_numerically_and_blank_labels_are_dropped(tmp_path: Path) -> None:
    rows = [(f"t{i}", [10, 2, 1][i % 3]) for i in range(30)] + [("unlabelled", "")]
    csv = write_csv(tmp_path / "r.csv", rows)
    spec = DatasetSpec(source=str(csv), text_field="review", label_field="stars")
    snap = create_snapshot(spec, tmp_path / "snaps")
    assert snap.label_names == ["1", "2", "10"]
    assert snap.train_rows + snap.eval_rows == 30


def test_jsonl_with_text_pairs(tmp_path: Path) -> None:
    path = tmp_path / "nli.jsonl"
    with path.open("w") as handle:
        for i in range(20):
            row = {"premise": f"p{i}", "hypothesis": f"h{i}", "label": i % 2}
            handle.write(json.dumps(row) + "\n")
    spec = DatasetSpec(
        source=str(path), text_field="premise", text_pair_field="hypothesis", max_eval_samples=3
    )
    snap = create_snapshot(spec, tmp_path / "snaps")
    assert snap.has_text_pair
    assert snap.label_names == ["0", "1"]
    assert snap.eval_rows == 2  # 10% of 20 rows, under the cap of 3
    row = load_snapshot_splits(snap)[TRAIN_SPLIT][0]
    assert row["text"][1:] == row["text_pair"][1:]
    stored = json.loads((Path(snap.path) / METADATA_FILE).read_text())
    assert stored["snapshot_id"] == snap.snapshot_id


def test_missing_column_names_the_field_and_the_columns(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "r.csv", [("a", 1), ("b", 2)])
    spec = DatasetSpec(source=str(csv), text_field="review")  # label_field defaults to "label"
    with pytest.raises(BadInputError) as error:
        create_snapshot(spec, tmp_path / "snaps")
    message = str(error.value)
    assert "dataset.label_field 'label'" in message
    assert "review, stars" in message


def test_missing_split_names_the_splits(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "r.csv", [("a", 1), ("b", 2)])
    spec = DatasetSpec(source=str(csv), text_field="review", label_field="stars", train_split="dev")
    with pytest.raises(BadInputError, match=r"train_split 'dev'.*splits: train"):
        create_snapshot(spec, tmp_path / "snaps")


def test_one_label_is_not_a_classification_task(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "r.csv", [("a", 1), ("b", 1), ("c", 1)])
    spec = DatasetSpec(source=str(csv), text_field="review", label_field="stars")
    with pytest.raises(BadInputError, match="at least two"):
        create_snapshot(spec, tmp_path / "snaps")


def test_directory_with_named_splits_keeps_class_label_names(tmp_path: Path) -> None:
    # The load_dataset path (as for hub datasets): named splits and ClassLabel features.
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["pos", "neg"])})
    source = tmp_path / "sst-like"
    source.mkdir()
    for split, rows in (("train", 20), ("validation", 6)):
        data = {
            "sentence": [f"{split} {i}" for i in range(rows)],
            "label": [i % 2 for i in range(rows)],
        }
        Dataset.from_dict(data, features=features).to_parquet(str(source / f"{split}.parquet"))
    spec = DatasetSpec(source=str(source), text_field="sentence")
    snap = create_snapshot(spec, tmp_path / "snaps")
    assert snap.label_names == ["pos", "neg"]  # the dataset's own order, not sorted
    assert (snap.train_rows, snap.eval_rows) == (20, 6)  # the validation split, no holdout
    held_out = load_snapshot_splits(snap)[EVAL_SPLIT]
    assert all(text.startswith("validation") for text in held_out["text"])
    assert create_snapshot(spec, tmp_path / "snaps") == snap
