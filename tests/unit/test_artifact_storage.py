"""The artifact storage module and the checkpoint bookkeeping on it, against a local directory
and against moto's S3-compatible server: the two kinds of root must behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.domain import CheckpointInfo
from app.settings import Settings
from tests.object_store import S3Server
from workers.ml import storage
from workers.ml.checkpoints import (
    MARKER_FILE,
    complete_checkpoints,
    fetch,
    is_complete,
    latest_complete,
    mark_complete,
    prune,
    read_marker,
    readable,
    remove_incomplete,
    unmark,
)


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "local":
        yield str(tmp_path / "root")
    else:
        s3: S3Server = request.getfixturevalue("s3")
        yield f"s3://{s3.new_bucket()}/sweeps"


def a_checkpoint(directory: Path, step: int) -> CheckpointInfo:
    """A local checkpoint directory as the Trainer leaves it, marked complete."""
    path = directory / f"checkpoint-{step}"
    (path / "nested").mkdir(parents=True)
    (path / "model.safetensors").write_bytes(bytes([step]) * 100)
    (path / "optimizer.pt").write_bytes(b"adam")
    (path / "nested" / "rng_state.pth").write_bytes(b"rng")
    info = CheckpointInfo(path=str(path), step=step, epoch=0.5, rung=0)
    mark_complete(info)
    return info


def published(root: str, local: Path, step: int) -> CheckpointInfo:
    info = a_checkpoint(local, step)
    target = storage.join(root, f"checkpoint-{step}")
    storage.put_dir(Path(info.path), target, marker=MARKER_FILE)
    return info.model_copy(update={"path": target})


def test_files_read_write_and_remove(root: str) -> None:
    file = storage.join(root, "a", "b.txt")
    assert storage.read_text(file) is None and not storage.is_file(file)
    if not storage.is_remote(root):
        Path(file).parent.mkdir(parents=True)
    storage.write_text(file, "one")
    storage.write_text(file, "two")
    assert storage.read_text(file) == "two" and storage.is_file(file)
    assert storage.is_dir(storage.join(root, "a")) and not storage.is_dir(file)
    assert storage.subdirectories(root) == ["a"]
    assert storage.subdirectories(storage.join(root, "nothing")) == []
    storage.remove(storage.join(root, "a"))
    assert storage.read_text(file) is None and storage.subdirectories(root) == []
    storage.remove(storage.join(root, "a"))  # gone already: fine


def test_put_and_get_a_directory_marker_last(root: str, tmp_path: Path) -> None:
    info = published(root, tmp_path / "saved", 7)
    assert is_complete(info.path)
    assert read_marker(info.path) == info  # the path is where it was found

    copy = tmp_path / "copy"
    storage.get_dir(info.path, copy, marker=MARKER_FILE, exclude=("optimizer.pt",))
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()) == [
        MARKER_FILE,
        "model.safetensors",
        "nested/rng_state.pth",
    ]
    assert (copy / "model.safetensors").read_bytes() == bytes([7]) * 100

    # Nothing published there: no marker, so nothing to copy.
    unmark(info.path)
    assert not is_complete(info.path)
    with pytest.raises(FileNotFoundError):
        storage.get_dir(info.path, tmp_path / "other", marker=MARKER_FILE)


def test_republishing_withdraws_the_old_marker_first(root: str, tmp_path: Path) -> None:
    first = published(root, tmp_path / "a", 3)
    mark = storage.join(first.path, MARKER_FILE)
    local = tmp_path / "b" / "checkpoint-3"
    local.mkdir(parents=True)
    (local / "model.safetensors").write_bytes(b"x")
    # The new copy has no marker yet: publishing fails and the old marker must be gone.
    with pytest.raises(FileNotFoundError):
        storage.put_dir(local, first.path, marker=MARKER_FILE)
    assert not storage.is_file(mark)


def test_checkpoint_bookkeeping_alike_on_every_root(root: str, tmp_path: Path) -> None:
    infos = [published(root, tmp_path / "saved", step) for step in (5, 10, 15, 20)]
    half = storage.join(root, "checkpoint-25")  # an upload cut short: files, no marker
    if not storage.is_remote(half):
        Path(half).mkdir()
    storage.write_text(storage.join(half, "model.safetensors"), "trunc")

    assert [c.step for c in complete_checkpoints(root)] == [5, 10, 15, 20]
    assert latest_complete(root) == infos[-1]
    assert remove_incomplete(root) == [half]
    assert not storage.is_dir(half)

    removed = prune(root, keep=1, protect=infos[0])
    assert removed == [infos[1].path, infos[2].path]
    assert sorted(storage.subdirectories(root)) == ["checkpoint-20", "checkpoint-5"]
    assert latest_complete(storage.join(root, "elsewhere")) is None


def test_fetch_and_readable_copies(root: str, tmp_path: Path) -> None:
    info = published(root, tmp_path / "saved", 5)
    scratch = tmp_path / "scratch"
    fetched = fetch(info.path, scratch)
    if not storage.is_remote(root):
        assert fetched == Path(info.path) and not scratch.exists()  # a local root: no copy
        with readable(info.path, scratch) as path:
            assert path == Path(info.path)
        return
    assert fetched == storage.local_path(info.path, scratch)
    assert fetched.is_relative_to(scratch) and is_complete(fetched)
    assert (fetched / "optimizer.pt").read_bytes() == b"adam"
    assert fetch(info.path, scratch) == fetched  # complete here already: not fetched again

    other = tmp_path / "other-scratch"
    with readable(info.path, other) as path:
        assert path.is_relative_to(other)
        assert (path / "model.safetensors").is_file()
        assert not (path / "optimizer.pt").exists()  # evaluation needs no training state
    assert not path.exists()  # nothing left behind


def test_locations() -> None:
    assert storage.is_remote("s3://b/p") and not storage.is_remote("/data/p")
    assert not storage.is_remote(Path("/data/p"))
    assert storage.join("s3://b/p/", "x", "y") == "s3://b/p/x/y"
    assert storage.join("/data/p", "x") == "/data/p/x"
    assert storage.normalise("s3://b/p/") == "s3://b/p"
    assert storage.name_of("s3://b/p/checkpoint-5/") == "checkpoint-5"
    assert storage.local_path("s3://b/p/c", Path("/scratch")) == Path("/scratch/s3/b/p/c")
    assert storage.local_path("/data/p", Path("/scratch")) == Path("/data/p")


def test_settings_artifact_root_and_scratch(tmp_path: Path) -> None:
    local = Settings(data_dir=tmp_path)
    assert local.artifacts == str((tmp_path / "artifacts").resolve())
    assert local.snapshot_root == str((tmp_path / "artifacts" / "snapshots").resolve())
    assert local.scratch == (tmp_path / "scratch").resolve()

    remote = Settings(data_dir=tmp_path, artifact_root="s3://bucket/sweeps/", scratch_dir="/s")
    assert remote.artifacts == "s3://bucket/sweeps"
    assert remote.snapshot_root == "s3://bucket/sweeps/snapshots"
    assert remote.scratch == Path("/s")
