"""Artifact storage: the one module that knows where checkpoints and dataset snapshots live.

A *location* is a local path (a disk, or a filesystem every training worker mounts) or the
URI of an fsspec filesystem: ``s3://bucket/prefix`` with s3fs, or any other protocol whose
fsspec package is installed. Local locations use the standard library only, exactly as before
object stores were supported; URIs go through fsspec. S3 settings (credentials, region, an
S3-compatible server's ``AWS_ENDPOINT_URL``) come from the standard AWS environment variables
and files, which botocore reads itself.

Object stores have no directories and no rename, so a directory tree is published by
uploading every file and then one *marker* file (a checkpoint's completion marker, a
snapshot's metadata): a reader that finds the marker finds everything else. Downloads fetch
the marker last for the same reason.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fsspec.core import url_to_fs

Location = str | Path


def is_remote(location: Location) -> bool:
    """Whether ``location`` is a URI for fsspec rather than a path on this machine."""
    return isinstance(location, str) and "://" in location


def join(location: Location, *names: str) -> str:
    if is_remote(location):
        return "/".join([str(location).rstrip("/"), *names])
    return str(Path(location, *names))


def normalise(location: Location) -> str:
    """One spelling per location, so two spellings of it compare equal."""
    return str(location).rstrip("/") if is_remote(location) else str(Path(location))


def name_of(location: Location) -> str:
    return normalise(location).rsplit("/", 1)[-1] if is_remote(location) else Path(location).name


def local_path(location: Location, scratch: Path | None) -> Path:
    """Where this worker keeps its working copy of ``location``: the location itself when it
    is local (no copy at all), else a path under ``scratch`` that mirrors the URI."""
    if not is_remote(location):
        return Path(location)
    parts = urlsplit(normalise(location))
    return (scratch or default_scratch()) / parts.scheme / parts.netloc / parts.path.lstrip("/")


def default_scratch() -> Path:
    return Path(tempfile.gettempdir()) / "bert-sweeps-scratch"


def is_file(location: Location) -> bool:
    if not is_remote(location):
        return Path(location).is_file()
    fs, path = _fs(location)
    return bool(fs.isfile(path))


def is_dir(location: Location) -> bool:
    if not is_remote(location):
        return Path(location).is_dir()
    fs, path = _fs(location)
    return bool(fs.isdir(path))


def read_text(location: Location) -> str | None:
    """The file's text, or None when there is no such file."""
    if not is_remote(location):
        try:
            return Path(location).read_text()
        except OSError:
            return None
    fs, path = _fs(location)
    try:
        return bytes(fs.cat_file(path)).decode()
    except FileNotFoundError:
        return None


def write_text(location: Location, text: str) -> None:
    """Write a file so that readers see all of it or none: a temp file renamed into place on a
    local disk; one PUT (atomic by itself) on an object store."""
    if is_remote(location):
        fs, path = _fs(location)
        fs.pipe_file(path, text.encode())
        return
    target = Path(location)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)


def remove(location: Location) -> None:
    """Delete a file or a whole directory tree; nothing there is fine."""
    if not is_remote(location):
        local = Path(location)
        if local.is_dir():
            shutil.rmtree(local, ignore_errors=True)
        else:
            local.unlink(missing_ok=True)
        return
    fs, path = _fs(location)
    with suppress(FileNotFoundError):
        if fs.isdir(path):
            fs.rm(path, recursive=True)
        else:
            fs.rm_file(path)


def subdirectories(location: Location) -> list[str]:
    """Names of the directories directly under ``location`` (none when it does not exist)."""
    if not is_remote(location):
        local = Path(location)
        if not local.is_dir():
            return []
        return [entry.name for entry in local.iterdir() if entry.is_dir()]
    fs, path = _fs(location)
    try:
        entries: list[dict[str, Any]] = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    return [
        str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"
    ]


def put_dir(local: Path, location: Location, *, marker: str) -> None:
    """Publish the directory ``local`` at ``location``: first withdraw any marker there (the
    location may hold an older copy), then every file, then ``marker`` (which ``local`` must
    hold)."""
    files = [f for f in _relative_files(local) if f != marker]
    target = join(location, marker)
    remove(target)
    if not is_remote(location):
        for name in files:
            destination = Path(location, name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local / name, destination)
        shutil.copy2(local / marker, target)
        return
    fs, root = _fs(location)
    if files:
        fs.put([str(local / f) for f in files], [f"{root}/{f}" for f in files])
    fs.put_file(str(local / marker), f"{root}/{marker}")


def get_dir(location: Location, local: Path, *, marker: str, exclude: tuple[str, ...] = ()) -> None:
    """Copy the published directory at ``location`` into ``local``, ``marker`` last, so a copy
    cut short has no marker. ``exclude``: glob patterns of file names not to fetch."""
    local.mkdir(parents=True, exist_ok=True)
    if not is_remote(location):
        names = _relative_files(Path(location))
    else:
        fs, root = _fs(location)
        names = [str(found)[len(root) + 1 :] for found in fs.find(root)]
    if marker not in names:
        raise FileNotFoundError(f"{normalise(location)}: not published (no {marker})")
    wanted = [n for n in names if n != marker and not any(fnmatch.fnmatch(n, p) for p in exclude)]
    for name in wanted:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(location):
        for name in [*wanted, marker]:
            shutil.copy2(Path(location, name), local / name)
        return
    if wanted:
        fs.get([f"{root}/{n}" for n in wanted], [str(local / n) for n in wanted])
    fs.get_file(f"{root}/{marker}", str(local / marker))


def _relative_files(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in _walk(directory))


def _walk(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path


def _fs(location: Location) -> tuple[Any, str]:
    # Listings are never cached: other workers change the store behind this process's back.
    fs, path = url_to_fs(str(location), use_listings_cache=False)
    return fs, str(path).rstrip("/")
