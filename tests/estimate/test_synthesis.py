"""Reading vendor synthesis reports, and `hepinfer report` (estimate vs synthesis).

The report files below are written by hand from the documented formats (no Vitis or Vivado
here): a Vitis HLS 2023.2 `csynth.xml` (`<profile>`: UserAssignments, PerformanceEstimates,
AreaEstimates) and a Vivado `report_utilization` text table as hls4ml's `vivado_synth.tcl`
writes it (`vivado_synth.rpt`). The figures are invented, not measured.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hepinfer.cli import main
from hepinfer.errors import EstimateError
from hepinfer.estimate.synthesis import compare_table, find_reports, read_csynth, read_utilization
from tests.hls.onnx_models import mlp

CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit>
    <ProductFamily>virtexuplus</ProductFamily>
    <Part>xcu250-figd2104-2L-e</Part>
    <TopModelName>myproject</TopModelName>
    <TargetClockPeriod>5.00</TargetClockPeriod>
    <ClockUncertainty>1.35</ClockUncertainty>
    <FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>yes</PipelineType>
    <SummaryOfTimingAnalysis>
      <unit>ns</unit>
      <EstimatedClockPeriod>3.650</EstimatedClockPeriod>
    </SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit>
      <Best-caseLatency>9</Best-caseLatency>
      <Average-caseLatency>9</Average-caseLatency>
      <Worst-caseLatency>11</Worst-caseLatency>
      <Best-caseRealTimeLatency>45.000 ns</Best-caseRealTimeLatency>
      <Interval-min>1</Interval-min>
      <Interval-max>1</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources>
      <BRAM_18K>2</BRAM_18K>
      <DSP>40</DSP>
      <FF>5405</FF>
      <LUT>21405</LUT>
      <URAM>0</URAM>
    </Resources>
    <AvailableResources>
      <BRAM_18K>5376</BRAM_18K>
      <DSP>12288</DSP>
      <FF>3456000</FF>
      <LUT>1728000</LUT>
      <URAM>1280</URAM>
    </AvailableResources>
  </AreaEstimates>
</profile>
"""

UTILIZATION = """Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.
| Tool Version : Vivado v.2023.2 (lin64) Build 4029153 Fri Oct 13 20:13:54 MDT 2023
| Design       : myproject
| Device       : xcu250-figd2104-2L-e
| Design State : Synthesized

1. CLB Logic
------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| CLB LUTs*                  | 18211 |     0 |          0 |   1728000 |  1.05 |
|   LUT as Logic             | 18011 |     0 |          0 |   1728000 |  1.04 |
| CLB Registers              |  4980 |     0 |          0 |   3456000 |  0.14 |
+----------------------------+-------+-------+------------+-----------+-------+

3. BLOCKRAM
-----------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| Block RAM Tile |  1.5 |     0 |          0 |      2688 |  0.06 |
|   RAMB36/FIFO* |    1 |     0 |          0 |      2688 |  0.04 |
|   RAMB18       |    1 |     0 |          0 |      5376 |  0.02 |
| URAM           |    0 |     0 |          0 |      1280 |  0.00 |
+----------------+------+-------+------------+-----------+-------+

4. ARITHMETIC
-------------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |   38 |     0 |          0 |     12288 |  0.31 |
|   DSP48E2 only |   38 |       |            |           |       |
+----------------+------+-------+------------+-----------+-------+
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "prj"
    report = root / "myproject_prj" / "solution1" / "syn" / "report"
    report.mkdir(parents=True)
    (report / "myproject_csynth.xml").write_text(CSYNTH)
    (root / "vivado_synth.rpt").write_text(UTILIZATION)
    return root


def test_read_csynth(project: Path) -> None:
    r = read_csynth(next(project.rglob("*csynth.xml")))
    assert r.resources == {"dsp": 40, "lut": 21405, "ff": 5405, "bram18k": 2, "uram": 0}
    assert r.latency == (9, 11)
    assert r.ii == (1, 1)
    assert r.part == "xcu250-figd2104-2L-e"
    assert r.clock_period == 5.0
    assert r.estimated_clock == 3.65


def test_read_vivado_utilization(project: Path) -> None:
    r = read_utilization(project / "vivado_synth.rpt")
    assert r.resources == {"lut": 18211, "ff": 4980, "bram18k": 3, "uram": 0, "dsp": 38}
    assert r.part == "xcu250-figd2104-2L-e"


def test_bad_reports(tmp_path: Path) -> None:
    (tmp_path / "x_csynth.xml").write_text("<profile/>")
    with pytest.raises(EstimateError, match="no AreaEstimates/Resources"):
        read_csynth(tmp_path / "x_csynth.xml")
    (tmp_path / "u.rpt").write_text("nothing here\n")
    with pytest.raises(EstimateError, match=re.escape("no 'Site Type | Used' rows")):
        read_utilization(tmp_path / "u.rpt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EstimateError, match="no synthesis report under"):
        find_reports(tmp_path / "empty")


def test_compare_table_without_estimate(project: Path) -> None:
    table = compare_table(None, find_reports(project))
    assert "21,405" in table
    assert "18,211" in table
    assert "estimated clock 3.65 ns" in table


def test_report_command_estimate_vs_synthesis(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "Softmax"))
    assert main(["report", str(project), "--model", str(model), "--semantics", "hls4ml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("semantics: hls4ml")
    assert "estimate" in out
    assert "hls (myproject_csynth.xml)" in out
    assert "vivado (vivado_synth.rpt)" in out
    dsp = next(line for line in out.splitlines() if line.startswith("DSP"))
    assert "40" in dsp
    assert "%" in dsp
