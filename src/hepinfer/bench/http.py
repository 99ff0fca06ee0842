"""A small HTTP/1.1 keep-alive client on asyncio streams, for `hepinfer bench -i http`.

The load generator sends the same few prepared bodies again and again, so it needs no more
than this: one connection per request in flight (as perf_analyzer's HTTP client), requests
written as prepared bytes, responses read by Content-Length (or chunked). Connections are
pooled and reused; a broken one is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib

from hepinfer.errors import BenchError


class HttpResponse:
    """Status, lower-cased headers and body of one answer."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> HttpResponse:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(data[:-2])
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return HttpResponse(status, headers, body)

    def close(self) -> None:
        self.writer.close()


class HttpClient:
    """Requests to one ``host:port``, over pooled keep-alive connections."""

    def __init__(self, url: str, timeout_s: float) -> None:
        host, _, port = url.rpartition(":")
        self.url = url
        self.host = host.strip("[]")
        self.port = int(port)
        self.timeout_s = timeout_s
        self._idle: list[_Connection] = []

    def prepare(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """The bytes of one request (send them as often as wanted with `send`)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.url}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, request: bytes) -> HttpResponse:
        """Send prepared bytes and read the answer (OSError, asyncio errors on failure)."""
        conn = self._idle.pop() if self._idle else None
        if conn is None:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
            conn = _Connection(reader, writer)
        try:
            response = await asyncio.wait_for(conn.exchange(request), self.timeout_s)
        except BaseException:
            conn.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            conn.close()
        else:
            self._idle.append(conn)
        return response

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """One request; a server that does not answer is a BenchError naming the address."""
        try:
            return await self.send(self.prepare(method, path, body, headers))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            msg = f"no server answers at {self.url} over HTTP ({type(exc).__name__}: {exc})"
            raise BenchError(msg) from exc

    async def close(self) -> None:
        """Close every pooled connection."""
        for conn in self._idle:
            conn.close()
            with contextlib.suppress(OSError, ConnectionError):
                await conn.writer.wait_closed()
        self._idle.clear()
