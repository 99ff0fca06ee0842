"""The design cut at its pipeline registers (`rtl.pieces`) is the same circuit as the flat one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import RtlError
from hepinfer.rtl.pieces import group, split
from tests.hls.onnx_models import mlp
from tests.rtl.conftest import need


def test_group_balances_consecutive_stages() -> None:
    sizes = [318, 684, 207, 343, 67, 28, 2, 28, 27]  # a tagger's stages (kB of Verilog)
    # about sum / 2 = 852 each, cut where a stage would take the piece beyond that
    assert group(sizes, 2) == [[0], [1], [2, 3, 4, 5, 6, 7, 8]]
    assert group(sizes, 1) == [list(range(9))]
    # never a target below the largest stage (684): no piece is cut smaller than needed
    assert group(sizes, 8) == [[0], [1], [2, 3, 4, 5, 6, 7], [8]]
    assert group([], 2) == []


def test_split_refuses_other_verilog() -> None:
    with pytest.raises(RtlError, match=r"'m' is not a design written by hepinfer.rtl.build"):
        split("module m(); endmodule\n", "m")


def test_pieces_simulate_as_the_emulator(tmp_path: Path) -> None:
    """Every stage its own module (the most cuts), wired by the top: Verilator gives the
    emulator's outputs bit for bit and the same latency. The model has DSP and shift-add
    products, registers of never-negative values (ReLU: their sign bit is not registered)
    and the softmax's ROMs, one addressed by a register that stays with it.
    """
    need("verilator")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (6, 5, 3), ("Relu", "Softmax")),
        {"Model": {"Precision": "ap_fixed<16,6>"}},
    )
    design = model.rtl_design()
    parts = split(design.verilog, design.top)
    assert [p.stages for p in parts.pieces] == [(k,) for k in range(design.stages + 1)]
    assert "_q <= " in design.verilog  # a register without its constant sign bit
    rom_pieces = [p for p in parts.pieces if "initial begin" in p.verilog]
    assert rom_pieces
    for p in parts.pieces:
        assert p.interface.startswith("(* blackbox *)\nmodule ")
    x = np.random.default_rng(3).normal(scale=2.0, size=(500, 6))
    result = model.rtlsim(x, design=dataclasses.replace(design, verilog=parts.verilog))
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    out = result.outputs[model.graph.outputs[0]]
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)
    assert result.latency == design.latency
