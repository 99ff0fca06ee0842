"""How one product ``x * w`` maps to FPGA resources: nothing, wiring, LUTs, or DSP slices.

The rules follow what Vivado/Vitis HLS does with the multiplications hls4ml-style kernels
write (see ``docs/estimate.md`` for the sources):

1. **DSP slices.** A DSP48E2 (UltraScale, UltraScale+) holds one signed 27 x 18 multiplier, a
   DSP48E1 (7-series) one 25 x 18. A product that fits takes one slice; a wider one is split
   into tiles, ``min(ceil(a/27) * ceil(b/18), ceil(a/18) * ceil(b/27))`` slices (a 32 x 32
   product takes 4, as Vivado binds it). The first addition after the product (bias or
   accumulation) runs in the slice's post-adder.
2. **Narrow products go to LUTs.** Vivado implements a multiplication in fabric when one
   operand has at most 4 bits, or when both have at most 10 bits (hls4ml's papers:
   arXiv:1804.06913 §5 and arXiv:2006.10159 report no DSPs below about 10 bits); such a
   multiplier costs about ``0.55 * a * b`` LUT6.
3. **Constant weights.** When the weights are constants of the circuit (``Latency`` strategy
   or any strategy at reuse factor 1, where every product has its own multiplier), Vivado
   simplifies each product by its constant. In canonical signed digit (CSD) form a constant
   with no non-zero digit is a zero weight: the product disappears (pruning); one digit is a
   power of two: a shift, free wiring (binary, ternary and power-of-two weights need no
   multiplier); two digits are one adder/subtractor in LUTs. Three or more digits make a real
   multiplier, whose width is the constant's odd part plus a sign bit (trailing zero bits
   are shifts), mapped by rules 1-2.
4. **Shared multipliers.** At reuse factor > 1 each multiplier sees a different weight every
   cycle, so the weight operand has its full declared width and only zero weights (which
   hls4ml removes from the multiplier count in the Latency strategy) are saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = [
    "MultiplierModel",
    "ProductKind",
    "csd_digits",
    "effective_width",
]

DSP_SHAPES = {"dsp48e2": (27, 18), "dsp48e1": (25, 18)}


class ProductKind(Enum):
    """What a single constant product becomes in hardware."""

    ZERO = "zero"
    SHIFT = "shift"
    SHIFT_ADD = "shift_add"
    LUT = "lut"
    DSP = "dsp"


@dataclass(frozen=True)
class ProductCost:
    """Resources of one product."""

    kind: ProductKind
    dsp: int
    lut: int


def csd_digits(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Number of non-zero digits of each integer in canonical signed digit form (vectorised)."""
    v = np.abs(values.astype(np.int64))
    count = np.zeros(v.shape, dtype=np.int64)
    while np.any(v):
        odd = (v & 1) == 1
        # digit +1 when v = 1 (mod 4), -1 when v = 3 (mod 4)
        digit = np.where(odd, 2 - (v & 3), 0)
        count += odd
        v = (v - digit) >> 1
    return count


def effective_width(values: npt.NDArray[np.int64], signed: bool = True) -> npt.NDArray[np.int64]:
    """Bits of each constant's odd part (trailing zeros are free shifts), plus a sign bit."""
    v = np.abs(values.astype(np.int64))
    width = np.zeros(v.shape, dtype=np.int64)
    nonzero = v != 0
    odd = v.copy()
    odd[~nonzero] = 1
    # strip trailing zeros
    while True:
        even = (odd & 1) == 0
        if not np.any(even):
            break
        odd = np.where(even, odd >> 1, odd)
    bits = np.floor(np.log2(odd.astype(np.float64))).astype(np.int64) + 1
    width[nonzero] = bits[nonzero] + (1 if signed else 0)
    return width


@dataclass(frozen=True)
class MultiplierModel:
    """Thresholds of the product-mapping rules (module docstring) for one DSP slice kind."""

    dsp_slice: str = "dsp48e2"
    lut_narrow_operand: int = 4
    lut_both_operands: int = 10
    lut_per_bit_product: float = 0.55
    shift_add_csd_digits: int = 2

    def dsp_tiles(self, a_bits: int, b_bits: int) -> int:
        """DSP slices for a general ``a_bits x b_bits`` signed product."""
        big, small = DSP_SHAPES.get(self.dsp_slice, DSP_SHAPES["dsp48e2"])
        return min(
            math.ceil(a_bits / big) * math.ceil(b_bits / small),
            math.ceil(a_bits / small) * math.ceil(b_bits / big),
        )

    def variable_product(self, a_bits: int, b_bits: int) -> ProductCost:
        """Cost of a product whose operands both change (rule 1-2)."""
        if min(a_bits, b_bits) <= self.lut_narrow_operand or (
            max(a_bits, b_bits) <= self.lut_both_operands
        ):
            lut = max(1, math.ceil(self.lut_per_bit_product * a_bits * b_bits))
            return ProductCost(ProductKind.LUT, 0, lut)
        return ProductCost(ProductKind.DSP, self.dsp_tiles(a_bits, b_bits), 0)

    def constant_products(
        self, data_bits: int, weights: npt.NDArray[np.int64], signed: bool = True
    ) -> dict[ProductKind, tuple[int, int, int]]:
        """Classify products of a ``data_bits`` operand with constant integer ``weights``.

        Returns ``{kind: (count, dsp, lut)}`` summed over all weights (rule 3).
        """
        flat = np.asarray(weights, dtype=np.int64).ravel()
        digits = csd_digits(flat)
        widths = effective_width(flat, signed)
        out: dict[ProductKind, tuple[int, int, int]] = {}

        def add(kind: ProductKind, count: int, dsp: int, lut: int) -> None:
            c0, d0, l0 = out.get(kind, (0, 0, 0))
            out[kind] = (c0 + count, d0 + dsp, l0 + lut)

        add(ProductKind.ZERO, int(np.sum(digits == 0)), 0, 0)
        add(ProductKind.SHIFT, int(np.sum(digits == 1)), 0, 0)
        n_shift_add = int(np.sum((digits >= 2) & (digits <= self.shift_add_csd_digits)))
        add(ProductKind.SHIFT_ADD, n_shift_add, 0, n_shift_add * (data_bits + 2))
        general = widths[digits > self.shift_add_csd_digits]
        for w in np.unique(general):
            n = int(np.sum(general == w))
            cost = self.variable_product(data_bits, int(w))
            add(cost.kind, n, n * cost.dsp, n * cost.lut)
        return out
