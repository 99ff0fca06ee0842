"""The remaining Keras layers of issue 13: the emulator against hls4ml 1.3's `predict()`.

Models: the layer lists of the tests (random weights), each a Keras 3 model that hls4ml 1.3
converts (`tests/emulate/hls4ml_layer_runner.py` in the hls4ml peer, one subprocess per model,
built with hls4ml's own flags, its `predict()` timed on the whole batch) and hepinfer compiles
from the same layers and weights (`predict` on the whole batch, best of `--repeat` after a
warm-up call); every output is compared bit for bit. Model-level `ap_fixed<16,6>`, RF 1,
Latency, io_parallel.

- `resample_2d`, `resample_1d`: UpSampling, ZeroPadding, Cropping (+ Conv, Dense)
  (`tests/ops/test_resample.py`)
- `merges`: Subtract, Average, Maximum, Minimum of Dense branches (`tests/ops/test_merges.py`)
- `dot`: Dot of two Dense branches (`tests/ops/test_dot.py`)
- `embedding`: Embedding -> Flatten -> Dense (`tests/ops/test_embedding.py`)
- `permute`: Permute between convolutions (`tests/ops/test_permute.py`)
- `activations`: PReLU, ThresholdedReLU (ReLU threshold), Selu, Softsign... between Dense
  layers (`tests/ops/test_param_activations.py`)
- `bidirectional`: Bidirectional(LSTM) returning sequences, then Bidirectional(LSTM)
  (`tests/ops/test_recurrent.py`)
- `gru`: GRU(5) returning sequences, then GRU(3) (`reset_after=True`, the form hls4ml 1.3
  computes): the same sizes as `bench_no_hls4ml_layers.py`'s `gru_reset_before`

Run: PYTHONPATH=src:. python benchmarks/bench_keras_layers.py [--n 20000] [--repeat 3]
[--only NAME ...]. Prints the Markdown rows recorded in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tests.ops import (
    test_dot,
    test_embedding,
    test_merges,
    test_param_activations,
    test_permute,
    test_recurrent,
    test_resample,
)
from tests.ops.keras_oracle import MODEL_LEVEL, keras_file, oracle

import hepinfer

Layers = list[dict[str, Any]]


def _bidirectional(rng: np.random.Generator) -> Layers:
    """The two Bidirectional(LSTM) layers of the test, in the runner's layer-list form."""
    del rng
    out = []
    for cls, cfg, weights in (
        test_recurrent._bidirectional("LSTM", 3, test_recurrent.FEATURES, True, "bi1", 41),
        test_recurrent._bidirectional("LSTM", 2, 6, False, "bi2", 43),
    ):
        inner, inner_cfg = cfg["layer"]
        rest = {k: v for k, v in cfg.items() if k != "layer"}
        out.append(
            {
                "class": cls,
                "config": rest,
                "inner": {"class": inner, "config": inner_cfg},
                "weights": weights,
            }
        )
    return out


def _gru(rng: np.random.Generator) -> Layers:
    """GRU(5, return_sequences) -> GRU(3), Keras 3's `reset_after=True`."""
    del rng
    return [
        {
            "class": "GRU",
            "config": {"units": 5, "return_sequences": True, "name": "gru1"},
            "weights": test_recurrent._weights("GRU", 5, test_recurrent.FEATURES, 11),
        },
        {
            "class": "GRU",
            "config": {"units": 3, "name": "gru2"},
            "weights": test_recurrent._weights("GRU", 3, 5, 12),
        },
    ]


def _normal(scale: float) -> Callable[[int, tuple[int, ...]], np.ndarray]:
    def draw(n: int, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.default_rng(7).normal(0, scale, size=(n, *shape))

    return draw


#: name -> (input shape, layer list builder, inputs)
MODELS: dict[str, tuple[tuple[int, ...], Callable[[np.random.Generator], Layers], Any]] = {
    "resample_2d": (test_resample.SHAPES["2d"], test_resample.layers_2d, _normal(2)),
    "resample_1d": (test_resample.SHAPES["1d"], test_resample.layers_1d, _normal(2)),
    "merges": ((6,), test_merges.layers, _normal(2)),
    "dot": ((6,), test_dot.layers, _normal(1)),
    "embedding": (
        (test_embedding.SEQ,),
        test_embedding.layers,
        lambda n, _shape: test_embedding.indices(n, 7),
    ),
    "permute": (test_permute.SHAPE, test_permute.layers, _normal(2)),
    "activations": ((8,), test_param_activations.layers, _normal(2)),
    "bidirectional": (
        (test_recurrent.STEPS, test_recurrent.FEATURES),
        _bidirectional,
        lambda n, _shape: test_recurrent._inputs(n, 9),
    ),
    "gru": (
        (test_recurrent.STEPS, test_recurrent.FEATURES),
        _gru,
        lambda n, _shape: test_recurrent._inputs(n, 9),
    ),
}


def _hls4ml(shape: tuple[int, ...], layers: Layers, x: np.ndarray, work: Path) -> tuple:
    """hls4ml's outputs of x and the seconds of its predict()."""
    y, _ = oracle(shape, layers, x, work, timing=True)
    timing = json.loads((work / "timing.json").read_text())
    return y, float(timing["predict_s"])


def _keras_model(name: str, shape: tuple[int, ...], layers: Layers, work: Path) -> Any:
    if name == "bidirectional":
        specs = []
        for entry in layers:
            inner = entry["inner"]
            cfg = {**entry["config"], "layer": (inner["class"], inner["config"])}
            specs.append((entry["class"], cfg, entry["weights"]))
        return test_recurrent._model(specs)
    return keras_file(shape, layers, work / f"{name}.keras")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="inputs of the batch")
    parser.add_argument("--repeat", type=int, default=3, help="hepinfer timing repeats")
    parser.add_argument("--only", nargs="*", choices=list(MODELS), help="these models only")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    print(
        "| model | hepinfer batch (s) | inputs/s | hls4ml `predict()` (s) | inputs/s "
        "| x hls4ml | outputs differing |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    failed = False
    for name in args.only or list(MODELS):
        shape, build, draw = MODELS[name]
        layers = build(np.random.default_rng(41))
        x = draw(args.n, shape)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            theirs, hls4ml_s = _hls4ml(shape, layers, x, work)
            model = hepinfer.compile(_keras_model(name, shape, layers, work), MODEL_LEVEL)
        model.predict(x[:10])  # warm-up: binds the plan
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            ours = np.asarray(model.predict(x)).reshape(len(x), -1)
            best = min(best, time.perf_counter() - start)
        differ = int(np.count_nonzero(ours != theirs.reshape(len(x), -1)))
        failed |= differ != 0
        print(
            f"| {name} | {best:.3f} | {args.n / best:,.0f} | {hls4ml_s:.3f} | "
            f"{args.n / hls4ml_s:,.0f} | {hls4ml_s / best:.1f} | {differ} of {ours.size} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
