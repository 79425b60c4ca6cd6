"""Tokens, the rate limiter, the JSON guard and the deployment limits, without I/O."""

from __future__ import annotations

import json

import pytest

from app.api.body_guard import json_problem, nesting_depth
from app.auth.principal import check_principal_name
from app.auth.rate_limit import RateLimiter, retry_after_header
from app.auth.tokens import new_token, token_hash, well_formed
from app.domain import SweepRequest
from app.domain.limits import RequestLimits, limit_violations


def test_tokens_are_random_prefixed_and_hashed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("swp_") and well_formed(t) for t in tokens)
    token = tokens.pop()
    assert token_hash(token) == token_hash(token) and token not in token_hash(token)
    assert len(token_hash(token)) == 64
    assert not well_formed(token[:-1]) and not well_formed("swp_" + "a" * 500)
    assert not well_formed("Bearer " + token)


def test_principal_names() -> None:
    assert check_principal_name("ci.bot-1") == "ci.bot-1"
    for bad in ("", "CI", "-x", "a" * 65, "a b", "alice\u0000"):
        with pytest.raises(ValueError):
            check_principal_name(bad)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_bursts_then_refills_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(1.0)
    assert retry_after_header(wait) == "1"
    assert limiter.acquire("b") == 0.0  # another token has its own bucket
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 600
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # capped at burst
    assert limiter.acquire("a") > 0


def test_rate_limiter_off_and_bounded_memory() -> None:
    assert RateLimiter(per_minute=0, burst=1).acquire("x") == 0.0
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock, max_keys=10)
    for i in range(10):
        limiter.acquire(f"k{i}")
    clock.now += 5
    limiter.acquire("new")
    assert len(limiter._buckets) == 1


def test_retry_after_rounds_up() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b'{"a": [1, 2, {"b": []}]}', 0),  # few brackets: not counted
        (b"[" * 40 + b"]" * 40, 33),  # stops counting past the limit
        (b'["' + b"[" * 100 + b'"]', 1),  # brackets inside strings do not count
        (b'[["\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]]', 2),  # nor after an escaped quote
    ],
)
def test_nesting_depth(body: bytes, depth: int) -> None:
    assert nesting_depth(body, 32) == depth


def test_json_problem() -> None:
    assert json_problem(b'{"x": [1, "two", {"y": null}]}') is None
    assert json_problem(b"") is None
    assert "NaN" in (json_problem(b'{"x": NaN}') or "")
    assert "nested deeper" in (json_problem(b"[" * 33 + b"]" * 33) or "")
    assert json_problem(b"[" * 32 + b"]" * 32) is None
    assert "surrogate" in (json_problem(json.dumps({"\ud800": 1}).encode()) or "")
    assert "NUL" in (json_problem(b'["a\\u0000b"]') or "")
    assert json_problem('["\U0001f680 caf\u00e9"]'.encode()) is None  # ordinary unicode is fine
    assert "UTF-8" in (json_problem(b'["\xff"]') or "")


def _request(**changes: object) -> SweepRequest:
    body: dict[str, object] = {
        "name": "limits",
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment"},
        "space": {"lr_scheduler_type": {"type": "categorical", "choices": ["linear", "cosine"]}},
        "ladder": {"trials": 8, "reduction_factor": 2, "rungs": [{"budget": 5}, {"budget": 10, "new_trials": 4}]},
        "max_concurrency": 4,
    }  # fmt: skip
    body.update(changes)
    return SweepRequest.model_validate(body)


def test_limits_name_the_field() -> None:
    assert limit_violations(_request(), RequestLimits()) == []
    tight = RequestLimits(trials_per_sweep=10, concurrency=2, rungs=1, choices=1)
    problems = dict(limit_violations(_request(), tight))
    assert set(problems) == {
        "ladder",
        "ladder.rungs",
        "max_concurrency",
        "space.lr_scheduler_type.choices",
    }
    assert "12 trials" in problems["ladder"] and "at most 10" in problems["ladder"]
    first_rung_too_big = dict(limit_violations(_request(), RequestLimits(trials_per_sweep=5)))
    assert set(first_rung_too_big) == {"ladder.trials"}
