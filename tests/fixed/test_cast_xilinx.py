"""The casts against Xilinx's own `ap_fixed` headers: a generated C++ program is the oracle.

Every quantisation mode x every overflow mode (SAT_ZERO, SAT_SYM and WRAP with saturation bits
included) x signed/unsigned appears at least once for double -> fixed and for fixed -> fixed,
on types from 1 to 64 bits with negative I and I > W, fed with edge values (ties, range ends
and one step beyond, tiny and huge values, NaN, infinities, subnormals, -0.0). The program is
written from the template file `xilinx_oracle.cpp.jinja`, compiled with g++ against the
headers (from `$XILINX_HLS/include` or the hls4ml wheel) and every result compared bit for bit.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import numpy.typing as npt
import pytest

from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.headers import find_ap_types_headers

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
#: (overflow mode, use saturation bits) variants
OVERFLOW_VARIANTS = [
    (Overflow.WRAP, False),
    (Overflow.WRAP, True),
    (Overflow.SAT, False),
    (Overflow.SAT_ZERO, False),
    (Overflow.SAT_SYM, False),
]
EXTRA_RANDOM_CASES = 25  # per direction, on top of the 70 mode combinations


@dataclass(frozen=True)
class Case:
    dst: FixedType
    src: FixedType | None  # None: the inputs are doubles
    inputs: npt.NDArray[np.float64] | npt.NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.inputs.size)


def _random_shape(rng: np.random.Generator, signed: bool) -> tuple[int, int]:
    limit = 64 if signed else 63
    width = int(rng.choice([1, 2, 3, int(rng.integers(4, 54)), int(rng.integers(54, limit + 1))]))
    integer = int(rng.integers(-12, width + 14))
    return width, integer


def _type(
    rng: np.random.Generator, quant: Quant, overflow: Overflow, sat: bool, signed: bool
) -> FixedType:
    width, integer = _random_shape(rng, signed)
    n = 0
    if sat:
        n = min(width, int(rng.choice([1, 2, int(rng.integers(1, width + 1)), width])))
    return FixedType(width, integer, signed, quant, overflow, n)


def _float_inputs(t: FixedType, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    eps = t.eps
    k = np.concatenate(
        [
            rng.integers(-8, 9, size=40),
            np.array(
                [t.min_mantissa, t.max_mantissa, t.min_mantissa - 1, t.max_mantissa + 1],
                dtype=np.float64,  # one beyond a 64-bit range does not fit int64
            ),
            rng.integers(t.min_mantissa, t.max_mantissa, size=60, endpoint=True),
            (rng.integers(t.min_mantissa, t.max_mantissa, size=20, endpoint=True) * 3),
        ]
    ).astype(np.float64)
    near = np.concatenate([k, k + 0.5, k - 0.5])
    fine = eps * 2.0**-30
    exact = near * eps
    ulps = [np.nextafter(exact, np.inf), np.nextafter(exact, -np.inf)]  # one ulp off ties
    grid = np.concatenate([exact, exact + fine, exact - fine, *ulps])
    magnitudes = rng.uniform(0.5, 1.0, size=80) * 2.0 ** rng.integers(-60, 90, size=80)
    specials = np.array(
        [
            0.0,
            -0.0,
            np.nan,
            -np.nan,
            np.inf,
            -np.inf,
            1e300,
            -1e300,
            2.0**70,
            -(2.0**70),
            2.0**63,
            -(2.0**63),
            2.0**64,
            -(2.0**64),
            5e-324,
            -5e-324,
            2.2e-308,
            -2.2e-308,
            t.min,
            t.max,
            2.0**t.integer,
            -(2.0 ** (t.integer - 1)),
            1.0,
            -1.0,
            0.1,
            -0.1,
        ]
    )
    return np.concatenate([grid, magnitudes, -magnitudes, specials])


def _mantissa_inputs(
    src: FixedType, dst: FixedType, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    lo, hi = src.min_mantissa, src.max_mantissa
    values = [
        rng.integers(lo, hi, size=150, endpoint=True, dtype=np.int64),
        np.array([lo, hi, 0, 1, lo + 1, hi - 1], dtype=np.int64).clip(lo, hi),
    ]
    sh = src.frac - dst.frac
    if sh > 0:  # around the target's ties, grid points and range ends, as seen from the source
        k = np.concatenate(
            [
                rng.integers(-6, 7, size=20),
                rng.integers(
                    max(dst.min_mantissa - 2, -(2**63)),
                    min(dst.max_mantissa + 3, 2**63 - 1),
                    size=30,
                ),
                [dst.min_mantissa, dst.max_mantissa, dst.min_mantissa - 1, dst.max_mantissa + 1],
            ]
        ).astype(object)
        step = 1 << sh
        half = step >> 1
        near = np.concatenate(
            [k * step, k * step + half, k * step + half - 1, k * step + half + 1, k * step - 1]
        )
        near = near[(near >= lo) & (near <= hi)]
        values.append(near.astype(np.int64))
    elif sh < 0:  # sources just inside and outside the target's range after the left shift
        k = -sh
        edges = [
            dst.max_mantissa >> k,
            (dst.max_mantissa >> k) + 1,
            -((-dst.min_mantissa) >> k),
            -((-dst.min_mantissa) >> k) - 1,
        ]
        values.append(np.array([e for e in edges if lo <= e <= hi], dtype=np.int64))
    return np.concatenate(values)


def _cases() -> list[Case]:
    rng = np.random.default_rng(2026)
    combos = list(itertools.product(Quant, OVERFLOW_VARIANTS, [True, False]))
    cases: list[Case] = []
    for quant, (overflow, sat), signed in combos + [
        (
            Quant(rng.choice([q.value for q in Quant])),
            OVERFLOW_VARIANTS[int(rng.integers(5))],
            bool(rng.integers(2)),
        )
        for _ in range(EXTRA_RANDOM_CASES)
    ]:
        t = _type(rng, quant, overflow, sat, signed)
        cases.append(Case(t, None, _float_inputs(t, rng)))
    for quant, (overflow, sat), signed in combos + [
        (
            Quant(rng.choice([q.value for q in Quant])),
            OVERFLOW_VARIANTS[int(rng.integers(5))],
            bool(rng.integers(2)),
        )
        for _ in range(EXTRA_RANDOM_CASES)
    ]:
        dst = _type(rng, quant, overflow, sat, signed)
        src_signed = bool(rng.integers(2))
        width, integer = _random_shape(rng, src_signed)
        if rng.integers(3) == 0:  # often a source much finer or coarser than the target
            integer = dst.integer + int(rng.integers(-3, 4))
            width = min(64 if src_signed else 63, max(1, dst.width + int(rng.integers(-20, 40))))
        src = FixedType(width, integer, src_signed)
        cases.append(Case(dst, src, _mantissa_inputs(src, dst, rng)))
    return cases


def _hepinfer(case: Case) -> npt.NDArray[np.uint64]:
    if case.src is None:
        m = case.dst.to_mantissa(case.inputs)
    else:
        m = case.dst.cast_mantissa(case.inputs, case.src)
    return (m.view(np.uint64) & np.uint64((1 << case.dst.width) - 1)).astype(np.uint64)


@pytest.fixture(scope="module")
def headers() -> Path:
    found = find_ap_types_headers()
    if found is None:
        pytest.skip(
            "Xilinx ap_types headers not found (set XILINX_HLS or pip install --no-deps hls4ml)"
        )
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed (needed to compile the Xilinx oracle)")
    return found


def test_casts_match_xilinx_headers(headers: Path, tmp_path: Path) -> None:
    cases = _cases()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    source = env.get_template("xilinx_oracle.cpp.jinja").render(cases=cases)
    (tmp_path / "oracle.cpp").write_text(source)
    compiled = subprocess.run(
        # NDEBUG: the header asserts when it reads a rounding bit beyond the source's MSB,
        # a bit it then ignores (shifts right by more than the source width)
        [
            "g++",
            "-std=c++14",
            "-O1",
            "-DNDEBUG",
            "-w",
            f"-I{headers}",
            "oracle.cpp",
            "-o",
            "oracle",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    raw = np.concatenate([c.inputs.view(np.uint64) for c in cases])
    raw.tofile(tmp_path / "in.bin")
    subprocess.run(
        [str(tmp_path / "oracle"), "in.bin", "out.bin"], cwd=tmp_path, check=True, timeout=60
    )
    want_all = np.fromfile(tmp_path / "out.bin", dtype=np.uint64)
    assert want_all.size == raw.size
    start = 0
    failures = []
    for case in cases:
        want = want_all[start : start + case.n]
        start += case.n
        got = _hepinfer(case)
        bad = np.flatnonzero(got != want)
        if bad.size:
            i = int(bad[0])
            source = "double" if case.src is None else str(case.src)
            failures.append(
                f"{source} -> {case.dst}: {bad.size}/{case.n} differ, e.g. input {case.inputs[i]!r}: "
                f"hepinfer {int(got[i]):#x}, Xilinx {int(want[i]):#x}"
            )
    assert not failures, "\n".join(failures)
    assert len(cases) >= 180
