"""Where benchmark figures are written: a reference table and a dated history.

- ``BENCHMARKS.md`` is the reference: one table of the current figures, one row per figure
  (what, goal, peer, ours, command, date), between the ``FIGURES_BEGIN`` and
  ``FIGURES_END`` markers. ``record_figures`` replaces the rows whose first cell ("what")
  matches and appends the others; rows it is not given stay as they are, so a hand-written
  row (a figure no script writes) survives every run.
- ``docs/benchmarks-history.md`` is the log: every run prepends its full section (command,
  machine, date, medians and ranges) with ``prepend_section``, newest first, nothing removed.

A benchmark calls ``prepend_section`` always and ``record_figures`` for the figures it owns;
the rows a script does not write are updated by hand from its newest history section.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "BENCHMARKS.md"
HISTORY = ROOT / "docs" / "benchmarks-history.md"
HEADER = (
    "# Benchmark history\n\n"
    "Every section the scripts under `benchmarks/` wrote, newest first; the current figures "
    "are the table in [BENCHMARKS.md](../BENCHMARKS.md).\n\n"
)
FIGURES_BEGIN = "<!-- figures:begin -->"
FIGURES_END = "<!-- figures:end -->"
COLUMNS = ("what", "goal", "peer", "ours", "command", "date")


@dataclass(frozen=True)
class Figure:
    what: str  # the row's key: keep it stable across runs
    goal: str
    peer: str
    ours: str
    command: str
    date: str

    def row(self) -> str:
        cells = (self.what, self.goal, self.peer, self.ours, f"`{self.command}`", self.date)
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, no GPU"


def today() -> str:
    return dt.date.today().isoformat()


def prepend_section(section: str) -> None:
    previous = HISTORY.read_text().removeprefix(HEADER) if HISTORY.exists() else ""
    HISTORY.write_text(HEADER + section.rstrip() + "\n\n" + previous.lstrip())


def row_key(line: str) -> str:
    """The first cell of a table row, as ``Figure.what`` (escaped pipes unescaped)."""
    cell = line.strip().removeprefix("|").replace("\\|", "\0").split("|")[0]
    return cell.replace("\0", "|").strip()


def record_figures(figures: Sequence[Figure], path: Path | None = None) -> None:
    """Replace (or append) these figures' rows in the reference table."""
    target = path or BENCHMARKS
    text = target.read_text()
    head, begin, rest = text.partition(FIGURES_BEGIN)
    body, end, tail = rest.partition(FIGURES_END)
    if not begin or not end:
        raise ValueError(f"{target} has no {FIGURES_BEGIN} ... {FIGURES_END} table")
    lines = body.strip("\n").splitlines()
    wanted = {figure.what: figure.row() for figure in figures}
    kept = [wanted.pop(row_key(line), line) if line.startswith("|") else line for line in lines]
    kept += [wanted[figure.what] for figure in figures if figure.what in wanted]
    target.write_text(head + begin + "\n" + "\n".join(kept) + "\n" + end + tail)
