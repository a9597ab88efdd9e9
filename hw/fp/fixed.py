"""Fixed point <-> floating point (int8 and other widths, run-time integer bits and sign)."""

from amaranth import Cat, Const, Mux
from amaranth.lib import data
from amaranth.utils import bits_for

from ..params import Range
from ..pipeline import PipelinedOp
from .core import exp_shape, normalize, round_pack, shift_right_sticky, unpack, wire
from .format import BF16, float_format

__all__ = ["IntToFloat", "FloatToInt"]

#: Fixed-point widths IntToFloat and FloatToInt accept (configuration field arith.fixed_width).
WIDTH = Range(2, 16)


def _fixed_operands(width, value_shape, value_name):
    return data.StructLayout({
        value_name: value_shape,
        "int_bits": bits_for(width),
        "signed": 1,
    })


class IntToFloat(PipelinedOp):
    """Fixed-point ``q`` (``width`` bits, ``int_bits`` integer bits, two's complement when
    ``signed``) to ``fmt``: value q * 2^-(width - signed - int_bits), RNE when |q| has more
    significant bits than the format's precision (exact for width <= 8 into bf16).

    The scale only moves the exponent: |q| (width bits, enough for -2^(width-1)) is normalised
    with the leading-zero count and rounded once. Cut 0 sits after normalisation.
    """

    N_CUTS = 1
    WIDTH = WIDTH

    def __init__(self, width=8, fmt=BF16, *, latency=0):
        self.width = WIDTH.check("width", width)
        self.fmt = float_format(fmt, param="fmt")
        super().__init__(_fixed_operands(self.width, self.width, "q"), self.fmt.layout,
                         latency=latency)

    def datapath(self, m, pipe, ops):
        fmt, w = self.fmt, self.width
        negative = wire(m, ops.signed & ops.q[w - 1], "negative")
        mag = wire(m, Mux(negative, -ops.q, ops.q), "mag", w)
        # Bit w-1 of |q| has weight 2^(w-1-F) = 2^(int_bits + signed - 1).
        exp = wire(m, ops.int_bits + ops.signed + (fmt.bias - 1), "exp",
                   exp_shape(0, fmt.bias + (1 << len(ops.int_bits))))
        # exp >= bias - 1 >= 1 and |q| < 2^16: never subnormal, never a right shift.
        sig, exp, sticky = normalize(m, mag, exp, "norm", right_shift=False)
        sig, exp, negative = pipe.cut(sig, exp, negative, name="normal")
        return round_pack(m, fmt, negative, sig, exp, sticky, "round")


class FloatToInt(PipelinedOp):
    """``x`` in ``fmt`` to ``width``-bit fixed point with ``int_bits`` integer bits (two's
    complement when ``signed``): x * 2^F rounded to nearest even, F = width - signed - int_bits,
    then saturated; inf saturates, NaN and zeros give 0. Output is the raw ``width``-bit pattern.

    The significand is placed ``width + 1`` bits up in a p + width + 1 bit field and shifted
    right by (width - 1 - s), where x * 2^F = sig * 2^s, leaving the integer part, a guard bit
    and a jammed sticky bit; any s >= width is certain saturation, so no left shifter is
    needed. Cut 0 sits after that shift; rounding and saturation form the last stage.
    """

    N_CUTS = 1
    WIDTH = WIDTH

    def __init__(self, width=8, fmt=BF16, *, latency=0):
        self.width = WIDTH.check("width", width)
        self.fmt = float_format(fmt, param="fmt")
        super().__init__(_fixed_operands(self.width, self.fmt.layout, "x"), self.width,
                         latency=latency)

    def datapath(self, m, pipe, ops):
        fmt, w = self.fmt, self.width
        p = fmt.precision
        x = unpack(m, fmt, ops.x, "x")
        # sig * 2^s with s = exp - bias - (p - 1) + F; shift right by r = w - 1 - s.
        r_max = fmt.bias + p - 2 + 1 + (1 << len(ops.int_bits)) - 1
        r = wire(m, (fmt.bias + p - 2) + ops.signed + ops.int_bits - x.exp, "shift",
                 exp_shape(fmt.bias + p - 2 - fmt.exp_max, r_max))
        too_big = wire(m, x.is_inf | ((r < 0) & ~x.is_zero), "too_big")
        amount = Mux(r < 0, 0, r[:len(r) - 1])
        shifted, sticky = shift_right_sticky(Cat(Const(0, w + 1), x.sig), amount)
        # Bits: [0] jammed sticky, [1] guard, [2:] integer part (p + w - 1 bits).
        y = wire(m, shifted | sticky, "scaled", p + w + 1)
        y, sign, signed, too_big, nan = pipe.cut(y, x.sign, ops.signed, too_big, x.is_nan,
                                                 name="scaled")

        integer = y[2:]
        round_up = y[1] & (y[0] | integer[0])
        mag = wire(m, integer + round_up, "mag", p + w)
        high = Mux(signed, (1 << (w - 1)) - 1, (1 << w) - 1)  # largest result: 0111..1 or 1111..1
        low = Mux(signed, 1 << (w - 1), 0)  # most negative: 1000..0 or 0, also its magnitude
        result = Mux(sign,
                     Mux(too_big | (mag > low), low, (-mag)[:w]),
                     Mux(too_big | (mag > high), high, mag[:w]))
        return wire(m, Mux(nan, 0, result), "fixed_result", w)
