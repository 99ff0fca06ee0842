"""Build Keras 2 GarNet / GarNetStack models (hls4ml's `contrib.garnet`) with random weights
and run them through Keras and hls4ml 1.3 (run with the qkeras peer's python, not collected
by pytest).

Usage: python garnet_runner.py SPEC.json
SPEC: {"x": .npy vertex features (N, V, F), "n": .npy vertex counts (N, 1), "out": folder,
"jobs": [{"model": a name of MODELS, "seed", "configs": {label: hls4ml config or "model"},
"hls4ml_build": "default" for hls4ml's own -O3 build (benchmarks; else -O1)}]}.
Writes per job into out/<model>/: model.json + model_weights.h5 (as Keras 2 users save
them), y_keras<i>.npy (Keras' float32 outputs), and per config label: config_<label>.json (the
hls4ml configuration used) and y_<label><i>.npy (hls4ml's C simulation, io_parallel, Vitis),
plus timing.json (seconds of each hls4ml predict()).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def _build(name, n_vertices, n_features, seed):
    import tensorflow as tf
    from hls4ml.contrib.garnet import GarNet, GarNetStack

    tf.keras.utils.set_random_seed(seed)
    x_in = tf.keras.Input((n_vertices, n_features), name="x")
    n_in = tf.keras.Input((1,), dtype="uint16", name="n")
    common = {"simplified": True, "input_format": "xn", "output_activation": None}
    # garnet_new, garnet_stack_new: one of the last two branches alone (benchmarks)
    if name not in ("garnet", "garnet_new", "garnet_stack_new"):
        raise ValueError(name)
    # five branches in one model (one hls4ml compile): per-vertex GarNet, collapsed GarNet
    # followed by a Dense, a two-sublayer GarNetStack, a collapsed GarNet and a two-sublayer
    # GarNetStack with mean_by_nvert and quantize_transforms
    vertices = GarNet(3, 3, 2, collapse=None, name="gar_v", **common)([x_in, n_in])
    mean = GarNet(2, 4, 3, collapse="mean", name="gar_m", **common)([x_in, n_in])
    fc = tf.keras.layers.Dense(3, name="fc")(mean)
    stack = GarNetStack(
        [2, 3], [3, 2], [3, 2], collapse="mean", quantize_transforms=None, name="stack", **common
    )([x_in, n_in])
    # mean_by_nvert (hls4ml's integer normalisation by the count; its collapse starts from
    # the raw bias) and quantize_transforms (hls4ml reads it as ternary transforms) together
    new = GarNet(
        2,
        3,
        2,
        collapse="mean",
        mean_by_nvert=True,
        quantize_transforms=True,
        total_bits=8,
        int_bits=2,
        name="gar_n",
        **common,
    )([x_in, n_in])
    stack_new = GarNetStack(
        [2, 2],
        [3, 2],
        [2, 3],
        collapse="mean",
        mean_by_nvert=True,
        quantize_transforms=True,
        total_bits=8,
        int_bits=2,
        name="stack_n",
        **common,
    )([x_in, n_in])
    out = {
        "garnet": [vertices, fc, stack, new, stack_new],
        "garnet_new": [new],
        "garnet_stack_new": [stack_new],
    }[name]
    model = tf.keras.Model([x_in, n_in], out)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _ternary_reference(model, x, n, name="gar_n"):
    """Keras' float GarNet (GarNetStack for stack_n) with the layer's weights as hls4ml
    quantises them (its TernaryQuantizer on each FLR kernel and bias and each Fout kernel):
    y_ternary.npy (gar_n), y_ternary_stack.npy (stack_n).
    """
    import tensorflow as tf
    from hls4ml.contrib.garnet import GarNet, GarNetStack

    layer = model.get_layer(name)
    x_in = tf.keras.Input(x.shape[1:], name="x")
    n_in = tf.keras.Input((1,), dtype="uint16", name="n")
    common = {"simplified": True, "input_format": "xn", "output_activation": None}
    if name == "stack_n":  # the stack's transforms are Dense only with quantize_transforms=None
        float_layer = GarNetStack(
            [2, 2],
            [3, 2],
            [2, 3],
            collapse="mean",
            mean_by_nvert=True,
            quantize_transforms=None,
            name="ref",
            **common,
        )
    else:
        float_layer = GarNet(2, 3, 2, collapse="mean", mean_by_nvert=True, name="ref", **common)
    ref = tf.keras.Model([x_in, n_in], float_layer([x_in, n_in]))

    def ternary(w):
        return np.where(w > 0.5, 1.0, np.where(w <= -0.5, -1.0, 0.0)).astype(np.float32)

    # per sublayer: FLR kernel, bias, S kernel, bias, Fout kernel, bias
    weights = layer.get_weights()
    for i in range(len(weights)):
        if i % 6 in (0, 1, 4):
            weights[i] = ternary(weights[i])
    ref.set_weights(weights)
    return ref.predict([x, n], verbose=0)


def main(spec_path):
    import hls4ml
    import tensorflow as tf
    from hls4ml.contrib.garnet import GarNet, GarNetStack

    spec = json.loads(Path(spec_path).read_text())
    x = np.load(spec["x"]).astype(np.float32)
    n = np.load(spec["n"]).astype(np.float32)
    for job in spec["jobs"]:
        out = Path(spec["out"]) / job["model"]
        out.mkdir(parents=True, exist_ok=True)
        model = _build(job["model"], x.shape[1], x.shape[2], int(job.get("seed", 1)))
        (out / "model.json").write_text(model.to_json())
        model.save_weights(str(out / "model_weights.h5"))
        # Keras reads the counts as uint16 (its Input dtype)
        ys = model.predict([x, n.astype(np.uint16)], verbose=0)
        for i, y in enumerate(ys if isinstance(ys, list) else [ys]):
            np.save(out / f"y_keras{i}.npy", y)
        if job["model"] == "garnet":
            np.save(out / "y_ternary.npy", _ternary_reference(model, x, n.astype(np.uint16)))
            np.save(
                out / "y_ternary_stack.npy",
                _ternary_reference(model, x, n.astype(np.uint16), "stack_n"),
            )
        timing = {}
        for label, cfg in job.get("configs", {}).items():
            if cfg == "model":
                config = hls4ml.utils.config_from_keras_model(
                    model, granularity="model", default_precision="ap_fixed<16,6>"
                )
            else:
                config = hls4ml.utils.config_from_keras_model(
                    model, granularity="name", default_precision="ap_fixed<16,6>"
                )
                for lname, entry in cfg.items():
                    if lname == "Model":
                        config["Model"].update(entry)
                        continue
                    layer = config["LayerName"].setdefault(lname, {})
                    for key, value in entry.items():
                        if key == "Precision":
                            layer.setdefault("Precision", {}).update(value)
                        else:
                            layer[key] = value
            (out / f"config_{label}.json").write_text(json.dumps(config, default=str))
            hls_model = hls4ml.converters.convert_from_keras_model(
                model,
                hls_config=config,
                backend="Vitis",
                io_type="io_parallel",
                output_dir=str(out / f"hls4ml_{label}"),
                part="xcu250-figd2104-2L-e",
            )
            if job.get("hls4ml_build") == "default":  # benchmarks: hls4ml's own -O3 build
                hls_model.compile()
            else:
                compile_quick(hls_model)
            start = time.perf_counter()
            y = hls_model.predict([np.ascontiguousarray(x), np.ascontiguousarray(n)])
            timing[label] = time.perf_counter() - start
            for i, yi in enumerate(y if isinstance(y, list) else [y]):
                np.save(out / f"y_{label}{i}.npy", np.asarray(yi))
        (out / "timing.json").write_text(json.dumps(timing))
    del GarNet, GarNetStack, tf


if __name__ == "__main__":
    main(sys.argv[1])
