"""An async httpx2 client under the outbound-address rules, for libraries that bring their own
HTTP (the MCP SDK's Streamable HTTP transport).

The rules are those of adapters/outbound_http.py (GuardedHttpClient.checked_address): every new
connection resolves its host, refuses it unless every address is allowed, and connects to the
checked address (no second lookup, so no DNS rebinding); TLS still verifies the certificate for
the host name (httpcore passes the URL's host as the server name). Environment proxies are not
used (they would connect for us, unchecked). Each response body is cut off past `max_bytes`.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import httpcore2
import httpx2

from entities.outbound import OutboundFailed, OutboundRefused

AddressChecker = Callable[[str, int], str]  # (host, port) -> the address to connect to


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Connects to checked addresses only. The host lookup is synchronous: each client runs on
    an event loop of its own call (adapters/mcp_client.py), so it blocks nobody else."""

    def __init__(self, checked_address: AddressChecker):
        self.checked_address = checked_address
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
                          ) -> httpcore2.AsyncNetworkStream:
        address = self.checked_address(host, port)
        return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
                                  ) -> httpcore2.AsyncNetworkStream:
        raise OutboundRefused("Unix sockets cannot be reached")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _BoundedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, max_bytes: int):
        self.inner = inner
        self.max_bytes = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self.inner:
            size += len(chunk)
            if size > self.max_bytes:
                raise OutboundFailed(f"the response is larger than {self.max_bytes} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedAsyncTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with a connection pool whose connections go through `checked_address`
    and whose response bodies stop at `max_bytes`."""

    def __init__(self, checked_address: AddressChecker, max_bytes: int,
                 max_connections: int = 4, error_statuses: list[int] | None = None):
        super().__init__(trust_env=False)
        self.error_statuses = error_statuses  # each 4xx/5xx status received is appended
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=max_connections, network_backend=_GuardedBackend(checked_address))
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        if self.error_statuses is not None and response.status_code >= 400:
            self.error_statuses.append(response.status_code)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        return httpx2.Response(status_code=response.status_code, headers=response.headers,
                               stream=_BoundedStream(stream, self.max_bytes),
                               extensions=response.extensions)


def guarded_async_client(checked_address: AddressChecker, headers: dict[str, str],
                         timeout_s: float, max_bytes: int,
                         error_statuses: list[int] | None = None) -> httpx2.AsyncClient:
    """An httpx2.AsyncClient sending `headers` on every request, with every phase (connect,
    read, write, pool wait) bounded by `timeout_s` seconds; redirects are not followed by the
    client (callers such as the MCP SDK follow same-origin ones themselves, each connection
    checked again). `error_statuses`, when given, collects the 4xx/5xx statuses received (for
    libraries that do not say which status they got)."""
    return httpx2.AsyncClient(
        transport=GuardedAsyncTransport(checked_address, max_bytes,
                                        error_statuses=error_statuses), headers=headers,
        timeout=httpx2.Timeout(timeout_s), follow_redirects=False, trust_env=False)
