"""The bit-level helpers of the kernel library (hepinfer_common.h) and the word-wise repack
(hepinfer_stream.h), compiled with g++ against both header sets and checked against integer
arithmetic in Python.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hepinfer.fixed import FixedType
from hepinfer.hls.csim import header_dir
from hepinfer.hls.writer import templates_dir
from hepinfer.knobs import Headers

TYPES = [
    FixedType.parse("ap_fixed<12,4>"),
    FixedType.parse("ap_ufixed<6,2>"),
    FixedType.parse("ap_fixed<10,12>"),
    FixedType.parse("ap_fixed<8,-2>"),
    FixedType.parse("ap_ufixed<9,9>"),
    FixedType.parse("ap_fixed<20,3,AP_RND,AP_SAT>"),
]
REPACKS = [(2, 6), (6, 2), (4, 6), (6, 4), (3, 3)]
N_VALUES = 12


def _pattern(m: int, t: FixedType) -> int:
    return m & ((1 << t.width) - 1)


def _top(m: int, t: FixedType, bits: int) -> int:
    p = _pattern(m, t)
    return p >> (t.width - bits) if t.width >= bits else p << (bits - t.width)


def _program(mantissas: dict[str, list[int]]) -> str:
    lines = [
        "#include <cstdio>",
        '#include "ap_fixed.h"',
        '#include "hepinfer_common.h"',
        '#include "hepinfer_stream.h"',
        "int main() {",
    ]
    for k, t in enumerate(TYPES):
        values = ", ".join(repr(float(v)) for v in t.from_mantissa(np.array(mantissas[str(t)])))
        lines += [
            f"    {{ typedef {t} T; const double v[] = {{{values}}};",
            f"      for (int i = 0; i < {len(mantissas[str(t)])}; i++) {{",
            "        T x = v[i];",
            "        T back = hepinfer::from_mantissa<T>(hepinfer::mantissa(x));",
            (
                f'        std::printf("{k} %lld %u %u %d\\n", (long long)hepinfer::mantissa(x).to_int(),'
                f" hepinfer::top_bits<5>(x), hepinfer::top_bits<{t.width + 3}>(x), back == x);"
            ),
            "      }",
            f'      std::printf("{k} lowest %.17g\\n", hepinfer::lowest<T>().to_double()); }}',
        ]
    for w_in, w_out in REPACKS:
        lines += [
            (
                f"    {{ hls::stream<hepinfer::packet<ap_int<8>, {w_in}> > in;"
                f" hls::stream<hepinfer::packet<ap_int<8>, {w_out}> > out;"
            ),
            f"      for (int i = 0; i < {N_VALUES // w_in}; i++) {{",
            f"        hepinfer::packet<ap_int<8>, {w_in}> p;",
            f"        for (int j = 0; j < {w_in}; j++) p[j] = i * {w_in} + j;",
            "        in.write(p); }",
            f"      hepinfer::repack<ap_int<8>, {w_in}, {w_out}, {N_VALUES}>(in, out);",
            f'      std::printf("repack {w_in} {w_out}");',
            "      while (!out.empty()) { auto q = out.read();",
            f'        for (int j = 0; j < {w_out}; j++) std::printf(" %d", q[j].to_int()); }}',
            '      std::printf(" left %d\\n", (int)!in.empty()); }',
        ]
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("headers", ["hepinfer", "xilinx"])
def test_bit_helpers_and_repack(headers: str, tmp_path: Path) -> None:
    kind, folder = header_dir(Headers.AUTO if headers == "xilinx" else Headers.HEPINFER)
    if kind.value != headers:
        pytest.skip("Xilinx's ap_types headers not found (pip install hls4ml)")
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    rng = np.random.default_rng(3)
    mantissas: dict[str, list[int]] = {}
    for t in TYPES:
        lo, hi = (
            (-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1)
            if t.signed
            else (0, (1 << t.width) - 1)
        )
        mantissas[str(t)] = [lo, hi, 0, *(int(v) for v in rng.integers(lo, hi + 1, size=20))]
    source = tmp_path / "t.cpp"
    source.write_text(_program(mantissas))
    kernels = templates_dir() / "kernels"
    exe = tmp_path / "t"
    cmd = ["g++", "-std=c++14", "-O1", f"-I{folder}", f"-I{kernels}", str(source), "-o", str(exe)]
    subprocess.run(cmd, check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    rows = iter(out)
    for k, t in enumerate(TYPES):
        for m in mantissas[str(t)]:
            expected = f"{k} {m} {_top(m, t, 5)} {_top(m, t, t.width + 3)} 1"
            assert next(rows) == expected, t
        lowest = float(t.from_mantissa(np.array([-(1 << (t.width - 1)) if t.signed else 0]))[0])
        assert next(rows) == f"{k} lowest {lowest:.17g}", t
    for w_in, w_out in REPACKS:
        values = " ".join(str(v) for v in range(N_VALUES))
        assert next(rows) == f"repack {w_in} {w_out} {values} left 0"
