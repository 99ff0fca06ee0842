"""C simulation equals the emulator for the ONNX operators of issue 13 (random weights)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed.headers import find_ap_types_headers
from tests.frontends import onnx_ops_models as om

pytest.importorskip("onnx")

N = 2000
MODEL = {"Model": {"Precision": "ap_fixed<16,6>"}}


def mixed(**layers: dict[str, Any]) -> dict[str, Any]:
    """ap_fixed<14,5> with per-layer precisions of `layers` (name -> Precision dict)."""
    return {
        "Model": {"Precision": "ap_fixed<14,5,AP_RND,AP_SAT>", "ReuseFactor": 2},
        "LayerName": {k: {"Precision": v} for k, v in layers.items()},
    }


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("hepinfer-cache")))
    yield
    mp.undo()


def assert_csim_equals_emulator(
    m: Any,
    config: dict[str, Any],
    x: np.ndarray,
    io: str = "io_parallel",
    headers: str = "hepinfer",
    min_distinct: int = N // 2,
) -> None:
    """Bit for bit, on inputs whose outputs vary (at least `min_distinct` distinct rows)."""
    if headers == "xilinx" and find_ap_types_headers() is None:
        pytest.skip("Xilinx ap_types headers not found (install hls4ml or set XILINX_HLS)")
    model = hepinfer.compile(m, config)
    expected = model.predict(x)
    got = model.csim(x, io_type=io, headers=headers)
    assert isinstance(expected, np.ndarray)
    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape
    assert np.unique(expected, axis=0).shape[0] >= min_distinct, "outputs hardly vary: weak test"
    bad = np.flatnonzero((got != expected).reshape(len(x), -1).any(axis=1))
    assert bad.size == 0, f"{bad.size} samples differ, first {bad[0]}"


@pytest.mark.parametrize(
    ("rank", "config", "io", "headers"),
    [
        (1, MODEL, "io_parallel", "hepinfer"),
        (2, MODEL, "io_parallel", "xilinx"),
        (
            2,
            mixed(c1={"weight": "ap_fixed<8,2>", "accum": "ap_fixed<18,7,AP_TRN,AP_SAT>"}),
            "io_stream",
            "hepinfer",
        ),
    ],
)
def test_grouped_conv(rank: int, config: dict[str, Any], io: str, headers: str) -> None:
    m = om.grouped_conv(rank, 2, 4, 6)
    x = np.random.default_rng(1).normal(size=(N, *(9, 7)[:rank], 4)) * 2
    assert_csim_equals_emulator(m, config, x, io, headers)


@pytest.mark.parametrize("config", [MODEL, mixed(bn={"weight": "ap_fixed<10,3>"})])
def test_keras2onnx_batchnorm_and_qonnx_channels_last(config: dict[str, Any]) -> None:
    x = np.random.default_rng(2).normal(size=(N, 6)) * 2
    assert_csim_equals_emulator(om.keras2onnx_batchnorm(), config, x)
    x = np.random.default_rng(3).normal(size=(N, 3, 6, 8))
    assert_csim_equals_emulator(om.channels_last_convnet(qonnx_form=True), config, x, "io_stream")


@pytest.mark.parametrize(
    ("config", "io", "headers"),
    [
        (MODEL, "io_parallel", "hepinfer"),
        (MODEL, "io_stream", "xilinx"),
        (MODEL, "io_parallel", "xilinx"),
        (MODEL, "io_stream", "hepinfer"),
        (
            mixed(
                cl={"weight": "ap_fixed<8,3>", "result": "ap_fixed<10,4,AP_RND,AP_SAT>"},
                m={"weight": "ap_fixed<10,2,AP_RND>", "result": "ap_fixed<12,5>"},
            ),
            "io_parallel",
            "hepinfer",
        ),
    ],
)
def test_arithmetic_with_constants_sum_and_clip(
    config: dict[str, Any], io: str, headers: str
) -> None:
    x = np.random.default_rng(4).normal(size=(N, 3, 5, 4)) * 3
    assert_csim_equals_emulator(om.arithmetic(), config, x, io, headers)


@pytest.mark.parametrize(
    ("fold", "config", "io", "headers"),
    [
        (True, MODEL, "io_parallel", "hepinfer"),
        (False, MODEL, "io_parallel", "xilinx"),
        (False, mixed(c2={"accum": "ap_fixed<16,6,AP_TRN,AP_SAT>"}), "io_stream", "hepinfer"),
        (False, MODEL, "io_stream", "xilinx"),
    ],
)
def test_pad_and_resize(fold: bool, config: dict[str, Any], io: str, headers: str) -> None:
    x = np.random.default_rng(5).normal(size=(N, 2, 4, 5)) * 2
    assert_csim_equals_emulator(om.pad_resize(fold), config, x, io, headers)


@pytest.mark.parametrize(
    ("config", "io", "headers"),
    [
        (MODEL, "io_parallel", "xilinx"),
        (
            mixed(h1={"accum": "ap_fixed<14,6>", "result": "ap_fixed<14,6>"}),
            "io_stream",
            "hepinfer",
        ),
        (MODEL, "io_parallel", "hepinfer"),
    ],
)
def test_qonnx_bipolar_trunc_intquant(config: dict[str, Any], io: str, headers: str) -> None:
    m, _ = om.qonnx_binary()
    x = np.random.default_rng(7).normal(size=(N, 8)) * 2
    assert_csim_equals_emulator(m, config, x, io, headers, min_distinct=8)


@pytest.mark.parametrize(
    ("config", "io", "headers"),
    [
        (MODEL, "io_parallel", "xilinx"),
        (
            mixed(mt={"weight": "ap_fixed<8,3>", "result": "ap_fixed<6,3,AP_RND,AP_SAT>"}),
            "io_stream",
            "hepinfer",
        ),
        (MODEL, "io_parallel", "hepinfer"),
    ],
)
def test_qonnx_multithreshold(config: dict[str, Any], io: str, headers: str) -> None:
    m, _ = om.multithreshold()
    x = np.random.default_rng(8).normal(size=(N, 2, 4, 5))
    assert_csim_equals_emulator(m, config, x, io, headers)
