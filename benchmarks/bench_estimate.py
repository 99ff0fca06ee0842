#!/usr/bin/env python3
"""Accuracy and speed of hepinfer's resource/latency estimates (issue 5).

1. Every anchor in ``src/hepinfer/estimate/anchors.yaml`` (published Vivado/Vitis HLS
   synthesis results) is estimated and compared metric by metric.
2. The time of one estimate is measured for every anchor and for every shared example
   Keras model (``../shared/data/hls4ml-example-models/keras``, read here by a small
   stand-in adapter until the compiler's IR adapter exists); each must be under 100 ms.

Usage::

    .venv/bin/python benchmarks/bench_estimate.py            # print the report (markdown)
    .venv/bin/python benchmarks/bench_estimate.py --write    # also replace the section in
                                                             # benchmarks/RESULTS.md

No peer runs here: hls4ml has no estimator; its numbers come from Vivado/Vitis HLS
synthesis (minutes to hours per design), which is what the anchors record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.estimate import (
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    Estimate,
    LayerCost,
    Precision,
    estimate_layers,
)
from hepinfer.estimate.anchors import check_anchors

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Resource and latency estimates (issue 5)"
COMMAND = ".venv/bin/python benchmarks/bench_estimate.py --write"
LIMIT_MS = 100.0


def time_it(func: Callable[[], Estimate], repeat: int = 30) -> tuple[float, float]:
    """Median and maximum wall time of ``func`` in ms (after one warm-up call)."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), max(times)


# -- a stand-in Keras JSON + HDF5 adapter (the compiler's IR adapter will replace it) ----


def _kernel(h5: Any, name: str) -> np.ndarray | None:
    if name not in h5:
        return None
    group = h5[name]
    found: list[np.ndarray] = []
    group.visititems(
        lambda key, obj: found.append(np.asarray(obj)) if key.endswith("kernel:0") else None
    )
    return found[0] if found else None


def _quant_precision(quantizer: Any, default: Precision) -> Precision:
    if not isinstance(quantizer, dict):
        return default
    cfg = quantizer.get("config", {})
    bits, integer = int(cfg.get("bits", default.width)), int(cfg.get("integer", 0))
    return Precision(bits, integer + 1, True)


def keras_layers(json_path: Path, h5_path: Path) -> list[LayerCost]:
    """Layer descriptions of a Sequential/Functional Keras model (Dense, Conv1D, BN, act)."""
    import h5py

    config = json.loads(json_path.read_text())["config"]
    entries = config["layers"] if isinstance(config, dict) else config
    default = Precision(16, 6)
    layers: list[LayerCost] = []
    shape: tuple[int, ...] = ()
    with h5py.File(h5_path, "r") as h5:
        for entry in entries:
            kind, cfg = entry["class_name"], entry["config"]
            name = cfg["name"]
            if "batch_input_shape" in cfg and not shape:
                shape = tuple(int(d) for d in cfg["batch_input_shape"][1:])
            if kind == "InputLayer":
                continue
            act = cfg.get("activation")
            if kind in ("Dense", "QDense"):
                n_in, n_out = int(np.prod(shape)), int(cfg["units"])
                weight = _quant_precision(cfg.get("kernel_quantizer"), default)
                layers.append(
                    DenseCost(
                        name=name, n_in=n_in, n_out=n_out, weight=weight, weights=_kernel(h5, name)
                    )
                )
                shape = (n_out,)
            elif kind == "Conv1D":
                width, chan = shape
                conv = ConvCost(
                    name=name,
                    in_width=width,
                    n_chan=chan,
                    n_filt=int(cfg["filters"]),
                    filt_width=int(cfg["kernel_size"][0]),
                    stride_width=int(cfg["strides"][0]),
                    padding=cfg["padding"],
                    weights=_kernel(h5, name),
                )
                layers.append(conv)
                shape = (conv.out_width, conv.n_filt)
            elif kind == "BatchNormalization":
                layers.append(BatchNormCost(name=name, n=int(np.prod(shape))))
            elif kind in ("Activation", "QActivation"):
                act = act if isinstance(act, str) else act["class_name"].replace("quantized_", "")
                layers.append(ActivationCost(name=name, kind=act, n=int(np.prod(shape))))
                continue
            elif kind in ("Flatten", "Dropout"):
                shape = (int(np.prod(shape)),)
                continue
            else:
                msg = f"{json_path.name}: layer {kind} is not handled by this stand-in adapter"
                raise ValueError(msg)
            if isinstance(act, str) and act != "linear":
                layers.append(ActivationCost(name=f"{name}_{act}", kind=act, n=int(np.prod(shape))))
    return layers


def shared_models() -> list[tuple[str, list[LayerCost]]]:
    root = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
    folder = root / "hls4ml-example-models" / "keras"
    models = []
    for json_path in sorted(folder.glob("*.json")):
        stem = json_path.stem
        for h5 in (folder / f"{stem}_weights.h5", folder / f"{stem}_70pruned_retrained_weights.h5"):
            if h5.exists():
                label = stem if "pruned" not in h5.name else f"{stem} (70 % pruned)"
                models.append((label, keras_layers(json_path, h5)))
    return models


# -- report -------------------------------------------------------------------------------


def fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def report() -> tuple[str, bool]:
    lines: list[str] = []
    ok_all = True
    lines += [
        SECTION,
        "",
        (
            f"Command: `{COMMAND}` (machine: {platform.machine()}, Python "
            f"{platform.python_version()}, {os.cpu_count()} cores). Model: `hepinfer.estimate` "
            "(analytic, documented in `docs/estimate.md`). No peer runs here: hls4ml has no "
            "estimator, its figures come from Vivado/Vitis HLS synthesis, which is what the "
            "anchors record."
        ),
        "",
        "### Error on published synthesis results",
        "",
        (
            "Acceptance (issue 5): DSP within 15 %, latency within 20 % or 3 cycles (II and "
            "BRAM18K are held to the latency tolerance). LUT/FF are shown for information: "
            "HLS LUT/FF reports themselves differ from place-and-route by tens of percent."
        ),
        "",
        "| anchor | metric | published | estimate | error | criterion | ok |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    timings: list[tuple[str, float, float]] = []
    sources: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for anchor, _est, checks in check_anchors():
            for c in checks:
                ok = {True: "yes", False: "**no**", None: "-"}[c.ok]
                ok_all &= c.ok is not False
                err = f"{c.rel_error:+.1%}" if np.isfinite(c.rel_error) else f"{c.abs_error:+g}"
                lines.append(
                    f"| {anchor.id} | {c.metric} | {c.published_text} | {fmt(c.estimate)} "
                    f"| {err} | {c.criterion} | {ok} |"
                )
            sources.append(f"- `{anchor.id}`: {anchor.source_where} <{anchor.source_url}>")
            layers: Sequence[LayerCost] = anchor.layers
            timings.append(
                (
                    f"anchor {anchor.id}",
                    *time_it(
                        lambda a=anchor, ls=layers: estimate_layers(
                            ls, part=a.part, clock_period=a.clock_period
                        )
                    ),
                )
            )
        models = shared_models()
        summaries = []
        for label, layers in models:
            est = estimate_layers(layers, part="xcu250", clock_period=5.0)
            summaries.append((label, est))
            timings.append(
                (f"shared model {label}", *time_it(lambda ls=layers: estimate_layers(ls)))
            )
    lines += ["", "Sources:", "", *sources, ""]
    lines += [
        "### Time per estimate",
        "",
        f"Median and maximum of 30 calls of `estimate_layers` (limit {LIMIT_MS:g} ms each).",
        "",
        "| model | median ms | max ms | under limit |",
        "|---|---:|---:|---|",
    ]
    for label, med, worst in timings:
        under = worst < LIMIT_MS
        ok_all &= under
        lines.append(f"| {label} | {med:.2f} | {worst:.2f} | {'yes' if under else '**no**'} |")
    if summaries:
        lines += [
            "",
            "### Shared example models (ap_fixed<16,6>, Latency, RF 1, io_parallel, xcu250, 5 ns)",
            "",
            "| model | DSP | LUT | FF | BRAM18K | latency (cycles) | II |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, est in summaries:
            t = est.total
            lines.append(
                f"| {label} | {t.dsp:,} | {t.lut:,} | {t.ff:,} | {t.bram18k:,} "
                f"| {est.latency_cycles} | {est.ii} |"
            )
    lines.append("")
    return "\n".join(lines), ok_all


def write_section(text: str) -> None:
    path = REPO / "benchmarks" / "RESULTS.md"
    content = path.read_text(encoding="utf-8")
    start = content.find(SECTION)
    if start >= 0:
        nxt = content.find("\n## ", start + len(SECTION))
        rest = content[nxt + 1 :] if nxt >= 0 else ""
        content = content[:start].rstrip() + "\n\n" + text + ("\n" + rest if rest else "")
    else:
        content = content.rstrip() + "\n\n" + text
    path.write_text(content, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    text, ok = report()
    print(text)
    if args.write:
        write_section(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
