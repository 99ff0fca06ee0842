"""Build HGQ2 models and run them through HGQ2 (Keras 3) and hls4ml 1.3 (run with the HGQ2
peer's python, `KERAS_BACKEND=torch`, not collected by pytest).

Usage: python hgq2_runner.py SPEC.json
SPEC: {"jobs": [{"model": a name of MODELS, "seed", "x" (.npy inputs), "out" (folder),
"io_type" (default io_parallel), "hls4ml" (default true)}, ...]}
Writes to each "out": model.npz (`hepinfer.frontends.hgq2_export.export`, what hepinfer
converts), y_keras.npy (HGQ2's own output), y_hls4ml.npy (hls4ml's C simulation at model
precision ap_fixed<16,6>, which its bit-exact flow overrides) and timing.json (seconds of
hls4ml's predict()); with "hls4ml": false only the first two.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick

SRC = Path(__file__).resolve().parents[2] / "src" / "hepinfer" / "frontends"


def _attention_classes():
    """HGQ2 0.2.0's QMultiHeadAttention and QLinformerAttention, their modules renamed to the
    ones hls4ml 1.3's handlers name (`hgq.layers.multi_head_attention`,
    `hgq.layers.linformer_attention`; HGQ2 0.2.0 keeps them in `hgq.layers.attn`), so that
    hls4ml converts them with those handlers.
    """
    from hgq.layers import QLinformerAttention, QMultiHeadAttention

    QMultiHeadAttention.__module__ = "hgq.layers.multi_head_attention"
    QLinformerAttention.__module__ = "hgq.layers.linformer_attention"
    return QMultiHeadAttention, QLinformerAttention


def _heterogeneous(model, rng, pruned=0.1, skip=(), layers=None):
    """Random per-element bits on every quantiser of the layers not in `skip` (HGQ2 trains
    them; these are untrained): datalane f in 1..6, i in 0..3 (some elements pruned: no bits
    at all), kernel b in 2..8.
    """
    for layer in model.layers if layers is None else layers:
        if layer.name in skip:
            continue
        for attr in ("_iq", "_oq"):
            q = getattr(layer, attr, None)
            if q is None or not getattr(layer, "_enable" + attr, False):
                continue
            for one in [q] if hasattr(q, "quantizer") else list(q):
                inner = one.quantizer
                shape = tuple(inner._f.shape)
                f = rng.integers(1, 7, shape).astype("float32")
                i = rng.integers(0, 4, shape).astype("float32")
                f = np.where(rng.random(shape) < pruned, -i - inner.k.detach().numpy(), f)
                inner._f.assign(f)
                inner._i.assign(i)
        kq = getattr(layer, "_kq", None)
        if kq is not None:
            inner = kq.quantizer
            shape = tuple(inner._b.shape)
            inner._b.assign(rng.integers(2, 9, shape).astype("float32"))


def _models():
    import keras
    from hgq.config import QuantizerConfig
    from hgq.layers import QDense

    def jet(het, sat=False, skip=()):
        def build(rng):
            iq = None
            if sat:
                iq = QuantizerConfig("kif", "datalane", overflow_mode="SAT_SYM", round_mode="RND")
            model = keras.Sequential(
                [
                    keras.Input(shape=(16,), name="x"),
                    QDense(64, activation="relu", name="d1", iq_conf=iq),
                    QDense(32, activation="relu", name="d2"),
                    QDense(32, activation="relu", name="d3"),
                    QDense(5, name="out"),
                ]
            )
            for layer in model.layers:  # non-zero biases
                layer.bias.assign(rng.uniform(-1, 1, layer.bias.shape).astype("float32"))
            if het:
                _heterogeneous(model, rng, skip=skip)
            return model

        return build

    def tagger(rng):
        """Both convolutions, max pooling, batch normalisation, every merge and the jet head.

        The head is QDense 64-32-32-5 (ReLU), its second layer a QBatchNormDense. c1's input quantiser saturates (SAT_SYM), d3
        keeps one type per quantiser, every other quantiser has random per-element bits. (A
        saturating quantiser after QMinimum -> Flatten is where hls4ml 1.3's C simulation parts
        from HGQ2, so not here.)
        """
        from hgq.layers import (
            QAdd,
            QBatchNormalization,
            QBatchNormDense,
            QConv1D,
            QConv2D,
            QMaximum,
            QMaxPooling1D,
            QMaxPooling2D,
            QMinimum,
            QMultiply,
            QSubtract,
        )

        sat = QuantizerConfig("kif", "datalane", overflow_mode="SAT_SYM", round_mode="RND")
        x = keras.Input((10, 10, 2), name="x")
        h = QConv2D(4, 3, activation="relu", name="c1", iq_conf=sat)(x)
        h = QMaxPooling2D(2, name="p1")(h)
        h = QBatchNormalization(name="bn")(h)
        a = QConv2D(4, 1, name="c2")(h)
        m = QMultiply(name="mul")([QAdd(name="add")([h, a]), h])
        h = keras.layers.Reshape((16, 4), name="seq")(m)
        h = QConv1D(4, 3, activation="relu", name="c3")(h)
        h = QMaxPooling1D(2, name="p2")(h)
        b = QConv1D(4, 1, name="c4")(h)
        h = QMinimum(name="min")([QMaximum(name="max")([QSubtract(name="sub")([h, b]), h]), b])
        h = keras.layers.Flatten(name="flat")(h)
        h = QDense(64, activation="relu", name="d1")(h)
        h = QBatchNormDense(32, activation="relu", name="d2")(h)
        h = QDense(32, activation="relu", name="d3")(h)
        model = keras.Model(x, QDense(5, name="out")(h))
        for layer in model.layers:  # non-zero biases
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(rng.uniform(-1, 1, layer.bias.shape).astype("float32"))
        bn = model.get_layer("bn")  # trained-looking statistics
        for var, lo, hi in (
            ("moving_mean", -1, 1),
            ("moving_variance", 0.3, 3),
            ("bn_gamma", 0.5, 2),
        ):
            v = getattr(bn, var)
            v.assign(rng.uniform(lo, hi, v.shape).astype("float32"))
        _heterogeneous(model, rng, skip=("d3",))
        return model

    def attention(linformer):
        def build(rng):
            """QEinsumDense, QEinsumDenseBatchnorm, two QEinsum around a QSoftmax, a
            QMultiHeadAttention (2 heads), with `linformer` a QLinformerAttention (the 8 steps
            of key and value projected to 4), and a QSoftmax over a middle axis, every
            quantiser with random bits (the tables one type each, the rest per element, some
            pruned).
            """
            from hgq.layers import QEinsum, QEinsumDense, QEinsumDenseBatchnorm, QSoftmax

            mha_cls, lin_cls = _attention_classes()
            sat = QuantizerConfig("kif", "datalane", overflow_mode="SAT", round_mode="RND")
            x = keras.Input((8, 6), name="x")
            a = QEinsumDense("btc,cd->btd", (8, 4), bias_axes="d", activation="relu", name="ed1")(x)
            b = QEinsumDenseBatchnorm("btc,cd->btd", (8, 4), bias_axes="d", name="edbn")(x)
            s = QEinsum("btd,bsd->bts", name="qk")([a, b])
            p = QSoftmax(axis=-1, name="smx", exp_iq_conf=sat, input_scaler=0.5)(s)
            o = QEinsum("bts,bsd->btd", name="av")([p, a])
            # HGQ2's stable=False (hls4ml's latency softmax): its own input quantiser's bits
            # index the exponential table
            o = QSoftmax(axis=-1, stable=False, enable_iq=True, input_scaler=0.75, name="smx3")(o)
            m = mha_cls(num_heads=2, key_dim=3, name="mha")(o, o)
            atts = ["mha"]
            if linformer:
                m = lin_cls(num_heads=1, lin_kv_proj_dim=4, key_dim=2, name="lin")(m, m)
                atts.append("lin")
            model = keras.Model(x, QSoftmax(axis=1, name="smx2")(m))
            for layer in model.layers:  # non-zero biases, trained-looking statistics
                if getattr(layer, "bias", None) is not None:
                    layer.bias.assign(rng.uniform(-1, 1, layer.bias.shape).astype("float32"))
            bn = model.get_layer("edbn")
            bn.moving_mean.assign(rng.uniform(-1, 1, bn.moving_mean.shape).astype("float32"))
            bn.moving_variance.assign(rng.uniform(0.3, 3, bn.moving_mean.shape).astype("float32"))
            smxs = [model.get_layer(n) for n in ("smx", "smx2", "smx3")]
            subs = []
            for att in (model.get_layer(n) for n in atts):
                subs += [att._query_dense, att._key_dense, att._value_dense, att._output_dense]
                subs += [getattr(att, p) for p in ("_lin_k_proj", "_lin_v_proj") if hasattr(att, p)]
                smxs.append(att._softmax)
            for sub in subs:
                if getattr(sub, "bias", None) is not None:
                    sub.bias.assign(rng.uniform(-1, 1, sub.bias.shape).astype("float32"))
            _heterogeneous(model, rng, layers=[*model.layers, *subs, *smxs[3:]])
            iq = model.get_layer("smx3").iq.quantizer  # per element, none pruned: <= 7 bits
            iq._i.assign(rng.integers(0, 3, tuple(iq._i.shape)).astype("float32"))
            iq._f.assign(rng.integers(1, 5, tuple(iq._f.shape)).astype("float32"))
            for smx in smxs:
                for table in (smx.exp_table, smx.inv_table):
                    for part in ("iq", "oq"):
                        if not getattr(table, f"enable_{part}"):
                            continue
                        q = getattr(table, part).quantizer
                        if hasattr(q, "_f"):
                            q._i.assign(np.full(q._i.shape, rng.integers(1, 4), "float32"))
                            q._f.assign(np.full(q._f.shape, rng.integers(2, 7), "float32"))
                        else:
                            q._b.assign(np.full(q._b.shape, rng.integers(5, 9), "float32"))
                            q._i.assign(np.full(q._i.shape, rng.integers(1, 3), "float32"))
            return model

        return build

    def softmax_latency(rng):
        """A lone `stable=False` QSoftmax (hls4ml's latency softmax) on (8, 16) inputs: its
        input quantiser per element (i 0..2, f 1..4), random table types (benchmarks).
        """
        from hgq.layers import QSoftmax

        x = keras.Input((8, 16), name="x")
        smx = QSoftmax(axis=-1, stable=False, enable_iq=True, input_scaler=0.75, name="smx")
        model = keras.Model(x, smx(x))
        iq = smx.iq.quantizer
        iq._i.assign(rng.integers(0, 3, tuple(iq._i.shape)).astype("float32"))
        iq._f.assign(rng.integers(1, 5, tuple(iq._f.shape)).astype("float32"))
        for table in (smx.exp_table.oq, smx.inv_table.iq, smx.inv_table.oq):
            q = table.quantizer
            if hasattr(q, "_f"):
                q._i.assign(np.full(q._i.shape, rng.integers(1, 4), "float32"))
                q._f.assign(np.full(q._f.shape, rng.integers(3, 7), "float32"))
            else:
                q._b.assign(np.full(q._b.shape, rng.integers(6, 9), "float32"))
                q._i.assign(np.full(q._i.shape, rng.integers(1, 3), "float32"))
        return model

    return {
        "softmax_latency": softmax_latency,
        "attention": attention(False),
        "linformer": attention(True),
        "tagger": tagger,
        "jet": jet(False),  # one type per quantiser (hls4ml fuses them into the layers' types)
        "jet_het": jet(True),
        # d1's input quantiser saturates (SAT_SYM), d3 keeps one type per quantiser
        "jet_mixed": jet(True, sat=True, skip=("d3",)),
    }


def run(spec, models):
    import hls4ml
    import keras

    sys.path.insert(0, str(SRC))
    from hgq2_export import export

    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(int(spec.get("seed", 0)))
    model = models[spec["model"]](np.random.default_rng(int(spec.get("seed", 0))))
    x = np.load(spec["x"]).astype(np.float32)
    np.savez(out / "model.npz", **export(model))
    np.save(out / "y_keras.npy", model.predict(x, verbose=0))
    if not spec.get("hls4ml", True):
        return
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        backend="Vitis",
        io_type=spec.get("io_type", "io_parallel"),
        output_dir=str(out / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    compile_quick(hls_model)
    start = time.perf_counter()
    y = np.asarray(hls_model.predict(x))
    seconds = time.perf_counter() - start
    np.save(out / "y_hls4ml.npy", y.reshape(len(x), -1))
    (out / "timing.json").write_text(json.dumps({"predict_s": seconds, "n": len(x)}))


def main(path):
    spec = json.loads(Path(path).read_text())
    models = _models()
    for job in spec["jobs"]:
        run(job, models)


if __name__ == "__main__":
    main(sys.argv[1])
