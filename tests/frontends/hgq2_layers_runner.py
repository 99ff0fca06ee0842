"""HGQ2 models with the table, pooling and merge layers (standalone `Quantizer`,
`QUnaryFunctionLUT`, `QAveragePooling1D/2D`, `QGlobalAveragePooling1D/2D`, `QAveragePow2`,
`QDot`; HGQ2 0.2.0 has no `QAverage`), run through HGQ2 and hls4ml 1.3 by `hgq2_runner.run` (run with the
HGQ2 peer's python, `KERAS_BACKEND=torch`; not collected by pytest).

Usage: python hgq2_layers_runner.py SPEC.json (the spec of `hgq2_runner.py`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hgq2_runner import SRC, _heterogeneous

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def _models():
    import keras
    from hgq.config import QuantizerConfig
    from hgq.layers import (
        QAveragePooling1D,
        QAveragePooling2D,
        QAveragePow2,
        QConv1D,
        QDense,
        QDot,
        QGlobalAveragePooling1D,
        QGlobalAveragePooling2D,
        QUnaryFunctionLUT,
    )
    from hgq.quantizer import Quantizer

    def layers(rng):
        """Quantizer -> QAveragePooling2D -> QAveragePooling1D -> QAveragePow2 (twice, with a
        QConv1D branch) -> Flatten -> QUnaryFunctionLUT(tanh) -> QDot of two QDense; global
        average poolings of both ranks; all concatenated into a QDense head.
        """
        x = keras.Input((8, 8, 2), name="x")
        q = Quantizer(QuantizerConfig("kif", "datalane", round_mode="RND"), name="q_in")(x)
        h = QAveragePooling2D(2, name="ap2")(q)
        g2 = QGlobalAveragePooling2D(name="gap2")(h)
        h = keras.layers.Reshape((16, 2), name="seq")(h)
        h = QAveragePooling1D(2, name="ap1")(h)
        g1 = QGlobalAveragePooling1D(name="gap1")(h)
        a = QConv1D(2, 1, name="c")(h)
        m = QAveragePow2(name="avg")([h, a])
        m = QAveragePow2(name="avgp2")([m, h])
        flat = keras.layers.Flatten(name="flat")(m)
        # on a rank-2 tensor: hls4ml 1.3 quantises the table with the layer's own output
        # quantiser, which accepts only the (1, N) shape of a flat layer
        t = QUnaryFunctionLUT("tanh", name="lut", allow_heterogeneous_table=False)(flat)
        u = QDense(8, name="du")(t)
        v = QDense(8, name="dv")(t)
        d = QDot(name="dot")([u, v])
        # hls4ml 1.3 concatenates two tensors at a time, and not the (1, c) bits its
        # bit-exact pass gives a 2D global pooling: that one is a second output
        cat = keras.layers.Concatenate
        h = cat(name="cat")([cat(name="cat1")([t, d]), g1])
        model = keras.Model(x, [QDense(5, name="out")(h), g2])
        for layer in model.layers:  # non-zero biases
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(rng.uniform(-1, 1, layer.bias.shape).astype("float32"))
        # random per-element bits; the table's input keeps at most 10 bits (1024 entries)
        _heterogeneous(model, rng, pruned=0.1, skip=("lut",))
        lut_iq = model.get_layer("lut").iq.quantizer  # per element, at most 1 + 3 + 6 bits
        shape = tuple(lut_iq._f.shape)
        lut_iq._f.assign(rng.integers(1, 7, shape).astype("float32"))
        lut_iq._i.assign(rng.integers(0, 4, shape).astype("float32"))
        q_in = model.get_layer("q_in").quantizer
        shape = tuple(q_in._f.shape)
        q_in._f.assign(rng.integers(2, 6, shape).astype("float32"))
        q_in._i.assign(rng.integers(1, 4, shape).astype("float32"))
        return model

    def lut3d(rng):
        """A QUnaryFunctionLUT on a rank-3 input (hls4ml 1.3 cannot convert it: its handler
        quantises the table as a (1, N) tensor with the layer's own output quantiser), then
        a QAveragePooling2D.
        """
        x = keras.Input((4, 4, 2), name="x")
        h = QUnaryFunctionLUT("sigmoid", name="lut", allow_heterogeneous_table=False)(x)
        model = keras.Model(x, QAveragePooling2D(2, name="ap")(h))
        lut_iq = model.get_layer("lut").iq.quantizer
        shape = tuple(lut_iq._f.shape)
        lut_iq._f.assign(rng.integers(1, 6, shape).astype("float32"))
        lut_iq._i.assign(rng.integers(0, 4, shape).astype("float32"))
        return model

    def nested(rng):
        """A Keras Sequential of HGQ2 layers used as a layer of a functional HGQ2 model (a
        nested model: hls4ml 1.3 does not convert it, so hepinfer refuses it).
        """
        del rng
        x = keras.Input((6,), name="x")
        inner = keras.Sequential(
            [keras.Input((8,)), QDense(8, activation="relu", name="n1"), QDense(4, name="n2")],
            name="inner",
        )
        return keras.Model(x, QDense(3, name="n3")(inner(QDense(8, name="n0")(x))))

    return {"layers": layers, "lut3d": lut3d, "nested": nested}


def run(spec, models):
    """`hgq2_runner.run` for models with several outputs: each output flattened, concatenated
    in the model's order.
    """
    import json
    import time

    import hls4ml
    import keras
    import numpy as np

    sys.path.insert(0, str(SRC))
    from hgq2_export import export

    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(int(spec.get("seed", 0)))
    model = models[spec["model"]](np.random.default_rng(int(spec.get("seed", 0))))
    x = np.load(spec["x"]).astype(np.float32)
    np.savez(out / "model.npz", **export(model))

    def flat(ys):
        ys = ys if isinstance(ys, list | tuple) else [ys]
        return np.concatenate([np.asarray(y).reshape(len(x), -1) for y in ys], axis=1)

    np.save(out / "y_keras.npy", flat(model.predict(x, verbose=0)))
    if not spec.get("hls4ml", True):
        return
    try:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
            backend="Vitis",
            io_type="io_parallel",
            output_dir=str(out / "hls4ml_prj"),
            part="xcu250-figd2104-2L-e",
        )
    except Exception as exc:  # a job that expects hls4ml to refuse records why
        if not spec.get("hls4ml_refuses"):
            raise
        (out / "hls4ml_error.txt").write_text(f"{type(exc).__name__}: {exc}")
        return
    if spec.get("hls4ml_refuses"):
        (out / "hls4ml_error.txt").write_text("")  # converted after all: the test says so
        return
    compile_quick(hls_model)
    start = time.perf_counter()
    y = hls_model.predict(x)
    seconds = time.perf_counter() - start
    np.save(out / "y_hls4ml.npy", flat(y))
    (out / "timing.json").write_text(json.dumps({"predict_s": seconds, "n": len(x)}))


if __name__ == "__main__":
    import json

    import torch

    spec = json.loads(Path(sys.argv[1]).read_text())
    models = _models()
    for job in spec["jobs"]:
        # hls4ml 1.3's UnaryLUT handler reads the input quantiser's bits with numpy, which
        # torch refuses on tensors that require grad
        with torch.no_grad():
            run(job, models)
