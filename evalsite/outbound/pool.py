"""A keep-alive connection pool whose per-request cost does not grow with its size.

httpcore's ``AsyncConnectionPool`` re-examines every connection (``is_closed``,
``has_expired`` -- a ``poll`` syscall per idle HTTP/1.1 connection -- and a quadratic idle
count) each time a request arrives or a response closes, so with 50-200 connections held open
for a concurrent agent it costs milliseconds of CPU per call. This pool keeps idle connections
in a LIFO stack per origin and a semaphore for ``max_connections``: taking a connection looks
at one connection (the most recently used, the least likely to have expired), returning one
is an append. Connections are httpcore's own ``AsyncHTTPConnection`` objects, opened through
the pool's network backend, so the outbound guard still checks every new connection's
address (``evalsite.outbound.transport.GuardedBackend``).

HTTP/1.1 only (the outbound clients never enable HTTP/2) and asyncio only.
"""

from __future__ import annotations

import asyncio
import typing

import httpcore
from httpcore._synchronization import AsyncShieldCancellation


class KeepAlivePool:
    def __init__(
        self,
        *,
        network_backend: httpcore.AsyncNetworkBackend,
        ssl_context=None,
        max_connections: int | None = 100,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
        retries: int = 0,
        local_address: str | None = None,
        socket_options: typing.Iterable | None = None,
    ) -> None:
        self._network_backend = network_backend
        self._ssl_context = ssl_context
        self._max_connections = max_connections or 1_000_000
        keepalive = max_keepalive_connections
        self._max_keepalive = min(self._max_connections, keepalive or self._max_connections)
        self._keepalive_expiry = keepalive_expiry
        self._retries = retries
        self._local_address = local_address
        self._socket_options = socket_options
        self._slots: asyncio.Semaphore | None = None
        # (scheme, host, port) -> idle connections, most recently used last
        self._idle: dict[tuple, list[httpcore.AsyncHTTPConnection]] = {}
        self._idle_count = 0
        self._open: set[httpcore.AsyncHTTPConnection] = set()

    # --- sizes, for tests and diagnostics -------------------------------------------------

    @property
    def open_connections(self) -> int:
        return len(self._open)

    @property
    def idle_connections(self) -> int:
        return self._idle_count

    # --- the request path -----------------------------------------------------------------

    def _new_connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        connection = httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            retries=self._retries,
            local_address=self._local_address,
            network_backend=self._network_backend,
            socket_options=self._socket_options,
        )
        self._open.add(connection)
        return connection

    def _take_idle(self, key: tuple, stale: list) -> httpcore.AsyncHTTPConnection | None:
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()
            self._idle_count -= 1
            if connection.is_idle() and not connection.has_expired():
                return connection
            stale.append(connection)
        return None

    async def _acquire_slot(self, timeout: float | None) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        if not self._slots.locked():
            await self._slots.acquire()  # returns at once, no task switch
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpcore.PoolTimeout("Timed out waiting for a free connection.") from None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode()}://'."
            )
        timeouts = request.extensions.get("timeout") or {}
        await self._acquire_slot(timeouts.get("pool"))
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        connection = None
        try:
            while True:
                stale: list = []
                connection = self._take_idle(key, stale)
                if stale:
                    await self._close(stale)
                if connection is None:
                    connection = self._new_connection(origin)
                try:
                    response = await connection.handle_async_request(request)
                except httpcore.ConnectionNotAvailable:
                    await self._close([connection])
                    connection = None
                    continue
                break
        except BaseException:
            if connection is not None:
                await self._close([connection])
            self._slots.release()
            raise
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_PooledStream(response.stream, self, connection, key),
            extensions=response.extensions,
        )

    def _give_back(self, connection: httpcore.AsyncHTTPConnection, key: tuple) -> bool:
        """Keep ``connection`` for reuse when it can be; False when it must be closed."""
        self._slots.release()
        if connection.is_closed():
            self._open.discard(connection)
            return True
        if connection.is_idle() and self._idle_count < self._max_keepalive:
            self._idle.setdefault(key, []).append(connection)
            self._idle_count += 1
            return True
        return False

    async def _close(self, connections: list) -> None:
        with AsyncShieldCancellation():
            for connection in connections:
                self._open.discard(connection)
                await connection.aclose()

    async def aclose(self) -> None:
        connections = list(self._open)
        self._idle.clear()
        self._idle_count = 0
        await self._close(connections)

    async def __aenter__(self) -> KeepAlivePool:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class _PooledStream:
    """The response body; closing it hands the connection back to the pool."""

    def __init__(self, stream, pool: KeepAlivePool, connection, key: tuple) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._key = key
        self._closed = False

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with AsyncShieldCancellation():
                if hasattr(self._stream, "aclose"):
                    await self._stream.aclose()
        finally:
            if not self._pool._give_back(self._connection, self._key):
                await self._pool._close([self._connection])
