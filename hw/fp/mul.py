"""Floating-point multiplier: a * b, one rounding."""

from amaranth import C
from amaranth.lib import data

from ..params import check_int
from ..pipeline import PipelinedOp
from .constmul import mul_const
from .core import exp_shape, normalize, override_special, round_pack, unpack, wire
from .format import BF16, float_format

__all__ = ["FPMul", "FPMulConst"]


class FPMul(PipelinedOp):
    """``a * b`` in ``fmt`` (RNE, subnormals in and out, canonical NaN).

    The full 2p-bit significand product is exact, so it is normalised and rounded directly with
    no sticky logic before the normaliser. Subnormal operands move the product's leading one
    down (as far as bit 0), which the normaliser's leading-zero count absorbs; products below
    the subnormal range are shifted right with sticky by the same normaliser.

    Cuts: 0 after unpack + significand product + exponent sum, 1 after normalisation; the
    rounding adder and special-case mux form the last stage.
    """

    N_CUTS = 2

    def __init__(self, fmt=BF16, *, latency=0):
        self.fmt = float_format(fmt, param="fmt")
        super().__init__(data.StructLayout({"a": self.fmt.layout, "b": self.fmt.layout}),
                         self.fmt.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        a = unpack(m, self.fmt, ops.a, "a")
        b = unpack(m, self.fmt, ops.b, "b")
        return _mul_datapath(m, pipe, self.fmt, a, b, a.sig * b.sig)


class FPMulConst(PipelinedOp):
    """``k * x`` for a constant ``k`` (a bit pattern of ``fmt``): the result of
    ``FPMul(fmt)`` with ``a = k``, bit for bit, but the significand product is a shift-add
    network (:func:`hw.fp.constmul.mul_const`) instead of a multiplier, so it costs adders
    rather than a DSP block. Operand layout: ``fmt.layout`` (x alone).
    """

    N_CUTS = FPMul.N_CUTS

    def __init__(self, constant, fmt=BF16, *, latency=0):
        self.fmt = float_format(fmt, param="fmt")
        self.constant = check_int("constant", constant, min=0, max=(1 << self.fmt.width) - 1)
        super().__init__(self.fmt.layout, self.fmt.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        fmt = self.fmt
        a = unpack(m, fmt, C(self.constant, fmt.width), "k")
        b = unpack(m, fmt, ops, "x")
        frac = self.constant & ((1 << fmt.frac_bits) - 1)
        k_exp = (self.constant >> fmt.frac_bits) & fmt.exp_max
        k_sig = frac | ((k_exp != 0) << fmt.frac_bits)     # what unpack() gives for a
        return _mul_datapath(m, pipe, fmt, a, b, mul_const(b.sig, k_sig))


def _mul_datapath(m, pipe, fmt, a, b, sig_product):
    """The multiplier after unpacking: ``sig_product`` is ``a.sig * b.sig`` (exact)."""
    p = fmt.precision
    sign = a.sign ^ b.sign
    nan = a.is_nan | b.is_nan | (a.is_inf & b.is_zero) | (a.is_zero & b.is_inf)
    inf = a.is_inf | b.is_inf
    zero = a.is_zero | b.is_zero
    # Product of two p-bit significands: exact in 2p bits. With the leading one at bit 2p-1
    # the biased exponent is ea + eb - bias + 1 (the product of two [1,2) values is in
    # [1,4), i.e. its bit 2p-1 has weight 2^1).
    e_lo, e_hi = 2 - fmt.bias + 1, 2 * (fmt.exp_max - 1) - fmt.bias + 1
    eshape = exp_shape(e_lo - 1, e_hi)
    prod = wire(m, sig_product, "prod", 2 * p)
    exp = wire(m, a.exp + b.exp - (fmt.bias - 1), "prod_exp", eshape)
    prod, exp, sign, nan, inf, zero = pipe.cut(prod, exp, sign, nan, inf, zero, name="product")

    sig_n, exp_n, sticky = normalize(m, prod, exp, "norm")
    sig_n, exp_n, sticky, sign, nan, inf, zero = pipe.cut(
        sig_n, exp_n, sticky, sign, nan, inf, zero, name="normal")

    packed = round_pack(m, fmt, sign, sig_n, exp_n, sticky, "round")
    return override_special(m, fmt, packed, "mul", nan=nan, inf=inf, inf_sign=sign,
                            zero=zero, zero_sign=sign)
