"""The interpreter: tracing, float mode, input binding errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.emulate import emulate, emulate_fixed
from hepinfer.errors import HepinferError


@pytest.fixture(scope="module")
def tagger(shared_data: Path) -> hepinfer.CompiledModel:
    return hepinfer.compile(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")


def test_trace_returns_every_node_in_order(tagger: hepinfer.CompiledModel) -> None:
    x = np.random.default_rng(0).standard_normal((10, 16))
    trace = tagger.trace(x)
    assert list(trace) == [n.name for n in tagger.graph.nodes]
    np.testing.assert_array_equal(trace["output_softmax_softmax"], tagger.predict(x))
    # each traced value is exactly representable in its node's type
    for node in tagger.graph.nodes:
        t = node.precision.result
        if t is not None:
            np.testing.assert_array_equal(t.cast(trace[node.name]), trace[node.name])


def test_fixed_values_carry_their_types(tagger: hepinfer.CompiledModel) -> None:
    out = emulate_fixed(tagger.graph, np.zeros((3, 16)))["output_softmax_softmax"]
    assert out.m.dtype == np.int64
    assert str(out.t) == "ap_fixed<16,6,AP_RND,AP_SAT>"  # the default configuration's results


def test_single_sample_and_bad_shapes(tagger: hepinfer.CompiledModel) -> None:
    one = tagger.predict(np.ones(16))
    assert isinstance(one, np.ndarray)
    assert one.shape == (1, 5)
    with pytest.raises(
        HepinferError, match=r"input 'input_1' has shape \(4, 15\); expected \(batch, 16\)"
    ):
        tagger.predict(np.ones((4, 15)))
    with pytest.raises(HepinferError, match="emulation mode: 'double' is not one of"):
        emulate(tagger.graph, np.ones((1, 16)), mode="double")


def test_batch_is_vectorised_consistently(tagger: hepinfer.CompiledModel) -> None:
    x = np.random.default_rng(1).standard_normal((64, 16))
    whole = tagger.predict(x)
    parts = np.concatenate([tagger.predict(x[i : i + 7]) for i in range(0, 64, 7)])  # type: ignore[list-item]
    np.testing.assert_array_equal(whole, parts)


def test_two_inputs_by_list_and_by_name() -> None:
    import hepinfer
    from hepinfer.frontends.builder import GraphBuilder
    from hepinfer.ir import Op

    rng = np.random.default_rng(2)
    b = GraphBuilder("two")
    a = b.input("a", (3,))
    c = b.input("c", (2,))
    cat = b.add("cat", Op.CONCAT, [a, c])
    d = b.add("d", Op.DENSE, [cat], {}, {"kernel": rng.normal(size=(5, 2)), "bias": [0.5, -0.5]})
    model = hepinfer.compile(b.build([d, cat]))
    xa, xc = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    by_list = model.predict([xa, xc])
    by_name = model.predict({"a": xa, "c": xc})
    assert isinstance(by_list, dict)
    assert isinstance(by_name, dict)
    assert set(by_list) == {"d", "cat"}
    np.testing.assert_array_equal(by_list["d"], by_name["d"])
    np.testing.assert_allclose(by_list["cat"], np.concatenate([xa, xc], axis=1), atol=2.0**-10)
    with pytest.raises(HepinferError, match=r"inputs \['c'\] missing"):
        model.predict({"a": xa})
