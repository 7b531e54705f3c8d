"""Concurrent callers share one exchange and one refresh: threads (Client), tasks (AsyncClient)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fakes import FakeKeygate, ManualClock, make_async_client, make_client

CALLERS = 50


def test_50_threads_cause_one_exchange_then_one_refresh():
    fake = FakeKeygate(delay=0.05)  # each token answer takes 50 ms: the callers overlap
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0)

    def round_():
        gate = threading.Barrier(CALLERS)
        errors = []

        def call():
            gate.wait()
            try:
                assert c.get("/customers").status_code == 200
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors

    round_()
    assert fake.count("POST /v1/auth/token") == 1
    clock.advance(900 - 30)
    round_()
    assert fake.count("POST /v1/auth/refresh") == 1 and fake.count("POST /v1/auth/token") == 1
    assert fake.count("GET /v1/customers") == 2 * CALLERS


@pytest.mark.anyio
async def test_50_tasks_cause_one_exchange_then_one_refresh():
    fake = FakeKeygate(delay=0.05)
    clock = ManualClock()
    c = make_async_client(fake, clock, refresh_jitter=0)

    async def round_():
        rs = await asyncio.gather(*(c.get("/customers") for _ in range(CALLERS)))
        assert all(r.status_code == 200 for r in rs)

    await round_()
    assert fake.count("POST /v1/auth/token") == 1
    clock.advance(900 - 30)
    await round_()
    assert fake.count("POST /v1/auth/refresh") == 1 and fake.count("POST /v1/auth/token") == 1
    assert fake.count("GET /v1/customers") == 2 * CALLERS
    await c.aclose()


def test_threads_holding_a_refused_token_share_one_refresh():
    fake = FakeKeygate(delay=0.05)
    c = make_client(fake)
    c.access_token()
    fake.revoke_access(c._state.access)
    gate = threading.Barrier(20)

    def call():
        gate.wait()
        assert c.get("/customers").status_code == 200

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.count("POST /v1/auth/refresh") == 1 and fake.count("POST /v1/auth/token") == 1
