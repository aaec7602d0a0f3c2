"""Fault injection against a real `reconciler serve`: the tailscale backend's retries.

Reads must succeed within the retry bound; a policy POST must land exactly once or
fail with a clear error, never twice; two writers holding one ETag: exactly one wins.
Run with `-s` to see the figures (faults injected, outcomes).
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from reconciler.backends.http import RetryPolicy
from reconciler.core.errors import (
    BackendError,
    RateLimited,
    ServerError,
    TransportError,
)
from tests.backends.conftest import Served, race, tailscale_client
from tests.backends.policies import VALID, VALID_2


def test_reads_succeed_through_each_kind_of_fault(serve: Served) -> None:
    sleeps: list[float] = []
    backend = tailscale_client(serve.url, sleep=sleeps.append, timeout=0.5,
                               retry=RetryPolicy(attempts=4, base_delay=0.01))
    expected = backend.fetch_policy()
    for spec in ("429:2", "500", "502", "503", "504", "drop", "stall:1"):
        serve.server.faults.push(spec)
        retries = backend.http.stats.retries
        assert backend.fetch_policy() == expected, spec
        assert backend.http.stats.retries == retries + 1, spec
        assert serve.server.faults.pending() == 0
    assert 2.0 in sleeps  # Retry-After: 2 was honoured rather than the backoff
    assert serve.server.faults.injected == Counter(
        {"429": 1, "500": 1, "502": 1, "503": 1, "504": 1, "drop": 1, "stall": 1})


def test_retries_are_bounded_and_end_in_a_named_error(serve: Served) -> None:
    sleeps: list[float] = []
    backend = tailscale_client(serve.url, sleep=sleeps.append,
                               retry=RetryPolicy(attempts=3, base_delay=0.5, jitter=0.0))
    serve.server.faults.push("500*3")
    with pytest.raises(ServerError) as info:
        backend.list_users()
    assert "HTTP 500" in info.value.summary and "after 3 attempts" in info.value.summary
    assert sleeps == [0.5, 1.0]  # exponential backoff, no jitter configured
    serve.server.faults.push("429:7*3")
    with pytest.raises(RateLimited) as limited:
        backend.list_devices()
    assert limited.value.retry_after == 7.0
    serve.server.faults.push("drop*3")
    with pytest.raises(TransportError):
        backend.list_users()


def test_backoff_has_jitter_within_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng) for _ in range(200)]
    assert all(6.0 <= d <= 10.0 for d in delays)  # 8s capped, +-25%
    assert len({round(d, 3) for d in delays}) > 50  # not all in step


def test_a_post_whose_answer_is_lost_lands_exactly_once(serve: Served) -> None:
    backend = tailscale_client(serve.url, sleep=lambda s: None)
    store = serve.server.backend.store
    etag = backend.fetch_policy().etag
    writes = len(store.history())
    serve.server.faults.push("drop-after@POST")  # stored, then the connection dies
    new_etag = backend.push_policy(VALID, if_match=etag)
    assert backend.fetch_policy().etag == new_etag
    assert len(store.history()) == writes + 1
    assert [h.text for h in store.history()].count(VALID) == 1


def test_a_post_without_if_match_is_never_retried(serve: Served) -> None:
    backend = tailscale_client(serve.url, sleep=lambda s: None)
    store = serve.server.backend.store
    writes = len(store.history())
    serve.server.faults.push("drop-after@POST")
    with pytest.raises(TransportError) as info:
        backend.push_policy(VALID, if_match=None)
    assert "may or may not have been stored" in info.value.detail
    assert "not retried" in info.value.detail
    assert len(store.history()) == writes + 1  # sent once, landed once
    serve.server.faults.push("503@POST")
    with pytest.raises(ServerError):
        backend.push_policy(VALID_2, if_match=None)
    assert len(store.history()) == writes + 1


def test_fault_storm_never_applies_a_policy_twice(serve: Served) -> None:
    """Random faults before many pushes: each lands once or fails clearly. Prints figures."""
    rng = random.Random(20261123)
    backend = tailscale_client(serve.url, sleep=lambda s: None, timeout=0.3,
                               retry=RetryPolicy(attempts=4, base_delay=0.01))
    store = serve.server.backend.store
    kinds = ["429:0", "500", "502", "503", "504", "drop", "drop-after", "stall:0.45"]
    outcomes: Counter[str] = Counter()
    for i in range(30):
        text = VALID + f"// push {i}\n"
        chosen = [rng.choice(kinds) for _ in range(rng.randint(0, 4))]
        for kind in chosen:
            serve.server.faults.push(kind + "@POST")
        etag = backend.fetch_policy().etag
        ok = False
        try:
            backend.push_policy(text, if_match=etag)
            ok = True
        except BackendError as e:
            outcomes[type(e).__name__] += 1
            assert e.summary and e.detail  # a clear error, with what to do next
        serve.server.faults.clear()
        if any(k.startswith("stall") for k in chosen):
            time.sleep(0.2)  # let a stalled request that outlived the client finish
        landed = [h.text for h in store.history()].count(text)
        assert landed <= 1, f"push {i} landed {landed} times"
        if ok:
            assert landed == 1 and backend.fetch_policy().text == text
            outcomes["landed"] += 1
        elif landed:
            outcomes["failed, but had landed once"] += 1
    injected = dict(serve.server.faults.injected)
    print(f"\nfault storm: 30 pushes, faults injected {sum(injected.values())} {injected}, "
          f"outcomes {dict(outcomes)}, client retries {backend.http.stats.retries}")
    assert outcomes["landed"] >= 20  # 4 attempts outlast at most 4 faults almost always
    assert sum(injected.values()) > 30


def test_two_http_writers_with_one_etag_exactly_one_wins(serve: Served) -> None:
    a, b = tailscale_client(serve.url), tailscale_client(serve.url)
    results: Counter[str] = Counter()
    for round_ in range(10):
        etag = a.fetch_policy().etag
        outcomes = race([(a, VALID + f"// A{round_}\n"), (b, VALID_2 + f"// B{round_}\n")], etag)
        assert sorted(outcomes) == ["412", "won"], outcomes
        results.update(outcomes)
    print(f"\nconcurrent HTTP writers: 10 rounds, {dict(results)}")
