"""Build Brevitas networks, export them to QONNX and run them through Brevitas, QONNX's executor
and hls4ml 1.3 (run with the hls4ml peer's python once Brevitas is added to it, peer
`brevitas`; not collected by pytest).

Usage: python brevitas_runner.py SPEC.json
SPEC: {"out": folder, "n": inputs per model, "models": {NAME: {"configs": {LEVEL: hls4ml
hls_config, ...}, "seed" (optional; default: the model's position in "models")}}}, NAME
among `MODELS`. For each model, in OUT/NAME: model.onnx (Brevitas'
`export_qonnx`, the TorchScript exporter), x.npy (n inputs on a 2**-6 grid), y_torch.npy
(Brevitas' own forward, one batch; its seconds in timing.json), y_qonnx.npy (QONNX 1.0.0's executor on model.onnx), for
the `DYNAMO` networks model_dynamo.onnx (`dynamo=True`); and per LEVEL, in
OUT/NAME/LEVEL, what `onnx_hls4ml_runner.run` writes (clean.onnx: QONNX's clean-up and
channels-last form, y_hls4ml.npy: hls4ml's C simulation, layers.json, timing.json), or
error.txt with hls4ml's error when its conversion fails.

Most networks use power-of-two scales (Brevitas' `*FixedPoint` quantisers and constant
binary scales), which hls4ml 1.3 turns into fixed-point types; the `*_float` ones use
Brevitas' default float-scale quantisers, which it turns into ApplyAlpha scalings. The
scales are calibrated by a few training-mode passes on N(0, 2) data, then frozen (eval mode).
"""

import json
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onnx_hls4ml_runner import rows, run


def _quant():  # type: ignore[no-untyped-def]
    import brevitas.quant as q
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

    return q, Int8WeightPerChannelFixedPoint


def mlp(per_channel: bool = False, bias: bool = True):  # type: ignore[no-untyped-def]
    """QuantIdentity(8) -> QuantLinear(16, 12; 4-bit weights) -> QuantReLU(6) ->
    QuantLinear(12, 8; 4-bit) -> QuantReLU(6) -> QuantLinear(8, 5; 6-bit), float biases
    (`bias`); per-tensor power-of-two weight scales, or one per output channel (`per_channel`).
    """
    import brevitas.nn as qnn
    import torch

    q, per_channel_quant = _quant()
    wq = per_channel_quant if per_channel else q.Int8WeightPerTensorFixedPoint
    act = q.Int8ActPerTensorFixedPoint
    relu = q.Uint8ActPerTensorFixedPoint
    net = torch.nn.Sequential(
        qnn.QuantIdentity(act, bit_width=8, return_quant_tensor=True),
        qnn.QuantLinear(16, 12, bias=bias, weight_quant=wq, weight_bit_width=4),
        qnn.QuantReLU(relu, bit_width=6, return_quant_tensor=True),
        qnn.QuantLinear(12, 8, bias=bias, weight_quant=wq, weight_bit_width=4),
        qnn.QuantReLU(relu, bit_width=6, return_quant_tensor=True),
        qnn.QuantLinear(8, 5, bias=bias, weight_quant=wq, weight_bit_width=6),
    )
    if per_channel:  # rows of three magnitudes: scales 2**-1 apart (else they often agree)
        with torch.no_grad():
            for layer in (net[1], net[3], net[5]):
                rows = torch.arange(layer.weight.shape[0])
                layer.weight.mul_(2.0 ** (rows % 3 - 1.0).unsqueeze(1))
    return net


def cnn():  # type: ignore[no-untyped-def]
    """(2, 8, 8) -> QuantIdentity(8) -> QuantConv2d(4, 3x3, pad 1; 4-bit) -> QuantReLU(6) ->
    MaxPool2d(2) -> QuantConv2d(4, 3x3; 4-bit) -> QuantReLU(6) -> Flatten -> QuantLinear(5; 6-bit).
    """
    import brevitas.nn as qnn
    import torch

    q, _ = _quant()
    wq, relu = q.Int8WeightPerTensorFixedPoint, q.Uint8ActPerTensorFixedPoint
    return torch.nn.Sequential(
        qnn.QuantIdentity(q.Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True),
        qnn.QuantConv2d(2, 4, 3, padding=1, bias=True, weight_quant=wq, weight_bit_width=4),
        qnn.QuantReLU(relu, bit_width=6, return_quant_tensor=True),
        torch.nn.MaxPool2d(2),
        qnn.QuantConv2d(4, 4, 3, bias=True, weight_quant=wq, weight_bit_width=4),
        qnn.QuantReLU(relu, bit_width=6, return_quant_tensor=True),
        torch.nn.Flatten(),
        qnn.QuantLinear(16, 5, bias=True, weight_quant=wq, weight_bit_width=6),
    )


def binary(scale: float = 1.0):  # type: ignore[no-untyped-def]
    """QuantIdentity(8) -> QuantLinear(16, 12; binary weights +-scale) -> QuantIdentity(bipolar
    +-1) -> QuantLinear(12, 5; binary +-scale), no biases: every value is exact in float32.
    """
    import brevitas.nn as qnn
    import torch

    q, _ = _quant()
    wq = q.SignedBinaryWeightPerTensorConst
    return torch.nn.Sequential(
        qnn.QuantIdentity(q.Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True),
        qnn.QuantLinear(16, 12, bias=False, weight_quant=wq, weight_scaling_const=scale),
        qnn.QuantIdentity(q.SignedBinaryActPerTensorConst, return_quant_tensor=True),
        qnn.QuantLinear(12, 5, bias=False, weight_quant=wq, weight_scaling_const=scale),
    )


def cnn_trunc():  # type: ignore[no-untyped-def]
    """(2, 8, 8) -> QuantIdentity(8) -> QuantConv2d(4, 3x3, pad 1; 4-bit) -> QuantHardTanh(6)
    -> TruncAvgPool2d(2; 6 bits: AveragePool then a QONNX Trunc) -> QuantConv2d(4, 3x3, pad 1)
    -> QuantReLU(6) -> Flatten -> QuantLinear(5; 6-bit), no biases.
    """
    import brevitas.nn as qnn
    import torch

    q, _ = _quant()
    wq, act = q.Int8WeightPerTensorFixedPoint, q.Int8ActPerTensorFixedPoint
    return torch.nn.Sequential(
        qnn.QuantIdentity(act, bit_width=8, return_quant_tensor=True),
        qnn.QuantConv2d(2, 4, 3, padding=1, bias=False, weight_quant=wq, weight_bit_width=4),
        qnn.QuantHardTanh(act, bit_width=6, min_val=-1.0, max_val=1.0, return_quant_tensor=True),
        qnn.TruncAvgPool2d(kernel_size=2, stride=2, bit_width=6),
        qnn.QuantConv2d(4, 4, 3, padding=1, bias=False, weight_quant=wq, weight_bit_width=4),
        qnn.QuantReLU(q.Uint8ActPerTensorFixedPoint, bit_width=6, return_quant_tensor=True),
        torch.nn.Flatten(),
        qnn.QuantLinear(64, 5, bias=False, weight_quant=wq, weight_bit_width=6),
    )


def mlp_float(per_channel: bool = False):  # type: ignore[no-untyped-def]
    """Brevitas' default (float-scale) quantisers: QuantIdentity (Int8ActPerTensorFloat) ->
    QuantLinear(16, 12; Int8WeightPerTensorFloat, or Int8WeightPerChannelFloat with
    `per_channel`) -> QuantReLU (Uint8ActPerTensorFloat) -> QuantLinear(12, 8) -> QuantReLU ->
    QuantLinear(8, 5), float biases; 8-bit activations (the default) and 6-bit weights (with
    8, a weight scale near max|w| / 127 ~ 0.002 keeps 2 bits in ap_fixed<16,6> or none).
    """
    import brevitas.nn as qnn
    import brevitas.quant as q
    import torch

    wq = q.Int8WeightPerChannelFloat if per_channel else q.Int8WeightPerTensorFloat
    return torch.nn.Sequential(
        qnn.QuantIdentity(return_quant_tensor=True),
        qnn.QuantLinear(16, 12, bias=True, weight_quant=wq, weight_bit_width=6),
        qnn.QuantReLU(return_quant_tensor=True),
        qnn.QuantLinear(12, 8, bias=True, weight_quant=wq, weight_bit_width=6),
        qnn.QuantReLU(return_quant_tensor=True),
        qnn.QuantLinear(8, 5, bias=True, weight_quant=wq, weight_bit_width=6),
    )


def cnn_float():  # type: ignore[no-untyped-def]
    """`cnn` with Brevitas' default quantisers (float scales; 8-bit activations, 6-bit
    weights as in `mlp_float`): QuantIdentity ->
    QuantConv2d(4, 3x3, pad 1) -> QuantReLU -> MaxPool2d(2) -> QuantConv2d(4, 3x3) -> QuantReLU
    -> Flatten -> QuantLinear(5), float biases.
    """
    import brevitas.nn as qnn
    import torch

    return torch.nn.Sequential(
        qnn.QuantIdentity(return_quant_tensor=True),
        qnn.QuantConv2d(2, 4, 3, padding=1, bias=True, weight_bit_width=6),
        qnn.QuantReLU(return_quant_tensor=True),
        torch.nn.MaxPool2d(2),
        qnn.QuantConv2d(4, 4, 3, bias=True, weight_bit_width=6),
        qnn.QuantReLU(return_quant_tensor=True),
        torch.nn.Flatten(),
        qnn.QuantLinear(16, 5, bias=True, weight_bit_width=6),
    )


def mlp_zero_point():  # type: ignore[no-untyped-def]
    """Asymmetric and per-channel activation quantisers (Brevitas' float scales):
    QuantIdentity (ShiftedUint8ActPerTensorFloat: a zero point) -> QuantLinear(16, 12) ->
    QuantReLU (Uint8ActPerTensorFloat, one scale per channel) -> QuantLinear(12, 8) ->
    QuantIdentity (Int8ActPerTensorFloat, one scale per channel) -> QuantLinear(8, 5), 6-bit
    Int8WeightPerTensorFloat weights, float biases. (hls4ml 1.3 fails on a zero point on
    weights, ShiftedUint8WeightPerTensorFloat: IndexError after its rescale stays on the
    weights.) The quantisers return plain tensors (Brevitas 0.13
    cannot propagate a per-channel QuantTensor through a QuantLinear); the export is the same.
    """
    import brevitas.nn as qnn
    import brevitas.quant as q
    import torch

    wq = q.Int8WeightPerTensorFloat

    def per_channel(n: int) -> dict:  # type: ignore[type-arg]
        return {
            "scaling_per_output_channel": True,
            "per_channel_broadcastable_shape": (1, n),
            "scaling_stats_permute_dims": (1, 0),
        }

    return torch.nn.Sequential(
        qnn.QuantIdentity(q.ShiftedUint8ActPerTensorFloat),
        qnn.QuantLinear(16, 12, bias=True, weight_quant=wq, weight_bit_width=6),
        qnn.QuantReLU(q.Uint8ActPerTensorFloat, **per_channel(12)),
        qnn.QuantLinear(12, 8, bias=True, weight_quant=wq, weight_bit_width=6),
        qnn.QuantIdentity(q.Int8ActPerTensorFloat, **per_channel(8)),
        qnn.QuantLinear(8, 5, bias=True, weight_quant=wq, weight_bit_width=6),
    )


def qonnx_zero_point():  # type: ignore[no-untyped-def]
    """A QONNX graph written with onnx.helper (no Brevitas): x (8) -> Quant (8 bits signed,
    one float scale and one zero point per channel, shapes (8,)) -> MatMul (8, 6; weights
    through a 6-bit narrow Quant of one float scale) -> Add (bias) -> Relu -> Quant (6 bits
    unsigned, scale 0.0731, zero point 5, FLOOR) -> MatMul (6, 4; 6-bit weights).
    """
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(21)
    f32 = np.float32
    inits = {
        "s0": (0.02 + 0.05 * rng.random(8)).astype(f32),
        "z0": rng.integers(-20, 21, 8).astype(f32),
        "b8": np.array(8.0, f32),
        "b6": np.array(6.0, f32),
        "w0": (rng.normal(size=(8, 6)) * 0.3).astype(f32),
        "sw0": np.array(0.0113, f32),
        "z": np.array(0.0, f32),
        "bias": (rng.normal(size=6) * 0.2).astype(f32),
        "s1": np.array(0.0731, f32),
        "z1": np.array(5.0, f32),
        "w1": (rng.normal(size=(6, 4)) * 0.3).astype(f32),
        "sw1": np.array(0.0094, f32),
    }

    def quant(ins: list[str], out: str, **attrs: object) -> onnx.NodeProto:
        return helper.make_node("Quant", ins, [out], domain="qonnx.custom_op.general", **attrs)

    nodes = [
        quant(["x", "s0", "z0", "b8"], "q0", signed=1, narrow=0, rounding_mode="ROUND"),
        quant(["w0", "sw0", "z", "b6"], "qw0", signed=1, narrow=1, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["q0", "qw0"], ["m0"]),
        helper.make_node("Add", ["m0", "bias"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["r0"]),
        quant(["r0", "s1", "z1", "b6"], "q1", signed=0, narrow=0, rounding_mode="FLOOR"),
        quant(["w1", "sw1", "z", "b6"], "qw1", signed=1, narrow=1, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["q1", "qw1"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qonnx_zero_point",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    opset = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    return helper.make_model(graph, opset_imports=opset)


def for_hls4ml(path: Path, out: Path) -> None:
    """The model with every (1, C) scale and zero point of a Quant written as (C,): hls4ml
    1.3's `QuantToActivation.match` takes `scale[0]` as the one scale and fails on a row
    ("truth value of an array ... is ambiguous"); a (C,) scale goes to its ApplyAlpha path.
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    for node in proto.graph.node:
        for name in node.input[1:3] if node.op_type == "Quant" else []:
            a = numpy_helper.to_array(inits[name]) if name in inits else None
            if a is not None and a.ndim == 2 and a.shape[0] == 1:
                inits[name].CopyFrom(numpy_helper.from_array(a.reshape(-1), name))
    del proto.graph.value_info[:]
    onnx.save(proto, str(out))


#: name -> (builder, input shape without the batch)
MODELS = {
    "mlp": (mlp, (16,)),
    "cnn": (cnn, (2, 8, 8)),
    "binary": (binary, (16,)),
    "binary_half": (lambda: binary(0.5), (16,)),
    "per_channel": (lambda: mlp(per_channel=True, bias=False), (16,)),
    "cnn_trunc": (cnn_trunc, (2, 8, 8)),
    "mlp_float": (mlp_float, (16,)),
    "cnn_float": (cnn_float, (2, 8, 8)),
    "per_channel_float": (lambda: mlp_float(per_channel=True), (16,)),
    "zero_point": (mlp_zero_point, (16,)),
    "qonnx_zero_point": (qonnx_zero_point, (8,)),
}
#: hls4ml 1.3 converts these with every (1, C) Quant scale / zero point written as (C,)
#: (`for_hls4ml`), except at the level "exported" (the export as Brevitas writes it)
SQUEEZE = {"zero_point"}
#: also exported with the dynamo exporter (`dynamo=True`, torch's default from 2.9):
#: OUT/NAME/model_dynamo.onnx
DYNAMO = {"zero_point"}


def qonnx_float(path: str, x: np.ndarray) -> np.ndarray:
    """The model's output on `x` from QONNX's executor, in one run: QONNX's clean-up first
    (Brevitas exports the weights as graph inputs too), then the batch axis of the data input
    and the outputs resized and the stale shapes dropped.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(path))
    graph = model.model.graph
    for value in (graph.input[0], *graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = len(x)
    del graph.value_info[:]
    model = cleanup_model(model)
    outs = execute_onnx(model, {model.graph.input[0].name: x})
    return rows([outs[o.name] for o in model.graph.output], len(x))


def build(name: str, out: Path, n: int, seed: int) -> None:
    """Write the exported model, the inputs, Brevitas' and QONNX's outputs (a model written
    with onnx.helper: y_torch.npy is QONNX's executor too).
    """
    import onnx
    import torch
    from brevitas.export import export_qonnx

    make, shape = MODELS[name]
    torch.manual_seed(seed)
    model = make()
    rng = np.random.default_rng(seed)
    x = (np.round(rng.normal(0.0, 2.0, (n, *shape)) * 64) / 64).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "x.npy", x)
    if isinstance(model, onnx.ModelProto):
        onnx.save(model, str(out / "model.onnx"))
        start = time.perf_counter()
        y_qonnx = qonnx_float(str(out / "model.onnx"), x)
        seconds = time.perf_counter() - start  # (QONNX's executor in place of Brevitas)
        np.save(out / "y_qonnx.npy", y_qonnx)
        np.save(out / "y_torch.npy", y_qonnx)
        (out / "timing.json").write_text(json.dumps({"brevitas_forward_s": seconds, "n": n}))
        return
    with torch.no_grad():
        model.train()
        for _ in range(4):  # the activation scales' statistics
            model(torch.from_numpy(x[:500]))
        model.eval()
        start = time.perf_counter()
        y = model(torch.from_numpy(x))
        forward_s = time.perf_counter() - start
    np.save(out / "y_torch.npy", np.asarray(y, dtype=np.float64).reshape(n, -1))
    (out / "timing.json").write_text(json.dumps({"brevitas_forward_s": forward_s, "n": n}))
    export_qonnx(model, torch.zeros(1, *shape), export_path=str(out / "model.onnx"), dynamo=False)
    np.save(out / "y_qonnx.npy", qonnx_float(str(out / "model.onnx"), x))
    if name in DYNAMO:  # torch.export's exporter too (1.8 s of CPU here)
        dynamo = out / "model_dynamo.onnx"
        export_qonnx(model, torch.zeros(1, *shape), export_path=str(dynamo), dynamo=True)


def main() -> int:
    warnings.filterwarnings("ignore")
    spec = json.loads(Path(sys.argv[1]).read_text())
    root = Path(spec["out"])
    for seed, (name, job) in enumerate(spec["models"].items()):
        out = root / name
        build(name, out, int(spec["n"]), int(job.get("seed", seed)))
        source = out / "model.onnx"
        if name in SQUEEZE:
            source = out / "model_hls4ml.onnx"
            for_hls4ml(out / "model.onnx", source)
        for level, config in job.get("configs", {}).items():
            onnx_file = out / "model.onnx" if level == "exported" else source
            target = {"onnx": str(onnx_file), "x": str(out / "x.npy")}
            target |= {"out": str(out / level), "config": config}
            try:
                run(target)
            except Exception:  # hls4ml's refusal is a result here  # noqa: BLE001
                (out / level).mkdir(parents=True, exist_ok=True)
                (out / level / "error.txt").write_text(traceback.format_exc())
    return 0


if __name__ == "__main__":
    sys.exit(main())
