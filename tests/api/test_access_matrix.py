"""Every endpoint x {no token, bad token, owner, other principal, admin}, against the app
built by its factory, the real dev server (real workflows, fake training) and a real index.

The table below must name every operation of the OpenAPI schema
(``test_the_matrix_covers_every_route``): a new endpoint fails the suite until its access
rule is stated here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.auth.tokens import new_token
from app.db import make_engine, session_scope
from app.db import webhooks as webhook_repo
from app.db.access import list_tokens, revoke_token
from tests.api.conftest import bearer, mint_token, serve, settings_for
from tests.api.test_sweeps_api import sweep_body
from tests.workflows.fakes import FakeTraining, workers
from workers.activities.mirror import MirrorActivities

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
HOOK = "http://127.0.0.1:9/hook"


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    tokens: dict[str, str]
    finished: str  # alice's finished sweep: results, endpoints, a delivery
    running: list[str]  # alice's running sweeps (one per caller that may cancel)
    endpoints: list[str]  # per-sweep endpoints of `finished`
    delivery: str
    spare_tokens: list[str] = field(default_factory=list)  # token ids to revoke


async def _wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def world(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("access")
    settings = settings_for(
        tmp,
        webhook_allowed_hosts="127.0.0.1",
        rate_limit_per_minute=100_000,
        rate_limit_burst=10_000,
        read_rate_limit_per_minute=0,
    )
    app = create_app(settings, temporal=dev_env.client)
    engine = make_engine(settings.resolved_database_url)
    fake = FakeTraining(step_seconds=0.02, poll_control=True)
    started: list[str] = []
    async with (
        serve(app, principal=None) as client,
        workers(dev_env, fake, MirrorActivities(engine).mirror_results),
    ):
        tokens = {
            "owner": mint_token(app, "alice"),
            "other": mint_token(app, "bob"),
            "admin": mint_token(app, "root", admin=True),
        }
        as_alice = bearer(tokens["owner"])
        body = sweep_body(trials=2, webhooks=[{"url": HOOK}] * 3)
        created = await client.post("/sweeps", json=body, headers=as_alice)
        assert created.status_code == 201, created.text
        finished = created.json()["sweep_id"]
        endpoints = [hook["id"] for hook in created.json()["webhooks"]]

        async def trials_indexed() -> bool:
            answer = await client.get(f"/sweeps/{finished}/trials", headers=as_alice)
            items = answer.json() if answer.status_code == 200 else []
            return len(items) == 2 and all(t["status"] == "completed" for t in items)

        await _wait_for(trials_indexed, "the finished sweep's results in the index")
        with session_scope(engine) as session:
            (delivery,) = webhook_repo.create_deliveries(
                session,
                sweep_id=finished,
                event_type="sweep.completed",
                event_key="end",
                payload={"type": "sweep.completed"},
                endpoint_ids=[endpoints[0]],
            )
        # The next sweeps keep running through the test (terminated at its end), however
        # slowly a loaded machine gets to the control cases.
        fake.step_seconds = 3600.0
        running = []
        for _ in range(2):
            # Two trials: once the trial-cancel case has cancelled t0000, t0001 keeps the
            # sweep running for the sweep-cancel case.
            answer = await client.post("/sweeps", json=sweep_body(trials=2), headers=as_alice)
            assert answer.status_code == 201, answer.text
            running.append(answer.json()["sweep_id"])
        for sweep_id in running:

            async def training(sweep_id: str = sweep_id) -> bool:
                answer = await client.get(f"/sweeps/{sweep_id}/result", headers=as_alice)
                trials = answer.json().get("trials", []) if answer.status_code == 200 else []
                return any(t["trial_id"] == "t0000" and t["status"] == "running" for t in trials)

            # The trial-control cases need t0000 to exist and train.
            await _wait_for(training, f"{sweep_id}'s first trial training")
        started += [finished, *running]
        yield World(app, client, tokens, finished, running, endpoints, delivery)
        for execution_id in started:
            with contextlib.suppress(Exception):
                await dev_env.client.get_workflow_handle(execution_id).terminate("test done")
        async for execution in dev_env.client.list_workflows("ExecutionStatus = 'Running'"):
            with contextlib.suppress(Exception):
                await dev_env.client.get_workflow_handle(execution.id).terminate("test done")
    engine.dispose()


# ---- the table ------------------------------------------------------------------------------
# kind: "sweep"    another principal's sweep answers 404 exactly like an unknown one
#       "endpoint" another principal's webhook endpoint answers 404 like an unknown one
#       "admin"    non-admin tokens get 403
#       "any"      every valid token may call it (what it sees is its own)
# allowed: the statuses the owner and the admin may get (the call is let through).


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    kind: str
    allowed: frozenset[int]
    body: Callable[[World], Any] | None = None

    def url(self, world: World, caller: str) -> str:
        # Destructive calls use a resource per caller, so the admin's call is not answered
        # by what the owner's call already did.
        index = 1 if caller == "admin" else 0
        values = {
            "sweep_id": world.running[index] if self.kind == "sweep-running" else world.finished,
            "trial_id": "t0000",
            "endpoint_id": world.endpoints[index + 1 if self.method == "DELETE" else 0],
            "delivery_id": world.delivery,
            "token_id": world.spare_tokens[index] if world.spare_tokens else "tok_0000000000000000",
        }
        return self.path.format(**values)

    @property
    def rule(self) -> str:
        return "sweep" if self.kind == "sweep-running" else self.kind


def _ok(*codes: int) -> frozenset[int]:
    return frozenset(codes)


CASES = [
    Case("POST", "/sweeps", "any", _ok(201), lambda w: sweep_body(trials=1)),
    Case("GET", "/sweeps", "any", _ok(200)),
    Case("GET", "/me", "any", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}", "sweep", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}/result", "sweep", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}/leaderboard", "sweep", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}/trials", "sweep", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}/trials/{trial_id}", "sweep", _ok(200)),
    Case("GET", "/sweeps/{sweep_id}/webhook-deliveries", "sweep", _ok(200)),
    Case(
        "POST",
        "/sweeps/{sweep_id}/webhook-deliveries/{delivery_id}/redeliver",
        "sweep",
        _ok(202),
    ),
    Case("POST", "/sweeps/{sweep_id}/pause", "sweep-running", _ok(200)),
    Case("POST", "/sweeps/{sweep_id}/resume", "sweep-running", _ok(200)),
    Case("POST", "/sweeps/{sweep_id}/checkpoint", "sweep-running", _ok(200)),
    Case("POST", "/sweeps/{sweep_id}/trials/{trial_id}/cancel", "sweep-running", _ok(200, 409)),
    Case("POST", "/sweeps/{sweep_id}/cancel", "sweep-running", _ok(202)),
    Case("GET", "/webhooks/{endpoint_id}", "endpoint", _ok(200)),
    Case("POST", "/webhooks/{endpoint_id}/enable", "endpoint", _ok(200)),
    Case("POST", "/webhooks/{endpoint_id}/rotate-secret", "endpoint", _ok(200)),
    Case("DELETE", "/webhooks/{endpoint_id}", "endpoint", _ok(204)),
    Case("GET", "/webhooks", "admin", _ok(200)),
    Case("POST", "/webhooks", "admin", _ok(201), lambda w: {"url": HOOK}),
    Case("POST", "/tokens", "admin", _ok(201), lambda w: {"name": "made-by-test"}),
    Case("GET", "/tokens", "admin", _ok(200)),
    Case("DELETE", "/tokens/{token_id}", "admin", _ok(204)),
    # Last: the running sweeps above must still run when their control cases come.
    Case("GET", "/sweeps/{sweep_id}/events", "sweep", _ok(200)),  # ended: the stream ends
]


def test_the_matrix_covers_every_route(tmp_path: Path) -> None:
    schema = create_app(settings_for(tmp_path)).openapi()
    operations = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    covered = {(case.method, case.path) for case in CASES}
    assert operations - PUBLIC == covered
    for method, path in operations - PUBLIC:
        assert schema["paths"][path][method.lower()]["security"] == [{"bearer": []}]
    assert "bearer" in schema["components"]["securitySchemes"]
    for method, path in PUBLIC:
        assert "security" not in schema["paths"][path][method.lower()]


async def call(world: World, case: Case, caller: str, headers: dict[str, str]) -> httpx.Response:
    body = case.body(world) if case.body else None
    return await world.client.request(
        case.method, case.url(world, caller), json=body, headers=headers
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_access(world: World, case: Case) -> None:
    if case.path == "/tokens/{token_id}" and not world.spare_tokens:
        # One token for the owner's attempt and one for the admin's revocation.
        for name in ("spare-a", "spare-b"):
            mint_token(world.app, name)
        with session_scope(world.app.state.engine) as session:
            world.spare_tokens = [
                t.id for t in list_tokens(session) if t.principal.startswith("spare")
            ]

    # No token, a malformed one, an unknown well-formed one, a revoked one: 401.
    revoked = mint_token(world.app, "revoked")
    with session_scope(world.app.state.engine) as session:
        assert revoke_token(session, revoked)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {world.tokens['owner']}"},
        bearer(new_token()),
        bearer(revoked),
    ):
        answer = await call(world, case, "anonymous", headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert world.tokens["owner"] not in answer.text

    other = await call(world, case, "other", bearer(world.tokens["other"]))
    owner = await call(world, case, "owner", bearer(world.tokens["owner"]))
    admin = await call(world, case, "admin", bearer(world.tokens["admin"]))

    if case.rule == "sweep":
        sweep_id = case.url(world, "other").split("/")[2]
        unknown = await call_unknown(world, case, sweep_id)
        assert other.status_code == 404, other.text
        # Indistinguishable from a sweep that does not exist: ids cannot be probed.
        assert other.json() == unknown.json()
        assert other.json()["detail"] == f"no sweep {sweep_id!r}"
    elif case.rule == "endpoint":
        assert other.status_code == 404, other.text
        assert other.json()["detail"].startswith("no webhook endpoint")
    elif case.rule == "admin":
        assert other.status_code == 403, other.text
        assert owner.status_code == 403, owner.text
        assert "admin" in owner.json()["detail"]
    else:
        assert other.status_code in case.allowed, other.text
    if case.rule != "admin":
        assert owner.status_code in case.allowed, owner.text
    assert admin.status_code in case.allowed, admin.text


async def call_unknown(world: World, case: Case, sweep_id: str) -> httpx.Response:
    """The same call as the other principal's, on a sweep id that does not exist."""
    url = case.url(world, "other").replace(sweep_id, "no-such-sweep-0123")
    body = case.body(world) if case.body else None
    answer = await world.client.request(
        case.method, url, json=body, headers=bearer(world.tokens["other"])
    )
    assert answer.status_code == 404
    return httpx.Response(
        404,
        json={
            **answer.json(),
            "detail": answer.json()["detail"].replace("no-such-sweep-0123", sweep_id),
        },
    )


async def test_lists_show_each_principal_its_own(world: World) -> None:
    def ids(answer: httpx.Response) -> set[str]:
        assert answer.status_code == 200, answer.text
        return {row["sweep_id"] for row in answer.json()["items"]}

    mine = ids(await world.client.get("/sweeps?limit=500", headers=bearer(world.tokens["owner"])))
    theirs = ids(await world.client.get("/sweeps?limit=500", headers=bearer(world.tokens["other"])))
    everyone = ids(
        await world.client.get("/sweeps?limit=500", headers=bearer(world.tokens["admin"]))
    )
    assert world.finished in mine and world.finished not in theirs
    assert mine <= everyone and theirs <= everyone and not mine & theirs
    me = (await world.client.get("/me", headers=bearer(world.tokens["other"]))).json()
    assert me == {
        "principal": "bob",
        "admin": False,
        "token_id": me["token_id"],
        "authentication": True,
    }


async def test_same_idempotency_key_from_two_principals_makes_two_sweeps(world: World) -> None:
    key = {"Idempotency-Key": "shared-key-1"}
    body = sweep_body(name="idem", trials=1)
    alice = await world.client.post(
        "/sweeps", json=body, headers=key | bearer(world.tokens["owner"])
    )
    bob = await world.client.post("/sweeps", json=body, headers=key | bearer(world.tokens["other"]))
    assert alice.status_code == bob.status_code == 201, (alice.text, bob.text)
    assert alice.json()["sweep_id"] != bob.json()["sweep_id"]
    again = await world.client.post(
        "/sweeps", json=body, headers=key | bearer(world.tokens["owner"])
    )
    assert again.status_code == 200 and again.json()["sweep_id"] == alice.json()["sweep_id"]
