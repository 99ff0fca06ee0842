"""The instance process of a python-backend model, and the tensor transport both sides use.

Run as a script (``python _pb_stub.py IN_FD OUT_FD SHM_FD SHM_BYTES MODEL_PY [LANE_FD]``) by the server, one
process per model instance, as Triton's ``triton_python_backend_stub``. Its folder is then
first on ``sys.path``, so ``model.py`` imports ``triton_python_backend_utils`` from here, and
it imports nothing of hepinfer (fast start, no server state in the model's process).

Messages (`Channel`: length-prefixed pickles over Unix socket pairs, one system call per
message each way, no `multiprocessing` framing) carry tensor *descriptors*; numeric tensor data lives
in one shared-memory arena per instance (a memfd both processes map): the server writes a
batch's inputs into the first half, the model reads them in place (its ``as_numpy()``
arrays are views of the arena, no copy), and its outputs are written into the second half,
where the server reads them. BYTES tensors and tensors that do not fit travel in the message.

The raw path (a ModelInfer request that the server's gRPC front end passed on undecoded):
the server writes the request's ``raw_input_contents`` bytes into the arena as they came, and
the model's answer goes back as the serialized ``inference.ModelInferResponse`` itself
(`ResponseEncoder`), so the server only routes bytes. The same for an HTTP infer request
(its binary tensor data placed as it came, the response body written by `HttpEncoder`).

The lane (the native gRPC front end's, `Stub.lane`): a ``("lane", plan, request id, raw
contents...)`` message, written by the front end's C++ thread, is one raw-path request with
its inputs in the message; its answer goes on the lane's own socket (LANE_FD) as a 4-byte
little-endian length, a kind byte (0: the serialized ModelInferResponse, 1: an error text)
and the data, which the front end reads without the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import json
import logging
import mmap
import os
import pickle
import select
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

try:
    from . import triton_python_backend_utils as pb_utils
except ImportError:  # run as a script: the same module model.py imports
    import triton_python_backend_utils as pb_utils  # type: ignore[no-redef,import-not-found]

#: (name, dtype str, shape, arena offset or -1, the array itself when offset is -1)
Desc = tuple[str, str, tuple[int, ...], int, Any]
#: a raw-path input: (name, numpy dtype str, shape, its raw little-endian bytes)
RawTensor = tuple[str, str, tuple[int, ...], bytes | memoryview]

_ALIGN = 64
#: bytes asked of the socket per read (a message that fits arrives with one read)
_READ = 1 << 16


class Channel:
    """Length-prefixed pickled messages over connected stream sockets (both processes).

    A message is a 4-byte little-endian length and a pickle (protocol 5): one ``send`` and,
    when it fits `_READ`, one ``recv``. Messages that arrive together are kept in order.

    Messages are read from `sock` and sent on `out` (`sock` when not given). The server and
    its instance process use one socket pair per direction: when a reader takes a message,
    the kernel wakes whoever sleeps on the *sender's* socket (its send buffer has room
    again), and with a single pair that is the sender itself, asleep in ``recv`` for the next
    message: a wake-up for nothing per message, which a pair per direction avoids.
    """

    def __init__(self, sock: socket.socket, out: socket.socket | None = None) -> None:
        self.sock = sock
        self.out = sock if out is None else out
        self._buf = bytearray()
        self._ready: deque[Any] = deque()
        self._send_lock = threading.Lock()  # a decoupled model may send from its threads
        # asks the kernel whether a message waits without raising (a non-blocking recv on an
        # empty socket raises BlockingIOError, whose message formatting costs microseconds)
        self._poller = select.poll()
        self._poller.register(sock.fileno(), select.POLLIN)

    def fileno(self) -> int:
        """The socket's file descriptor (for event loops)."""
        return self.sock.fileno()

    def send(self, message: Any) -> None:
        """Send one message (blocks only while the socket's buffer is full)."""
        data = pickle.dumps(message, 5)
        with self._send_lock:
            self.out.sendall(len(data).to_bytes(4, "little") + data)

    def _read(self, block: bool) -> bool:
        """Read what the socket holds and decode the whole messages; False when it held nothing.

        Raises EOFError when the other process has closed its end (or died).
        """
        try:
            chunk = self.sock.recv(_READ, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if not chunk:
            raise EOFError
        buf = self._buf
        if not buf and int.from_bytes(chunk[:4], "little") == len(chunk) - 4:
            self._ready.append(pickle.loads(memoryview(chunk)[4:]))  # exactly one message
            return True
        buf += chunk
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "little")
            if len(buf) < 4 + n:
                break
            self._ready.append(pickle.loads(bytes(buf[4 : 4 + n])))
            del buf[: 4 + n]
        return True

    def poll(self) -> tuple[bool, Any]:
        """(True, message) if one was buffered or can be read without waiting, else (False, None).

        Raises EOFError when the other process has closed its end (or died).
        """
        ready = self._ready
        while not ready and self._poller.poll(0) and self._read(block=False):
            pass
        if ready:
            return True, ready.popleft()
        return False, None

    def fill(self) -> None:
        """Read what the socket holds if no message is buffered (one system call at most).

        For a reader that the event loop calls because the socket is readable: the messages
        are then taken with `buffered`, with no second system call to find the socket empty.
        Raises EOFError when the other side is gone.
        """
        if not self._ready:
            self._read(block=False)

    @property
    def has_buffered(self) -> bool:
        """Whether messages were read from the socket and not taken yet."""
        return bool(self._ready)

    def buffered(self) -> tuple[bool, Any]:
        """(True, message) if one is buffered, else (False, None); never reads the socket."""
        ready = self._ready
        if ready:
            return True, ready.popleft()
        return False, None

    def recv(self, timeout_s: float | None = None) -> Any:
        """The next message, waiting for it (up to `timeout_s` seconds when given).

        Raises EOFError when the other side is gone, TimeoutError after `timeout_s`.
        """
        ready = self._ready
        if timeout_s is None:  # one blocking read: no poll or select system call first
            while not ready:
                self._read(block=True)
            return ready.popleft()
        got, message = self.poll()
        if got:
            return message
        deadline = time.monotonic() + timeout_s
        while not ready:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError
            self._read(block=True)
        return ready.popleft()

    def close(self) -> None:
        """Close the socket(s)."""
        self.sock.close()
        if self.out is not self.sock:
            self.out.close()


class Arena:
    """A shared-memory region mapped by the server and one instance process."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self.half = (size // 2) // _ALIGN * _ALIGN
        self.map = mmap.mmap(fd, size)
        self._bytes = memoryview(self.map)
        #: the offset after the last tensor written by `pack` or `place`
        self.packed_to = 0

    def pack(
        self, tensors: Iterable[tuple[str, np.ndarray]], second_half: bool, start: int = -1
    ) -> list[Desc]:
        """Write tensors into one half of the arena (from `start` when given, an offset that
        `packed_to` gave); return their descriptors. `packed_to` is then the next free offset.
        """
        pos, end = (self.half, self.size) if second_half else (0, self.half)
        if start >= 0:
            pos = start
        out: list[Desc] = []
        for name, array in tensors:
            a = array if type(array) is np.ndarray else np.asarray(array)
            n = a.nbytes
            if a.dtype.kind in "OSUV" or pos + n > end:
                out.append((name, a.dtype.str, a.shape, -1, a))
                continue
            if n and a.ndim and a.flags.c_contiguous and a.dtype.kind in "biuf":
                self._bytes[pos : pos + n] = a.data.cast("B")  # a plain byte copy
            else:
                np.ndarray(a.shape, a.dtype, buffer=self.map, offset=pos)[...] = a
            out.append((name, a.dtype.str, a.shape, pos, None))
            pos += (n + _ALIGN - 1) // _ALIGN * _ALIGN
        self.packed_to = pos
        return out

    def place(self, raw: Iterable[RawTensor], start: int = 0) -> list[Desc]:
        """Write raw tensor bytes (the wire's, little-endian) into the first half, as `pack`.

        Each item is (name, numpy dtype str, shape, bytes), the bytes already checked to hold
        the shape; what does not fit travels in the message as an array.
        """
        pos, end = start, self.half
        out: list[Desc] = []
        for name, dtype, shape, data in raw:
            n = len(data)
            if pos + n > end:
                out.append((name, dtype, shape, -1, np.frombuffer(data, dtype).reshape(shape)))
                continue
            self._bytes[pos : pos + n] = data
            out.append((name, dtype, shape, pos, None))
            pos += (n + _ALIGN - 1) // _ALIGN * _ALIGN
        self.packed_to = pos
        return out

    def unpack(self, descs: Iterable[Desc], copy: bool) -> list[tuple[str, np.ndarray]]:
        """The arrays of descriptors (views of the arena unless `copy`)."""
        out = []
        for name, dtype, shape, offset, inline in descs:
            if offset < 0:
                out.append((name, inline))
                continue
            view = np.ndarray(shape, np.dtype(dtype), buffer=self.map, offset=offset)
            out.append((name, view.copy() if copy else view))
        return out

    def close(self) -> None:
        """Unmap (arrays still viewing the arena must be gone)."""
        self._bytes.release()
        with contextlib.suppress(BufferError):  # a view still lives: goes with the process
            self.map.close()


def inline(tensors: Iterable[tuple[str, np.ndarray]]) -> list[Desc]:
    """Descriptors carrying the arrays themselves (BLS calls, small messages)."""
    return [
        (n, np.asarray(a).dtype.str, np.asarray(a).shape, -1, np.asarray(a)) for n, a in tensors
    ]


def _varint(n: int) -> bytes:
    """A protobuf varint (n >= 0)."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field (strings, bytes, sub-messages, packed numbers)."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


#: most tensor headers (name, datatype, shape) `ResponseEncoder` keeps ready
_HEADERS = 1024


class ResponseEncoder:
    """Serializes ``inference.ModelInferResponse`` messages without protobuf (raw path).

    The bytes are those protobuf writes for the message the server would build: model name,
    version and request id, one ``outputs`` entry (name, datatype, shape) per output in the
    order given, the data in ``raw_output_contents``. An output whose dtype is not the
    configured one is converted, as the server does.
    """

    def __init__(self, model: str, version: str, outputs: dict[str, tuple[str, Any]]) -> None:
        #: output name -> (wire datatype, numpy dtype)
        self.outputs = outputs
        self._head = b"".join(
            _field(n, text.encode()) for n, text in ((1, model), (2, version)) if text
        )
        self._headers: dict[tuple[str, tuple[int, ...]], bytes] = {}

    def _tensor(self, name: str, shape: tuple[int, ...]) -> bytes:
        header = self._headers.get((name, shape))
        if header is None:
            dims = b"".join(_varint(d) for d in shape)
            body = _field(1, name.encode()) + _field(2, self.outputs[name][0].encode())
            header = _field(5, body + (_field(3, dims) if shape else b""))
            if len(self._headers) >= _HEADERS:
                self._headers.clear()
            self._headers[(name, shape)] = header
        return header

    def encode(self, request_id: str, tensors: Iterable[tuple[str, np.ndarray]]) -> bytes:
        """The serialized response with these (name, array) outputs, in this order."""
        parts = [self._head]
        if request_id:
            parts.append(_field(3, request_id.encode()))
        data = []
        outputs = self.outputs
        for name, array in tensors:
            dtype = outputs[name][1]
            a = array if type(array) is np.ndarray else np.asarray(array)
            if a.dtype != dtype:
                a = a.astype(dtype)
            parts.append(self._tensor(name, a.shape))
            data.append(_field(6, a.tobytes()))
        parts += data
        return b"".join(parts)


class HttpEncoder:
    """Writes KServe v2 HTTP response bodies (the HTTP raw path), as the server's decoded path.

    The body is the JSON header the server writes (``model_name``, ``model_version``, the
    ``outputs`` in the order asked, ``id`` when the request had one), each output's data as
    a JSON list or, when asked, as binary tensor data after the header (Triton's extension;
    `encode` then also gives the header's length). An output whose dtype is not the
    configured one is converted, as the server does.
    """

    def __init__(self, model: str, version: str, outputs: dict[str, tuple[str, Any]]) -> None:
        #: output name -> (wire datatype, numpy dtype)
        self.outputs = outputs
        self.model = model
        self.version = version
        #: all-binary answers: (id, names and shapes) -> the JSON header
        self._headers: dict[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], bytes] = {}

    def encode(
        self, request_id: str, tensors: Iterable[tuple[str, np.ndarray]], binary: tuple[bool, ...]
    ) -> tuple[bytes, int | None]:
        """(body, JSON header length or None when no output is binary) for these outputs."""
        outputs = self.outputs
        arrays = []
        for name, array in tensors:
            dtype = outputs[name][1]
            a = array if type(array) is np.ndarray else np.asarray(array)
            if a.dtype != dtype:
                a = a.astype(dtype)
            arrays.append((name, a))
        if all(binary):
            key = (request_id, tuple((n, a.shape) for n, a in arrays))
            text = self._headers.get(key)
            if text is None:
                text = self._header(request_id, arrays, binary)
                if len(self._headers) >= _HEADERS:
                    self._headers.clear()
                self._headers[key] = text
            return b"".join([text, *(a.tobytes() for _, a in arrays)]), len(text)
        text = self._header(request_id, arrays, binary)
        chunks = [a.tobytes() for (_, a), b in zip(arrays, binary, strict=True) if b]
        if not chunks:
            return text, None
        return b"".join([text, *chunks]), len(text)

    def _header(
        self, request_id: str, arrays: list[tuple[str, np.ndarray]], binary: tuple[bool, ...]
    ) -> bytes:
        entries: list[dict[str, Any]] = []
        for (name, a), b in zip(arrays, binary, strict=True):
            entry: dict[str, Any] = {
                "name": name,
                "datatype": self.outputs[name][0],
                "shape": list(a.shape),
            }
            if b:
                entry["parameters"] = {"binary_data_size": a.nbytes}
            else:
                entry["data"] = a.reshape(-1).tolist()
            entries.append(entry)
        header: dict[str, Any] = {
            "model_name": self.model,
            "model_version": self.version,
            "outputs": entries,
        }
        if request_id:
            header["id"] = request_id
        return json.dumps(header, separators=(",", ":")).encode()


def _output_types(config: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Output name -> (wire datatype, numpy dtype) from a configuration in JSON form."""
    out = {}
    for o in config.get("output", []):
        code = str(o.get("data_type", "TYPE_INVALID"))
        dtype = pb_utils.TRITON_STRING_TO_NUMPY.get(code)
        if dtype is not None:
            out[o["name"]] = ("BYTES" if code == "TYPE_STRING" else code[5:], np.dtype(dtype))
    return out


def _version_text(version: str) -> str:
    """A version folder's name as the server writes it in responses ("001" -> "1")."""
    return str(int(version)) if version.isdigit() else version


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, pb_utils.TritonError):
        return exc.message()
    return f"{type(exc).__name__}: {exc}"


class Stub:
    """The model's side: loads model.py and answers the server's messages."""

    def __init__(
        self, conn: Channel, arena: Arena, model_py: Path, lane: socket.socket | None = None
    ) -> None:
        self.conn = conn
        self.lane_out = lane
        self.arena = arena
        self.model_py = model_py
        self.module: Any = None
        self.model: Any = None
        self.decoupled = False
        self.instance = model_py.parent.parent.name
        self.encoder: ResponseEncoder | None = None  # set by initialize (raw path)
        self.http_encoder: HttpEncoder | None = None  # set by initialize (HTTP raw path)
        self.model_name = self.instance
        pb_utils._HOOKS["bls"] = self.bls
        pb_utils._HOOKS["send"] = self.send
        # a decoupled response names its request by the token the server gave it
        pb_utils._HOOKS["sender_key"] = lambda r: r._token

    def load_module(self) -> Any:
        """Import model.py (its folder first on sys.path, as Triton does)."""
        if self.module is None:
            sys.path.insert(0, str(self.model_py.parent))
            spec = importlib.util.spec_from_file_location("model", self.model_py)
            if spec is None or spec.loader is None:
                msg = f"cannot import {self.model_py}"
                raise ImportError(msg)
            module = importlib.util.module_from_spec(spec)
            sys.modules["model"] = module
            spec.loader.exec_module(module)
            if not hasattr(module, "TritonPythonModel"):
                msg = f"{self.model_py} defines no class TritonPythonModel"
                raise AttributeError(msg)
            self.module = module
        return self.module

    def serve(self) -> None:
        """Answer messages until told to finish (or the server goes away)."""
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                return
            kind = msg[0]
            try:
                if kind == "lane":
                    self.lane(msg)
                    continue
                if kind == "exec":
                    self.execute(msg[1])
                    continue
                if kind == "init":
                    self.initialize(msg[1])
                    reply: Any = ("ok", None)
                elif kind == "autocomplete":
                    reply = ("ok", self.autocomplete(msg[1]))
                elif kind == "fini":
                    if self.model is not None and hasattr(self.model, "finalize"):
                        self.model.finalize()
                    self.conn.send(("ok", None))
                    return
                else:
                    reply = ("error", f"unknown message {kind!r}")
            except Exception as exc:  # noqa: BLE001 - the server reports the model's error
                reply = ("error", f"{_error_text(exc)}\n{traceback.format_exc()}")
            self.conn.send(reply)

    def autocomplete(self, config_json: str) -> str:
        """Run ``TritonPythonModel.auto_complete_config`` on the configuration."""
        cls = self.load_module().TritonPythonModel
        config = pb_utils.ModelConfig(config_json)
        if hasattr(cls, "auto_complete_config"):
            config = cls.auto_complete_config(config)
        return json.dumps(config.as_dict())

    def initialize(self, args: dict[str, str]) -> None:
        """Create the model object and call its ``initialize(args)``."""
        cls = self.load_module().TritonPythonModel
        config = json.loads(args["model_config"])
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(config)
        self.instance = args.get("model_instance_name", self.instance)
        self.model_name = args.get("model_name", self.model_name)
        name = args.get("model_name", config.get("name", ""))
        version = _version_text(args.get("model_version", ""))
        types = _output_types(config)
        self.encoder = ResponseEncoder(name, version, types)
        self.http_encoder = HttpEncoder(name, version, types)
        self.model = cls()
        if hasattr(self.model, "initialize"):
            self.model.initialize(args)

    def execute(self, requests: list[tuple[str, str, list[Desc], list[str], int, Any]]) -> None:
        """Run ``execute`` on a batch of requests; send one result per request.

        A decoupled model's results are None: its responses went (or go, from its threads)
        through the requests' senders. A raw-path request's result is its serialized
        ModelInferResponse, ``("bytes", data)``, or its HTTP body, ``("http", (body, JSON
        header length or None))`` (the request's last item: True for gRPC, per output whether
        it is answered as binary data for HTTP, False for a decoded request).
        """
        pb_requests = []
        unpack, tensor = self.arena.unpack, pb_utils.Tensor
        for request_id, parameters, descs, wanted, token, _ in requests:
            tensors = [tensor(n, a) for n, a in unpack(descs, copy=False)]
            req = pb_utils.InferenceRequest(
                "", tensors, wanted, request_id=request_id, parameters=parameters
            )
            req._token = token
            pb_requests.append(req)
        results: list[Any]
        try:
            responses = self.model.execute(pb_requests)
            if inspect.iscoroutine(responses):
                responses = asyncio.run(responses)
            if self.decoupled:
                results = [None] * len(requests)  # answered through the senders
            else:
                results = self._results(requests, responses)
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error
            text = (
                f"Failed to process the request(s) for model '{self.instance}', "
                f"message: {_error_text(exc)}"
            )
            results = [("error", text)] * len(requests)
        del pb_requests
        self.conn.send(("done", results))

    def lane(self, msg: tuple[Any, ...]) -> None:
        """Run one request the front end's lane sent; answer on the lane's socket.

        `msg` is ("lane", ((input name, dtype str, shape)..., requested output names,
        parameters), request id, each input's raw contents).
        """
        (inputs, wanted, parameters), request_id, raws = msg[1], msg[2].decode(), msg[3:]
        tensors = [
            pb_utils.Tensor(name, np.frombuffer(raw, dtype).reshape(shape))
            for (name, dtype, shape), raw in zip(inputs, raws, strict=True)
        ]
        request = (request_id, parameters, None, list(wanted), 0, True)
        req = pb_utils.InferenceRequest(
            "", tensors, list(wanted), request_id=request_id, parameters=parameters
        )
        req._token = 0
        try:
            responses = self.model.execute([req])
            if inspect.iscoroutine(responses):
                responses = asyncio.run(responses)
            status, payload = self._results([request], responses)[0]
        except Exception as exc:  # noqa: BLE001 - the client gets the error
            status = "error"
            payload = (
                f"Failed to process the request(s) for model '{self.instance}', "
                f"message: {_error_text(exc)}"
            )
        del req, tensors
        data = payload if status == "bytes" else str(payload).encode(errors="replace")
        head = (len(data) + 1).to_bytes(4, "little") + (b"\x00" if status == "bytes" else b"\x01")
        assert self.lane_out is not None
        self.lane_out.sendall(head + data)

    def _results(self, requests: list[Any], responses: Any) -> list[Any]:
        if responses is None or len(responses) != len(requests):
            got = "None" if responses is None else str(len(responses))
            msg = f"execute returned {got} responses for {len(requests)} requests; return one per request"
            raise pb_utils.TritonModelException(msg)
        flat: list[tuple[str, np.ndarray]] = []
        counts: list[int] = []  # per request: its outputs in `flat` (-1: an error)
        results: list[Any] = []
        for request, response in zip(requests, responses, strict=True):
            if response.has_error():
                results.append(("error", response.error().message()))
                counts.append(-1)
                continue
            if request[5]:
                results.append(self._encode(request, response))
                counts.append(-1)
                continue
            wanted = request[3]  # a few names: a list is searched faster than a set is built
            before = len(flat)
            for t in response.output_tensors():
                name = t.name()
                if name in wanted:
                    flat.append((name, t.as_numpy()))
            counts.append(len(flat) - before)
            results.append(None)
        descs = self.arena.pack(flat, second_half=True)
        pos = 0
        for i, n in enumerate(counts):
            if n >= 0:
                results[i] = ("ok", descs[pos : pos + n])
                pos += n
        return results

    def _encode(self, request: Any, response: Any) -> tuple[str, Any]:
        """A raw-path request's answer: ("bytes", the serialized ModelInferResponse), ("http",
        (the HTTP body, its JSON header's length or None)) or ("error", text).
        """
        reply = request[5]  # True: gRPC; per wanted output whether it goes as binary: HTTP
        wanted = request[3]
        made = {t.name(): t for t in response.output_tensors()}
        try:
            tensors = [(n, made[n].as_numpy()) for n in wanted]
        except KeyError:
            missing = [n for n in wanted if n not in made]
            text = (
                f"model '{self.model_name}': the response of execute lacks the requested "
                f"output(s) {missing}; return a pb_utils.Tensor for each"
            )
            return ("error", text)
        try:
            if reply is True:
                assert self.encoder is not None
                return ("bytes", self.encoder.encode(request[0], tensors))
            assert self.http_encoder is not None
            return ("http", self.http_encoder.encode(request[0], tensors, reply))
        except Exception as exc:  # noqa: BLE001 - e.g. an output that is no number
            return ("error", f"model '{self.model_name}': output {_error_text(exc)}")

    def send(self, token: int, response: Any, flags: int) -> None:
        """Send one response (None: the FINAL flag alone) of a decoupled request to the server."""
        outputs = (
            None
            if response is None
            else inline((t.name(), t.as_numpy()) for t in response.output_tensors())
        )
        error = (
            response.error().message() if response is not None and response.has_error() else None
        )
        self.conn.send(("response", token, outputs, error, flags))

    def bls(self, request: Any, decoupled: bool) -> Any:
        """Run a BLS request on the server and wait for its response."""
        tensors = [(t.name(), t.as_numpy()) for t in request.inputs()]
        self.conn.send(
            (
                "bls",
                request.model_name(),
                request.model_version(),
                inline(tensors),
                sorted(request.requested_output_names()),
                request.parameters(),
            )
        )
        status, payload = self.conn.recv()
        if status != "ok":
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(payload))
        response = pb_utils.InferenceResponse([pb_utils.Tensor(n, a) for n, _, _, _, a in payload])
        return iter([response]) if decoupled else response


def main(argv: list[str]) -> int:
    """Entry point of the instance process."""
    in_fd, out_fd, shm_fd, shm_size = (int(a) for a in argv[:4])
    model_py = Path(argv[4])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    lane = socket.socket(fileno=int(argv[5])) if len(argv) > 5 else None
    conn = Channel(socket.socket(fileno=in_fd), socket.socket(fileno=out_fd))
    arena = Arena(shm_fd, shm_size)
    os.close(shm_fd)  # mapped: the descriptor is no longer needed
    Stub(conn, arena, model_py, lane).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
