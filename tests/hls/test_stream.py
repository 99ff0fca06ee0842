"""The io_stream plan: pixel words, clones for branches, repacks, pass-through, FIFO depths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.hls.layers import build_model
from hepinfer.hls.stream import CHAIN_DEPTH, Plan, plan
from tests.hls.onnx_models import branches, convnet, merges


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))


def _plan(onnx: Path) -> Plan:
    model = hepinfer.compile(onnx, {"Model": {"Precision": "ap_fixed<12,4>"}})
    return plan(build_model(model.graph, "p"))


def test_pixels_per_word_and_flatten_passes_through(tmp_path: Path) -> None:
    p = _plan(convnet(tmp_path / "c.onnx", 2, "same", 1))
    (port,) = p.inputs
    assert (port.word, port.words) == (2, 7 * 8)  # one pixel of 2 channels per word
    kinds = [(q.kind, q.layer.kernel if q.layer else "") for q in p.processes]
    assert ("layer", "copy") not in kinds  # Flatten is no process
    dense = next(q for q in p.processes if q.layer and q.layer.kernel == "dense")
    assert dense.ins[0].word == 3  # Dense reads the pixels of the last Conv
    assert {s.depth for s in p.internal} == {CHAIN_DEPTH}  # a chain: no clone, no merge


def test_branches_get_clones_with_whole_sample_fifos(tmp_path: Path) -> None:
    p = _plan(branches(tmp_path / "b.onnx"))
    clones = {q.ins[0].tensor.name: len(q.outs) for q in p.processes if q.kind == "clone"}
    # the input feeds two Convs, r four layers, the channel concatenation is read twice
    assert clones == {"x": 2, "relu_a": 4, "concat": 2}
    for q in p.processes:
        if q.kind == "clone":
            assert all(s.depth == max(s.words, CHAIN_DEPTH) for s in q.outs)
        if q.layer is not None and len(q.ins) > 1:
            assert all(s.depth == max(s.words, CHAIN_DEPTH) for s in q.ins), q.name
    every = [s.var for q in p.processes for s in (*q.ins, *q.outs)]
    ports = {s.var for s in (*p.inputs, *p.outputs)}
    for var in every:  # one writer and one reader per stream
        assert every.count(var) == (1 if var in ports else 2), var
    cat = next(q for q in p.processes if q.layer and q.layer.name == "concat")
    assert [s.word for s in cat.ins] == [4, 4, 2]
    assert cat.outs[0].word == 10


def test_repack_before_a_layer_that_needs_pixels(tmp_path: Path) -> None:
    p = _plan(convnet(tmp_path / "c.onnx", 1, "valid", 1, dense=False))
    (repack,) = [q for q in p.processes if q.kind == "repack"]
    assert repack.ins[0].word == 3
    assert repack.outs[0].word == repack.outs[0].tensor.size  # Softmax reads one word


def test_flat_merges_are_one_word(tmp_path: Path) -> None:
    p = _plan(merges(tmp_path / "m.onnx"))
    assert all(s.words == 1 for s in (*p.internal, *p.inputs, *p.outputs))


def test_model_output_read_by_a_layer_goes_through_the_clone(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"])]
    graph = helper.make_graph(
        nodes,
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", 4]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "two.onnx")
    p = _plan(tmp_path / "two.onnx")
    (clone,) = [q for q in p.processes if q.kind == "clone"]
    assert p.outputs[0] in clone.outs
    compiled = hepinfer.compile(tmp_path / "two.onnx")

    x = np.random.default_rng(0).normal(size=(300, 4)) * 4
    got = compiled.csim(x, io_type="io_stream", headers="hepinfer")
    want = compiled.predict(x)
    assert isinstance(got, dict)
    assert isinstance(want, dict)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_two_model_inputs_merged(tmp_path: Path) -> None:
    """Add of two (3, 4) model inputs (ports of 3 words each, no clone), then Relu."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "two_inputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, 4]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "two_inputs.onnx")
    p = _plan(tmp_path / "two_inputs.onnx")
    assert [(s.word, s.words) for s in p.inputs] == [(4, 3), (4, 3)]
    compiled = hepinfer.compile(tmp_path / "two_inputs.onnx")
    rng = np.random.default_rng(1)
    x = {"a": rng.normal(size=(300, 3, 4)) * 3, "b": rng.normal(size=(300, 3, 4)) * 3}
    got = compiled.csim(x, io_type="io_stream", headers="hepinfer")
    want = compiled.predict(x)
    assert isinstance(got, np.ndarray)
    assert isinstance(want, np.ndarray)
    np.testing.assert_array_equal(got, want)
