"""End-to-end check of the Brevitas peer: Brevitas model -> QONNX export -> QONNX clean-up ->
hls4ml -> Vitis C++ -> compile -> predict.

Run with the hls4ml venv's python (Brevitas and QONNX are installed into it):
    peers/hls4ml/bin/python scripts/peer_checks/check_brevitas.py WORKDIR
Builds a QuantIdentity -> QuantLinear -> QuantReLU -> QuantLinear network with power-of-two
scales and no biases, exports it with `brevitas.export.export_qonnx` (the TorchScript
exporter, as hls4ml's and FINN's flows read it), prepares it as hls4ml's documentation says
(QONNX `cleanup_model`, `ConvertToChannelsLastAndClean`, `GemmToMatMul`, `cleanup_model`),
converts it at `ap_fixed<16,6>`, compiles and predicts. Every value is on a power-of-two grid
and every sum fits: exits 1 unless hls4ml's C simulation equals Brevitas' own torch output on
every input.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np


def build():  # type: ignore[no-untyped-def]
    import brevitas.nn as qnn
    import torch
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    torch.manual_seed(0)
    return torch.nn.Sequential(
        qnn.QuantIdentity(Int8ActPerTensorFixedPoint, bit_width=6, return_quant_tensor=True),
        qnn.QuantLinear(
            8, 4, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4
        ),
        qnn.QuantReLU(Uint8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True),
        qnn.QuantLinear(
            4, 3, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4
        ),
    ).eval()


def main(workdir: Path) -> int:
    from importlib.metadata import version

    import hls4ml
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    warnings.filterwarnings("ignore")
    workdir.mkdir(parents=True, exist_ok=True)
    model = build()
    x = (np.random.default_rng(0).integers(-16, 17, (256, 8)) / 8).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy().astype(np.float64)
    path = str(workdir / "brevitas.onnx")
    export_qonnx(model, torch.zeros(1, 8), export_path=path, dynamo=False)
    wrapped = cleanup_model(ModelWrapper(path))
    wrapped = wrapped.transform(ConvertToChannelsLastAndClean())
    wrapped = cleanup_model(wrapped.transform(GemmToMatMul()))
    hls_model = hls4ml.converters.convert_from_onnx_model(
        wrapped,
        hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        backend="Vitis",
        output_dir=str(workdir / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    start = time.perf_counter()
    hls_model.compile()
    compile_s = time.perf_counter() - start
    got = np.asarray(hls_model.predict(x), dtype=np.float64).reshape(expected.shape)
    mismatches = int(np.sum(got != expected))
    print(
        f"Brevitas {version('brevitas')} + QONNX {version('qonnx')} + hls4ml {hls4ml.__version__}: "
        f"compile {compile_s:.1f} s, {mismatches} of {expected.size} outputs differ from Brevitas"
    )
    if len(np.unique(expected)) < 50:
        print("the check's outputs are nearly constant: the check would not see a wrong model")
        return 1
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
