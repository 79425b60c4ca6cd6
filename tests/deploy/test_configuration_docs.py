"""Every setting is an environment variable documented in the README's Configuration table."""

from __future__ import annotations

import re

from app.settings import Settings
from tests.deploy.project import ROOT, setting_variables


def configuration_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Configuration\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"`(SWEEPS_[A-Z_]+)`", configuration_section()))
    fields = {f"SWEEPS_{name.upper()}" for name in Settings.model_fields}
    assert fields - documented == set(), "README, Configuration, lacks these"


def test_the_table_names_no_setting_that_does_not_exist() -> None:
    known = setting_variables()
    documented = set(re.findall(r"`(SWEEPS_[A-Z_]+)`", configuration_section()))
    assert documented - known == set()
