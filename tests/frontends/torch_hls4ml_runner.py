"""PyTorch models run through hls4ml 1.3 (run with the hls4ml peer's python, not collected by
pytest; the test imports the model classes from here to build the same modules).

Usage: python torch_hls4ml_runner.py SPEC.json
SPEC: {"jobs": [{"model": a name of MODELS, "seed", "shape" (per sample), "x" (.npy inputs),
"out" (folder), "pins": {layer: {variable: type}} over hls4ml's 'auto' types, optional
"channels_last_conversion" (default 'full'; 'off' also lays out the Linear weights of the
converted copy as hls4ml then reads them)}, ...]}.
Writes to "out": state.pt (the module's state_dict), y_hls4ml.npy (hls4ml's C simulation of
config_from_pytorch_model(granularity='name') at model precision ap_fixed<16,6>),
hls4ml_config.json (that configuration), layers.json (hls4ml's layers after its passes) and
timing.json (seconds of hls4ml's predict()).
"""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


class ScalarArith(torch.nn.Module):
    """`+`, `-`, `*` by Python numbers (hls4ml's `Constant` layers and their ApplyAlpha)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(6, 5)
        self.out = torch.nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x) * 0.375
        h = h + 1.25
        h = torch.relu(h - 0.5)
        return self.out(h) * -2.75


class TwoEinsums(torch.nn.Module):
    """Two torch.einsum of computed tensors: a batched matrix product and a product whose
    output axes are transposed (hls4ml's Einsum with an output transpose).
    """

    def __init__(self) -> None:
        super().__init__()
        self.fa = torch.nn.Linear(6, 12)
        self.fb = torch.nn.Linear(6, 8)
        self.fc = torch.nn.Linear(6, 8)
        self.o1 = torch.nn.Linear(6, 3)
        self.o2 = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.fa(x).view(-1, 3, 4)
        b = self.fb(x).view(-1, 4, 2)
        c = self.fc(x).view(-1, 2, 4)
        e1 = torch.einsum("bij,bjk->bik", a, b)
        e2 = torch.einsum("bij,bkj->bki", a, c)
        return self.o1(torch.flatten(e1, 1)) + self.o2(torch.flatten(e2, 1))


class LastGRU(torch.nn.Module):
    """nn.GRU (batch_first) over an (8, 6) sequence, its last step (`output[:, -1]`) into a
    Linear.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(6, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


class LastLSTM(torch.nn.Module):
    """nn.LSTM (batch_first) over an (8, 6) sequence, its last state (`h_n[-1]`) into a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _c) = self.lstm(x)
        return self.fc(h[-1])


class TanhRNN(torch.nn.Module):
    """nn.RNN (tanh, batch_first), its last state into a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(6, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


MODELS = {
    "scalar_arith": ScalarArith,
    "two_einsums": TwoEinsums,
    "last_gru": LastGRU,
    "last_lstm": LastLSTM,
    "tanh_rnn": TanhRNN,
}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for job in spec["jobs"]:
        run(job)
    return 0


def run(spec: dict) -> None:
    import hls4ml

    torch.manual_seed(int(spec["seed"]))
    model = MODELS[spec["model"]]().eval()
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "state.pt")
    shape = tuple(spec["shape"])
    converted = model
    if spec.get("channels_last_conversion") == "off":
        # without its channels-last pass hls4ml 1.3 reads a Linear's (out, in) weight as
        # (in, out): the converted copy gets weights laid out so that it reads the right ones
        converted = copy.deepcopy(model)
        for module in converted.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.data = module.weight.data.T.reshape(module.weight.shape).clone()
    config = hls4ml.utils.config_from_pytorch_model(
        converted,
        shape,
        granularity="name",
        channels_last_conversion=spec.get("channels_last_conversion", "full"),
    )
    config["Model"]["Precision"] = "ap_fixed<16,6>"
    for name, pins in spec.get("pins", {}).items():
        config["LayerName"][name]["Precision"].update(pins)
    used = json.loads(json.dumps(config, default=str))
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        converted,
        hls_config=config,
        backend="Vitis",
        io_type="io_parallel",
        output_dir=str(out / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    compile_quick(hls_model)
    x = np.ascontiguousarray(np.load(spec["x"]).astype(np.float32))
    start = time.perf_counter()
    y = np.asarray(hls_model.predict(x), dtype=np.float64)
    seconds = time.perf_counter() - start
    (out / "timing.json").write_text(json.dumps({"hls4ml_predict_s": seconds, "n": len(x)}))
    np.save(out / "y_hls4ml.npy", y.reshape(len(x), -1))
    (out / "hls4ml_config.json").write_text(json.dumps(used, indent=1))
    layers = [[layer.name, layer.class_name] for layer in hls_model.get_layers()]
    (out / "layers.json").write_text(json.dumps(layers))


def run_jobs(hls4ml_python: Path, work: Path, jobs: list[dict]) -> None:
    """Run `jobs` with this runner in the hls4ml peer (from the tests: one process, one
    torch and hls4ml start for all of them); fails with the runner's output.
    """
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run(
        [str(hls4ml_python), __file__, str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "KERAS_BACKEND": "torch"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


if __name__ == "__main__":
    sys.exit(main())
