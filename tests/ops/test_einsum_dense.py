"""EinsumDense: hls4ml 1.3's plan of the equation, float mode equal to Keras, and
bit-exactness with hls4ml 1.3's C simulation at model level and mixed per-layer types (a
kernel axis that is also an output axis: hls4ml's `inplace` groups). HLS C simulation ==
emulator and the estimate: `test_time_distributed.py`, whose project holds this layer too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.ir import Op
from hepinfer.ops.einsum_dense import recipe
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EQUATIONS: list[tuple[str, tuple[int, ...], tuple[int, ...], str | None, tuple[int, ...]]] = [
    # equation, input shape, output shape, bias_axes, kernel shape
    ("abc,cd->abd", (4, 6), (4, 5), "d", (6, 5)),
    ("abc,cde->abde", (4, 6), (4, 3, 2), "de", (6, 3, 2)),
    ("abcd,cde->abe", (3, 4, 5), (3, 2), None, (4, 5, 2)),
    ("abc,bcd->adb", (3, 4), (2, 3), "d", (3, 4, 2)),  # b: inplace (kernel and output)
]
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "ein": {
            "Precision": {
                "weight": "ap_fixed<8,2,AP_RND>",
                "bias": "ap_fixed<10,3>",
                "accum": "ap_fixed<18,6,AP_TRN,AP_SAT>",
                "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            }
        }
    },
}


def layers(index: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    eq, _, out, bias_axes, kshape = EQUATIONS[index]
    weights = [rng.normal(0, 0.6, size=kshape)]
    if bias_axes:
        spec_out = eq.split("->")[1][1:]  # Keras' bias: from the first bias axis on, 1 elsewhere
        first = min(spec_out.index(a) for a in bias_axes)
        bshape = tuple(
            out[k] if spec_out[k] in bias_axes else 1 for k in range(first, len(spec_out))
        )
        weights.append(rng.normal(0, 0.5, size=bshape))
    cfg = {"equation": eq, "output_shape": list(out), "bias_axes": bias_axes, "name": "ein"}
    return [{"class": "EinsumDense", "config": cfg, "weights": weights}]


def test_recipe_is_hls4mls_plan() -> None:
    # hls4ml 1.3's parse_einsum('bc,bcd->db', (3, 4), (3, 4, 2)): inplace b (3 groups),
    # no free data axis, contraction over c (4), kernel axis d (2), output (d, b) from (b, d)
    r = recipe("bc,bcd->db", (3, 4), (3, 4, 2))
    assert (r.inplace, r.free_data, r.contract, r.free_kernel) == (3, 1, 4, 2)
    assert (r.in_perm, r.kernel_perm, r.out_interpret, r.out_perm) == (
        (0, 1),
        (0, 2, 1),
        (3, 2),
        (1, 0),
    )


def test_keras_float_mode_and_refusals(tmp_path: Path) -> None:
    keras = import_keras()
    rng = np.random.default_rng(3)
    for i, (_, shape, *_) in enumerate(EQUATIONS):
        path = keras_file(shape, layers(i, rng), tmp_path / f"e{i}.keras")
        model = hepinfer.compile(path, MODEL_LEVEL)
        assert [n.op for n in model.graph.nodes][-1] is Op.EINSUM_DENSE
        x = rng.normal(0, 1, size=(200, *shape))
        ref = np.asarray(keras.models.load_model(path).predict(x, verbose=0))
        np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)
    inp = keras.Input((4, 6))
    ein = keras.layers.EinsumDense("...c,cd->...d", output_shape=(4, 5), name="dots")
    with pytest.raises(
        FrontendError, match=r"'dots' \(EinsumDense\) with equation '...c,cd->...d'"
    ):
        hepinfer.compile(keras.Model(inp, ein(inp)), MODEL_LEVEL)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(tmp_path: Path, config: dict[str, Any]) -> None:
    spec_ = layers(3, np.random.default_rng(54))
    shape = EQUATIONS[3][1]
    x = np.random.default_rng(9).normal(0, 1.5, size=(2500, *shape))
    theirs, _ = oracle(shape, spec_, x, tmp_path / "h", config)
    model = hepinfer.compile(keras_file(shape, spec_, tmp_path / "e.keras"), config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0


def test_csim_equals_emulator_with_axes_moved_around() -> None:
    """An output transpose that is a 3-cycle ('abc,cd->dab': (a, b, d) -> (d, a, b)), not its
    own inverse: the HLS kernel scatters each result to its output element.
    """
    from hepinfer.frontends.builder import GraphBuilder
    from hepinfer.ir.op import Op
    from hepinfer.ops.einsum_dense import node_data

    rng = np.random.default_rng(0)
    b = GraphBuilder("moved")
    kernel = np.round(rng.normal(size=(4, 5)) * 32) / 32
    attrs, weights = node_data("abc,cd->dab", (2, 3, 4), kernel, None)
    out = b.add("ed", Op.EINSUM_DENSE, [b.input("x", (2, 3, 4))], attrs, weights)
    model = hepinfer.compile(b.build([out]), MODEL_LEVEL)
    x = np.round(rng.uniform(-2, 2, (50, 2, 3, 4)) * 32) / 32
    np.testing.assert_array_equal(np.asarray(model.csim(x)), np.asarray(model.predict(x)))
