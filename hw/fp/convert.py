"""Conversion between floating-point formats (fp32 <-> bf16), RNE."""

from amaranth.lib import data

from ..pipeline import PipelinedOp
from .core import normalize, override_special, round_pack, unpack, wire
from .format import float_format

__all__ = ["FPConvert"]


class FPConvert(PipelinedOp):
    """``x`` in ``src_fmt`` rounded (nearest even) to ``dst_fmt``; NaN becomes the canonical NaN.

    When both formats share the exponent field (bf16 and fp32 do), the unpacked significand is
    already in the form :func:`round_pack` expects (leading one at the top, or subnormal at
    exponent 1), so a narrowing conversion is only the rounding adder and a widening one is
    exact wiring. Other format pairs go through the normaliser.

    Cut 0 sits between unpack (+ normalise) and rounding.
    """

    N_CUTS = 1

    def __init__(self, src_fmt, dst_fmt, *, latency=0):
        self.src_fmt = float_format(src_fmt, param="src_fmt")
        self.dst_fmt = float_format(dst_fmt, param="dst_fmt")
        super().__init__(data.StructLayout({"x": self.src_fmt.layout}), self.dst_fmt.layout,
                         latency=latency)

    def datapath(self, m, pipe, ops):
        src, dst = self.src_fmt, self.dst_fmt
        x = unpack(m, src, ops.x, "x")
        if src.exp_bits == dst.exp_bits and src.bias == dst.bias:
            sig, exp, sticky = x.sig, x.exp, 0
        else:  # pragma: no cover - only bf16/fp32 exist today
            exp = wire(m, x.exp - src.bias + dst.bias, "exp",
                       range(-src.exp_max - dst.exp_max, src.exp_max + dst.exp_max))
            sig, exp, sticky = normalize(m, x.sig, exp, "norm")
        sig, exp, sticky, sign, nan, inf = pipe.cut(sig, exp, sticky, x.sign, x.is_nan, x.is_inf,
                                                    name="unpacked")
        packed = round_pack(m, dst, sign, sig, exp, sticky, "round")
        return override_special(m, dst, packed, "cvt", nan=nan, inf=inf, inf_sign=sign)
