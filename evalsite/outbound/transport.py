"""HTTP clients whose every connection is checked against the outbound policy.

httpx resolves a host again for each new connection, so checking a URL once when an executor
is built leaves a DNS-rebinding window. Here the check sits in httpcore's network backend: it
resolves the host itself, applies ``guard.address_problem`` to every address it got, and
connects to the checked IP (TLS still verifies and sends SNI for the original host name). It
runs once per new connection -- redirects and reconnects included -- and never per request,
so keep-alive calls on the hot path pay nothing.
"""

from __future__ import annotations

import asyncio
import socket
import typing

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend

from evalsite.outbound import guard
from evalsite.outbound.pool import KeepAlivePool


class OutboundRefused(httpx.ConnectError):
    """A connection the policy does not allow; never retried."""


class _Refused(httpcore.ConnectError):
    pass


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (patched by tests)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        name = host.strip("[]")
        try:
            addresses = await resolve_host(name, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"Cannot resolve host {name!r}: {exc}") from exc
        for address in addresses:
            problem = guard.address_problem(address, port)
            if problem:
                raise _Refused(f"Refusing to connect to {name}: {address} {problem}.")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"No address for {name!r}.")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("Unix sockets are not outbound destinations.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` with the guarded network backend and a pool whose cost per
    call does not grow with the number of connections it holds (``evalsite.outbound.pool``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        built = self._pool
        self._pool = KeepAlivePool(
            network_backend=GuardedBackend(),
            ssl_context=built._ssl_context,
            max_connections=built._max_connections,
            max_keepalive_connections=built._max_keepalive_connections,
            keepalive_expiry=built._keepalive_expiry,
            retries=built._retries,
            local_address=built._local_address,
            socket_options=built._socket_options,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__, _Refused):
                raise OutboundRefused(str(exc), request=request) from None
            raise


def new_client(*, max_connections: int = 200, timeout_s: float = 30.0) -> httpx.AsyncClient:
    """An async client for calls to agents and judges: guarded, no redirects followed, no
    proxies or netrc from the environment."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(limits=limits, trust_env=False),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
    )
