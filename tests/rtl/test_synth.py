"""Yosys synthesis of the generated Verilog, and its column in the estimate."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import hepinfer
from hepinfer.errors import RtlError
from hepinfer.estimate import Estimate
from hepinfer.rtl.pieces import split
from hepinfer.rtl.synth import (
    SYNTH_FLAGS,
    family,
    parse_stat,
    synth_script,
    synthesise,
    yosys,
)
from tests.hls.onnx_models import mlp
from tests.rtl.conftest import need


@pytest.mark.parametrize(
    ("part", "fam"),
    [
        ("xcvu13p-flga2577-2-e", "xcup"),
        ("xcu250-figd2104-2L-e", "xcup"),
        ("xczu7ev", "xcup"),
        ("xcku115", "xcu"),
        ("xcku5p", "xcup"),
        ("xc7z020clg400-1", "xc7"),
    ],
)
def test_family(part: str, fam: str) -> None:
    assert family(part) == fam


def test_unknown_family() -> None:
    with pytest.raises(RtlError, match=r"'xc2v1000'.*7 series"):
        family("xc2v1000")


def test_parse_stat() -> None:
    text = "   Number of cells:   10\n     LUT2    3\n     FDRE   5\n     DSP48E2  2\n"
    assert parse_stat(text) == {"LUT2": 3, "FDRE": 5, "DSP48E2": 2}


def test_estimate_gains_a_synthesised_column(tmp_path: Path) -> None:
    need("yosys")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "")),
        {"Model": {"Precision": {"default": "ap_fixed<12,5>", "weight": "ap_fixed<10,3>"}}},
    )
    est = model.estimate(part="xcvu13p", synthesise=True)
    syn = est.synthesised
    assert syn is not None
    assert syn.lut > 0
    assert syn.ff > 0
    assert syn.dsp > 0  # 10-bit weights with many signed digits go to DSPs
    assert "synthesised (" in est.to_table()
    assert Estimate.from_json(est.to_json()).synthesised == syn
    png = est.plot(tmp_path / "est.png")
    assert png.read_bytes().startswith(b"\x89PNG")


def test_adders_stay_carry_chains(tmp_path: Path) -> None:
    """Every adder is its own carry chain: Yosys' `alumacc` does not merge a Dense layer's
    accumulation (products quantised to a 16-bit wrapping accum_t, as in the unpruned jet
    tagger at ap_fixed<16,6>) into a multi-operand `$macc`, which it maps to LUT3-6 and
    MUXF7-9 compressor trees (the unpruned tagger's 37k LUT6 and most of its Yosys time).
    """
    need("yosys")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (8, 2), ("",)), {"Model": {"Precision": "ap_fixed<16,6>"}}
    )
    design = model.rtl_design()
    assert design.counts["adders"] >= 2 * 7  # two 8-input sums (and the products' adders)
    report = synthesise(design, "xcvu13p", timeout=600)
    assert report.carries > 0
    wide = {k: v for k, v in report.cells.items() if re.fullmatch(r"LUT[3-6]|MUXF\d", k)}
    assert not wide, wide


def test_script_maps_as_synth_xilinx(tmp_path: Path) -> None:
    """The synthesis script (`synth_xilinx`'s steps by label, with `fsm`, `check` and the
    repeats of one `opt -fast` left out and an `opt_clean` after the DSP mapping) maps a
    design with DSPs, adders, saturations and a ROM to the same cells as one plain
    `synth_xilinx` with the same flags.
    """
    need("yosys")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (4, 3, 2), ("Relu", "Sigmoid")),
        {"Model": {"Precision": "ap_fixed<16,6>"}},
    )
    design = model.rtl_design()
    assert design.counts["dsp_multipliers"] > 0
    assert design.counts["adders"] > 0
    assert design.counts["rom_bits"] > 0
    top = tmp_path / "top.v"
    top.write_text(design.verilog)
    stats = {}
    for name, synth in (
        ("ours", synth_script("xcup", design.top)),
        ("plain", f"synth_xilinx -family xcup -top {design.top} {SYNTH_FLAGS}"),
    ):
        out = tmp_path / f"{name}.txt"
        subprocess.run(
            [*yosys(), "-q", "-p", f"read_verilog -sv {top}; {synth}; tee -q -o {out} stat"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        stats[name] = parse_stat(out.read_text())
    script = synth_script("xcup", design.top)
    assert "fsm" not in script
    assert "opt_clean" in script
    assert stats["ours"] == stats["plain"]
    assert stats["ours"].get("DSP48E2", 0) > 0
    assert stats["ours"].get("CARRY4", 0) > 0
    assert not {k for k in stats["ours"] if k.startswith(("SRL", "IBUF", "OBUF", "BUFG"))}


def test_pieces_count_as_the_flat_synthesis(tmp_path: Path) -> None:
    """`synthesise(jobs=2)` (the design cut at its pipeline registers, the pieces and the top
    in concurrent Yosys runs) maps to the flat run's DSPs, carry chains and flip-flops, and
    LUTs within 5 % (`docs/rtl.md`: a cut loses what a flat run propagates across
    registers; on this model none).
    """
    need("yosys")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (8, 6, 4), ("Relu", "")),
        {"Model": {"Precision": "ap_fixed<16,6>"}},
    )
    design = model.rtl_design()
    flat = synthesise(design, "xcvu13p", timeout=600)
    parts = synthesise(design, "xcvu13p", timeout=600, jobs=2)
    assert parts.runs == len(split(design.verilog, design.top, 2).pieces) + 1 > 2
    assert flat.runs == 1
    assert (parts.dsps, parts.carries, parts.ffs) == (flat.dsps, flat.carries, flat.ffs)
    assert flat.dsps > 0
    assert abs(parts.luts - flat.luts) <= 0.05 * flat.luts, (parts.luts, flat.luts)
    assert 0 < parts.longest_path_cells <= flat.longest_path_cells
    assert "into" in parts.table()
    with pytest.raises(RtlError, match=r"jobs=0: .* >= 1"):
        synthesise(design, "xcvu13p", jobs=0)


def test_jet_tagger_synthesises_within_five_minutes(shared_data: Path) -> None:
    """Issue 14: Yosys synthesis of the jet tagger of hls4ml's results (KERAS_3layer,
    unpruned, at hls4ml's configuration: ap_fixed<16,6>, Latency, RF 1, with its softmax)
    completes within 5 minutes of wall time in CI, with two concurrent Yosys runs
    (`synthesise(jobs=2)`: the design cut at its pipeline registers into pieces; ~210 s of
    CPU in all, the largest piece ~90 s; one flat run takes ~250-320 s of CPU), and its
    figures agree with the generator's manifest.
    """
    need("yosys")
    folder = shared_data / "hls4ml-example-models" / "keras"
    source = (folder / "KERAS_3layer.json", folder / "KERAS_3layer_weights.h5")
    model = hepinfer.compile(source, hepinfer.config_from_model(source))
    design = model.rtl_design()
    report = synthesise(design, "xcvu13p", timeout=1800, jobs=2)
    # one DSP48E2 per DSP product of the manifest, less the few Yosys merges (identical
    # products) or narrows into LUTs
    n_dsp = design.counts["dsp_multipliers"]
    assert n_dsp > 1000
    assert 0.98 * n_dsp <= report.dsps <= n_dsp, (report.dsps, n_dsp)
    assert report.luts > 0
    assert report.carries > 0  # the adders' carry chains
    # at most every pipeline register bit, the ports' registers and the valid chain (Yosys
    # drops constant and duplicate bits)
    ports = sum(p.bits for p in (*design.inputs, *design.outputs))
    assert 0 < report.ffs <= design.counts["pipeline_register_bits"] + ports + design.latency
    assert report.brams == 1  # the softmax's inverse table, its address register kept with it
    assert report.longest_path_cells > 0
    assert report.runs > 2
    assert report.seconds < 300, (report.seconds, report.cpu_seconds)
