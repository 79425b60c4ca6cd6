"""Every typed activity reference that workflows call has an implementation registered under
the same name, taking and returning the same types: a reference that drifted from its
implementation would type-check in the workflow and fail at run time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine
from temporalio import activity

from app.settings import Settings
from app.temporal import activity_refs
from app.webhooks.wiring import address_policy, secrets_box
from workers.activities.mirror import MirrorActivities
from workers.activities.search import propose_configs
from workers.activities.training_queue import TrainingActivities
from workers.activities.webhooks import WebhookActivities


@pytest.fixture(scope="module")
def implementations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Callable[..., Any]]:
    """What the two workers register, by activity name."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("state"))
    loop = asyncio.new_event_loop()
    try:
        training = TrainingActivities(loop, None).all()
    finally:
        loop.close()
    engine = create_engine("sqlite://")
    registered = [
        *training,
        propose_configs,
        MirrorActivities(engine).mirror_results,
        *WebhookActivities(engine, secrets_box(settings), address_policy(settings)).all(),
    ]
    return {definition(fn).name: fn for fn in registered}


def definition(fn: Callable[..., Any]) -> Any:
    found = activity._Definition.from_callable(fn)
    assert found is not None, f"{fn!r} is not an activity"
    return found


@pytest.mark.parametrize("reference", activity_refs.ALL_REFERENCES, ids=lambda r: r.__name__)
def test_reference_matches_its_implementation(
    reference: Callable[..., Any], implementations: dict[str, Callable[..., Any]]
) -> None:
    ref = definition(reference)
    implemented = implementations
    assert ref.name in implemented, f"no worker registers {ref.name}"
    impl = definition(implemented[ref.name])
    assert impl.arg_types == ref.arg_types, ref.name
    assert impl.ret_type == ref.ret_type, ref.name
    # A sync reference to an async implementation (or back) would change nothing for the
    # caller, but the name says which worker's thread pool or loop runs it.
    assert impl.is_async == ref.is_async, ref.name


def test_every_registered_activity_has_a_reference(
    implementations: dict[str, Callable[..., Any]],
) -> None:
    referenced = {definition(r).name for r in activity_refs.ALL_REFERENCES}
    assert set(implementations) == referenced
