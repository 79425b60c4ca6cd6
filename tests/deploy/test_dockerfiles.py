"""Static checks of Dockerfile (API, orchestration worker) and Dockerfile.gpu (training worker).

No image can be built here (no Docker engine): these read the files as `docker build` would and
check what is cheap to know beforehand.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.project import ROOT

DOCKERFILES = ["Dockerfile", "Dockerfile.gpu"]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def stages(path: Path) -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for instruction, rest in instructions(path):
        if instruction == "ARG" and not found:  # global ARGs: usable in FROM lines
            name, _, default = rest.partition("=")
            args[name] = default
        elif instruction == "FROM":
            words = [w for w in rest.split() if not w.startswith("--platform")]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            found.append(Stage(image, words[2] if len(words) > 2 else None))
        elif found:
            found[-1].instructions.append((instruction, rest))
    return found


def dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches the path or one of its parent directories."""
    wanted, parts = pattern.split("/"), path.split("/")

    def match(i: int, j: int) -> bool:
        if i == len(wanted):
            return True  # the pattern matched a parent: everything below goes with it
        if wanted[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and fnmatch.fnmatchcase(parts[j], wanted[i]) and match(i + 1, j + 1)

    return match(0, 0)


def in_build_context(path: str) -> bool:
    included = True
    for negated, pattern in dockerignore_rules():
        if _matches(pattern, path):
            included = negated
    return included


def copied_sources(stage: Stage) -> list[str]:
    sources = []
    for instruction, rest in stage.instructions:
        if instruction in ("COPY", "ADD"):
            words = rest.split()
            if any(w.startswith("--from=") for w in words):
                continue
            sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def uv_syncs(path: Path) -> list[str]:
    return [
        rest
        for stage in stages(path)
        for instruction, rest in stage.instructions
        if instruction == "RUN" and "uv sync" in rest
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_copied_files_exist_and_are_in_the_build_context(dockerfile: str) -> None:
    for stage in stages(ROOT / dockerfile):
        for source in copied_sources(stage):
            assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"
            assert in_build_context(source), f"{dockerfile} copies {source}: .dockerignore drops it"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_image_has_what_the_project_needs_at_run_time(dockerfile: str) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {
        "pyproject.toml",
        "uv.lock",
        pyproject["project"]["readme"],  # the build backend reads it
        *pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
        "migrations",  # app/db/migrate.py finds them beside app/
    }
    copied = {source for stage in stages(ROOT / dockerfile) for source in copied_sources(stage)}
    assert needed <= copied


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependencies_come_from_the_lock_file(dockerfile: str) -> None:
    syncs = uv_syncs(ROOT / dockerfile)
    assert syncs, f"{dockerfile} installs nothing with uv sync"
    for command in syncs:
        assert "--frozen" in command.split(), command
        assert "--no-dev" in command.split(), command
    for stage in stages(ROOT / dockerfile):
        for instruction, rest in stage.instructions:
            if instruction == "RUN":
                assert not re.search(r"\bpip3? install\b|uv pip install", rest), rest


def test_the_cpu_image_has_no_training_stack_and_the_gpu_image_has() -> None:
    for command in uv_syncs(ROOT / "Dockerfile"):
        assert "--extra" not in command and "--all-extras" not in command, command
    for command in uv_syncs(ROOT / "Dockerfile.gpu"):
        assert "--extra train" in command, command


def test_the_gpu_image_is_built_on_cuda() -> None:
    final = stages(ROOT / "Dockerfile.gpu")[-1]
    assert final.image.startswith("nvidia/cuda:")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_base_images_are_pinned(dockerfile: str) -> None:
    for stage in stages(ROOT / dockerfile):
        name, _, tag = stage.image.rpartition(":")
        assert name and tag and tag != "latest", f"{dockerfile}: {stage.image} is not pinned"
        assert re.search(r"\d", tag), f"{dockerfile}: {stage.image} has no version"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_final_stage_runs_as_a_user_and_stays_lean(dockerfile: str) -> None:
    all_stages = stages(ROOT / dockerfile)
    assert len(all_stages) >= 3, "uv and the build stay out of the image (multi-stage)"
    final = all_stages[-1]
    users = [rest for instruction, rest in final.instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not any("uv " in rest for _, rest in final.instructions), "no uv in the final stage"
    copied_from = {
        w.removeprefix("--from=")
        for instruction, rest in final.instructions
        if instruction == "COPY"
        for w in rest.split()
        if w.startswith("--from=")
    }
    assert copied_from <= {s.name for s in all_stages[:-1] if s.name}


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (".venv/bin/python", ".git/HEAD", ".sweeps/index.db", "tests/conftest.py", ".env"):
        assert not in_build_context(path), path
    assert in_build_context("app/api/app.py")
    assert not in_build_context("app/api/__pycache__/app.cpython-311.pyc")
