"""Build QKeras models and run them through QKeras and hls4ml 1.3 (run with the qkeras peer's
python, not collected by pytest).

Usage: python qkeras_runner.py SPEC.json
SPEC: {"model": a name of MODELS, "seed", "x" (.npy inputs), "out" (folder), "hls4ml": bool,
"granularity" (of config_from_keras_model, default "name"), "pins": {layer: result type}
replacing hls4ml's 'auto' results, "mixed": {layer: {variable: type}} for a second conversion
of the same model with those types changed too, "keras_hls4ml_weights": bool, "trace": bool,
"hls4ml_build": "default" for hls4ml's own -O3 build (benchmarks; else -O1, `hls4ml_quick`),
"qkeras_timing": bool (benchmarks: qkeras_timing.json, the seconds of QKeras's predict())},
or {"jobs": [SPEC, ...]} to run several models in one TensorFlow start.
Writes to "out": model.json + model_weights.h5 (as QKeras users save them), y_qkeras.npy
(QKeras's own output, float32 computed), and with "hls4ml": y_hls4ml.npy (hls4ml's C
simulation of config_from_keras_model(granularity='name') at model precision ap_fixed<16,6>)
hls4ml_config.json (that configuration, for hepinfer to compile unchanged) and timing.json
(seconds of hls4ml's predict()); with "mixed" also y_hls4ml_mixed.npy and
hls4ml_config_mixed.json; with "keras_hls4ml_weights" y_keras_hls4ml_weights.npy (the Keras
output once BinaryDense/TernaryDense weights take hls4ml's binary/ternary values).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def _models():
    import qkeras
    import tensorflow as tf
    from tensorflow.python.ops import array_ops
    from tensorflow.python.util import nest

    # QKeras 0.9.0's QSimpleRNN/QGRU call names that TensorFlow 2.14 moved
    if not hasattr(nest, "is_sequence"):
        nest.is_sequence = nest.is_nested
    if not hasattr(array_ops, "unstack"):
        array_ops.unstack = tf.unstack

    layers = tf.keras.layers
    rnd = tf.keras.initializers.RandomUniform(-1.0, 1.0, seed=3)

    def conv2d():
        x_in = tf.keras.Input((8, 8, 2), name="x_in")
        h = qkeras.QConv2D(
            4,
            3,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(6,2,alpha=1)",
            bias_initializer=rnd,
            name="qconv",
        )(x_in)
        h = qkeras.QActivation("quantized_relu(4,2)", name="qrelu")(h)
        h = qkeras.QDepthwiseConv2D(
            3,
            depthwise_quantizer=qkeras.quantized_bits(5, 0, alpha=1),
            bias_quantizer=qkeras.quantized_bits(8, 3, alpha=1),
            bias_initializer=rnd,
            name="qdw",
        )(h)
        h = qkeras.QActivation(qkeras.quantized_bits(8, 2, alpha=1), name="qbits")(h)
        h = layers.Flatten(name="flat")(h)
        h = qkeras.QDense(
            5,
            kernel_quantizer=qkeras.quantized_bits(7, 1, alpha=1),
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        out = qkeras.QActivation("quantized_tanh(6)", name="qtanh")(h)
        return tf.keras.Model(x_in, out)

    def conv1d():
        x_in = tf.keras.Input((16, 3), name="x_in")
        h = qkeras.QConv1D(
            6,
            3,
            strides=2,
            padding="same",
            kernel_quantizer="binary(alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qconv1",
        )(x_in)
        h = qkeras.QBatchNormalization(
            gamma_quantizer=None,
            beta_quantizer=None,
            mean_quantizer=None,
            variance_quantizer=None,
            name="qbn",
            beta_initializer=rnd,
            moving_mean_initializer=rnd,
            moving_variance_initializer=tf.keras.initializers.RandomUniform(0.5, 2.0, seed=4),
        )(h)
        h = qkeras.QActivation("quantized_relu(8,4,negative_slope=0.25)", name="qleaky")(h)
        h = layers.Flatten(name="flat")(h)
        h = qkeras.QDense(
            4,
            kernel_quantizer="ternary(alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        out = qkeras.QActivation("quantized_sigmoid(6)", name="qsig")(h)
        return tf.keras.Model(x_in, out)

    def scaled():
        x_in = tf.keras.Input((16,), name="x_in")
        h = qkeras.QDense(
            8,
            kernel_quantizer=qkeras.quantized_bits(6, 0, alpha="auto_po2"),
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc1",
        )(x_in)
        h = qkeras.QActivation("quantized_relu(6,2)", name="qrelu")(h)
        h = qkeras.QDense(
            6,
            kernel_quantizer="quantized_po2(4)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc2",
        )(h)
        h = qkeras.QActivation("quantized_bits(8,3,keep_negative=False)", name="qpos")(h)
        h = qkeras.QDense(
            4,
            kernel_quantizer="ternary(alpha='auto_po2')",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc3",
        )(h)
        out = qkeras.QActivation("quantized_bits(10,4,symmetric=1)", name="qout")(h)
        return tf.keras.Model(x_in, out)

    def relu_po2():
        """quantized_relu_po2 kernels (non-negative powers of two; with a negative slope,
        negative ones for the negative weights) between quantized_relu activations.
        """
        x_in = tf.keras.Input((16,), name="x_in")
        h = qkeras.QDense(
            8,
            kernel_quantizer="quantized_relu_po2(4)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc1",
        )(x_in)
        h = qkeras.QActivation("quantized_relu(6,2)", name="qrelu")(h)
        out = qkeras.QDense(
            4,
            kernel_quantizer="quantized_relu_po2(5,negative_slope=0.25)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc2",
        )(h)
        return tf.keras.Model(x_in, out)

    def binary_ternary():
        class BinaryDense(layers.Dense):
            pass

        class TernaryDense(layers.Dense):
            pass

        x_in = tf.keras.Input((16,), name="x_in")
        h = BinaryDense(8, bias_initializer=rnd, name="bdense")(x_in)
        h = layers.Activation("relu", name="relu1")(h)
        h = TernaryDense(5, bias_initializer=rnd, name="tdense")(h)
        return tf.keras.Model(x_in, h)

    def separable2d():
        # hls4ml 1.3's nnet_sepconv1d_latency.h has the include guard of the 2D one: a model
        # with both SeparableConv1D and SeparableConv2D does not compile, so two models
        x_in = tf.keras.Input((8, 8, 2), name="x_in")
        h = qkeras.QSeparableConv2D(
            4,
            3,
            depthwise_quantizer="quantized_bits(6,0,alpha=1)",
            pointwise_quantizer=qkeras.quantized_bits(5, 1, alpha=1),
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qsep",
        )(x_in)
        h = qkeras.QActivation("binary", name="qbin")(h)
        h = layers.Flatten(name="flat")(h)
        out = qkeras.QDense(
            5,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        return tf.keras.Model(x_in, out)

    def separable1d():
        x_in = tf.keras.Input((16, 3), name="x_in")
        h = qkeras.QSeparableConv1D(
            4,
            3,
            strides=2,
            padding="same",
            depthwise_quantizer=qkeras.quantized_bits(4, 0, alpha=1),
            pointwise_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            activation="quantized_tanh(8)",
            name="qsep",
        )(x_in)
        h = layers.Flatten(name="flat")(h)
        out = qkeras.QDense(
            5,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        return tf.keras.Model(x_in, out)

    def rnn_quantisers():
        return {
            "kernel_quantizer": "quantized_bits(6,0,alpha=1)",
            "recurrent_quantizer": "quantized_bits(5,1,alpha=1)",
            "bias_quantizer": "quantized_bits(8,3,alpha=1)",
        }

    def on_grid(model):
        """Random recurrent weights on their quantisers' grids.

        Kernels: 2**-5 in [-1, 1), recurrent kernels 2**-3 in [-15/8, 15/8], biases: 2**-4
        in [-1, 1]. hls4ml 1.3 does not apply a
        recurrent layer's quantisers to its weights (it truncates the float weights into
        their types, QKeras rounds), so only weights that both leave unchanged compare the
        datapaths; QLSTM's unit_forget_bias initialiser also fails with a RandomUniform one.
        """
        rng = np.random.default_rng(7)
        for layer in model.layers:
            if layer.__class__.__name__ in ("QSimpleRNN", "QLSTM", "QGRU"):
                w = [
                    np.round(rng.uniform(-r, r, v.shape) * 2**f) / 2**f
                    for v, f, r in zip(layer.get_weights(), (5, 3, 4), (1, 15 / 8, 1), strict=True)
                ]
                w[0] = np.minimum(w[0], 31 / 32)
                layer.set_weights([v.astype(np.float32) for v in w])
        return model

    def lstm_gru():
        x_in = tf.keras.Input((8, 4), name="x_in")
        h = qkeras.QLSTM(
            6,
            activation="tanh",
            recurrent_activation="sigmoid",
            return_sequences=True,
            name="qlstm",
            **rnn_quantisers(),
        )(x_in)
        h = qkeras.QGRU(
            5,
            activation="tanh",
            recurrent_activation="sigmoid",
            reset_after=True,
            name="qgru",
            **rnn_quantisers(),
        )(h)
        out = qkeras.QDense(
            3,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        return on_grid(tf.keras.Model(x_in, out))

    def gru_lstm():
        x_in = tf.keras.Input((8, 4), name="x_in")
        h = qkeras.QGRU(
            6,
            activation="tanh",
            recurrent_activation="sigmoid",
            reset_after=True,
            return_sequences=True,
            name="qgru",
            **rnn_quantisers(),
        )(x_in)
        h = qkeras.QLSTM(
            4, activation="tanh", recurrent_activation="sigmoid", name="qlstm", **rnn_quantisers()
        )(h)
        return on_grid(tf.keras.Model(x_in, h))

    def simple_rnn():
        x_in = tf.keras.Input((8, 4), name="x_in")
        h = qkeras.QSimpleRNN(
            6, activation="relu", return_sequences=True, name="qrnn1", **rnn_quantisers()
        )(x_in)
        h = qkeras.QSimpleRNN(4, activation="tanh", name="qrnn2", **rnn_quantisers())(h)
        return on_grid(tf.keras.Model(x_in, h))

    def conv_bn(own_bias=True):
        """Two QConv2DBatchnorm layers with random moving statistics, gamma and beta; the
        second without the convolution's own bias and bias quantiser when not `own_bias`
        (hls4ml 1.3 then drops the folded bias: compared with QKeras only).
        """
        x_in = tf.keras.Input((8, 8, 2), name="x_in")
        h = qkeras.QConv2DBatchnorm(
            4,
            3,
            kernel_quantizer="quantized_bits(8,2,alpha=1)",
            bias_quantizer="quantized_bits(10,4,alpha=1)",
            bias_initializer=rnd,
            name="qcbn1",
        )(x_in)
        h = qkeras.QActivation("quantized_relu(6,2)", name="qrelu")(h)
        second = {"bias_initializer": rnd, "bias_quantizer": qkeras.quantized_bits(8, 2, alpha=1)}
        h = qkeras.QConv2DBatchnorm(
            3,
            3,
            padding="same",
            kernel_quantizer=qkeras.quantized_bits(6, 1, alpha=1),
            name="qcbn2",
            **(second if own_bias else {"use_bias": False}),
        )(h)
        h = layers.Flatten(name="flat")(h)
        out = qkeras.QDense(
            5,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            bias_initializer=rnd,
            name="qfc",
        )(h)
        model = tf.keras.Model(x_in, out)
        rng = np.random.default_rng(11)
        for layer in model.layers:
            if layer.__class__.__name__ == "QConv2DBatchnorm":
                bn = layer.batchnorm
                n = bn.gamma.shape[0]
                bn.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
                bn.beta.assign(rng.uniform(-0.5, 0.5, n).astype(np.float32))
                bn.moving_mean.assign(rng.uniform(-0.5, 0.5, n).astype(np.float32))
                bn.moving_variance.assign(rng.uniform(0.3, 2.0, n).astype(np.float32))
        return model

    return {
        "conv_bn": conv_bn,
        "conv_bn_mixed": conv_bn,
        "conv_bn_nobias": lambda: conv_bn(own_bias=False),
        "lstm_gru": lstm_gru,
        "gru_lstm": gru_lstm,
        "simple_rnn": simple_rnn,
        "conv2d": conv2d,
        "conv1d": conv1d,
        "scaled": scaled,
        "relu_po2": relu_po2,
        "binary_ternary": binary_ternary,
        "separable2d": separable2d,
        "separable1d": separable1d,
    }


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for job in spec.get("jobs", [spec]):  # several models in one TensorFlow start
        run(job)
    return 0


def run(spec):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(int(spec["seed"]))
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    model = _models()[spec["model"]]()
    (out / "model.json").write_text(model.to_json())
    model.save_weights(str(out / "model_weights.h5"))
    x = np.load(spec["x"]).astype(np.float32)
    np.save(out / "y_qkeras.npy", np.asarray(model.predict(x, verbose=0), dtype=np.float64))
    if spec.get("qkeras_timing"):  # benchmarks: QKeras's predict() on the batch, best of 3
        seconds = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            model.predict(x, batch_size=len(x), verbose=0)
            seconds = min(seconds, time.perf_counter() - start)
        (out / "qkeras_timing.json").write_text(json.dumps({"predict_s": seconds, "n": len(x)}))
    if spec.get("trace"):  # QKeras's per-layer outputs of the first 300 inputs
        probe = tf.keras.Model(model.inputs, [layer.output for layer in model.layers[1:]])
        outs = probe.predict(x[:300], verbose=0)
        names = [layer.name for layer in model.layers[1:]]
        np.savez(
            out / "qkeras_trace.npz",
            **{n: o.reshape(300, -1) for n, o in zip(names, outs, strict=False)},
        )
    if not spec.get("hls4ml", True):
        return
    hls_model = _hls4ml(model, spec, x, out, "")
    if spec.get("mixed"):  # the same model again, per-layer types changed: a second project
        _hls4ml(model, {**spec, "trace": False}, x, out, "_mixed")
    if spec.get("keras_hls4ml_weights"):  # Keras with hls4ml's binary/ternary weight values
        _keras_with_hls4ml_weights(model, x, out)
    if spec.get("trace"):  # per-layer outputs of the first 300 inputs, and the layers' types
        _, traced = hls_model.trace(np.ascontiguousarray(x[:300]))
        np.savez(out / "trace.npz", **{k: v.reshape(300, -1) for k, v in traced.items()})
        types = {
            layer.name: {k: str(v.precision) for k, v in layer.types.items()}
            for layer in hls_model.get_layers()
        }
        (out / "hls4ml_types.json").write_text(json.dumps(types, indent=1))


def _hls4ml(model, spec, x, out, suffix):
    """Convert with hls4ml (its QKeras configuration, `pins`, and with suffix '_mixed' the
    `mixed` {layer: {variable: type}} entries too), compile, run its C simulation on `x`.
    """
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(
        model, granularity=spec.get("granularity", "name")
    )
    config["Model"]["Precision"] = "ap_fixed<16,6>"
    changes = dict(spec.get("pins", {}))
    if suffix == "_mixed":
        changes.update(spec["mixed"])
    for name, result in changes.items():  # a result type, or types by variable
        pins = result if isinstance(result, dict) else {"result": result}
        config["LayerName"][name]["Precision"].update(pins)
    used = json.loads(json.dumps(config, default=str))
    if spec.get("trace"):
        for level in config["LayerName"].values():
            level["Trace"] = True
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=config,
        backend="Vitis",
        io_type="io_parallel",
        output_dir=str(out / f"hls4ml_prj{suffix}"),
        part="xcu250-figd2104-2L-e",
    )
    if spec.get("hls4ml_build") == "default":  # benchmarks: hls4ml's own -O3 build
        hls_model.compile()
    else:
        compile_quick(hls_model)
    start = time.perf_counter()
    y = np.asarray(hls_model.predict(np.ascontiguousarray(x)), dtype=np.float64)
    seconds = time.perf_counter() - start
    if not suffix:
        (out / "timing.json").write_text(json.dumps({"hls4ml_predict_s": seconds, "n": len(x)}))
    np.save(out / f"y_hls4ml{suffix}.npy", y.reshape(len(x), -1))
    (out / f"hls4ml_config{suffix}.json").write_text(json.dumps(used, indent=1))
    return hls_model


def _keras_with_hls4ml_weights(model, x, out):
    """y_keras_hls4ml_weights.npy: the Keras model's float32 output once the kernels and biases
    of its BinaryDense / TernaryDense layers are replaced by the values hls4ml's own
    BinaryQuantizer(bits=2) / TernaryQuantizer give them (what the firmware multiplies by).
    """
    from hls4ml.model.quantizers import BinaryQuantizer, TernaryQuantizer

    quantisers = {"BinaryDense": BinaryQuantizer(bits=2), "TernaryDense": TernaryQuantizer()}
    for layer in model.layers:
        quantise = quantisers.get(layer.__class__.__name__)
        if quantise is not None:
            layer.set_weights([np.asarray(quantise(w), np.float32) for w in layer.get_weights()])
    y = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    np.save(out / "y_keras_hls4ml_weights.npy", y.reshape(len(x), -1))


if __name__ == "__main__":
    sys.exit(main())
