"""The compiled plan (native programs bound once per graph) gives the numpy emulator's bits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.emulate import native
from hepinfer.emulate.plan import Plan, Segment, plan_for
from hepinfer.emulate.run import emulate, emulate_fixed
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.knobs import Engine

pytestmark = pytest.mark.skipif(native.library() is None, reason="no C++ compiler here")

BATCHES = (1, 3, 9, 32, 70)  # one row, short tails row by row, a padded tile, whole tiles


def _type(rng: np.random.Generator, quant: Quant, over: Overflow, max_width: int = 20) -> str:
    width = int(rng.integers(3, max_width + 1))
    integer = int(rng.integers(-2, width + 3))
    signed = rng.random() < 0.8
    name = "ap_fixed" if signed else "ap_ufixed"
    return f"{name}<{width},{integer},{quant.value},{over.value}>"


def _any_type(rng: np.random.Generator, max_width: int = 20) -> str:
    quant = list(Quant)[int(rng.integers(len(Quant)))]
    over = list(Overflow)[int(rng.integers(len(Overflow)))]
    return _type(rng, quant, over, max_width)


def _mlp(rng: np.random.Generator, softmax: str) -> Graph:
    """Input -> Dense -> ReLU -> Dense -> Linear -> Dense -> Softmax (random weights)."""
    b = GraphBuilder("mlp")
    dims = [int(v) for v in rng.integers(1, 12, size=4)]
    y = b.input("x", (dims[0],))
    for i, op in enumerate((Op.RELU, Op.LINEAR, None)):
        w = {
            "kernel": np.round(rng.normal(size=(dims[i], dims[i + 1])) * 32) / 32,
            "bias": np.round(rng.normal(size=dims[i + 1]) * 32) / 32,
        }
        y = b.add(f"dense{i}", Op.DENSE, [y], weights=w)
        if op is not None:
            y = b.add(f"act{i}", op, [y])
    return b.build([b.add("softmax", Op.SOFTMAX, [y], {"implementation": softmax})])


def _convnet(rng: np.random.Generator, rank: int) -> Graph:
    """Input -> Conv -> ReLU -> Conv -> Flatten -> Dense -> Softmax, random geometry."""
    b = GraphBuilder(f"conv{rank}d")
    spatial = tuple(int(v) for v in rng.integers(3, 9, size=rank))
    y = b.input("x", (*spatial, int(rng.integers(1, 4))))
    for i in range(2):
        shape = b.shape(y)
        k = tuple(int(v) for v in rng.integers(1, 4, size=rank))
        dil = tuple(int(v) for v in rng.integers(1, 3, size=rank))
        k = tuple(max(1, min(k[j], (shape[j] - 1) // dil[j] + 1)) for j in range(rank))
        kernel = np.round(rng.normal(size=(*k, shape[-1], int(rng.integers(1, 5)))) * 16) / 16
        attrs = {
            "pads": tuple(int(v) for v in rng.integers(0, 2, size=2 * rank)),
            "strides": tuple(int(v) for v in rng.integers(1, 3, size=rank)),
            "dilations": dil,
        }
        weights = {"kernel": kernel, "bias": np.round(rng.normal(size=kernel.shape[-1]) * 16) / 16}
        y = b.add(f"conv{i}", Op.CONV1D if rank == 1 else Op.CONV2D, [y], attrs, weights)
        if i == 0:
            y = b.add("act0", Op.RELU, [y])
    y = b.add("flat", Op.FLATTEN, [y])
    n = b.shape(y)[0]
    w = {"kernel": np.round(rng.normal(size=(n, 4)) * 16) / 16, "bias": np.zeros(4)}
    y = b.add("dense2", Op.DENSE, [y], weights=w)
    return b.build([b.add("softmax", Op.SOFTMAX, [y])])


def _config(graph: Graph, rng: np.random.Generator, quant: Quant, over: Overflow) -> dict[str, Any]:
    layers: dict[str, Any] = {}
    for node in graph.nodes:
        prec = {"result": _type(rng, quant, over)}
        if node.op in (Op.DENSE, Op.CONV1D, Op.CONV2D):
            prec |= {"weight": _any_type(rng, 14), "bias": _any_type(rng, 14)}
            prec["accum"] = _type(rng, quant, over, 40)
        if node.op is Op.SOFTMAX:
            prec |= {"table": _type(rng, quant, over, 18), "accum": _type(rng, quant, over, 24)}
        layers[node.name] = {"Precision": prec}
    return {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": layers}


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], size: int) -> np.ndarray:
    x = rng.standard_normal((size, *shape)) * float(rng.choice([0.5, 4.0, 100.0]))
    x[rng.random(x.shape) < 0.1] = 0.0
    special = [np.nan, np.inf, -np.inf, 1e300, -1e300, -1e-300, 0.5, -0.5, 2.5, -2.5]
    flat = x.reshape(-1)
    picks = rng.integers(0, flat.size, size=min(len(special), flat.size // 4))
    flat[picks] = special[: len(picks)]
    return x


@pytest.mark.parametrize("over", list(Overflow))
@pytest.mark.parametrize("quant", list(Quant))
def test_random_types_every_mode_bit_exact(quant: Quant, over: Overflow) -> None:
    rng = np.random.default_rng([list(Quant).index(quant), list(Overflow).index(over), 15])
    single = conv_single = 0
    for case in range(8):
        if case < 4:
            graph = _mlp(rng, "stable" if case % 2 == 0 else "latency")
        else:
            graph = _convnet(rng, 1 + case % 2)
        model = hepinfer.compile(graph, _config(graph, rng, quant, over))
        plan = Plan(model.graph)
        single += plan.single is not None
        conv_single += case >= 4 and plan.single is not None
        x = _inputs(rng, graph.inputs[0].out.shape, max(BATCHES))
        want = emulate(model.graph, x, engine=Engine.NUMPY)["softmax"]
        for batch in BATCHES:
            got = plan.run(x[:batch])["softmax"]
            np.testing.assert_array_equal(got, want[:batch], err_msg=f"case {case} batch {batch}")
            fixed = plan.run_fixed(x[:batch])["softmax"]
            np.testing.assert_array_equal(fixed.to_float(), want[:batch])
    assert single >= 4, "most random graphs should be one native program"
    assert conv_single >= 2, "convolutions should run in the native program"


@pytest.mark.parametrize("over", list(Overflow))
@pytest.mark.parametrize("quant", list(Quant))
def test_input_cast_of_special_values(quant: Quant, over: Overflow) -> None:
    """The native float -> fixed cast of the graph input equals `FixedType.to_mantissa`."""
    rng = np.random.default_rng([list(Quant).index(quant), list(Overflow).index(over)])
    values = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-300, -1e-300, 5e-324]
    values += [k / 8 for k in range(-40, 41)] + list(rng.standard_normal(200) * 50)
    x = np.array(values)[:, None]
    for _ in range(8):
        t = FixedType.parse(_type(rng, quant, over, 53))
        b = GraphBuilder("cast")
        y = b.input("x", (1,))
        graph = b.build([b.add("out", Op.LINEAR, [y])])
        config = {
            "LayerName": {
                "x": {"Precision": {"result": str(t)}},
                "out": {"Precision": {"result": str(t)}},
            }
        }
        model = hepinfer.compile(graph, config)
        plan = Plan(model.graph)
        assert plan.single is not None, t
        got = plan.run(x)["out"][:, 0]
        np.testing.assert_array_equal(got, t.from_mantissa(t.to_mantissa(x[:, 0])), err_msg=str(t))


def test_unsupported_nodes_split_the_graph_and_keep_the_bits() -> None:
    """A node without a native step (ELU) runs in numpy between two native programs."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("split")
    y = b.input("x", (6,))
    w = {"kernel": rng.normal(size=(6, 4)), "bias": rng.normal(size=4)}
    y = b.add("d0", Op.DENSE, [y], weights=w)
    y = b.add("elu", Op.ELU, [y])
    y = b.add("d1", Op.DENSE, [y], weights={"kernel": rng.normal(size=(4, 3)), "bias": np.zeros(3)})
    y = b.add("relu", Op.RELU, [y])
    model = hepinfer.compile(b.build([y]))
    plan = Plan(model.graph)
    kinds = [type(item).__name__ for item in plan.items]
    assert kinds == ["Segment", "Node", "Segment"]
    assert plan.single is None
    x = rng.standard_normal((50, 6)) * 3
    np.testing.assert_array_equal(
        model.predict(x), model.predict(x, engine="numpy"), err_msg=str(kinds)
    )


def test_outputs_in_the_middle_end_a_program() -> None:
    rng = np.random.default_rng(6)
    graph = _mlp(rng, "stable")
    model = hepinfer.compile(graph.replace(outputs=("act0", "softmax")))
    plan = Plan(model.graph)
    assert all(isinstance(item, Segment) for item in plan.items)
    assert [item.nodes[-1].name for item in plan.items if isinstance(item, Segment)] == [
        "act0",
        "softmax",
    ]
    x = rng.standard_normal((40, graph.inputs[0].out.shape[0]))
    fast = emulate_fixed(model.graph, x, engine=Engine.NATIVE)
    slow = emulate_fixed(model.graph, x, engine=Engine.NUMPY)
    for name in ("act0", "softmax"):
        np.testing.assert_array_equal(fast[name].m, slow[name].m)
        assert fast[name].t == slow[name].t


def test_the_plan_is_bound_once_per_graph_and_not_for_numpy(shared_data: Path) -> None:
    path = shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    model = hepinfer.compile(path)
    x = np.random.default_rng(0).standard_normal((5, 16))
    first = model.predict(x[0])  # a single sample without its batch axis
    assert first.shape == (1, 5)
    plan = plan_for(model.graph)
    assert plan is not None
    assert plan_for(model.graph) is plan
    assert plan.single is not None, "the jet tagger is one native program"
    with native.use_engine(Engine.NUMPY):
        assert plan_for(model.graph) is None
    np.testing.assert_array_equal(model.predict(x), model.predict(x, engine="numpy"))
    np.testing.assert_array_equal(model.predict(x[:1]), model.predict(x[:1], engine="numpy"))
    # inputs that need binding (a list, float32, non-contiguous) take the same path
    np.testing.assert_array_equal(model.predict(x.tolist()), model.predict(x, engine="numpy"))
    np.testing.assert_array_equal(
        model.predict(np.asfortranarray(x.astype(np.float32))),
        model.predict(x.astype(np.float32), engine="numpy"),
    )
    with pytest.raises(hepinfer.HepinferError, match="expected"):
        model.predict(np.zeros((2, 15)))


def _narrow_type(rng: np.random.Generator, quant: Quant) -> str:
    width = int(rng.integers(4, 17))
    return f"ap_fixed<{width},{int(rng.integers(1, width))},{quant.value},{Overflow.WRAP.value}>"


@pytest.mark.parametrize("quant", [Quant.TRN, Quant.RND])
def test_int16_lane_programs_bit_exact(quant: Quant) -> None:
    """Dense chains in int16 lanes inside a program (int16 values passed from layer to layer,
    the wrap and ReLU in the lanes where the casts are identities, other casts in int64):
    random result / activation types of every mode, batches 1, 7, 1024, 1025.
    """
    rng = np.random.default_rng([23, list(Quant).index(quant)])
    narrow = 0
    for case in range(6):
        graph = _mlp(rng, "stable" if case % 2 == 0 else "latency")
        layers: dict[str, Any] = {}
        for node in graph.nodes:
            if node.op is Op.DENSE:
                t = _narrow_type(rng, quant)
                # half the cases: result and activation types equal to the accumulator's
                result = t if case % 2 == 0 else _any_type(rng, 16)
                prec = {"weight": _narrow_type(rng, Quant.RND), "bias": t, "accum": t}
                layers[node.name] = {"Precision": {**prec, "result": result}}
                act = node.name.replace("dense", "act")
                if any(n.name == act for n in graph.nodes):
                    layers[act] = {"Precision": {"result": result}}
        layers["x"] = {"Precision": {"result": _narrow_type(rng, Quant.TRN)}}
        model = hepinfer.compile(
            graph, {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": layers}
        )
        plan = Plan(model.graph)
        assert plan.single is not None
        narrow += sum(s.row[0] == 1 and s.row[5] == 16 for s in plan.single[0].steps)
        x = rng.standard_normal((1025, graph.inputs[0].out.shape[0])) * 4
        want = emulate(model.graph, x, engine=Engine.NUMPY)["softmax"]
        for batch in (1, 7, 1024, 1025):
            np.testing.assert_array_equal(plan.run(x[:batch])["softmax"], want[:batch])
    assert narrow >= 12, "most Dense steps should run in int16 lanes"


@pytest.mark.parametrize("over", [Overflow.WRAP, Overflow.SAT, Overflow.SAT_SYM])
@pytest.mark.parametrize("quant", [Quant.TRN, Quant.RND_CONV])
def test_input_cast_of_finite_values(quant: Quant, over: Overflow) -> None:
    """The vectorised float -> fixed input cast (finite values, TRN / RND_CONV, WRAP / SAT)."""
    rng = np.random.default_rng([list(Quant).index(quant), list(Overflow).index(over), 3])
    ties = [k / 8 for k in range(-40, 41)] + [-(2.0**61), 2.0**61 - 1024, 1e15, -1e15]
    for _ in range(6):
        t = FixedType.parse(_type(rng, quant, over, 40))
        if t.frac < 0:
            continue
        x = np.array(ties + list(rng.standard_normal(300) * float(rng.choice([1.0, 1e3, 1e9]))))
        b = GraphBuilder("cast")
        y = b.input("x", (1,))
        graph = b.build([b.add("out", Op.LINEAR, [y])])
        config = {
            "LayerName": {
                "x": {"Precision": {"result": str(t)}},
                "out": {"Precision": {"result": str(t)}},
            }
        }
        plan = Plan(hepinfer.compile(graph, config).graph)
        got = plan.run(x[:, None])["out"][:, 0]
        np.testing.assert_array_equal(got, t.from_mantissa(t.to_mantissa(x)), err_msg=str(t))


TABLE_OPS = (Op.SIGMOID, Op.TANH, Op.SOFTPLUS, Op.SOFTSIGN)


def _scale_shift_net(rng: np.random.Generator) -> Graph:
    """Input -> BatchNorm -> table act -> Dense -> BatchNorm -> table act (random weights)."""
    b = GraphBuilder("bn_lut")
    n, m = (int(v) for v in rng.integers(1, 9, size=2))
    y = b.input("x", (n,))
    acts = [TABLE_OPS[int(i)] for i in rng.integers(len(TABLE_OPS), size=2)]
    for i, (width, act) in enumerate(zip((n, m), acts, strict=True)):
        if i == 1:
            w = {"kernel": rng.normal(size=(n, m)), "bias": rng.normal(size=m)}
            y = b.add("dense", Op.DENSE, [y], weights=w)
        scale = rng.normal(size=width) * float(rng.choice([0.1, 1.0, 8.0]))
        w = {"scale": scale, "bias": rng.normal(size=width) * 2}
        y = b.add(f"bn{i}", Op.BATCHNORM, [y], weights=w)
        attrs = {"table_size": int(rng.choice([256, 1024, 4096]))}
        y = b.add(f"act{i}", act, [y], attrs)
    return b.build([y])


@pytest.mark.parametrize("over", list(Overflow))
@pytest.mark.parametrize("quant", list(Quant))
def test_batchnorm_and_table_activations_bit_exact(quant: Quant, over: Overflow) -> None:
    """BatchNorm (scale and shift) and the table activations (sigmoid, tanh, softplus,
    softsign) as native steps: random result, weight, bias and table types of every mode,
    batches 1 and 1,025, bit for bit the numpy engine's; the graphs are one program.
    """
    rng = np.random.default_rng([list(Quant).index(quant), list(Overflow).index(over), 115])
    single = 0
    for case in range(2):
        graph = _scale_shift_net(rng)
        layers: dict[str, Any] = {}
        for node in graph.nodes:
            prec: dict[str, str] = {"result": _type(rng, quant, over)}
            if node.op in (Op.BATCHNORM, Op.DENSE):
                prec |= {"weight": _type(rng, quant, over, 14), "bias": _any_type(rng, 14)}
            if node.op is Op.DENSE:
                prec["accum"] = _type(rng, quant, over, 32)
            if node.op in TABLE_OPS:
                prec["table"] = _type(rng, quant, over, 18)
            layers[node.name] = {"Precision": prec}
        config = {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": layers}
        model = hepinfer.compile(graph, config)
        plan = Plan(model.graph)
        single += plan.single is not None
        x = _inputs(rng, graph.inputs[0].out.shape, 1025)
        want = emulate_fixed(model.graph, x, engine=Engine.NUMPY)["act1"]
        for batch in (1, 1025):
            got = plan.run_fixed(x[:batch])["act1"]
            np.testing.assert_array_equal(got.m, want.m[:batch], err_msg=f"case {case} {batch}")
            assert got.t == want.t
            fl = plan.run(x[:batch])["act1"]
            np.testing.assert_array_equal(fl, want.to_float()[:batch], err_msg=f"case {case}")
    assert single >= 1, "BatchNorm and table activations should run in the native program"


@pytest.mark.parametrize(
    "name",
    ["keras/KERAS_1layer.json", "keras/KERAS_3layer_batch_norm.json", "onnx/two_layer_keras.onnx"],
)
def test_shared_models_with_batchnorm_and_sigmoid_are_one_program(
    shared_data: Path, name: str
) -> None:
    """The shared examples with a sigmoid output or BatchNorm layers: no node falls back to
    numpy, and one sample per call gives the numpy engine's bits.
    """
    path = shared_data / "hls4ml-example-models" / name
    model = hepinfer.compile(path)
    assert model.plan_fallbacks() == []
    plan = plan_for(model.graph)
    assert plan is not None
    assert plan.single is not None
    x = np.random.default_rng(2).standard_normal((1025, *model.graph.inputs[0].out.shape)) * 2
    want = model.predict(x, engine="numpy")
    np.testing.assert_array_equal(model.predict(x), want)
    np.testing.assert_array_equal(model.predict(x[:1]), want[:1])
    with native.use_engine(Engine.NUMPY):
        assert model.plan_fallbacks() is None


def test_batchnorm_and_tables_too_wide_for_the_kernel_fall_back() -> None:
    """A BatchNorm whose sum, shifted to the result's fractional bits, may pass 62 bits and a
    table whose index may: the plan leaves them to numpy (listed in `fallbacks`), and the
    bits stay the numpy engine's.
    """
    rng = np.random.default_rng(9)
    b = GraphBuilder("wide")
    y = b.input("x", (3,))
    w = {"scale": np.array([7.9, -7.5, 3.0]), "bias": rng.normal(size=3)}
    y = b.add("bn", Op.BATCHNORM, [y], weights=w)
    y = b.add("sig", Op.SIGMOID, [y])
    wide, narrow = "ap_fixed<40,20>", "ap_fixed<12,4>"
    layers = {
        "x": {"Precision": {"result": wide}},
        "bn": {"Precision": {"result": "ap_fixed<58,10>", "weight": "ap_fixed<24,4>"}},
        "sig": {"Precision": {"result": narrow}},
    }
    model = hepinfer.compile(b.build([y]), {"Model": {"Precision": wide}, "LayerName": layers})
    plan = Plan(model.graph)
    assert [n.name for n in plan.fallbacks] == ["bn", "sig"]
    x = rng.standard_normal((40, 3)) * 100
    np.testing.assert_array_equal(
        plan.run(x)["sig"], emulate(model.graph, x, engine="numpy")["sig"]
    )


def _quantizer_net(rng: np.random.Generator, rnd: str, sat: str) -> Graph:
    """Input -> per-element FixedPointQuantizer -> Dense -> ReLU -> FixedPointQuantizer ->
    UnaryLUT, the quantisers with random (k, i, f) per element (some pruned), as HGQ2 models
    have them, the table indexed at 2 fractional bits.
    """
    b = GraphBuilder("fpq")
    n, m = (int(v) for v in rng.integers(2, 9, size=2))
    y = b.input("x", (n,))
    for i, width in enumerate((n, m)):
        if i == 1:
            w = {"kernel": rng.normal(size=(n, m)), "bias": rng.normal(size=m)}
            y = b.add("relu", Op.RELU, [b.add("dense", Op.DENSE, [y], weights=w)])
        k = rng.integers(0, 2, width)
        bits = rng.integers(-2, 5, width)
        f = np.where(rng.random(width) < 0.2, -bits - k, rng.integers(-1, 7, width))
        kif = {"k": k, "i": bits, "f": f}
        y = b.add(f"q{i}", Op.FIXED_POINT_QUANTIZER, [y], {"round": rnd, "overflow": sat}, kif)
    table = {"table": np.round(rng.normal(size=64) * 16) / 16}
    return b.build([b.add("lut", Op.UNARY_LUT, [y], {"index_frac": 2}, table)])


@pytest.mark.parametrize("sat", ["WRAP", "SAT", "SAT_SYM"])
@pytest.mark.parametrize("rnd", ["TRN", "RND"])
def test_fixed_point_quantizers_bit_exact(rnd: str, sat: str) -> None:
    """HGQ2's per-element quantisers and a table on their values as native steps: random
    per-element types (pruned elements, negative integer and fractional bits), batches 1
    and 1,025, bit for bit the numpy engine's; the graphs are one program.
    """
    rng = np.random.default_rng([["TRN", "RND"].index(rnd), len(sat), 131])
    for case in range(2):
        model = hepinfer.compile(
            _quantizer_net(rng, rnd, sat), {"Model": {"Precision": "ap_fixed<12,4>"}}
        )
        plan = Plan(model.graph)
        assert plan.single is not None
        x = _inputs(rng, model.graph.inputs[0].out.shape, 1025)
        want = emulate_fixed(model.graph, x, engine=Engine.NUMPY)["lut"]
        assert len(np.unique(want.m)) > 3
        for batch in (1, 1025):
            got = plan.run_fixed(x[:batch])["lut"]
            np.testing.assert_array_equal(got.m, want.m[:batch], err_msg=f"case {case} {batch}")
            assert got.t == want.t
