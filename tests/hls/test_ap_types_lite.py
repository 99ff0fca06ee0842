"""hepinfer's own ap_fixed header (templates/ap_types_lite) against hepinfer.fixed.

Every quantisation and overflow mode, signed and unsigned, saturation bits, negative and
large integer widths: float -> fixed, fixed -> fixed, and the exact product and sum types.
`hepinfer.fixed` is itself checked against Xilinx's headers and APyTypes (tests/fixed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hepinfer.fixed import FixedType, Overflow, Quant, add_type, mul_type
from hepinfer.hls.writer import templates_dir

SOURCE = FixedType(40, 16)


def _types() -> list[FixedType]:
    out = []
    for q in Quant:
        for o in Overflow:
            out += [FixedType(9, 3, True, q, o), FixedType(7, 2, False, q, o)]
    out += [
        FixedType(6, -2, True, Quant.RND, Overflow.SAT),
        FixedType(8, 10, True, Quant.RND_CONV, Overflow.WRAP),
        FixedType(12, 4, True, Quant.TRN, Overflow.WRAP, 3),
        FixedType(10, 5, False, Quant.RND, Overflow.WRAP, 2),
        FixedType(30, 12, True, Quant.RND_INF, Overflow.SAT_SYM),
        FixedType(1, 1, True, Quant.RND, Overflow.SAT),
    ]
    return out


def _values() -> np.ndarray:
    rng = np.random.default_rng(7)
    grid = rng.integers(-(1 << 19), 1 << 19, size=1500) * 2.0**-12  # exact ties for F < 12
    wide = rng.normal(size=500) * 10.0 ** rng.integers(-3, 4, size=500)
    edges = np.array([0.0, -0.0, 1e-9, -1e-9, 1e6, -1e6, 0.5, -0.5, 1.5, -1.5, 3.96875, -4.0])
    return np.concatenate([grid, wide, edges])


@pytest.fixture(scope="module")
def lite_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    tmp = tmp_path_factory.mktemp("lite")
    (tmp / "types.inc").write_text("".join(f"X({t})\n" for t in _types()))
    x = SOURCE.cast(_values())  # exact in the fixed -> fixed source type as well
    x.astype("<f8").tofile(tmp / "x.bin")
    exe = tmp / "check"
    cmd = ["g++", "-O0", "-std=c++14", f"-I{templates_dir() / 'ap_types_lite'}", f"-I{tmp}"]
    subprocess.run(
        [*cmd, str(Path(__file__).with_name("cast_check.cpp")), "-o", str(exe)], check=True
    )
    subprocess.run([str(exe), str(tmp / "x.bin"), str(tmp / "out.bin")], check=True)
    return x, np.fromfile(tmp / "out.bin", dtype="<i8")


@pytest.mark.parametrize("index", range(len(_types())), ids=[str(t) for t in _types()])
def test_lite_header_equals_hepinfer_fixed(
    lite_results: tuple[np.ndarray, np.ndarray], index: int
) -> None:
    x, out = lite_results
    n = x.size
    per_type = 4 * n - 2
    got = out[index * per_type : (index + 1) * per_type]
    t = _types()[index]
    m = t.to_mantissa(x)
    np.testing.assert_array_equal(got[:n], m, err_msg=f"double -> {t}")
    np.testing.assert_array_equal(
        got[n : 2 * n], t.cast_mantissa(SOURCE.to_mantissa(x), SOURCE), err_msg=f"fixed -> {t}"
    )
    np.testing.assert_array_equal(got[2 * n : 3 * n - 1], m[:-1] * m[1:], err_msg=f"{t} * {t}")
    st = add_type(t, t)
    assert mul_type(t, t).width == 2 * t.width
    np.testing.assert_array_equal(
        got[3 * n - 1 :], (m[:-1] + m[1:]) << (st.frac - t.frac), err_msg=f"{t} + {t}"
    )
