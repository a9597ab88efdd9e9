"""Floating-point comparison: IEEE minimum/maximum and the ordered predicates."""

import warnings

from amaranth import Cat, Mux
from amaranth.lib import data

from ..pipeline import PipelinedOp
from .core import unpack, wire
from .format import BF16, float_format

__all__ = ["FPCompare"]


class FPCompare(PipelinedOp):
    """``min``/``max`` (IEEE 754-2019 minimum/maximum: NaN if either operand is NaN, -0 < +0)
    and ``lt``/``eq``/``gt``/``unordered`` (IEEE comparison: -0 == +0, all false on NaN).

    Both orders come from one magnitude comparator on the packed exponent+fraction bits plus
    the signs: the "total" order (used for min/max) differs from the numeric one only for a pair
    of zeros of opposite sign.

    Cut 0 sits after the magnitude comparator; the selection muxes form the last stage.
    """

    N_CUTS = 1

    def __init__(self, fmt=BF16, *, latency=0):
        self.fmt = float_format(fmt, param="fmt")
        operands = data.StructLayout({"a": self.fmt.layout, "b": self.fmt.layout})
        result = data.StructLayout({
            "min": self.fmt.layout, "max": self.fmt.layout,
            "lt": 1, "eq": 1, "gt": 1, "unordered": 1,
        })
        # The contract names a result field "eq", which Amaranth warns shadows View.eq (read it
        # as payload["eq"]); silence that warning for the payload signals created here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Layout of a view includes a field 'eq'")
            super().__init__(operands, result, latency=latency)

    def datapath(self, m, pipe, ops):
        fmt = self.fmt
        a = unpack(m, fmt, ops.a, "a")
        b = unpack(m, fmt, ops.b, "b")
        mag_a = Cat(ops.a.frac, ops.a.exp)
        mag_b = Cat(ops.b.frac, ops.b.exp)
        mag_lt = wire(m, mag_a < mag_b, "mag_lt")
        mag_eq = wire(m, mag_a == mag_b, "mag_eq")
        a_bits, b_bits = Cat(mag_a, a.sign), Cat(mag_b, b.sign)
        unordered = a.is_nan | b.is_nan
        both_zero = a.is_zero & b.is_zero
        a_bits, b_bits, sa, sb, mag_lt, mag_eq, unordered, both_zero = pipe.cut(
            a_bits, b_bits, a.sign, b.sign, mag_lt, mag_eq, unordered, both_zero, name="cmp")

        # a before b in the total order -0 < +0: sign first, then magnitude (reversed if < 0).
        same_sign = sa == sb
        total_lt = Mux(same_sign, Mux(sa, ~mag_lt & ~mag_eq, mag_lt), sa)
        total_gt = Mux(same_sign, Mux(sa, mag_lt, ~mag_lt & ~mag_eq), sb)
        equal = (same_sign & mag_eq) | both_zero
        ordered = ~unordered
        out = wire(m, Cat(
            Mux(unordered, fmt.qnan, Mux(total_lt, a_bits, b_bits)),
            Mux(unordered, fmt.qnan, Mux(total_lt, b_bits, a_bits)),
            ordered & ~both_zero & total_lt,
            ordered & equal,
            ordered & ~both_zero & total_gt,
            unordered,
        ), "cmp_result", self.result_layout.size)
        return out  # raw bits of result_layout (a View would warn: field "eq" shadows View.eq)
