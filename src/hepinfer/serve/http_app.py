"""The HTTP/REST front end (KServe v2 ``/v2/...`` with Triton's extensions) on aiohttp."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hepinfer.errors import HepinferError, ProtocolError
from hepinfer.protocol.http_codec import HEADER_LENGTH, decode_request, encode_response, parse_json
from hepinfer.serve.core import ServerCore, message_to_json
from hepinfer.serve.restrict import Restrictions
from hepinfer.serve.status import classify_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_JSON = "application/json"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(), status=status, content_type=_JSON
    )


def _error(exc: Exception) -> web.Response:
    _, status = classify_error(exc)
    if not isinstance(exc, HepinferError):
        log.exception("internal error while serving an HTTP request", exc_info=exc)
    return _json({"error": str(exc)}, status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            msg = f"request body too large: {exc.text}"
            return _json({"error": msg}, 413)
        if exc.status >= 400:
            answer = _json({"error": exc.reason}, exc.status)
            if exc.status == 408:
                answer.force_close()  # the rest of a stalled body is never read
            return answer
        raise
    except Exception as exc:
        return _error(exc)


def _version(request: web.Request) -> str:
    return request.match_info.get("version", "")


#: app key: seconds a request body may take to arrive once its headers are in
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


async def read_body(request: web.Request) -> bytes:
    """The request body, or 408 when it does not arrive within the body timeout."""
    if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
        return await request.read()
    timeout = request.app[BODY_TIMEOUT]
    try:
        return await asyncio.wait_for(request.read(), timeout)
    except TimeoutError:
        msg = (
            f"the request body did not arrive within {timeout:g} s "
            "(--http-body-timeout); the connection is closed"
        )
        raise web.HTTPRequestTimeout(reason=msg) from None


async def _body_json(request: web.Request) -> dict[str, Any]:
    body = await read_body(request)
    return parse_json(body) if body.strip() else {}


def _load_parameters(parameters: dict[str, Any]) -> dict[str, object]:
    """HTTP load parameters: ``file:`` values arrive base64-encoded (as Triton expects)."""
    out: dict[str, object] = {}
    for key, value in parameters.items():
        if key.startswith("file:"):
            try:
                out[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                msg = f"load parameter {key!r} must be the file's content in base64"
                raise ProtocolError(msg) from None
        else:
            out[key] = value
    return out


def _guard(restrictions: Restrictions, group: str, handler: Handler) -> Handler:
    """`handler` refusing requests without the group's header (403, Triton's message)."""
    if restrictions.header(group) is None:
        return handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        restrictions.check(group, request.headers)
        return await handler(request)

    return guarded


def build_app(
    core: ServerCore,
    max_body_bytes: int,
    restrictions: Restrictions | None = None,
    body_timeout_s: float = 60.0,
) -> web.Application:
    """The aiohttp application serving the `/v2` API for `core`.

    `restrictions`: API groups that need a header (Triton's ``--http-restricted-api``);
    `body_timeout_s`: how long a request body may take to arrive (then 408).
    """
    app = web.Application(middlewares=[_errors], client_max_size=max_body_bytes)
    app[BODY_TIMEOUT] = body_timeout_s
    repo = core.repository
    rules = restrictions or Restrictions()

    def get(path: str, group: str, handler: Handler) -> None:
        app.router.add_get(path, _guard(rules, group, handler))

    def post(path: str, group: str, handler: Handler) -> None:
        app.router.add_post(path, _guard(rules, group, handler))

    async def live(_: web.Request) -> web.Response:
        return web.Response(status=200 if core.live else 400)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200 if core.ready else 400)

    async def model_ready(request: web.Request) -> web.Response:
        ok = repo.ready(request.match_info["model"], _version(request))
        return web.Response(status=200 if ok else 400)

    async def server_metadata(_: web.Request) -> web.Response:
        return _json(message_to_json(core.server_metadata()))

    async def model_metadata(request: web.Request) -> web.Response:
        meta = core.model_metadata(request.match_info["model"], _version(request))
        return _json(message_to_json(meta))

    async def model_config(request: web.Request) -> web.Response:
        config = core.model_config(request.match_info["model"], _version(request)).config
        return _json(message_to_json(config))

    async def model_stats(request: web.Request) -> web.Response:
        stats = core.model_statistics(request.match_info.get("model", ""), _version(request))
        return _json(message_to_json(stats))

    async def infer(request: web.Request) -> web.Response:
        header = request.headers.get(HEADER_LENGTH)
        try:
            length = int(header) if header is not None else None
        except ValueError:
            msg = f"{HEADER_LENGTH} must be an integer, got {header!r}"
            raise ProtocolError(msg) from None
        body = await read_body(request)
        name, version = request.match_info["model"], _version(request)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(answer: Any, exc: Exception | None) -> None:
            if not future.done():
                if exc is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(answer)

        if core.submit_http(name, version, body, length, done):
            # the python backend's raw path: the instance process wrote the body
            data, json_length = await future
        else:
            req = decode_request(name, version, body, length)
            response = await core.infer(req)
            default_binary = bool(req.parameters.get("binary_data_output", False))
            binary = {o.name: o.binary_data for o in req.outputs}
            data, json_length = encode_response(response, binary, default_binary)
        if json_length is None:
            answer = web.Response(body=data, content_type=_JSON)
        else:
            answer = web.Response(
                body=data,
                headers={HEADER_LENGTH: str(json_length)},
                content_type="application/octet-stream",
            )
        accepted = request.headers.get("Accept-Encoding", "")
        if "gzip" in accepted or "deflate" in accepted:
            answer.enable_compression()  # as Triton does when the client asks
        return answer

    async def index(request: web.Request) -> web.Response:
        body = await _body_json(request)
        entries = core.repository_index(bool(body.get("ready", False)))
        return _json([message_to_json(m) for m in entries.models])

    async def load(request: web.Request) -> web.Response:
        body = await _body_json(request)
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            msg = "'parameters' of a load request must be a JSON object"
            raise ProtocolError(msg)
        await core.load_model(request.match_info["model"], _load_parameters(parameters))
        return web.Response(status=200)

    async def unload(request: web.Request) -> web.Response:
        await _body_json(request)
        await core.unload_model(request.match_info["model"])
        return web.Response(status=200)

    async def shm_status(request: web.Request) -> web.Response:
        status = core.shm_status(request.match_info.get("region", ""))
        return _json([message_to_json(r) for r in status.regions.values()])

    async def shm_register(request: web.Request) -> web.Response:
        body = await _body_json(request)
        key, offset, size = body.get("key"), body.get("offset", 0), body.get("byte_size")
        if not isinstance(key, str) or not isinstance(offset, int) or not isinstance(size, int):
            msg = "register needs 'key' (string), 'offset' and 'byte_size' (integers)"
            raise ProtocolError(msg)
        core.require_shm().register(request.match_info["region"], key, offset, size)
        return web.Response(status=200)

    async def shm_unregister(request: web.Request) -> web.Response:
        core.require_shm().unregister(request.match_info.get("region", ""))
        return web.Response(status=200)

    model = "/v2/models/{model}"
    versioned = model + "/versions/{version}"
    # the hot route first: the router tries the routes under /v2/models in this order
    for prefix in (model, versioned):
        post(prefix + "/infer", "inference", infer)
    get("/v2/health/live", "health", live)
    get("/v2/health/ready", "health", ready)
    get("/v2", "metadata", server_metadata)
    get("/v2/models/stats", "statistics", model_stats)
    for prefix in (model, versioned):
        get(prefix, "metadata", model_metadata)
        get(prefix + "/ready", "health", model_ready)
        get(prefix + "/config", "model-config", model_config)
        get(prefix + "/stats", "statistics", model_stats)
    post("/v2/repository/index", "model-repository", index)
    post("/v2/repository/models/{model}/load", "model-repository", load)
    post("/v2/repository/models/{model}/unload", "model-repository", unload)
    get("/v2/systemsharedmemory/status", "shared-memory", shm_status)
    get("/v2/systemsharedmemory/region/{region}/status", "shared-memory", shm_status)
    post("/v2/systemsharedmemory/region/{region}/register", "shared-memory", shm_register)
    post("/v2/systemsharedmemory/region/{region}/unregister", "shared-memory", shm_unregister)
    post("/v2/systemsharedmemory/unregister", "shared-memory", shm_unregister)
    return app
