"""Fixed-point types and exact, vectorised casts with Xilinx `ap_fixed` semantics.

>>> from hepinfer.fixed import FixedType
>>> t = FixedType.parse("ap_fixed<8,3,AP_RND,AP_SAT>")
>>> t.cast([0.1, 5.0, -9.0]).tolist()
[0.09375, 3.96875, -4.0]
>>> t.to_mantissa([0.1]).tolist()
[3]
"""

from hepinfer.fixed.arith import add_type, mul_type, sub_type
from hepinfer.fixed.array import FxArray
from hepinfer.fixed.fit import fit_type
from hepinfer.fixed.modes import Overflow, Quant
from hepinfer.fixed.parse import parse_type
from hepinfer.fixed.types import MAX_ABS_FRAC, MAX_WIDTH, FixedType

__all__ = [
    "MAX_ABS_FRAC",
    "MAX_WIDTH",
    "FixedType",
    "FxArray",
    "Overflow",
    "Quant",
    "add_type",
    "fit_type",
    "mul_type",
    "parse_type",
    "sub_type",
]
