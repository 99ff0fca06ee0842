"""hepinfer's ``triton_python_backend_utils`` module on its own (no server)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepinfer.serve.backends.python.runtime import triton_python_backend_utils as pb


def test_tensor_views_and_dlpack_share_memory() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pb.Tensor("x", a)
    assert t.name() == "x"
    assert t.as_numpy() is a
    assert t.shape() == [2, 3]
    assert t.triton_dtype() == 11  # TYPE_FP32
    back = pb.Tensor.from_dlpack("y", t.to_dlpack())
    a[0, 0] = 42
    assert back.as_numpy()[0, 0] == 42  # no copy
    assert back.name() == "y"
    with pytest.raises(pb.TritonModelException, match="expected a numpy array"):
        pb.Tensor("z", [1, 2])


def test_config_helpers() -> None:
    config = {
        "name": "m",
        "input": [{"name": "IN", "data_type": "TYPE_INT16", "dims": [2]}],
        "output": [{"name": "OUT", "data_type": "TYPE_STRING", "dims": [1]}],
    }
    assert pb.get_output_config_by_name(config, "OUT")["data_type"] == "TYPE_STRING"
    assert pb.get_input_config_by_name(json.dumps(config), "IN")["dims"] == [2]
    assert pb.get_output_config_by_name(config, "NOPE") is None
    assert pb.triton_string_to_numpy("TYPE_INT16") is np.int16
    assert pb.triton_to_numpy_type(13) is np.object_
    assert pb.numpy_to_triton_type(np.float64) == 12
    assert not pb.using_decoupled_model_transaction_policy(config)


def test_requests_and_responses() -> None:
    x = pb.Tensor("IN", np.zeros(2, np.int16))
    request = pb.InferenceRequest("m", [x], ["OUT"], request_id="r1", parameters='{"k": 1}')
    assert pb.get_input_tensor_by_name(request, "IN") is x
    assert pb.get_input_tensor_by_name(request, "NO") is None
    assert request.requested_output_names() == {"OUT"}
    assert json.loads(request.parameters()) == {"k": 1}
    ok = pb.InferenceResponse([pb.Tensor("OUT", np.ones(1))])
    assert not ok.has_error()
    assert pb.get_output_tensor_by_name(ok, "OUT") is not None
    bad = pb.InferenceResponse(error=pb.TritonError("broken", pb.TritonError.INVALID_ARG))
    assert bad.has_error()
    assert bad.error() is not None
    assert bad.error().message() == "broken"
    assert bad.error().code() == pb.TritonError.INVALID_ARG


def test_auto_complete_model_config() -> None:
    config = pb.ModelConfig(json.dumps({"name": "m", "max_batch_size": 4}))
    config.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [3]})
    config.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [3]})  # same: kept once
    config.set_max_batch_size(8)
    config.set_dynamic_batching()
    assert config.as_dict()["input"] == [{"name": "IN", "data_type": "TYPE_FP32", "dims": [3]}]
    assert config.as_dict()["max_batch_size"] == 8
    assert config.as_dict()["dynamic_batching"] == {}
    with pytest.raises(ValueError, match="max_batch_size 8"):
        config.set_max_batch_size(2)
    with pytest.raises(ValueError, match="dims"):
        config.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [4]})
    with pytest.raises(ValueError, match="missing the 'dims' property"):
        config.add_output({"name": "OUT", "data_type": "TYPE_FP32"})


def test_byte_tensor_round_trip() -> None:
    a = np.array([b"ab", "c", b""], dtype=np.object_)
    encoded = pb.serialize_byte_tensor(a)
    assert encoded is not None
    assert list(pb.deserialize_bytes_tensor(encoded.tobytes())) == [b"ab", b"c", b""]
