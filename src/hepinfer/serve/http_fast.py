"""A lean HTTP/1.1 path for python-backend infer requests, in front of aiohttp.

aiohttp's per-request work (request and header objects, routing, handler coroutines,
response objects) costs more CPU than the python backend's whole raw path. `FastTCPSite`
listens in place of aiohttp's TCPSite with `FastInferProtocol`: a connection whose requests
are plain, complete ``POST /v2/models/NAME[/versions/V]/infer`` HTTP/1.1 messages with a
Content-Length (nothing compressed, chunked, expected or upgraded) has them handed to
``ServerCore.submit_http`` straight from the bytes received, and the body the instance
process wrote goes out with the headers aiohttp would write. The first request it does not
take (another route or method, an incomplete message, a request the raw path refuses, any
header it does not know to be harmless) hands the connection, with every byte not yet
answered, to aiohttp for good: that request and all later ones are served by the aiohttp
application as before, so errors, limits and timeouts stay aiohttp's and the decoded path's.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from hepinfer.errors import HepinferError
from hepinfer.serve.core import ServerCore
from hepinfer.serve.status import classify_error

log = logging.getLogger(__name__)

_PREFIX = b"/v2/models/"
_SUFFIX = b"/infer"
_SERVER = SERVER_SOFTWARE.encode()
#: headers that make a request something the lean path leaves to aiohttp
_REFUSED = frozenset(
    (b"transfer-encoding", b"expect", b"upgrade", b"content-encoding", b"accept-encoding")
)
#: largest head (request line and headers) taken; longer ones go to aiohttp
_MAX_HEAD = 8190
#: seconds a request's body may take to follow its headers before aiohttp takes over
_BODY_GRACE_S = 0.05


class _Date:
    """The Date header's value, formatted once a second."""

    second = -1
    text = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls.second:
            cls.text = email.utils.formatdate(second, usegmt=True).encode()
            cls.second = second
        return cls.text


def _head(status: int, content_type: bytes, length: int, json_length: int | None) -> bytes:
    """The status line and headers aiohttp writes for these responses."""
    reason = HTTPStatus(status).phrase.encode()
    extra = b"" if json_length is None else b"Inference-Header-Content-Length: %d\r\n" % json_length
    return (
        b"HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\nServer: %s\r\n\r\n"
        % (
            status,
            reason,
            extra,
            content_type,
            length,
            _Date.now(),
            _SERVER,
        )
    )


class FastInferProtocol(asyncio.Protocol):
    """One HTTP connection: infer requests served directly until one is not, then aiohttp."""

    def __init__(self, site: FastTCPSite, server: web.Server) -> None:
        self._site = site
        self._server = server
        self._core = site.core
        self._transport: asyncio.Transport | None = None
        #: bytes received and not yet answered (a bytearray: appending is amortised O(1), so a
        #: large body arriving in many segments is not copied again at each one)
        self._buf = bytearray()
        self._busy = False  #: a request is at the instance (later ones wait in `_buf`)
        self._serving = False
        self._handed = False  #: the connection belongs to aiohttp now
        self._paused = False  #: reading paused while a request is at the instance
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None  #: waiting for a body's rest

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclasses, but have its methods
        self._transport = cast(asyncio.Transport, transport)
        self._site.connections.add(self)
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        self._timer = loop.call_later(self._site.keepalive_s, self._idle)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy and not self._serving:
            self._serve()
        elif len(self._buf) > self._site.max_body + _MAX_HEAD and self._transport is not None:
            self._transport.pause_reading()  # a client sending ahead: resumed by `_done`
            self._paused = True

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._site.connections.discard(self)
        self._transport = None
        for timer in (self._timer, self._stall):
            if timer is not None:
                timer.cancel()
        self._timer = self._stall = None

    def close(self) -> None:
        """Close the connection (the server stops)."""
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ requests
    def _serve(self) -> None:
        self._serving = True
        try:
            while self._buf and not self._busy and not self._handed and self._take():
                pass
        finally:
            self._serving = False

    def _take(self) -> bool:
        """Submit the request at the start of the buffer; False when handed to aiohttp."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n", 0, _MAX_HEAD)
        if end < 0:
            return self._hand_over()
        lines = bytes(buf[:end]).split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
            return self._hand_over()
        target = parts[1]
        if not target.startswith(_PREFIX) or not target.endswith(_SUFFIX):
            return self._hand_over()
        route = target[len(_PREFIX) : -len(_SUFFIX)].split(b"/")
        if len(route) == 1:
            version = b""
        elif len(route) == 3 and route[1] == b"versions" and route[2]:
            version = route[2]
        else:
            return self._hand_over()
        name = route[0]
        if not name or b"%" in target or b"?" in target or not target.isascii():
            return self._hand_over()
        length = -1
        header_length: int | None = None
        for line in lines[1:]:
            key, sep, value = line.partition(b":")
            if not sep or key != key.strip() or not key:
                return self._hand_over()
            key = key.lower()
            value = value.strip()
            if key == b"content-length":
                if length >= 0 or not value.isdigit():
                    return self._hand_over()
                length = int(value)
            elif key == b"inference-header-content-length":
                if header_length is not None or not value.isdigit():
                    return self._hand_over()
                header_length = int(value)
            elif key in _REFUSED or (key == b"connection" and value.lower() != b"keep-alive"):
                return self._hand_over()
        start = end + 4
        if length < 0 or length > self._site.max_body:
            return self._hand_over()
        if len(buf) < start + length:
            # clients send the body after the headers: wait for it a moment (a body slower
            # than that goes to aiohttp, whose body timeout then applies)
            if self._stall is None:
                self._stall = asyncio.get_running_loop().call_later(_BODY_GRACE_S, self._stalled)
            return False
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        consumed = buf[: start + length]
        body = bytes(consumed[start:])
        del buf[: start + length]
        self._busy = True
        if not self._core.submit_http(
            name.decode(), version.decode(), body, header_length, self._done
        ):
            self._busy = False
            self._buf = consumed + self._buf
            return self._hand_over()
        return True

    def _done(self, answer: Any, exc: Exception | None) -> None:
        """Write a request's response (its body from the instance, or its error)."""
        self._busy = False
        transport = self._transport
        if self._paused and transport is not None:
            self._paused = False
            transport.resume_reading()
        if transport is not None and not transport.is_closing():
            if exc is None and answer is not None:
                data, json_length = answer
                content_type = (
                    b"application/json" if json_length is None else b"application/octet-stream"
                )
                transport.write(_head(200, content_type, len(data), json_length) + data)
            else:
                error = exc if exc is not None else HepinferError("no response")
                _, status = classify_error(error)
                if not isinstance(error, HepinferError):
                    log.exception("internal error while serving an HTTP request", exc_info=error)
                text = json.dumps({"error": str(error)}, separators=(",", ":")).encode()
                transport.write(_head(status, b"application/json", len(text), None) + text)
            self._last = asyncio.get_running_loop().time()
        if self._buf and not self._serving:
            self._serve()

    def _stalled(self) -> None:
        self._stall = None
        if not self._handed and not self._busy and self._buf:
            self._hand_over()

    def _hand_over(self) -> bool:
        """Give the connection and its unanswered bytes to aiohttp's request handler."""
        self._handed = True
        self._site.connections.discard(self)
        for timer in (self._timer, self._stall):
            if timer is not None:
                timer.cancel()
        self._timer = self._stall = None
        transport = self._transport
        if transport is None:
            return False
        handler = self._server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        data, self._buf = bytes(self._buf), bytearray()
        if data:
            handler.data_received(data)
        return False

    def _idle(self) -> None:
        """Close a connection idle for the keep-alive time (as aiohttp does)."""
        self._timer = None
        if self._handed or self._transport is None:
            return
        loop = asyncio.get_running_loop()
        left = self._last + self._site.keepalive_s - loop.time()
        if self._busy or self._buf or left > 0:
            self._timer = loop.call_later(max(left, 0.1), self._idle)
            return
        self._transport.close()


class FastTCPSite(web.TCPSite):
    """aiohttp's TCPSite with `FastInferProtocol` in front of the application."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        core: ServerCore,
        max_body: int,
        keepalive_s: float,
        ssl_context: Any = None,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_port=False)
        self.core = core
        self.max_body = max_body
        self.keepalive_s = keepalive_s
        self.connections: set[FastInferProtocol] = set()
        self._app_runner = runner

    async def start(self) -> None:
        """Listen (as TCPSite.start, with the lean protocol)."""
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._app_runner.server
        assert server is not None
        self._server = await loop.create_server(
            lambda: FastInferProtocol(self, server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )

    async def stop(self) -> None:
        """Stop listening and close the connections aiohttp does not know about."""
        for connection in list(self.connections):
            connection.close()
        await super().stop()
