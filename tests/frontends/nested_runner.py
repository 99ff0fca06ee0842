"""Build the nested Keras 2 models of `test_keras_nested.py` and run them through Keras and
hls4ml 1.3 (run with the qkeras peer's python: TensorFlow 2.14's Keras 2 and hls4ml; not
collected by pytest).

Usage: python nested_runner.py SPEC.json
SPEC: {"weights": .npz (`<layer>_<i>` arrays), "x": .npy inputs, "out": folder,
"config": an hls4ml HLSConfig}.
Writes to "out": `model.json` + `model.h5` (`model.save`, the layout hls4ml's
KerasNestedFileReader reads: `model_weights/<nested model>/<layer>/...`) and
`model_weights.h5` (`save_weights`) of the functional model `nested`, `seq.json` + `seq.h5`
of the Sequential model `seq`, `y_keras.npy` / `y_seq_keras.npy` (Keras's float32 outputs)
and `y_hls4ml.npy`: hls4ml's C simulation of `nested` at "config" through its Keras 2
JSON + HDF5 path (`keras_v2_to_hls`, as `tests/emulate/hls4ml_json_runner.py`).
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def branch(tf, x, p):
    """One branch, names prefixed with p: x -> f0 -> fsub[fs_d1 relu] -> block[in_d1, in_relu,
    deep[dd], in_d2 relu] -> fout: a functional model inside the functional model, a
    Sequential inside a Sequential inside it (depth 2).
    """
    layers = tf.keras.layers
    sub_in = tf.keras.Input((8,), name=f"{p}fsub_in")
    out = layers.Dense(8, "relu", name=f"{p}fs_d1")(sub_in)
    fsub = tf.keras.Model(sub_in, out, name=f"{p}fsub")
    deep = tf.keras.Sequential([layers.Dense(6, name=f"{p}dd", input_shape=(8,))], name=f"{p}deep")
    block = tf.keras.Sequential(
        [
            layers.Dense(8, name=f"{p}in_d1", input_shape=(8,)),
            layers.ReLU(name=f"{p}in_relu"),
            deep,
            layers.Dense(5, "relu", name=f"{p}in_d2"),
        ],
        name=f"{p}block",
    )
    return layers.Dense(3, name=f"{p}fout")(block(fsub(layers.Dense(8, name=f"{p}f0")(x))))


def build(tf):
    """The functional model `nested` (two branches, `""` and `"b_"`, concatenated: one hls4ml
    project holds the model-level and the per-layer-configured layers) and the Sequential
    model `seq` (d0 -> inner[i1, i_relu, i2 tanh] -> dout).
    """
    layers = tf.keras.layers
    x_in = tf.keras.Input((6,), name="x_in")
    out = layers.Concatenate(name="cat")([branch(tf, x_in, ""), branch(tf, x_in, "b_")])
    nested = tf.keras.Model(x_in, out, name="nested")
    inner = tf.keras.Sequential(
        [
            layers.Dense(7, name="i1", input_shape=(5,)),
            layers.ReLU(name="i_relu"),
            layers.Dense(4, "tanh", name="i2"),
        ],
        name="inner",
    )
    seq = tf.keras.Sequential(
        [layers.Dense(5, name="d0", input_shape=(6,)), inner, layers.Dense(3, name="dout")],
        name="seq",
    )
    return nested, seq


def set_weights(model, weights):
    """Every Dense layer at any depth gets `<name>_0` (kernel) and `<name>_1` (bias)."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            set_weights(layer, weights)
        elif f"{layer.name}_0" in weights:
            layer.set_weights([weights[f"{layer.name}_0"], weights[f"{layer.name}_1"]])


def hls4ml_predict(json_path, h5_path, hls_config, x, out_dir):
    """hls4ml's C simulation of the JSON + HDF5 model (io_parallel, Vitis, xcu250)."""
    from hls4ml.converters import _check_hls_config, _check_model_config
    from hls4ml.converters.keras_v2_to_hls import keras_v2_to_hls
    from hls4ml.utils.config import create_config

    config = create_config(
        output_dir=str(out_dir),
        project_name="oracle",
        backend="Vitis",
        part="xcu250-figd2104-2L-e",
        io_type="io_parallel",
    )
    config["KerasJson"], config["KerasH5"] = str(json_path), str(h5_path)
    config["HLSConfig"] = {"Model": _check_model_config(hls_config.get("Model"))}
    config["HLSConfig"]["Model"]["BitExact"] = None
    _check_hls_config(config, hls_config)
    hls_model = keras_v2_to_hls(config)
    compile_quick(hls_model)
    return np.asarray(hls_model.predict(np.ascontiguousarray(x)), dtype=np.float64)


def main() -> int:
    import tensorflow as tf

    spec = json.loads(Path(sys.argv[1]).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    with np.load(spec["weights"]) as f:
        weights = {k: f[k].astype(np.float32) for k in f.files}
    x = np.load(spec["x"]).astype(np.float32)
    nested, seq = build(tf)
    for model, name in ((nested, "model"), (seq, "seq")):
        set_weights(model, weights)
        (out / f"{name}.json").write_text(model.to_json())
        model.save(str(out / f"{name}.h5"))
    nested.save_weights(str(out / "model_weights.h5"))
    np.save(out / "y_keras.npy", nested(x).numpy().astype(np.float64))  # no predict() set-up
    y_seq = seq(x).numpy().astype(np.float64)
    np.save(out / "y_seq_keras.npy", y_seq)
    y = hls4ml_predict(out / "model.json", out / "model.h5", spec["config"], x, out / "prj")
    np.save(out / "y_hls4ml.npy", y.reshape(len(x), -1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
