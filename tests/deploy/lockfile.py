"""What `uv sync --frozen` installs from uv.lock for a given set of extras (read offline)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata

import pytest

from tests.deploy.project import ROOT


def uv_command() -> list[str]:
    """uv as `uv run` names it (UV), else from PATH, else the copy pip installed (Makefile)."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    if found := shutil.which("uv"):
        return [found]
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode:
        pytest.fail("uv is not installed: `make install` installs it")
    return [sys.executable, "-m", "uv"]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def locked_distributions(*extras: str) -> frozenset[str]:
    """Distributions a production install (no dev group) gets for ``extras`` on this platform."""
    args = ["export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
    for extra in extras:
        args += ["--extra", extra]
    done = subprocess.run(
        [*uv_command(), *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    names = set()
    for line in done.stdout.splitlines():
        if line and not line.startswith(("#", " ", "-")):
            names.add(normalise(re.split(r"[=<>;\[ ]", line, maxsplit=1)[0]))
    return frozenset(names)


def top_level_modules(distributions: frozenset[str]) -> frozenset[str]:
    """The importable top-level names that ``distributions`` (installed here) provide."""
    return frozenset(
        module
        for module, owners in metadata.packages_distributions().items()
        if any(normalise(owner) in distributions for owner in owners)
    )
