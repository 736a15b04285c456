"""The outbound client's connection pool (``evalsite.outbound.pool``): connections are reused,
never more are open than the limit, closed and expired ones are replaced (through the guard),
and a slot is given back whatever happens to the request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from evalsite.outbound import transport
from evalsite.outbound.transport import new_client
from tests.workflows.fake_servers import FakeServer, Reply


@pytest.fixture
def connects(monkeypatch):
    """Every new connection resolves its host once: the list of those resolutions."""
    seen = []
    real = transport.resolve_host

    async def counting(host, port):
        seen.append(host)
        return await real(host, port)

    monkeypatch.setattr(transport, "resolve_host", counting)
    return seen


def answer(delay=0.0, **headers):
    reply = Reply(json={"answer": "ok"}, headers=headers, delay=delay)
    return lambda request: reply


async def gather_posts(client, url, n):
    responses = await asyncio.gather(*(client.post(url, json={"i": i}) for i in range(n)))
    return [r.status_code for r in responses]


def test_concurrent_calls_reuse_at_most_the_limit_of_connections(connects):
    with FakeServer(answer(delay=0.05)) as server:

        async def go():
            async with new_client(max_connections=5) as client:
                first = await gather_posts(client, server.url, 40)
                opened_first = len(connects)
                second = await gather_posts(client, server.url, 40)
                pool = client._transport._pool
                return first, opened_first, second, pool.open_connections, pool.idle_connections

        first, opened_first, second, open_now, idle_now = asyncio.run(go())
    assert first == [200] * 40 and second == [200] * 40
    assert opened_first == 5  # the limit, not one per request
    assert len(connects) == 5  # the second wave reused them all
    assert open_now == idle_now == 5
    assert len(server.requests) == 80


def test_a_connection_the_server_closed_is_replaced_through_the_guard(connects):
    with FakeServer(answer(Connection="close")) as server:

        async def go():
            async with new_client() as client:
                codes = [(await client.post(server.url, json={})).status_code for _ in range(3)]
                return codes, client._transport._pool.open_connections

        codes, open_now = asyncio.run(go())
    assert codes == [200, 200, 200]
    assert len(connects) == 3  # each call after a close opened (and checked) a new connection
    assert open_now == 0


def test_an_expired_idle_connection_is_not_reused(connects, monkeypatch):
    with FakeServer(answer()) as server:

        async def go():
            client = httpx.AsyncClient(
                transport=transport.GuardedTransport(
                    limits=httpx.Limits(max_connections=4, keepalive_expiry=0.05)
                )
            )
            async with client:
                await client.post(server.url, json={})
                await asyncio.sleep(0.15)
                await client.post(server.url, json={})
                return client._transport._pool.open_connections

        open_now = asyncio.run(go())
    assert len(connects) == 2
    assert open_now == 1  # the expired one was closed, not kept


def test_waiting_for_a_free_connection_times_out_with_the_pool_timeout():
    with FakeServer(answer(delay=0.5)) as server:

        async def go():
            timeout = httpx.Timeout(5.0, pool=0.05)
            async with new_client(max_connections=1) as client:
                slow = asyncio.create_task(client.post(server.url, json={}, timeout=timeout))
                await asyncio.sleep(0.1)
                with pytest.raises(httpx.PoolTimeout):
                    await client.post(server.url, json={}, timeout=timeout)
                return (await slow).status_code

        assert asyncio.run(go()) == 200


def test_a_cancelled_or_failed_call_gives_its_slot_back(connects):
    with FakeServer(answer(delay=0.3)) as server:

        async def go():
            async with new_client(max_connections=1) as client:
                task = asyncio.create_task(client.post(server.url, json={}))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(server.url, json={}, timeout=0.05)
                pool = client._transport._pool
                response = await client.post(server.url, json={}, timeout=5)
                return response.status_code, pool.open_connections

        status, open_now = asyncio.run(go())
    assert status == 200
    assert open_now == 1
    assert len(connects) == 3  # the cancelled and the timed-out connections were not reused
