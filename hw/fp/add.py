"""Floating-point adder: a + b or a - b, one rounding."""

from amaranth import Cat, Const, Mux
from amaranth.lib import data

from ..pipeline import PipelinedOp
from .core import exp_shape, normalize, override_special, round_pack, shift_right_sticky, unpack, wire
from .format import BF16, float_format

__all__ = ["FPAdd"]

# Extra bits below the significand while aligning: guard, round and a jammed sticky. With them
# the single rounding is exact: if the smaller operand is shifted by d >= 2 (the only case that
# can lose bits) the difference has at most one leading zero, so after normalisation the jammed
# bit is still below the guard bit; for d <= 1 nothing is shifted out.
GRS = 3


class FPAdd(PipelinedOp):
    """``a + b`` (``sub`` = 0) or ``a - b`` (``sub`` = 1) in ``fmt``.

    Classic swap / align / add / normalise / round datapath: the operand with the larger
    magnitude (compared on the packed exponent+fraction bits, which order like the magnitude)
    is kept, the other is shifted right by the exponent difference into a p+3-bit window with
    sticky jamming, then added or subtracted (never negative after the swap).

    Cuts: 0 after swap + alignment shift, 1 after the add (p+4 bits), 2 after normalisation;
    the rounding adder and special-case mux form the last stage.
    """

    N_CUTS = 3

    def __init__(self, fmt=BF16, *, latency=0):
        self.fmt = float_format(fmt, param="fmt")
        super().__init__(
            data.StructLayout({"a": self.fmt.layout, "b": self.fmt.layout, "sub": 1}),
            self.fmt.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        fmt = self.fmt
        p = fmt.precision
        a = unpack(m, fmt, ops.a, "a")
        b = unpack(m, fmt, ops.b, "b")
        sign_a = a.sign
        sign_b = b.sign ^ ops.sub
        nan = a.is_nan | b.is_nan | (a.is_inf & b.is_inf & (sign_a != sign_b))
        inf = a.is_inf | b.is_inf
        inf_sign = Mux(a.is_inf, sign_a, sign_b)
        # Exact zero sum: +0 unless both addends are zeros with a negative sign (round to nearest).
        zero_sign = sign_a & sign_b

        # Swap so that x has the larger magnitude: the exponent/fraction bits of a packed float
        # compare like its magnitude.
        mag_a = Cat(ops.a.frac, ops.a.exp)
        mag_b = Cat(ops.b.frac, ops.b.exp)
        swap = wire(m, mag_b > mag_a, "swap")
        x_sig = Mux(swap, b.sig, a.sig)
        x_exp = Mux(swap, b.exp, a.exp)
        y_sig = Mux(swap, a.sig, b.sig)
        y_exp = Mux(swap, a.exp, b.exp)
        sign = wire(m, Mux(swap, sign_b, sign_a), "sign")
        subtract = wire(m, sign_a ^ sign_b, "subtract")
        diff = x_exp - y_exp  # >= 0 after the swap
        y_shifted, y_sticky = shift_right_sticky(Cat(Const(0, GRS), y_sig), diff[:fmt.exp_bits])
        y_al = wire(m, y_shifted | y_sticky, "y_aligned", p + GRS)
        x_al = wire(m, Cat(Const(0, GRS), x_sig), "x_aligned", p + GRS)
        x_al, y_al, x_exp, sign, subtract, nan, inf, inf_sign, zero_sign = pipe.cut(
            x_al, y_al, x_exp, sign, subtract, nan, inf, inf_sign, zero_sign, name="align")

        # p + GRS + 1 bits: one carry bit for a true addition.
        total = wire(m, Mux(subtract, x_al - y_al, x_al + y_al), "sum", p + GRS + 1)
        exact_zero = total == 0
        sign = Mux(exact_zero, zero_sign, sign)
        # Bit p+GRS of the sum (the carry) has weight 2^1 relative to x's hidden bit.
        exp = wire(m, x_exp + 1, "sum_exp", exp_shape(0, fmt.exp_max + 1))
        total, exp, sign, nan, inf, inf_sign = pipe.cut(
            total, exp, sign, nan, inf, inf_sign, name="sum")

        # x_exp >= 1, so exp >= 2: the result never needs a right shift (sums of subnormals are
        # exact and land in the subnormal range through the left-shift limit).
        sig_n, exp_n, sticky = normalize(m, total, exp, "norm", right_shift=False)
        sig_n, exp_n, sign, nan, inf, inf_sign = pipe.cut(
            sig_n, exp_n, sign, nan, inf, inf_sign, name="normal")

        packed = round_pack(m, fmt, sign, sig_n, exp_n, sticky, "round")
        return override_special(m, fmt, packed, "add", nan=nan, inf=inf, inf_sign=inf_sign)
