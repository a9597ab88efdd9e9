"""Floating-point multiplier: a * b, one rounding."""

from amaranth.lib import data

from ..pipeline import PipelinedOp
from .core import exp_shape, normalize, override_special, round_pack, unpack, wire
from .format import BF16, float_format

__all__ = ["FPMul"]


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
        fmt = self.fmt
        p = fmt.precision
        a = unpack(m, fmt, ops.a, "a")
        b = unpack(m, fmt, ops.b, "b")
        sign = a.sign ^ b.sign
        nan = a.is_nan | b.is_nan | (a.is_inf & b.is_zero) | (a.is_zero & b.is_inf)
        inf = a.is_inf | b.is_inf
        zero = a.is_zero | b.is_zero
        # Product of two p-bit significands: exact in 2p bits. With the leading one at bit 2p-1
        # the biased exponent is ea + eb - bias + 1 (the product of two [1,2) values is in
        # [1,4), i.e. its bit 2p-1 has weight 2^1).
        e_lo, e_hi = 2 - fmt.bias + 1, 2 * (fmt.exp_max - 1) - fmt.bias + 1
        eshape = exp_shape(e_lo - 1, e_hi)
        prod = wire(m, a.sig * b.sig, "prod", 2 * p)
        exp = wire(m, a.exp + b.exp - (fmt.bias - 1), "prod_exp", eshape)
        prod, exp, sign, nan, inf, zero = pipe.cut(prod, exp, sign, nan, inf, zero, name="product")

        sig_n, exp_n, sticky = normalize(m, prod, exp, "norm")
        sig_n, exp_n, sticky, sign, nan, inf, zero = pipe.cut(
            sig_n, exp_n, sticky, sign, nan, inf, zero, name="normal")

        packed = round_pack(m, fmt, sign, sig_n, exp_n, sticky, "round")
        return override_special(m, fmt, packed, "mul", nan=nan, inf=inf, inf_sign=sign,
                                zero=zero, zero_sign=sign)
