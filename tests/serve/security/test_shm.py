"""Shared memory (--enable-shm): clients reach only their own objects, and a truncated object
is an error, never a SIGBUS (issue 17, item 4).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer
from tests.serve.models import build_repository
from tests.serve.security.servers import options_for

PREFIX = "hepinfer_sec_"
SHM = Path("/dev/shm")
pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="needs POSIX shared memory in /dev/shm")


@pytest.fixture(scope="module")
def shm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo = build_repository(tmp_path_factory.mktemp("repo"))
    options = options_for(repo, enable_shm=True, shm_prefix=PREFIX)
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture
def client(shm_server: InferenceServer) -> Iterator[grpcclient.InferenceServerClient]:
    c = grpcclient.InferenceServerClient(shm_server.grpc_url)
    yield c
    c.unregister_system_shared_memory()


def _key(prefix: str = PREFIX) -> str:
    return f"/{prefix}{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _infer(client: grpcclient.InferenceServerClient, nbytes: int) -> grpcclient.InferResult:
    inp = grpcclient.InferInput("INPUT0", [2, 4], "FP32")
    inp.set_shared_memory("in", nbytes)
    out = grpcclient.InferRequestedOutput("OUTPUT0")
    out.set_shared_memory("out", nbytes)
    return client.infer("scale", [inp], outputs=[out])


def _good_request_works(client: grpcclient.InferenceServerClient) -> None:
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(client.infer("scale", [x]).as_numpy("OUTPUT0"), 2.0)


def test_prefix_keeps_other_objects_out(client: grpcclient.InferenceServerClient) -> None:
    key = _key("someone_else_")
    handle = shm.create_shared_memory_region("other", key, 64)
    try:
        with pytest.raises(InferenceServerException, match="only registers objects") as e:
            client.register_system_shared_memory("other", key, 64)
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert client.get_system_shared_memory_status(as_json=True).get("regions", {}) == {}
    finally:
        shm.destroy_shared_memory_region(handle)


@pytest.mark.parametrize(
    "key", ["/../../etc/passwd", f"/{PREFIX}a/../../etc/passwd", f"/{PREFIX}sub/x", "", "/"]
)
def test_keys_are_plain_names(client: grpcclient.InferenceServerClient, key: str) -> None:
    with pytest.raises(InferenceServerException, match="not a plain object name") as e:
        client.register_system_shared_memory("bad", key, 8)
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_symlink_is_not_followed(client: grpcclient.InferenceServerClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01" * 64)
    key = _key()
    link = SHM / key.lstrip("/")
    link.symlink_to(secret)
    try:
        with pytest.raises(InferenceServerException, match="symlinks are never followed") as e:
            client.register_system_shared_memory("link", key, 32)
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        link.unlink()
    assert secret.read_bytes() == b"\x01" * 64


def test_folder_is_not_an_object(client: grpcclient.InferenceServerClient) -> None:
    key = _key()
    folder = SHM / key.lstrip("/")
    folder.mkdir()
    try:
        with pytest.raises(InferenceServerException) as e:
            client.register_system_shared_memory("dir", key, 8)
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        folder.rmdir()


@pytest.mark.parametrize("truncated", ["in", "out"])
def test_truncated_object_is_an_error_not_a_crash(
    shm_server: InferenceServer, client: grpcclient.InferenceServerClient, truncated: str
) -> None:
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    nbytes = data.nbytes
    keys = {"in": _key(), "out": _key()}
    handles = {r: shm.create_shared_memory_region(r, k, nbytes) for r, k in keys.items()}
    try:
        shm.set_shared_memory_region(handles["in"], [data])
        for region, key in keys.items():
            client.register_system_shared_memory(region, key, nbytes)
        _infer(client, nbytes)  # works while the objects are whole
        os.truncate(SHM / keys[truncated].lstrip("/"), 4)
        with pytest.raises(InferenceServerException, match="truncated") as e:
            _infer(client, nbytes)
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
        # the server lives on, over gRPC and HTTP
        _good_request_works(client)
        assert httpclient.InferenceServerClient(shm_server.http_url).is_server_live()
    finally:
        for h in handles.values():
            shm.destroy_shared_memory_region(h)
