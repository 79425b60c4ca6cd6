"""Fixtures of the end-to-end tests; a test module provides its own ``stack``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.embedded import EmbeddedStack
from tests.e2e.drills import Driver


@pytest.fixture
def drive(stack: EmbeddedStack) -> Iterator[Driver]:
    """An API client of the module's stack, closed after the test."""
    with Driver(stack) as driver:
        yield driver
