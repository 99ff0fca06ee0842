"""QKeras quantisers read as types, without TensorFlow.

A quantiser comes from a Keras 2 JSON config either as an object (`{"class_name":
"quantized_bits", "config": {...}}`) or as a string (`"quantized_relu(2)"`,
`"quantized_bits(6,0,alpha=1)"`, `"binary"`); `parse` turns both into a `QKerasQuantizer`
with every argument named (QKeras's own defaults filled in).

Weights are quantised here once, in float32 exactly as QKeras 0.9.0 computes them
(`quantize_weights`), and get the smallest fixed-point type that holds the quantised values
(`exact_type`). A per-channel power-of-two scale (`alpha='auto_po2'`) is returned apart, so
that the frontend can apply it as its own exact scaling node (as hls4ml's `ApplyAlpha`).
Activation quantisers map to a QONNX-style quantiser dict (`activation_quantizer`), which
`hepinfer.ops.quant.fixed_type` turns into the result type.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError

FloatArray = npt.NDArray[np.floating[Any]]

#: QKeras 0.9.0's constructor arguments (positional order) and defaults, per quantiser
SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {
    "quantized_bits": (
        ("bits", 8),
        ("integer", 0),
        ("symmetric", 0),
        ("keep_negative", True),
        ("alpha", None),
        ("use_stochastic_rounding", False),
        ("scale_axis", None),
        ("qnoise_factor", 1.0),
    ),
    "quantized_relu": (
        ("bits", 8),
        ("integer", 0),
        ("use_sigmoid", 0),
        ("negative_slope", 0.0),
        ("use_stochastic_rounding", False),
        ("relu_upper_bound", None),
        ("is_quantized_clip", True),
        ("qnoise_factor", 1.0),
    ),
    "quantized_tanh": (
        ("bits", 8),
        ("use_stochastic_rounding", False),
        ("symmetric", False),
        ("use_real_tanh", False),
    ),
    "quantized_sigmoid": (
        ("bits", 8),
        ("symmetric", False),
        ("use_real_sigmoid", False),
        ("use_stochastic_rounding", False),
    ),
    "quantized_po2": (
        ("bits", 8),
        ("max_value", None),
        ("use_stochastic_rounding", False),
        ("quadratic_approximation", False),
        ("log2_rounding", "rnd"),
        ("qnoise_factor", 1.0),
    ),
    "quantized_relu_po2": (
        ("bits", 8),
        ("max_value", None),
        ("negative_slope", 0),
        ("use_stochastic_rounding", False),
        ("quadratic_approximation", False),
        ("log2_rounding", "rnd"),
        ("qnoise_factor", 1.0),
    ),
    "binary": (("use_01", False), ("alpha", None), ("use_stochastic_rounding", False)),
    "ternary": (
        ("alpha", None),
        ("threshold", None),
        ("use_stochastic_rounding", False),
        ("number_of_unrolls", 5),
    ),
}

#: config keys that do not change inference at these values (training switches; per-scale
#: options of QKeras after 0.9.0 left unset)
_NEUTRAL = (
    "var_name",
    "use_ste",
    "use_variables",
    "elements_per_scale",
    "min_po2_exponent",
    "max_po2_exponent",
    "post_training_scale",
)

EPSILON = np.float32(1e-7)  # Keras's backend epsilon, as QKeras adds it


@dataclass(frozen=True)
class QKerasQuantizer:
    """A QKeras quantiser: its class name and every constructor argument by name."""

    name: str
    args: tuple[tuple[str, Any], ...]
    layer: str

    def get(self, key: str) -> Any:
        return dict(self.args)[key]

    def refuse(self, why: str, supported: str) -> FrontendError:
        """The error for a setting that has no exact fixed-point form."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args)
        msg = f"QKeras quantiser {self.name}({shown}) of layer {self.layer!r}: {why}; {supported}"
        return FrontendError(msg)


def _literal(node: ast.expr, text: str, layer: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        msg = (
            f"QKeras quantiser {text!r} of layer {layer!r}: argument {ast.unparse(node)!r} is not "
            "a literal (numbers, strings, True/False/None); write it as one"
        )
        raise FrontendError(msg) from exc


def _from_string(text: str, layer: str) -> tuple[str, list[Any], dict[str, Any]]:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        msg = f"QKeras quantiser {text!r} of layer {layer!r} is not a call like quantized_bits(6,0)"
        raise FrontendError(msg) from exc
    if isinstance(tree, ast.Name):
        return tree.id, [], {}
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        msg = f"QKeras quantiser {text!r} of layer {layer!r} is not a call like quantized_bits(6,0)"
        raise FrontendError(msg)
    args = [_literal(a, text, layer) for a in tree.args]
    kwargs = {str(k.arg): _literal(k.value, text, layer) for k in tree.keywords}
    return tree.func.id, args, kwargs


def is_quantizer(spec: Any) -> bool:
    """Whether a config value names a QKeras quantiser (object or string)."""
    if isinstance(spec, Mapping):
        return str(spec.get("class_name", "")) in SIGNATURES
    if isinstance(spec, str):
        head = spec.split("(", 1)[0].strip()
        return head in SIGNATURES
    return False


def parse(layer: str, spec: Any) -> QKerasQuantizer:
    """A quantiser config (object dict or string spec) with QKeras's defaults filled in."""
    if isinstance(spec, Mapping):
        name = str(spec.get("class_name", ""))
        args: list[Any] = []
        kwargs = dict(spec.get("config", {}))
    elif isinstance(spec, str):
        name, args, kwargs = _from_string(spec, layer)
    else:
        msg = f"QKeras quantiser {spec!r} of layer {layer!r} is neither a config dict nor a string"
        raise FrontendError(msg)
    signature = SIGNATURES.get(name)
    if signature is None:
        msg = (
            f"QKeras quantiser {name!r} of layer {layer!r} is not supported; supported: "
            f"{', '.join(SIGNATURES)}"
        )
        raise FrontendError(msg)
    if len(args) > len(signature):
        msg = f"QKeras quantiser {spec!r} of layer {layer!r} has {len(args)} arguments, at most {len(signature)}"
        raise FrontendError(msg)
    values = dict(signature)
    values.update(zip([k for k, _ in signature], args, strict=False))
    # training-only arguments, and those of later QKeras versions when left at their defaults
    neutral = {
        k for k, v in kwargs.items() if k == "var_name" or (k in _NEUTRAL and v in (None, 0, 1))
    }
    unknown = sorted(set(kwargs) - set(values) - neutral)
    if unknown:
        msg = f"QKeras quantiser {name} of layer {layer!r}: unknown arguments {unknown}"
        raise FrontendError(msg)
    values.update({k: v for k, v in kwargs.items() if k in values})
    if name == "quantized_bits" and isinstance(values["alpha"], str):
        values["symmetric"] = True  # as QKeras's constructor sets it
    q = QKerasQuantizer(name, tuple(values.items()), layer)
    if q.get("use_stochastic_rounding"):
        msg_0 = "stochastic rounding is random"
        raise q.refuse(msg_0, "use_stochastic_rounding=False")
    if float(values.get("qnoise_factor", 1.0)) != 1.0:
        msg_0 = "qnoise_factor mixes float and quantised values"
        raise q.refuse(msg_0, "qnoise_factor=1")
    return q


# ------------------------------------------------------------------ types


def exact_type(values: npt.ArrayLike) -> dict[str, Any]:
    """The QONNX-style quantiser dict of the smallest fixed-point type (power-of-two scale,
    at least one integer position) that holds every value exactly.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    frac = 0
    while not np.array_equal(np.ldexp(v, frac), np.round(np.ldexp(v, frac))):
        frac += 1
        if frac > 64:
            msg = "weights are not dyadic rationals: they have no fixed-point type"
            raise FrontendError(msg)
    mant = np.ldexp(v, frac)
    signed = bool(np.any(v < 0))
    lo = float(mant.min()) if v.size else 0.0
    hi = float(mant.max()) if v.size else 0.0
    bits = 1
    while (signed and (lo < -(2.0 ** (bits - 1)) or hi > 2.0 ** (bits - 1) - 1)) or (
        not signed and hi > 2.0**bits - 1
    ):
        bits += 1
    return _bits_dict(bits, frac, signed, False)


def _bits_dict(bits: int, frac: int, signed: bool, narrow: bool) -> dict[str, Any]:
    return {
        "scale": 2.0**-frac,
        "zeropt": 0.0,
        "bitwidth": bits,
        "signed": signed,
        "narrow": narrow,
        "rounding_mode": "ROUND",
    }


def _unit_alpha(alpha: Any) -> bool:
    return alpha is None or (not isinstance(alpha, str) and float(alpha) == 1.0)


def activation_quantizer(q: QKerasQuantizer) -> dict[str, Any]:
    """The result type (QONNX-style dict) of `quantized_bits`, `quantized_relu` (also with
    a negative slope: signed) and `quantized_tanh` / `quantized_sigmoid` (their hard forms).
    """
    if q.name not in ("quantized_bits", "quantized_relu", "quantized_tanh", "quantized_sigmoid"):
        msg = (
            "as an activation it is not converted (hls4ml 1.3 makes ternary activations "
            "ternary_tanh layers, whose threshold 0.5 is not QKeras's, and refuses the po2 ones)"
        )
        raise q.refuse(
            msg,
            "activations: quantized_bits, quantized_relu, quantized_tanh, quantized_sigmoid, "
            "binary",
        )
    bits = int(q.get("bits"))
    if q.name == "quantized_bits":
        if not _unit_alpha(q.get("alpha")):
            msg = "an activation scale alpha is not a type"
            raise q.refuse(msg, "alpha=1 or None")
        signed = bool(q.get("keep_negative"))
        if bits - int(signed) <= 0:
            msg = "a sign-only quantiser is binary"
            raise q.refuse(msg, "use binary()")
        frac = bits - int(signed) - int(q.get("integer"))
        return _bits_dict(bits, frac, signed, bool(q.get("symmetric")) and signed)
    if q.name == "quantized_relu":
        if q.get("use_sigmoid"):
            msg = "use_sigmoid has no fixed-point form"
            raise q.refuse(msg, "use_sigmoid=0")
        if not q.get("is_quantized_clip") and q.get("relu_upper_bound") is not None:
            msg = "relu_upper_bound clips off the type's grid"
            raise q.refuse(msg, "is_quantized_clip=True")
        signed = float(q.get("negative_slope")) != 0.0
        frac = bits - int(signed) - int(q.get("integer"))
        return _bits_dict(bits, frac, signed, False)
    if q.name == "quantized_tanh":
        if q.get("use_real_tanh"):
            msg = "tanh itself is not a type"
            raise q.refuse(msg, "use_real_tanh=False (the hard tanh)")
        return _bits_dict(bits, bits - 1, True, bool(q.get("symmetric")))
    if q.name == "quantized_sigmoid" and (q.get("use_real_sigmoid") or q.get("symmetric")):
        msg = "the real sigmoid or a symmetric one is not a type"
        raise q.refuse(
            msg,
            "use_real_sigmoid=False, symmetric=False (the hard sigmoid)",
        )
    return _bits_dict(bits, bits, False, False)


def binary_scale(q: QKerasQuantizer) -> float:
    """The scale of a `binary` activation (`x >= 0 ? +scale : -scale`, as QKeras computes it:
    its sign of 0 is +1, and without alpha it scales by 1); 0/1 outputs and data-dependent
    or non-power-of-two scales are refused.
    """
    alpha = q.get("alpha")
    if q.get("use_01"):
        msg = "0/1 outputs are not a bipolar activation"
        raise q.refuse(msg, "use_01=False")
    if isinstance(alpha, str):
        msg = "a scale computed from the activations is not a type"
        raise q.refuse(msg, "alpha=None or a power of two")
    scale = 1.0 if alpha is None else float(alpha)
    if scale <= 0 or math.log2(scale) != round(math.log2(scale)):
        msg = f"alpha {scale} is not a power of two, so +-alpha is not a type"
        raise q.refuse(msg, "alpha=None or a power of two")
    return scale


def weight_quantizer(q: QKerasQuantizer) -> dict[str, Any] | None:
    """The type of weights quantised by `quantized_bits` with alpha 1: QKeras's own grid;
    None where the type follows from the quantised values (`exact_type`).
    """
    if q.name != "quantized_bits" or not _unit_alpha(q.get("alpha")):
        return None
    bits, signed = int(q.get("bits")), bool(q.get("keep_negative"))
    if bits - int(signed) <= 0:
        return None
    frac = bits - int(signed) - int(q.get("integer"))
    return _bits_dict(bits, frac, signed, bool(q.get("symmetric")) and signed)


# ------------------------------------------------------------------ weight values


def _axes(x: FloatArray) -> tuple[int, ...]:
    """QKeras's reduction axes for per-channel scales (channels last)."""
    return tuple(range(x.ndim - 1)) if x.ndim > 1 else (0,)


def _po2(scale: FloatArray) -> FloatArray:
    f32 = np.float32
    out: FloatArray = np.power(
        f32(2.0), np.round(np.log(scale + EPSILON) / f32(np.log(2.0)))
    ).astype(f32)
    return out


def _least_squares(alpha: str, x: FloatArray, q: FloatArray) -> FloatArray:
    """QKeras's `_get_scale`: per-channel least squares, a power of two for auto_po2."""
    qx: FloatArray = np.asarray(x * q, dtype=np.float32)
    qq: FloatArray = np.asarray(q * q, dtype=np.float32)
    if x.ndim > 1:
        qx = np.asarray(np.mean(qx, axis=_axes(x), keepdims=True, dtype=np.float32))
        qq = np.asarray(np.mean(qq, axis=_axes(x), keepdims=True, dtype=np.float32))
    scale: FloatArray = (qx / (qq + EPSILON)).astype(np.float32)
    return _po2(scale) if alpha == "auto_po2" else scale


def _sign1(x: FloatArray) -> FloatArray:
    s = np.sign(x)
    out: FloatArray = s + (1.0 - np.abs(s))
    return out


def _bits_values(q: QKerasQuantizer, x: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    bits, integer = int(q.get("bits")), int(q.get("integer"))
    keep = int(bool(q.get("keep_negative")))
    alpha, sym = q.get("alpha"), int(bool(q.get("symmetric")))
    m, m_i = np.float32(2.0 ** (bits - keep)), np.float32(2.0**integer)
    if isinstance(alpha, str):
        if alpha != "auto_po2":
            msg = "a per-channel float scale is not a type"
            raise q.refuse(msg, "alpha=1, None or 'auto_po2'")
        xs = x / m_i
        levels = np.float32((2 ** (bits - 1) - 1) * 2)
        scale = _po2(np.max(np.abs(xs), axis=_axes(xs), keepdims=True) * 2 / levels)
        z = np.zeros_like(xs)
        for _ in range(5):
            v = np.floor(np.abs(xs) / scale + np.float32(0.5))
            z = np.sign(xs) * np.where(v < levels / 2, v, levels / 2)
            scale = _least_squares("auto_po2", xs, z)
        return (m_i * z / m).astype(np.float32), (scale * m).astype(np.float32)
    if bits - keep <= 0:
        values = _sign1(x)
        return (values if keep else (values + 1) / 2), None
    p = x * m / m_i
    xq = m_i * np.clip(np.round(p), keep * (-m + sym), m - 1) / m
    if alpha is not None and float(alpha) != 1.0:
        return _scaled(q, xq.astype(np.float32), float(alpha))
    return xq.astype(np.float32), None


def _scaled(q: QKerasQuantizer, values: FloatArray, alpha: float) -> tuple[FloatArray, None]:
    if alpha <= 0 or math.log2(alpha) != round(math.log2(alpha)):
        msg = f"alpha {alpha} is not a power of two, so the scaled values are not a type"
        raise q.refuse(
            msg,
            "a power-of-two alpha, 1 or 'auto_po2'",
        )
    return (values * np.float32(alpha)).astype(np.float32), None


def _binary_values(q: QKerasQuantizer, x: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    k = _sign1(x)
    if q.get("use_01"):
        k = (k + 1) / 2
    alpha = q.get("alpha")
    if isinstance(alpha, str):
        if alpha != "auto_po2":
            msg = "a per-channel float scale is not a type"
            raise q.refuse(msg, "alpha=None, 1 or 'auto_po2'")
        return k.astype(np.float32), _least_squares("auto_po2", x, k)
    return _scaled(q, k.astype(np.float32), 1.0 if alpha is None else float(alpha))


def _ternary_values(q: QKerasQuantizer, x: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    alpha = q.get("alpha")
    if isinstance(alpha, str):
        if alpha != "auto_po2":
            msg = "a per-channel float scale is not a type"
            raise q.refuse(msg, "alpha=None, 1 or 'auto_po2'")
        axes = None if x.ndim == 1 else _axes(x)
        scale = _po2(2 * np.max(np.abs(x), axis=axes, keepdims=True) / np.float32(3.0))
        t = np.zeros_like(x)
        for _ in range(int(q.get("number_of_unrolls"))):
            v = scale * np.round(x / scale)
            t = (np.abs(v) >= scale / 2).astype(np.float32) * np.sign(x)
            scale = _least_squares("auto_po2", x, t)
        return t.astype(np.float32), scale
    threshold = q.get("threshold")
    thres = np.float32(0.33 if threshold is None else threshold)
    t = (np.abs(x) >= thres).astype(np.float32) * np.sign(x)
    return _scaled(q, t.astype(np.float32), 1.0 if alpha is None else float(alpha))


def _po2_exponents(q: QKerasQuantizer, x_abs: FloatArray) -> FloatArray:
    bits, max_value = int(q.get("bits")), q.get("max_value")
    quadratic = bool(q.get("quadratic_approximation"))
    sign_bit = 1 if max_value is None or float(max_value) > 1 else 0
    if q.name == "quantized_po2":
        lo, hi = -(2 ** (bits - 1 - sign_bit)), 2 ** (bits - 1 - sign_bit) - 1
    else:
        lo, hi = -(2 ** (bits - sign_bit)), 2 ** (bits - sign_bit) - 1
    if quadratic:
        hi = 2 * (hi // 2)
    filt = np.where(x_abs < EPSILON, EPSILON, x_abs).astype(np.float32)
    if max_value is not None:
        filt = np.where(filt >= max_value, np.float32(max_value), filt).astype(np.float32)
    base = np.sqrt(filt) if quadratic else filt
    log2 = np.log(base) / np.float32(np.log(2.0))
    e = np.floor(log2) if q.get("log2_rounding") == "floor" else np.round(log2)
    e = (2.0 if quadratic else 1.0) * np.clip(e, lo, hi)
    out: FloatArray = np.where(x_abs < EPSILON, np.float32(lo), e)
    return out


def _po2_values(q: QKerasQuantizer, x: FloatArray) -> tuple[FloatArray, None]:
    if q.name == "quantized_po2":
        return (_sign1(x) * np.power(2.0, _po2_exponents(q, np.abs(x)))).astype(np.float32), None
    slope = float(q.get("negative_slope"))
    pos = np.power(2.0, _po2_exponents(q, np.maximum(x, 0)))
    neg = -np.power(2.0, _po2_exponents(q, np.maximum(-x, 0) * np.float32(slope)))
    return np.where((x >= 0) | (slope == 0.0), pos, neg).astype(np.float32), None


def quantize_weights(q: QKerasQuantizer, w: npt.ArrayLike) -> tuple[FloatArray, FloatArray | None]:
    """QKeras's quantised values of `w` (float32, as QKeras computes them) and, for
    `alpha='auto_po2'` of `quantized_bits`/`binary`/`ternary`, the per-output-channel
    power-of-two scale apart (the values then exclude it); None otherwise.
    """
    x = np.asarray(w, dtype=np.float32)
    if q.name == "quantized_bits":
        return _bits_values(q, x)
    if q.name == "binary":
        return _binary_values(q, x)
    if q.name == "ternary":
        return _ternary_values(q, x)
    if q.name in ("quantized_po2", "quantized_relu_po2"):
        return _po2_values(q, x)
    if q.name == "quantized_relu":
        return _relu_values(q, x), None
    msg = "is not a weight quantiser"
    raise q.refuse(
        msg,
        "weights: quantized_bits, quantized_relu, quantized_po2, quantized_relu_po2, binary, ternary",
    )


def _relu_values(q: QKerasQuantizer, x: FloatArray) -> FloatArray:
    spec = activation_quantizer(q)
    scale, bits, signed = float(spec["scale"]), int(spec["bitwidth"]), bool(spec["signed"])
    slope = np.float32(q.get("negative_slope"))
    hi = 2.0 ** (bits - int(signed)) - 1
    pos = np.clip(np.round(x / scale), 0, hi) * scale
    if slope == 0:
        return pos.astype(np.float32)
    m_i = 2.0 ** int(q.get("integer"))
    neg = np.clip(np.round(x * slope / scale) * scale, -float(slope) * m_i, 0.0)
    out: FloatArray = (pos + neg).astype(np.float32)
    return out


__all__ = [
    "QKerasQuantizer",
    "activation_quantizer",
    "binary_scale",
    "exact_type",
    "is_quantizer",
    "parse",
    "quantize_weights",
    "weight_quantizer",
]
