"""The C-simulation fast paths (hepinfer_fast.h) against the firmware kernels they stand in for.

One program per header set runs, on random layers, `hepinfer::fast::dense` next to
`hepinfer::dense_latency` and `hepinfer::fast::conv_2d_cl` next to the firmware's window
gather + `dense_latency` (what `conv_2d_cl` computes), and prints every output of both. Types
are random: widths 1..30 (64-bit lanes past 32 product bits), negative and large integer
parts (I > W for data, weights and biases), signed and unsigned data and weights, accumulators in every quantisation mode with
more or fewer fractional bits than the products, results in every quantisation and overflow
mode. Accumulators that saturate, or that are wider than the fast path takes, must fall back
to the firmware kernel (the fast path declines them).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hepinfer.fixed import FixedType
from hepinfer.hls.csim import header_dir
from hepinfer.hls.writer import templates_dir
from hepinfer.knobs import Headers

QUANT = (
    "AP_TRN",
    "AP_TRN_ZERO",
    "AP_RND",
    "AP_RND_ZERO",
    "AP_RND_MIN_INF",
    "AP_RND_INF",
    "AP_RND_CONV",
)
OVERFLOW = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
ROWS = 6  # inputs per layer


@dataclass(frozen=True)
class Case:
    """One random layer: its types, shape and whether the fast path must take it."""

    data: str
    weight: str
    bias: str
    accum: str
    result: str
    n_in: int
    n_out: int
    fast: bool
    conv: tuple[int, ...] = ()  # in_h, in_w, chan, filt_h, filt_w, stride, pad_top, pad_left


def _type(rng: np.random.Generator, width: int, quant: str = "", over: str = "") -> str:
    # targets of casts (with modes) keep I <= W: Xilinx's headers assert on some casts into
    # I > W types (a bit read past the MSB), in the firmware kernel as well
    integer = int(rng.integers(-2, width + 1 if quant else width + 3))
    signed = rng.random() < 0.7
    name = "ap_fixed" if signed else "ap_ufixed"
    modes = f",{quant},{over}" if quant else ""
    return f"{name}<{width},{integer}{modes}>"


def _cases() -> list[Case]:
    rng = np.random.default_rng(15)
    cases = []
    for k in range(28):
        wide = k % 4 == 3  # products past 32 bits: 64-bit lanes
        wx, ww = (
            (int(rng.integers(14, 31)), int(rng.integers(14, 31)))
            if wide
            else (
                int(rng.integers(1, 17)),
                int(rng.integers(1, 17)),
            )
        )
        saturating = k % 7 == 5
        over = "AP_SAT" if saturating else "AP_WRAP"
        accum = _type(rng, int(rng.integers(4, 54 if wide else 33)), QUANT[k % 7], over)
        result = _type(rng, int(rng.integers(2, 20)), QUANT[(k * 3) % 7], OVERFLOW[k % 4])
        weight = "ap_int<5>" if k == 4 else _type(rng, ww)
        conv = ()
        if k % 5 == 2:  # Conv2D: input h, w, channels, kernel h, w, stride, pad top, pad left
            conv = (5, 6, int(rng.integers(1, 4)), 3, int(rng.integers(1, 4)), 1 + k % 2, 1, 1)
        n_in = conv[2] * conv[3] * conv[4] if conv else int(rng.integers(1, 20))
        n_out = int(rng.choice([1, 3, 8, 11]))
        cases.append(
            Case(
                _type(rng, wx),
                weight,
                _type(rng, 12),
                accum,
                result,
                n_in,
                n_out,
                not saturating,
                conv,
            )
        )
    cases.append(  # an accumulator too wide for doubles: the firmware kernel runs
        Case(
            "ap_fixed<16,6>",
            "ap_fixed<16,6>",
            "ap_fixed<16,6>",
            "ap_fixed<60,20>",
            "ap_fixed<16,6>",
            4,
            3,
            False,
        )
    )
    return cases


def _values(t: FixedType, n: int, rng: np.random.Generator) -> str:
    lo, hi = t.min_mantissa, t.max_mantissa
    m = rng.integers(lo, hi + 1, size=n)
    m[: min(n, 2)] = [lo, hi][: min(n, 2)]  # the extremes
    m[rng.random(n) < 0.2] = 0
    return ", ".join(repr(float(v)) for v in t.from_mantissa(m))


def _config(k: int, c: Case) -> list[str]:
    lines = [
        f"struct cfg{k} {{",
        "    static const hepinfer::strategy strategy = hepinfer::latency;",
    ]
    consts = {"n_in": c.n_in, "n_out": c.n_out, "n_weights": c.n_in * c.n_out, "reuse_factor": 1}
    consts["multiplier_limit"] = c.n_in * c.n_out
    if c.conv:
        h, w, ch, fh, fw, s, pt, pl = c.conv
        consts |= {"in_height": h, "in_width": w, "n_chan": ch, "n_filt": c.n_out}
        consts |= {"filt_height": fh, "filt_width": fw, "stride_height": s, "stride_width": s}
        consts |= {"pad_top": pt, "pad_left": pl, "dilation_height": 1, "dilation_width": 1}
        consts |= {
            "out_height": (h + 2 * pt - fh) // s + 1,
            "out_width": (w + 2 * pl - fw) // s + 1,
        }
        consts |= {"n_partitions": consts["out_height"] * consts["out_width"], "n_pixels": 1}
    lines += [f"    static const int {key} = {value};" for key, value in consts.items()]
    for key, t in (("weight_t", c.weight), ("bias_t", c.bias), ("accum_t", c.accum)):
        lines.append(f"    typedef {t} {key};")
    return [*lines, "};"]


def _program(cases: list[Case]) -> str:
    rng = np.random.default_rng(4)
    lines = ["#include <cstdio>", '#include "hepinfer_conv.h"', '#include "hepinfer_fast.h"']
    body = ["int main() {"]
    for k, c in enumerate(cases):
        lines += _config(k, c)
        dt, wt, bt = (FixedType.parse(t) for t in (c.data, c.weight, c.bias))
        n_x = c.conv[0] * c.conv[1] * c.conv[2] if c.conv else c.n_in
        n_y = (_out_pixels(c) if c.conv else 1) * c.n_out
        fn = "conv" if c.conv else "dense"
        body += [
            f"  {{ typedef {c.data} D; typedef {c.result} R; typedef cfg{k} C;",
            f"    static const double w[] = {{{_values(wt, c.n_in * c.n_out, rng)}}};",
            f"    static const double b[] = {{{_values(bt, c.n_out, rng)}}};",
            f"    static C::weight_t wq[{c.n_in * c.n_out}]; static C::bias_t bq[{c.n_out}];",
            f"    for (int i = 0; i < {c.n_in * c.n_out}; i++) wq[i] = w[i];",
            f"    for (int i = 0; i < {c.n_out}; i++) bq[i] = b[i];",
            f"    static const double x[] = {{{_values(dt, ROWS * n_x, rng)}}};",
            f"    for (int r = 0; r < {ROWS}; r++) {{",
            f"      D in[{n_x}]; R fast[{n_y}], ref[{n_y}];",
            f"      for (int i = 0; i < {n_x}; i++) in[i] = x[r * {n_x} + i];",
            f"      const bool ran = reference_{fn}<D, R, C>(in, fast, ref, wq, bq);",
            f'      std::printf("{k} %d", (int)ran);',
            f'      for (int j = 0; j < {n_y}; j++) std::printf(" %.17g/%.17g", fast[j].to_double(), ref[j].to_double());',
            '      std::printf("\\n");',
            "    }",
            "  }",
        ]
    helpers = [
        "template <class D, class R, class C>",
        "bool reference_dense(const D *in, R *fast, R *ref, const typename C::weight_t *w, const typename C::bias_t *b) {",
        "    hepinfer::dense_latency<D, R, C>(in, ref, w, b);",
        "    const bool ran = hepinfer::fast::dense<D, R, C>(in, fast, w, b);",
        "    if (!ran) hepinfer::dense_latency<D, R, C>(in, fast, w, b);",
        "    return ran;",
        "}",
        "template <class D, class R, class C>",
        "bool reference_conv(const D *in, R *fast, R *ref, const typename C::weight_t *w, const typename C::bias_t *b) {",
        "    for (int oh = 0; oh < C::out_height; oh++)",
        "      for (int ow = 0; ow < C::out_width; ow++) {",
        "        D window[C::n_in];",
        "        for (int kh = 0; kh < C::filt_height; kh++)",
        "          for (int kw = 0; kw < C::filt_width; kw++)",
        "            for (int c = 0; c < C::n_chan; c++) {",
        "              const int ih = oh * C::stride_height - C::pad_top + kh, iw = ow * C::stride_width - C::pad_left + kw;",
        "              const bool inside = ih >= 0 && ih < C::in_height && iw >= 0 && iw < C::in_width;",
        "              window[(kh * C::filt_width + kw) * C::n_chan + c] = inside ? in[(ih * C::in_width + iw) * C::n_chan + c] : D(0);",
        "            }",
        "        hepinfer::dense_latency<D, R, C>(window, ref + (oh * C::out_width + ow) * C::n_filt, w, b);",
        "      }",
        "    const bool ran = hepinfer::fast::conv_2d_cl<D, R, C>(in, fast, w, b);",
        "    if (!ran) hepinfer::conv_2d_cl<D, R, C>(in, fast, w, b);  // the firmware kernel",
        "    return ran;",
        "}",
    ]
    return "\n".join([*lines, *helpers, *body, "  return 0;", "}"]) + "\n"


def _out_pixels(c: Case) -> int:
    h, w, _, fh, fw, s, pt, pl = c.conv
    return ((h + 2 * pt - fh) // s + 1) * ((w + 2 * pl - fw) // s + 1)


@pytest.mark.parametrize("headers", ["hepinfer", "xilinx"])
def test_fast_paths_equal_the_firmware_kernels(headers: str, tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    kind, folder = header_dir(Headers(headers))
    if kind.value != headers:
        pytest.skip(f"{headers} headers not found")
    cases = _cases()
    src = tmp_path / "fast.cpp"
    src.write_text(_program(cases))
    kernels = templates_dir() / "kernels"
    exe = tmp_path / "fast"
    cmd = ["g++", "-O0", "-std=c++14", f"-I{folder}", f"-I{kernels}", str(src), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    seen: dict[int, bool] = {}
    differing = []
    for line in out.splitlines():
        k, ran, *pairs = line.split()
        seen[int(k)] = ran == "1"
        differing += [(cases[int(k)], p) for p in pairs if p.split("/")[0] != p.split("/")[1]]
    assert not differing, f"{len(differing)} outputs differ, e.g. {differing[:3]}"
    assert seen == {k: c.fast for k, c in enumerate(cases)}, "the fast path took other layers"
    # not vacuous: outputs vary
    assert len({p for line in out.splitlines() for p in line.split()[2:]}) > 100


def test_libraries_share_no_state(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast paths' caches are per library: no STB_GNU_UNIQUE symbol (which the dynamic
    linker would share between two models' libraries naming the same layer config).
    """
    if shutil.which("g++") is None or shutil.which("nm") is None:
        pytest.skip("g++ or nm not installed")
    import hepinfer
    from hepinfer.hls.csim import prepare
    from hepinfer.hls.writer import render

    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path))
    keras = shared_data / "hls4ml-example-models" / "keras"
    model = hepinfer.compile(
        (keras / "KERAS_conv1d_small.json", keras / "KERAS_conv1d_small_weights.h5")
    )
    lib = prepare(render(model.graph, weight_headers=False), Headers.HEPINFER).lib
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(lib)], check=True, capture_output=True, text=True
    )
    assert "hepinfer_run" in symbols.stdout
    unique = [line for line in symbols.stdout.splitlines() if " u " in line]
    assert not unique, unique[:3]


# The element-wise fast paths (issue 15, Xilinx's headers): casts on raw mantissas (ReLU,
# linear), the C ABI's double conversions, BatchNorm and table softmax, each against the
# firmware kernel (built with HEPINFER_CSIM_NO_FAST_PATH) or the header's own conversion.


def _any_type(rng: np.random.Generator) -> str:
    """A random source type (no modes): widths 1..30, I from -2 to W + 2, signed or not."""
    return _type(rng, int(rng.integers(1, 31)))


def _cast_type(rng: np.random.Generator, k: int, least: int = 1) -> str:
    """A random cast target (at least `least` bits) in quantisation mode k % 7, overflow k // 7."""
    return _type(rng, int(rng.integers(least, 25)), QUANT[k % 7], OVERFLOW[(k // 7) % 4])


def _doubles(t: FixedType, rng: np.random.Generator) -> str:
    """Doubles around and far outside `t`'s range: ties, extremes, tiny and huge values."""
    ulp = 2.0**-t.frac
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=8)
    values = [*(m * ulp), *((m + 0.5) * ulp), *((m + 0.25) * ulp), *((m - 0.5) * ulp)]
    values += list(rng.standard_normal(8) * 2.0 ** rng.integers(-60, 60, size=8))
    top, bottom = (t.max_mantissa + 1) * ulp, (t.min_mantissa - 1) * ulp
    values += [top, bottom, top * 4 + 1, 2.0**70, -(2.0**70)]
    values += [1e300, -1e300, 2.0**-70, -(2.0**-70), 0.0, -0.0, 5e-324, -1e-310]
    return ", ".join(repr(float(v)) for v in values)


def _elementwise_program(rng: np.random.Generator) -> tuple[str, int]:
    lines = [
        "#include <cstdio>",
        '#include "hepinfer_activation.h"',
        '#include "hepinfer_elementwise.h"',
        '#include "hepinfer_softmax.h"',
        (
            "#define SHOW(tag, k, a, b) "
            'std::printf("%s %d %.17g/%.17g\\n", tag, k, (double)(a), (double)(b))'
        ),
    ]
    body = ["int main() {"]
    cases = 0
    for k in range(28):  # casts: every quantisation x overflow mode
        src, dst = _any_type(rng), _cast_type(rng, k)
        st = FixedType.parse(src)
        n = 12
        lines += [f"struct ccfg{k} {{ static const int n_in = {n}; }};"]
        body += [
            f"  {{ typedef {src} S; typedef {dst} D; typedef ccfg{k} C;",
            f"    static const double x[] = {{{_values(st, n, rng)}}};",
            f"    static const double d[] = {{{_doubles(FixedType.parse(dst), rng)}}};",
            f"    S in[{n}]; D r1[{n}], r2[{n}], l1[{n}], l2[{n}];",
            f"    for (int i = 0; i < {n}; i++) in[i] = x[i];",
            "    hepinfer::relu<S, D, C>(in, r1); hepinfer::linear<S, D, C>(in, l1);",
            "    const bool ok = hepinfer::fast::relu<S, D, C>(in, r2) && hepinfer::fast::linear<S, D, C>(in, l2);",
            f'    if (!ok) std::printf("declined {k}\\n");',
            f"    for (int i = 0; i < {n}; i++) {{",
            f'      SHOW("relu", {k}, r2[i].to_double(), r1[i].to_double());',
            f'      SHOW("linear", {k}, l2[i].to_double(), l1[i].to_double());',
            f'      SHOW("to_double", {k}, hepinfer::fast::to_double(in[i]), in[i].to_double());',
            "    }",
            "    for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)",
            f'      SHOW("from_double", {k}, hepinfer::fast::from_double<D>(d[i]).to_double(), ((D)d[i]).to_double());',
            "  }",
        ]
        cases += 1
    for k in range(8):  # BatchNorm: data * scale + bias cast to the result
        data, weight, bias, res = (
            _any_type(rng),
            _any_type(rng),
            _any_type(rng),
            _cast_type(rng, k * 3),
        )
        n, chans = 12, int(rng.choice([1, 3, 12]))
        lines += [
            f"struct ncfg{k} {{ static const int n_in = {n}; static const int n_chan = {chans};",
            f"  static const int reuse_factor = 1; typedef {weight} weight_t; typedef {bias} bias_t; }};",
        ]
        body += [
            f"  {{ typedef {data} S; typedef {res} D; typedef ncfg{k} C;",
            f"    static const double x[] = {{{_values(FixedType.parse(data), n, rng)}}};",
            f"    static const double w[] = {{{_values(FixedType.parse(weight), chans, rng)}}};",
            f"    static const double b[] = {{{_values(FixedType.parse(bias), chans, rng)}}};",
            f"    S in[{n}]; D r1[{n}], r2[{n}]; C::weight_t wq[{chans}]; C::bias_t bq[{chans}];",
            f"    for (int i = 0; i < {n}; i++) in[i] = x[i];",
            f"    for (int i = 0; i < {chans}; i++) {{ wq[i] = w[i]; bq[i] = b[i]; }}",
            "    hepinfer::normalize<S, D, C>(in, r1, wq, bq);",
            f'    if (!hepinfer::fast::normalize<S, D, C>(in, r2, wq, bq)) std::printf("declined n{k}\\n");',
            f'    for (int i = 0; i < {n}; i++) SHOW("normalize", {k}, r2[i].to_double(), r1[i].to_double());',
            "  }",
        ]
        cases += 1
    for k in range(8):  # softmax, stable and latency tables, random table and sum types
        data, res = _type(rng, int(rng.integers(4, 19))), _cast_type(rng, k * 5)
        table, accum, wide, inv_in, norm = (_cast_type(rng, k * 3 + j, 12) for j in range(5))
        exp_bits, inv_bits = int(rng.integers(3, 11)), int(rng.integers(3, 11))
        impl = "softmax_stable" if k % 2 else "softmax_latency"
        n = int(rng.choice([2, 5, 10]))
        tt = FixedType.parse(table)
        lines += [
            f"struct scfg{k} {{ static const int n_in = {n}; static const int n_out = {n};",
            f"  static const hepinfer::softmax_implementation implementation = hepinfer::{impl};",
            f"  static const int exp_size = {2**exp_bits}; static const int inv_size = {2**inv_bits};",
            f"  static const int exp_bits = {exp_bits}; static const int inv_bits = {inv_bits};",
            f"  typedef {table} table_t; typedef {accum} accum_t; typedef {inv_in} inv_in_t;",
            f"  typedef {norm} norm_t; typedef {wide} wide_t; }};",
        ]
        body += [
            f"  {{ typedef {data} S; typedef {res} D; typedef scfg{k} C;",
            f"    static const double e[] = {{{_values(tt, 2**exp_bits, rng)}}};",
            f"    static const double v[] = {{{_values(tt, 2**inv_bits, rng)}}};",
            f"    static C::table_t et[{2**exp_bits}], it[{2**inv_bits}];",
            f"    for (int i = 0; i < {2**exp_bits}; i++) et[i] = e[i];",
            f"    for (int i = 0; i < {2**inv_bits}; i++) it[i] = v[i];",
            f"    static const double x[] = {{{_values(FixedType.parse(data), ROWS * n, rng)}}};",
            f"    for (int r = 0; r < {ROWS}; r++) {{",
            f"      S in[{n}]; D r1[{n}], r2[{n}];",
            f"      for (int i = 0; i < {n}; i++) in[i] = x[r * {n} + i];",
            "      hepinfer::softmax<S, D, C>(in, r1, et, it);",
            f"      const bool ok = hepinfer::fast::softmax<S, D, C>(in, r2, et, it, {int(k % 2)}, {int(k % 2 == 0)});",
            f'      if (!ok) std::printf("declined s{k}\\n");',
            f'      for (int i = 0; i < {n}; i++) SHOW("softmax", {k}, r2[i].to_double(), r1[i].to_double());',
            "    }",
            "  }",
        ]
        cases += 1
    return "\n".join([*lines, *body, "  return 0;", "}"]) + "\n", cases


@pytest.mark.parametrize("headers", ["hepinfer", "xilinx"])
def test_elementwise_fast_paths_equal_the_firmware(headers: str, tmp_path: Path) -> None:
    """ReLU, linear, BatchNorm, softmax and the C ABI's double conversions on mantissas equal
    the firmware kernels and the header's own conversions, for random types in every mode.
    """
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    kind, folder = header_dir(Headers(headers))
    if kind.value != headers:
        pytest.skip(f"{headers} headers not found")
    program, _ = _elementwise_program(np.random.default_rng(1515))
    src = tmp_path / "elementwise.cpp"
    src.write_text(program)
    exe = tmp_path / "elementwise"
    kernels = templates_dir() / "kernels"
    cmd = ["g++", "-O0", "-std=c++14", "-DHEPINFER_CSIM_NO_FAST_PATH", f"-I{folder}"]
    subprocess.run(
        [*cmd, f"-I{kernels}", str(src), "-o", str(exe)], check=True, capture_output=True
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    declined = [line for line in lines if line.startswith("declined")]
    assert not declined, declined[:5]
    rows = [line.split() for line in lines]
    differing = [r for r in rows if r[2].split("/")[0] != r[2].split("/")[1]]
    assert not differing, f"{len(differing)} of {len(rows)} differ, e.g. {differing[:5]}"
    kinds = {r[0] for r in rows}
    assert kinds == {"relu", "linear", "to_double", "from_double", "normalize", "softmax"}
    # not vacuous: outputs vary, saturate and wrap
    assert len({r[2] for r in rows}) > 500
