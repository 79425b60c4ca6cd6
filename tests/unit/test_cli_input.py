"""Bad request files are refused by the CLI before anything starts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli


def test_invalid_request_file_names_every_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "model: {source: tiny-bert}\n"
        "dataset: {source: tweet-sentiment}\n"
        "space: {learning_rate: {type: float, low: 0.1, high: 0.01}}\n"
        "ladder: {trials: 2, rungs: [{budget: 10, keep: 3}, {budget: 5}]}\n"
        "max_concurrency: 0\n"
    )
    # Port 9 (discard) is never a Temporal server: reaching the network would fail loudly.
    result = CliRunner().invoke(cli, ["demo", "--file", str(path), "--temporal-port", "9"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "space.learning_rate: low (0.1) must be below high (0.01)" in text
    assert "budgets must increase" in text
    assert "max_concurrency: Input should be greater than or equal to 1" in text


def test_unreadable_request_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--file", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_unknown_preset() -> None:
    result = CliRunner().invoke(cli, ["demo", "--preset", "huge"])
    assert result.exit_code == 2
    assert "--preset" in result.output
