"""`hepinfer fixed`: type summary, value casts, .npy arrays, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepinfer.cli import main
from hepinfer.fixed import FixedType


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixed", "fixed<16,6,RND,SAT>", "3.14159", "-40", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "ap_fixed<16,6,AP_RND,AP_SAT>"
    assert "min -32.0  max 31.9990234375  eps 0.0009765625" in out
    assert "3.14159 -> 3.1416015625" in out
    assert "m=3217" in out
    assert "0b0000110010010001 0x0c91" in out
    assert "-40 -> -32.0" in out
    assert out.count("OVERFLOW") == 1


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixed", "ap_ufixed<4,2,AP_TRN,AP_WRAP>", "1.3", "5", "nan", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["type_info"]["type"] == "ap_ufixed<4,2>"
    assert report["type_info"]["eps"] == 0.25
    first, wrapped, nan = report["values"]
    assert (first["value"], first["mantissa"], first["bits"], first["hex"]) == (
        1.25,
        5,
        "0b0101",
        "0x5",
    )
    assert (first["overflow"], wrapped["value"], wrapped["overflow"]) == (False, 1.0, True)
    assert nan["error"] == "nan"
    assert nan["overflow"]


def test_arrays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).normal(0, 3, size=(50, 4))
    np.save(tmp_path / "x.npy", x)
    t = FixedType.parse("ap_fixed<8,3,AP_RND,AP_SAT>")
    assert (
        main(["fixed", str(t), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 0
    )
    assert np.array_equal(np.load(tmp_path / "y.npy"), t.cast(x))
    out = capsys.readouterr().out
    assert "200 values, shape (50, 4)" in out
    assert f"overflowed: {int(np.count_nonzero((x >= 4.0 - 1 / 64) | (x < -4.0 - 1 / 64)))}" in out
    args = [
        "fixed",
        str(t),
        "-i",
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "m.npy"),
        "--mantissa",
        "--json",
    ]
    assert main(args) == 0
    m = np.load(tmp_path / "m.npy")
    assert m.dtype == np.int64
    assert np.array_equal(m, t.to_mantissa(x))
    assert json.loads(capsys.readouterr().out)["file"]["output_kind"] == "int64 mantissas"


def test_wide_types_show_exact_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixed", "ap_fixed<64,40>", "--", "-1e30", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "exactly: min -549755813888  max 549755813887.999999940395355224609375" in out
    assert "m=25165824 " in out  # 1.5 * 2**24


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["fixed", "ap_fixed<16,6,AP_FOO>"], 1, "unknown quantisation mode 'AP_FOO'"),
        (["fixed", "ap_fixed<8,3>", "abc"], 1, "cannot read the values"),
        (["fixed", "ap_fixed<8,3>", "-o", "y.npy"], 2, "-o/--output needs -i/--input"),
        (["fixed", "ap_fixed<8,3>", "--mantissa"], 2, "--mantissa needs -o/--output"),
        (["fixed", "ap_fixed<8,3>", "-i", "missing.npy"], 1, "cannot read 'missing.npy'"),
    ],
)
def test_errors(
    argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    assert needle in capsys.readouterr().err
