"""Dense chains run natively give the bits of the node-by-node numpy run, on real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.emulate import native
from hepinfer.emulate.fuse import dense_chains

TYPES = [
    "ap_fixed<16,6>",
    "ap_fixed<12,4,RND,SAT>",
    "ap_fixed<18,8,RND_CONV,SAT_SYM>",
    "ap_fixed<10,3,RND_ZERO,WRAP>",
    "ap_fixed<24,10,RND_INF,SAT_ZERO>",
    "ap_ufixed<12,5,RND_MIN_INF,SAT>",
    "ap_fixed<20,9,TRN_ZERO,WRAP>",
    "ap_fixed<32,16>",
]


def _random_config(model: hepinfer.CompiledModel, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    layers = {}
    for node in model.graph.nodes:
        if node.op.name in ("DENSE", "RELU", "LINEAR", "INPUT"):
            prec = {v: str(rng.choice(TYPES)) for v in ("weight", "bias", "accum", "result")}
            if node.op.name != "DENSE":
                prec = {"result": prec["result"]}
            layers[node.name] = {"Precision": prec}
    return {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": layers}


MODELS = [
    ("keras", "KERAS_3layer.json"),
    ("keras", "KERAS_3layer_batch_norm.json"),
    ("keras", "KERAS_dense_16x100x100x100x100x100x5.json"),
    ("onnx", "three_layer_pytorch.onnx"),
]


@pytest.mark.skipif(native.library() is None, reason="no C++ compiler here")
@pytest.mark.parametrize(("folder", "name"), MODELS)
def test_native_engine_bit_exact_on_random_configs(
    shared_data: Path, folder: str, name: str
) -> None:
    path = shared_data / "hls4ml-example-models" / folder / name
    x = np.random.default_rng(1).standard_normal((700, 16)) * 3
    base = hepinfer.compile(path)
    if "batch_norm" not in name:  # its BatchNorm stays a node of its own: no chain there
        assert dense_chains(base.graph), "the model should have a Dense chain"
    for seed in range(4):
        model = hepinfer.compile(path, _random_config(base, seed))
        fast = model.predict(x, engine="native")
        slow = model.predict(x, engine="numpy")
        np.testing.assert_array_equal(fast, slow, err_msg=f"seed {seed}")


def test_chains_stop_at_branches_outputs_and_other_ops(shared_data: Path) -> None:
    model = hepinfer.compile(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    chains = dense_chains(model.graph)
    assert list(chains) == ["fc1_relu"]
    names = [n.name for n in chains["fc1_relu"]]
    # the softmax is not part of the chain; every Dense and ReLU before it is
    assert names == [n.name for n in model.graph.nodes[1:-1]]
    # an output in the middle ends the chain there
    cut = model.graph.replace(outputs=("fc2_relu_relu", "output_softmax_softmax"))
    chains = dense_chains(cut)
    assert [n.name for n in chains["fc1_relu"]][-1] == "fc2_relu_relu"
    assert [n.name for n in chains["fc3_relu"]] == ["fc3_relu", "fc3_relu_relu", "output_softmax"]


def test_a_single_dense_is_a_chain_of_one_and_runs_natively(shared_data: Path) -> None:
    model = hepinfer.compile(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    cut = model.graph.replace(outputs=("fc1_relu", "output_softmax_softmax"))
    chains = dense_chains(cut)
    assert [n.name for n in chains["fc1_relu"]] == ["fc1_relu"]
    x = np.random.default_rng(2).standard_normal((300, 16))
    from hepinfer.emulate.fuse import run_chain
    from hepinfer.emulate.run import emulate_fixed
    from hepinfer.knobs import Engine

    slow = emulate_fixed(cut, x, engine=Engine.NUMPY)
    fast = emulate_fixed(cut, x, engine=Engine.AUTO)
    for name in cut.outputs:
        np.testing.assert_array_equal(fast[name].m, slow[name].m)
    if native.library() is not None:
        with native.use_engine(Engine.NATIVE):
            inputs = emulate_fixed(cut.replace(outputs=("input_1",)), x)
            assert run_chain(chains["fc1_relu"], inputs["input_1"]) is not None
