"""The emulator one sample per call and on batches: hepinfer vs onnxruntime vs hls4ml (issue 15).

Models (../shared/data), all at hls4ml's model-level `ap_fixed<16,6>` (Latency, RF 1):
- the KERAS_3layer jet tagger (16-64-32-32-5 + softmax; onnxruntime: three_layer_keras.onnx);
- KERAS_conv1d_small (Conv1D -> Flatten -> Dense; onnxruntime: conv1d_small_keras.onnx);
- conv2d_small_keras.onnx (8x8x1, Conv2D 3x3 'same' ReLU -> Flatten -> Dense -> Softmax;
  hls4ml gets the same network rebuilt in Keras with these weights);
- the other shared Keras examples (KERAS_1layer: sigmoid output; KERAS_3layer_batch_norm;
  the 16x100x...x5 MLP; qkeras_3layer) and ONNX examples (two_layer_keras: sigmoid output;
  three_layer_bn_pytorch: BatchNorm; three_layer_pytorch).

Measured in the same run: hepinfer `predict` (default engine: the compiled plan, one native
call per predict) one sample per call (a loop over distinct samples, best of 3 loops) and on
a batch, with the numpy engine's batch rate for reference and both checked bit-identical;
onnxruntime float32 on one thread (intra- and inter-op) the same two ways; hls4ml 1.3.0
`predict()` (its venv, a subprocess) the same two ways, its outputs compared with hepinfer's.

Batch rates: hepinfer and onnxruntime interleaved, best of `--repeat` rounds; hepinfer's
native kernel on `--threads` threads (default 1, as onnxruntime).

Run: python benchmarks/bench_emulator_batch1.py [--calls 20000] [--batch 1024] [--only TEXT]
     [--repeat 20] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
EXAMPLES = DATA / "hls4ml-example-models"
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
MODELS: dict[str, dict[str, Any]] = {
    "jet tagger (KERAS_3layer)": {
        "hepinfer": (
            EXAMPLES / "keras/KERAS_3layer.json",
            EXAMPLES / "keras/KERAS_3layer_weights.h5",
        ),
        "onnx": EXAMPLES / "onnx/three_layer_keras.onnx",
        "hls4ml": "keras",
    },
    "Conv1D (KERAS_conv1d_small)": {
        "hepinfer": (
            EXAMPLES / "keras/KERAS_conv1d_small.json",
            EXAMPLES / "keras/KERAS_conv1d_small_weights.h5",
        ),
        "onnx": EXAMPLES / "onnx/conv1d_small_keras.onnx",
        "hls4ml": "keras",
    },
    "Conv2D (conv2d_small_keras)": {
        "hepinfer": EXAMPLES / "onnx/conv2d_small_keras.onnx",
        "onnx": EXAMPLES / "onnx/conv2d_small_keras.onnx",
        "hls4ml": "conv2d",
    },
    # the other shared Keras examples (no ONNX export of the same weights: no onnxruntime column)
    **{
        f"{name} (dense)": {
            "hepinfer": (EXAMPLES / f"keras/{name}.json", EXAMPLES / f"keras/{name}_weights.h5"),
            "onnx": None,
            "hls4ml": "keras",
            # QKeras layers: hls4ml runs in the qkeras peer (QKeras on TensorFlow)
            "peer": "qkeras" if name.startswith("qkeras") else "hls4ml",
        }
        for name in (
            "KERAS_1layer",
            "KERAS_3layer_batch_norm",
            "KERAS_dense_16x100x100x100x100x100x5",
            "qkeras_3layer",
        )
    },
    # the other shared ONNX examples (sigmoid output; BatchNorm layers), hepinfer and
    # onnxruntime on the same file (no hls4ml column: its converter takes Keras here)
    **{
        f"{name} (onnx)": {
            "hepinfer": EXAMPLES / f"onnx/{name}.onnx",
            "onnx": EXAMPLES / f"onnx/{name}.onnx",
            "hls4ml": None,
        }
        for name in ("two_layer_keras", "three_layer_bn_pytorch", "three_layer_pytorch")
    },
    # the shared whole-module PyTorch pickles: hls4ml through its PyTorch converter
    **{
        f"{name} (pytorch)": {
            "hepinfer": EXAMPLES / f"pytorch/{name}.pt",
            "onnx": None,
            "hls4ml": "pytorch",
        }
        for name in ("two_layer_model", "three_layer_model")
    },
}


def per_call_us(fn: Callable[[np.ndarray], Any], x: np.ndarray, calls: int) -> tuple[float, float]:
    """Microseconds per call of `fn` on one sample, over distinct samples (best of 3 loops):
    wall-clock time and this process's CPU time (which other load on the machine inflates
    less).
    """
    wall = cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(calls):
            fn(x[i : i + 1])
        wall = min(wall, (time.perf_counter() - t0) / calls * 1e6)
        cpu = min(cpu, (time.process_time() - c0) / calls * 1e6)
    return wall, cpu


def rate(fn: Callable[[np.ndarray], Any], x: np.ndarray, repeat: int = 3) -> float:
    """Samples per second of `fn` on the whole batch `x` (best of `repeat`)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def interleaved_rates(
    fns: dict[str, Callable[[np.ndarray], Any]], xs: dict[str, np.ndarray], repeat: int
) -> dict[str, float]:
    """Samples per second of each function on its batch, best of `repeat` rounds in which
    every function runs once in turn (so a change in the machine's load hits all alike).
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(xs[name])
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: len(xs[name]) / t for name, t in best.items()}


def onnxruntime_fn(
    path: Path, shape: tuple[int, ...], batch: int
) -> Callable[[np.ndarray], Any] | None:
    """Onnxruntime (one thread) on the model, its batch axis made free where the export fixed
    it to 1; where the graph still needs batch 1 (a fixed Reshape), batches run sample by
    sample.
    """
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path))
    for t in (*proto.graph.input, *proto.graph.output):
        if t.type.tensor_type.shape.dim:  # (an export may leave an output's shape unset)
            t.type.tensor_type.shape.dim[0].dim_param = "N"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
    except Exception:  # noqa: BLE001 - e.g. an old opset's Gemm that onnxruntime lacks
        return None
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> Any:
        return sess.run(None, {name: x})

    try:
        run(np.zeros((batch, *shape), dtype=np.float32))
    except Exception:  # noqa: BLE001 - onnxruntime's errors have no common base class
        return lambda x: [run(x[i : i + 1]) for i in range(len(x))]
    return run


def conv2d_arrays(model: Any, path: Path) -> None:
    """The Conv2D and Dense weights of the hepinfer graph, for hls4ml's Keras rebuild."""
    conv = next(n for n in model.graph.nodes if n.op.name == "CONV2D")
    dense = next(n for n in model.graph.nodes if n.op.name == "DENSE")
    savez: Any = np.savez
    savez(
        path,
        kernel=conv.weights["kernel"],
        bias=conv.weights["bias"],
        dense_kernel=dense.weights["kernel"],
        dense_bias=dense.weights["bias"],
        input_shape=np.array(model.graph.inputs[0].out.shape),
    )


def run_hls4ml(
    kind: str, spec_in: dict[str, Any], work: Path, calls: int, peer: str = "hls4ml"
) -> dict[str, Any]:
    spec = {
        **spec_in,
        "model": kind,
        "hls_config": CONFIG,
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "result": str(work / "result.json"),
        "n_single": calls,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "torch"} if peer == "hls4ml" else dict(os.environ)
    helper = Path(__file__).with_name("_hls4ml_predict.py")
    python = PEERS / peer / "bin" / "python"
    proc = subprocess.run(
        [str(python), str(helper), str(work / "spec.json")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-1500:]}
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    result["y"] = np.load(work / "y.npy")
    return result


def bench_model(label: str, paths: dict[str, Any], args: Any, work: Path) -> dict[str, Any]:
    import hepinfer

    model = hepinfer.compile(paths["hepinfer"], CONFIG)
    shape = tuple(model.graph.inputs[0].out.shape)
    x = np.random.default_rng(0).standard_normal((args.batch, *shape))
    singles = np.random.default_rng(1).standard_normal((args.calls, *shape))
    ours = model.predict(x)
    row: dict[str, Any] = {
        "hepinfer_single_us": per_call_us(model.predict, singles, args.calls),
        "load_average": os.getloadavg()[0],
        "hepinfer_numpy_batch_rate": rate(lambda v: model.predict(v, engine="numpy"), x, 1),
        "engines_identical": bool(np.array_equal(model.predict(x, engine="numpy"), ours)),
    }
    fns: dict[str, Callable[[np.ndarray], Any]] = {"hepinfer": model.predict}
    xs = {"hepinfer": x}
    ort_run = None if paths["onnx"] is None else onnxruntime_fn(paths["onnx"], shape, args.batch)
    if ort_run is not None:
        x32, s32 = x.astype(np.float32), singles.astype(np.float32)
        row["onnxruntime_single_us"] = per_call_us(ort_run, s32, args.calls)
        fns["onnxruntime"], xs["onnxruntime"] = ort_run, x32
    rates = interleaved_rates(fns, xs, args.repeat)
    row["hepinfer_batch_rate"] = rates["hepinfer"]
    row["onnxruntime_batch_rate"] = rates.get("onnxruntime")
    row["load_average_after"] = os.getloadavg()[0]
    peer = paths.get("peer", "hls4ml")
    if paths["hls4ml"] is not None and (PEERS / f"READY-{peer}").exists():
        sub = work / label.split(" (", 1)[0].replace(" ", "_").lower()
        sub.mkdir()
        np.save(sub / "x.npy", x)
        spec: dict[str, Any] = {"x": str(sub / "x.npy")}
        if paths["hls4ml"] == "keras":
            spec |= {"json": str(paths["hepinfer"][0]), "h5": str(paths["hepinfer"][1])}
        elif paths["hls4ml"] == "pytorch":
            spec |= {"pt": str(paths["hepinfer"]), "input_shape": list(shape)}
        else:
            conv2d_arrays(model, sub / "weights.npz")
            spec["npz"] = str(sub / "weights.npz")
        h = run_hls4ml(paths["hls4ml"], spec, sub, min(args.calls, 2000), peer)
        if "y" in h:
            h["identical_to_hepinfer"] = bool(np.array_equal(h.pop("y"), ours.reshape(len(x), -1)))
        row["hls4ml"] = h
    return row


def report(results: dict[str, Any]) -> None:
    head = (
        "| model | hepinfer 1/call wall (CPU) us | onnxruntime 1/call wall (CPU) us "
        "| hls4ml 1/call wall (CPU) us "
        "| hepinfer batch (/s) | onnxruntime batch (/s) | hls4ml batch (/s) | x ORT | x hls4ml "
        "| bit-identical (numpy engine / hls4ml) |"
    )
    lines = [
        f"calls {results['calls']}, batch {results['batch']}, isa {results['instruction_set']}, "
        f"hepinfer threads {results['threads']}, load average "
        + ", ".join(
            f"{r['load_average']:.1f}-{r['load_average_after']:.1f}"
            for r in results["models"].values()
        ),
        head,
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for label, r in results["models"].items():
        h = r.get("hls4ml", {})
        ort_rate = r.get("onnxruntime_batch_rate")
        h_rate = h.get("batch_rate")
        lines.append(
            f"| {label} | {r['hepinfer_single_us'][0]:.1f} ({r['hepinfer_single_us'][1]:.1f}) "
            f"| {r.get('onnxruntime_single_us', (nan, nan))[0]:.1f} "
            f"({r.get('onnxruntime_single_us', (nan, nan))[1]:.1f}) "
            f"| {h.get('single_us', float('nan')):.0f} ({h.get('single_cpu_us', float('nan')):.0f}) "
            f"| {r['hepinfer_batch_rate']:,.0f} "
            f"| {ort_rate or float('nan'):,.0f} | {h_rate or float('nan'):,.0f} "
            f"| {r['hepinfer_batch_rate'] / ort_rate if ort_rate else float('nan'):.2f} "
            f"| {r['hepinfer_batch_rate'] / h_rate if h_rate else float('nan'):.0f} "
            f"| {r['engines_identical']} / {h.get('identical_to_hepinfer', h.get('error', '-')[:60])} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="one-sample calls per loop")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--only", default="", help="only the models whose label has this text")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--repeat", type=int, default=20, help="batch timings: interleaved rounds (best of)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="hepinfer's native kernel threads ($HEPINFER_NATIVE_THREADS); onnxruntime runs on one",
    )
    args = parser.parse_args()
    os.environ["HEPINFER_NATIVE_THREADS"] = str(args.threads)

    from hepinfer.emulate import native

    results: dict[str, Any] = {
        "calls": args.calls,
        "batch": args.batch,
        "instruction_set": native.instruction_set(),
        "threads": native.THREADS,
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, paths in MODELS.items():
            if args.only not in label:
                continue
            results["models"][label] = bench_model(label, paths, args, Path(tmp))
            sys.stderr.write(f"{label}: {results['models'][label]}\n")
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
