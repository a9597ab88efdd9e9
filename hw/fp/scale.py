"""Multiplication by a power of two: x * 2^e, one rounding (an exponent adjustment)."""

from amaranth import Cat, Const, signed
from amaranth.lib import data

from ..params import check_int
from ..pipeline import PipelinedOp
from .core import exp_shape, normalize, override_special, round_pack, unpack, wire
from .format import BF16, float_format

__all__ = ["FPScale"]


class FPScale(PipelinedOp):
    """``x * 2^e`` in ``fmt`` for a signed integer ``e`` (RNE, subnormals in and out, canonical
    NaN): the golden model's :func:`sim.golden.fp.scale`.

    While the result stays normal this is an adder on the exponent field. The shared normaliser
    covers the rest: a subnormal ``x`` moves its leading one up (leading-zero count), a result
    below the normal range is shifted right with sticky and rounded once, one beyond it becomes
    inf in the rounder.

    Parameters
    ----------
    fmt : :class:`~hw.fp.format.FloatFormat` or :class:`str`
        The format of ``x`` and of the result.
    exp_width : :class:`int`
        Width of ``e`` (two's complement, 2..12 bits).
    latency : :class:`int`
        Register stages (cut 0 between the normaliser and the rounder).
    """

    N_CUTS = 1

    def __init__(self, fmt=BF16, *, exp_width=8, latency=0):
        self.fmt = float_format(fmt, param="fmt")
        self.exp_width = check_int("exp_width", exp_width, min=2, max=12)
        super().__init__(data.StructLayout({"x": self.fmt.layout, "e": signed(self.exp_width)}),
                         self.fmt.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        fmt = self.fmt
        x = unpack(m, fmt, ops.x, "x")
        e_min, e_max = -(1 << (self.exp_width - 1)), (1 << (self.exp_width - 1)) - 1
        # the biased exponent of the significand's top bit, then what normalize() may subtract
        eshape = exp_shape(1 + e_min - fmt.precision, fmt.exp_max + e_max)
        exp = wire(m, x.exp + ops.e, "scaled_exp", eshape)
        # two zero bits below the significand: a right shift keeps its guard and round bits
        sig, exp, sticky = normalize(m, Cat(Const(0, 2), x.sig), exp, "norm")
        sig, exp, sticky, sign, nan, inf, zero = pipe.cut(
            sig, exp, sticky, x.sign, x.is_nan, x.is_inf, x.is_zero, name="normalised")
        packed = round_pack(m, fmt, sign, sig, exp, sticky, "round")
        return override_special(m, fmt, packed, "scale", nan=nan, inf=inf, inf_sign=sign,
                                zero=zero, zero_sign=sign)
