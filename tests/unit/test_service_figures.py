"""The service-figures table quotes the newest fault-drill section's recovery figures."""

from benchmarks.service.service_figures import recovery_rows

SECTIONS = """# Benchmarks

## Fault drills: kill -9 of the training worker, checkpoint-now (2026-11-30)

- Steps redone per kill: median 4.0 steps (range 3.0-6.0, n=3); the bound is one interval.
- Worker restart to training resumed: median 30.0 s (range 28.0-33.0, n=3). It adds more.
- Checkpoint-now, request to checkpoint reported: median 2.50 s (range 2.0-3.0, n=3).

## Fault drills: kill -9 of the training worker, checkpoint-now (2026-11-28)

- Steps redone per kill: median 5.0 steps (range 5.0-9.0, n=3).
"""


def test_quotes_the_newest_drill_with_its_date() -> None:
    rows = recovery_rows(SECTIONS)
    assert len(rows) == 3
    assert "median 4.0 steps (range 3.0-6.0, n=3)" in rows[0]
    assert "median 30.0 s (range 28.0-33.0, n=3) |" in rows[1]  # the explanation is cut
    assert all("Fault drills (2026-11-30)" in row for row in rows)


def test_no_drill_section_no_rows() -> None:
    assert recovery_rows("# Benchmarks\n\n## Sample sweep (2026-11-28)\n") == []
