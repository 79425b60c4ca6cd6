"""BENCHMARKS.md: each benchmark run adds its section at the top, with command, machine, date."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nFigures measured by the scripts under `benchmarks/`; newest first.\n\n"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, no GPU"


def today() -> str:
    return dt.date.today().isoformat()


def prepend_section(section: str) -> None:
    previous = BENCHMARKS.read_text().removeprefix(HEADER) if BENCHMARKS.exists() else ""
    BENCHMARKS.write_text(HEADER + section.rstrip() + "\n\n" + previous.lstrip())
