"""The demo's orchestration: each step a function, a status line per step, then the report."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from hepinfer.demo.report import DemoResults, ModelInfo


@dataclass(frozen=True)
class DemoOptions:
    """The demo's settings (see `hepinfer demo --help`)."""

    output: Path = Path("demo-output")
    model: Path | None = None
    input_shape: tuple[int, ...] | None = None
    part: str = "xcu250"
    precision: str = "ap_fixed<16,6>"
    reuse_factor: int = 1
    clock_period: float = 5.0
    quick: bool = False
    seed: int = 0
    event_rate: float = 50.0
    #: processes the scan's client jobs run in (None: 1 with --quick, else 2, so that the
    #: clients do not share the in-process server's interpreter lock)
    client_processes: int | None = None
    #: write the Verilog, simulate it with Verilator and synthesise it with Yosys
    open_firmware: bool = True

    @property
    def clients(self) -> tuple[int, ...]:
        return (1, 4, 16) if self.quick else (1, 2, 4, 8, 16, 32, 64)


class Steps:
    """Status lines ('[2/5] firmware ... done in 3.1 s') and each step's time."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.index = 0
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        self.index += 1
        self.stream.write(f"[{self.index}/{self.total}] {what} ...\n")
        self.stream.flush()
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.stream.write(
            f"[{self.index}/{self.total}] {name} done in {self.seconds[name]:.1f} s\n"
        )
        self.stream.flush()


def _tqdm(desc: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, leave=False, file=sys.stderr, disable=None)


def prepare_model(
    options: DemoOptions,
) -> tuple[ModelInfo, np.ndarray, np.ndarray | None, np.ndarray]:
    """The default model (data generated, MLP trained, ONNX written) or the user's model with
    random standard-normal inputs of its shape. Returns the info, test inputs, test labels
    (None for the user's model) and calibration inputs.
    """
    from hepinfer.demo import data as data_mod
    from hepinfer.demo import model as model_mod

    out = options.output
    if options.model is None:
        n_train, n_test = (20_000, 5_000) if options.quick else (60_000, 20_000)
        data = data_mod.make_dataset(n_train, n_test, options.seed)
        start = time.perf_counter()
        mlp = model_mod.train(
            data, epochs=4 if options.quick else 10, seed=options.seed, progress=_tqdm("training")
        )
        seconds = time.perf_counter() - start
        path = model_mod.to_onnx(mlp, out / "model.onnx")
        info = ModelInfo(
            "16-64-32-32-5 ReLU/softmax jet tagger (embedded default)",
            path,
            n_train,
            n_test,
            seconds,
        )
        return info, data.x_test, data.y_test, data.x_train[:5000]
    import hepinfer

    probe = hepinfer.compile(options.model, input_shape=options.input_shape)
    shape = tuple(int(d) for d in probe.graph.inputs[0].out.shape)
    rng = np.random.default_rng(options.seed)
    n_test = 1_000 if options.quick else 5_000
    x = rng.normal(0.0, 1.0, (n_test + 2_000, *shape)).astype(np.float32).astype(np.float64)
    info = ModelInfo(f"user model {options.model}", options.model, None, n_test, None)
    return info, x[:n_test], None, x[n_test:]


def run_demo(options: DemoOptions, argv: list[str], stream: TextIO = sys.stdout) -> DemoResults:
    """Run every step, write the report and the figures into `options.output`."""
    from hepinfer.bench import plot_scan, write_scan_csv
    from hepinfer.bench.scan import ScanOptions
    from hepinfer.demo import service
    from hepinfer.demo.firmware import build_firmware
    from hepinfer.demo.report import format_summary, render
    from hepinfer.serve import InferenceServer, ServerOptions

    out = options.output
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(5, stream)
    with steps.step("model", "model: generate jets, train the MLP, export ONNX"):
        info, x_test, y_test, calibration = prepare_model(options)
    with steps.step(
        "firmware", "firmware: compile, profile, estimate, HLS project, C simulation, Verilog"
    ):
        fw = build_firmware(
            info.path,
            x_test,
            y_test,
            out,
            precision=options.precision,
            reuse_factor=options.reuse_factor,
            part=options.part,
            clock_period=options.clock_period,
            calibration=calibration,
            csim_samples=1_000 if options.quick else 5_000,
            input_shape=options.input_shape,
            open_firmware=options.open_firmware,
            synthesise=not options.quick,  # Yosys on the full run only
        )
    results = DemoResults(
        command=" ".join(["hepinfer", "demo", *argv]),
        settings={
            "precision": options.precision,
            "part": options.part,
            "reuse_factor": options.reuse_factor,
            "event_rate": options.event_rate,
            "saturation_threshold": ScanOptions().saturation_threshold,
        },
        model=info,
        firmware=fw,
    )
    is_onnx = info.path.suffix == ".onnx"
    results.firmware_served = service.firmware_backend_available()
    repo = out / "repository"
    names = service.write_repository(
        repo, info.path if is_onnx else None, fw.model if results.firmware_served else None
    )
    results.served_models = names
    check_x = x_test[:256]
    opts = ServerOptions([repo], grpc_port=0, http_port=None, metrics_port=None)
    with InferenceServer(opts) as server:
        with steps.step("serve", "serve: in-process server, served outputs vs direct"):
            direct_onnx = service.onnxruntime_direct(info.path) if is_onnx else None
            for name in names:
                if name == service.ONNX_MODEL and direct_onnx is not None:
                    expected = direct_onnx(check_x).astype(np.float64)
                else:
                    from hepinfer.demo.firmware import _as_2d

                    expected = _as_2d(fw.model.predict(check_x)).astype(np.float32)
                results.checks.append(service.check_served(server, name, check_x, expected))
        with steps.step("scan", f"scan: {list(options.clients)} client jobs per model"):
            scan_options = ScanOptions(
                clients=options.clients,
                event_rate=options.event_rate,
                warmup_s=0.5 if options.quick else 2.0,
                window_s=1.5 if options.quick else 3.0,
                processes=options.client_processes or (1 if options.quick else 2),
                seed=options.seed,
            )
            for name in _tqdm("scan")(names):
                result = service.run_scan(server.grpc_url, name, scan_options)
                results.scans[name] = result
                write_scan_csv(result, out / f"scan_{name}.csv")
                plot_scan(result, out / f"scan_{name}.png", f"{name}, hepinfer server")
    with steps.step("direct", "direct: in-process inference throughput"):
        calls = 300 if options.quick else 2_000
        if direct_onnx is not None:
            results.direct.append(
                service.measure_direct("onnxruntime", direct_onnx, x_test, calls=calls, batch=1024)
            )
        results.direct.append(
            service.measure_direct(
                "hepinfer emulator", fw.model.predict, x_test, calls=calls // 3, batch=1024
            )
        )
    results.step_seconds = steps.seconds
    render(results, out)
    stream.write(format_summary(results) + "\n")
    stream.write(f"Report, figures and HLS project written to {out}/ (report.md, report.html)\n")
    return results
