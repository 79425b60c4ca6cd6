"""The SSRF guard: URLs that would reach into the service's own network are refused with a
422 naming the field when registered, and (tests/webhooks/test_webhook_delivery.py) again
when sent, against the address actually connected to."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from app.webhooks.address_policy import AddressPolicy, UrlRefused, forbidden_reason
from tests.api.test_sweeps_api import count_workflows, sweep_body
from tests.webhooks.conftest import FixedDns

REFUSED = {
    "http://127.0.0.1/hook": "loopback",
    "http://10.0.0.1/hook": "private",
    "http://169.254.169.254/latest/meta-data/": "metadata",
    "http://[::1]:8080/hook": "loopback",
    "file:///etc/passwd": "scheme 'file' is not allowed",
    "http://internal.example.com/hook": "resolves to 10.20.30.40, which is a private",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://224.0.0.1/hook": "multicast",
    "http://100.100.100.200/hook": "metadata",
    "gopher://example.com/": "scheme 'gopher' is not allowed",
}
DNS = FixedDns({"internal.example.com": ["10.20.30.40"], "public.example.com": ["93.184.215.14"]})


@pytest.mark.parametrize("url", list(REFUSED))
async def test_registration_refuses_private_targets(webhook_stack: Any, url: str) -> None:
    async with webhook_stack(allow="", api_resolver=DNS) as stack:
        response = await stack.api.post("/webhooks", json={"url": url})
        listed = (await stack.api.get("/webhooks")).json()
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "url" and REFUSED[url] in error["message"]
    assert listed == []


@pytest.mark.parametrize("url", list(REFUSED))
async def test_sweep_with_a_private_target_never_starts(
    webhook_stack: Any, dev_client: WorkflowEnvironment, url: str
) -> None:
    async with webhook_stack(allow="", api_resolver=DNS) as stack:
        body = sweep_body(webhooks=[{"url": "https://public.example.com/ok"}, {"url": url}])
        response = await stack.api.post("/sweeps", json=body)
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["webhooks.1.url"]
    assert REFUSED[url] in response.json()["detail"]
    assert await count_workflows(dev_client.client, body["name"]) == 0


async def test_allow_list_admits_development_hosts(webhook_stack: Any) -> None:
    async with webhook_stack(allow="localhost,127.0.0.1,::1") as stack:
        for url in ("http://127.0.0.1:9/h", "http://localhost:9/h", "http://[::1]:9/h"):
            response = await stack.api.post("/webhooks", json={"url": url})
            assert response.status_code == 201, response.text
        refused = await stack.api.post("/webhooks", json={"url": "http://10.0.0.1/h"})
    assert refused.status_code == 422


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fc00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::1", "private"),  # 6to4 around 10.0.0.1
        ("100.64.0.1", "not a public"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("ff02::1", "multicast"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


async def test_a_host_with_any_private_answer_is_refused() -> None:
    policy = AddressPolicy(resolver=FixedDns({"mixed.example.com": ["93.184.215.14", "10.0.0.9"]}))
    with pytest.raises(UrlRefused, match=r"10\.0\.0\.9"):
        await policy.check_url("https://mixed.example.com/hook")
