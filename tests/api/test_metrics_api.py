"""GET /metrics on the API: Prometheus text, requests by route template, sweeps and trials by
status from the results index (SQLite and Postgres), and an index outage that the scrape
reports instead of failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.api import create_app
from tests.api.conftest import serve, settings_for
from tests.api.test_sweeps_api import sweep_body, wait_until_ended

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api: httpx.AsyncClient) -> Samples:
    answer = await api.get("/metrics", headers={"Authorization": ""})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template(tmp_path: Path) -> None:
    # No Temporal needed: the client connects lazily, and nothing here reaches it.
    async with serve(create_app(settings_for(tmp_path))) as api:
        before = await scrape(api)
        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/sweeps/some-sweep/trials/t0001")).status_code == 404
        assert (await api.get("/no/such/path")).status_code == 404
        too_large = await api.post("/sweeps", content=b"x" * (2 * 1024 * 1024))
        assert too_large.status_code == 413
        after = await scrape(api)
        text = (await api.get("/metrics")).text

    def moved(route: str, status: str, method: str = "GET") -> float:
        labels = {"method": method, "route": route, "status": status}
        name = "sweeps_http_requests_total"
        return get(after, name, **labels) - get(before, name, **labels)

    assert moved("/healthz", "200") == 1
    assert moved("/sweeps/{sweep_id}/trials/{trial_id}", "404") == 1
    assert moved("<unmatched>", "404") == 1
    assert moved("<unmatched>", "413", "POST") == 1  # the body guard refuses before routing
    assert moved("/metrics", "200") == 1
    duration = get(
        after, "sweeps_http_request_duration_seconds_count", method="GET", route="/healthz"
    )
    assert duration >= 1
    assert "some-sweep" not in text and "/no/such/path" not in text  # raw paths never
    assert get(after, "sweeps_index_up") == 1
    assert get(after, "sweeps_sweeps", status="running") == 0  # every status, even at zero
    assert "process_resident_memory_bytes" in text


async def test_sweeps_and_trials_by_status(indexed_api: tuple[httpx.AsyncClient, str]) -> None:
    api, _ = indexed_api
    before = await scrape(api)
    created = await api.post("/sweeps", json=sweep_body(trials=2))
    assert created.status_code == 201, created.text
    await wait_until_ended(api, created.json()["sweep_id"])
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the mirror writes the final state just after the sweep ends
        after = await scrape(api)
        done = get(after, "sweeps_trials", status="completed")
        if done == get(before, "sweeps_trials", status="completed") + 2:
            break
        assert asyncio.get_running_loop().time() < deadline, after
        await asyncio.sleep(0.2)
    assert get(after, "sweeps_index_up") == 1
    assert (
        get(after, "sweeps_sweeps", status="completed")
        == get(before, "sweeps_sweeps", status="completed") + 1
    )
    assert get(after, "sweeps_trials", status="running") == 0
    created_count = get(
        after, "sweeps_http_requests_total", method="POST", route="/sweeps", status="201"
    )
    assert created_count == 1


async def test_index_down_is_reported_and_the_scrape_still_answers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url="postgresql://postgres@127.0.0.1:9/none")
    async with serve(create_app(settings)) as api:
        samples = await scrape(api)
    assert get(samples, "sweeps_index_up") == 0
    assert not any(name in ("sweeps_sweeps", "sweeps_trials") for name, _ in samples)


async def test_metrics_token_when_configured(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_token="scrape-secret-1")
    async with serve(create_app(settings)) as api:  # api sends an admin API token
        assert (await api.get("/metrics")).status_code == 401
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await api.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"})
        assert right.status_code == 200 and "sweeps_index_up 1.0" in right.text
        assert (await api.get("/healthz")).status_code == 200
