"""Fused multiply-add: (-1)^neg_ab * a*b + (-1)^neg_c * c with a single rounding."""

from amaranth import Cat, Const, Mux
from amaranth.utils import bits_for
from amaranth.lib import data

from ..pipeline import PipelinedOp
from .core import (exp_shape, leading_zeros, leading_zeros_merge, leading_zeros_parts,
                   normalize_amounts, override_special, round_pack, shift_right_sticky, unpack,
                   wire)
from .format import BF16, FP32, float_format

__all__ = ["FPFMA"]

#: Slices of the sum whose leading zeros are counted before the cut between the two steps.
LZC_PARTS = 8


class FPFMA(PipelinedOp):
    """Fused multiply-add with a ``mul_fmt`` operand a, a ``b_fmt`` operand b (default
    ``mul_fmt``) and an ``acc_fmt`` addend and result.

    ``b_fmt`` may be narrower than ``mul_fmt`` with the same exponent field (bf16 against fp32):
    the product is exact either way, so the result is that of ``mul_fmt`` operands with b
    converted exactly, bit for bit, from a pa x pb-bit significand product instead of pa x pa
    (pa, pb the precisions; fp32 x bf16: 24 x 8 bits, a 59-bit window instead of 75).

    The product is exact (pp = pa + pb bits) and is never shifted: like a real FMA, the addend is
    aligned against it in a fixed window, in parallel with the multiplier. Subnormal multiplicands
    are normalised first (their significands shifted up, their exponents down), so the product's
    leading one is always in the top two bits of its field. Window, MSB to LSB (pc = acc
    precision)::

        [ H = pc+2 bits: room for an addend above the product ][ product pp ][ B ]

    - An addend more than H places above the product is clamped to the window top. The product
      then sits at least 3 places below the addend's LSB, where any non-zero value rounds the
      same way (it only acts as a sticky that can borrow from the guard), so its exact distance
      does not matter.
    - An addend reaching below the window is jammed (shifted-out bits ORed into bit 0). The
      result's leading one is then at bit B + pp - 3 or above (the product's, less one for a
      borrow), so with B = max(pc + 4 - pp, 1) its guard bit stays at bit >= 1, above the
      jammed bit; and the product, B >= 1, is even, so a jammed (odd) sum is never taken for a
      tie. B is the least that guarantees both: 12 for a bf16 product and an fp32 addend (a
      54-bit window; 68 without the normalisation), 1 for bf16 or fp32 throughout.
    - No carry bit is needed: in every placement the sum stays below 2^W.
    A zero product forces the clamp, so c passes through exactly.

    Cuts (``N_CUTS`` = 10), the segments between them weighted by their delay (``CUT_WEIGHTS``,
    relative, set from the critical paths measured on ECP5, docs/timing.md; see
    :meth:`hw.pipeline.Pipeline.choose_cuts`): 0 after unpack and the multiplicands'
    normalisation; 1 after the exponent sum and difference; 2 after the product and, in
    parallel, the addend's alignment by multiples of 8; 3 after the rest of the alignment; 4
    after the add/subtract and absolute value; 5 after the leading-zero counts of the sum's
    slices (and the result's sign); 6 after their merge; 7 after the normalisation amounts; 8
    after the normalisation shift by multiples of 8; 9 after the rest of it; rounding is the
    last segment.
    """

    N_CUTS = 10
    CUT_WEIGHTS = (3, 4, 4, 3, 5, 4, 2, 4, 4, 4, 5)

    def __init__(self, acc_fmt=FP32, *, latency=0, mul_fmt=BF16, b_fmt=None):
        self.acc_fmt = float_format(acc_fmt, param="acc_fmt")
        self.mul_fmt = float_format(mul_fmt, param="mul_fmt")
        self.b_fmt = self.mul_fmt if b_fmt is None else float_format(b_fmt, param="b_fmt")
        if (self.b_fmt.exp_bits != self.mul_fmt.exp_bits
                or self.b_fmt.precision > self.mul_fmt.precision):
            raise ValueError(f"b_fmt must have mul_fmt's exponent field and at most its "
                             f"precision ({self.mul_fmt.name}: {self.mul_fmt.exp_bits} exponent "
                             f"bits, precision {self.mul_fmt.precision}); got "
                             f"{self.b_fmt.name}")
        super().__init__(
            data.StructLayout({
                "a": self.mul_fmt.layout, "b": self.b_fmt.layout, "c": self.acc_fmt.layout,
                "neg_ab": 1, "neg_c": 1,
            }),
            self.acc_fmt.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        mf, bf, cf = self.mul_fmt, self.b_fmt, self.acc_fmt
        pm, pb, pc = mf.precision, bf.precision, cf.precision
        pp = pm + pb                                    # the product's bits
        below = max(pc + 4 - pp, 1)
        above = pc + 2
        width = below + pp + above

        a = unpack(m, mf, ops.a, "a")
        b = unpack(m, bf, ops.b, "b")
        # subnormal multiplicands normalised: the fraction shifted up past its leading zeros
        # (lzf) and the hidden place, the exponent 1 - (1 + lzf) (the same value). The exponent
        # is selected from the fields, not subtracted, so the exponent sum below has no more
        # operands than without the normalisation.
        eshape_m = exp_shape(1 - pm, mf.exp_max)

        def normalised(value, fmt, name):
            p = fmt.precision
            v = data.View(fmt.layout, value)
            subnormal = v.exp == 0
            lzf = wire(m, leading_zeros(v.frac), f"{name}_lzf", range(p))
            sig = wire(m, Mux(subnormal, (Cat(Const(0, 1), v.frac) << (lzf + 1))[1:p + 1],
                              Cat(v.frac, Const(1, 1))), f"{name}_sig_n", p)
            exp = wire(m, Mux(subnormal, -lzf, v.exp), f"{name}_exp_n", eshape_m)
            return sig, exp
        a_sig, a_exp = normalised(ops.a, mf, "a")
        b_sig, b_exp = normalised(ops.b, bf, "b")
        c = unpack(m, cf, ops.c, "c")
        sign_p = a.sign ^ b.sign ^ ops.neg_ab
        sign_c = c.sign ^ ops.neg_c
        prod_inf = a.is_inf | b.is_inf
        prod_zero = a.is_zero | b.is_zero
        nan = (a.is_nan | b.is_nan | c.is_nan | (a.is_inf & b.is_zero) | (a.is_zero & b.is_inf)
               | (prod_inf & c.is_inf & (sign_p != sign_c)))
        inf = prod_inf | c.is_inf
        inf_sign = Mux(prod_inf, sign_p, sign_c)
        zero_sign = sign_p & sign_c  # sign of an exact zero result (see docs/numerics.md)
        subtract = sign_p ^ sign_c
        c_sig, c_exp = c.sig, c.exp
        a_sig, a_exp, b_sig, b_exp, c_sig, c_exp, prod_zero, sign_p, subtract, nan, inf, \
            inf_sign, zero_sign = pipe.cut(a_sig, a_exp, b_sig, b_exp, c_sig, c_exp, prod_zero,
                                           sign_p, subtract, nan, inf, inf_sign, zero_sign,
                                           name="operands")

        # acc-biased exponent of the window's top bit if the product fixes the window: product
        # bit pp-1 has weight 2^(ea + eb - 2 bias_m + 1), and sits `above` places lower
        # (ea, eb after the normalisation: down to 1 - (pa - 1), 1 - (pb - 1)).
        e_lo = (2 - pm) + (2 - pb) - 2 * mf.bias + 1 + cf.bias
        e_hi = 2 * (mf.exp_max - 1) - 2 * mf.bias + 1 + cf.bias + above
        eshape = exp_shape(min(e_lo - cf.exp_max - width, -width), e_hi + width)
        # dist = (a_exp + b_exp) - (c_exp - k): the two sides in parallel, one subtraction
        k = cf.bias - 2 * mf.bias + 1 + above
        ab_exp = wire(m, a_exp + b_exp, "ab_exp", eshape)
        dist = wire(m, ab_exp - wire(m, c_exp - k, "c_exp_k", eshape), "dist", eshape)
        top_exp = wire(m, ab_exp + k, "top_exp", eshape)
        a_sig, b_sig, c_sig, c_exp, top_exp, dist, prod_zero, sign_p, subtract, nan, inf, \
            inf_sign, zero_sign = pipe.cut(a_sig, b_sig, c_sig, c_exp, top_exp, dist, prod_zero,
                                           sign_p, subtract, nan, inf, inf_sign, zero_sign,
                                           name="exp")

        prod = wire(m, a_sig * b_sig, "prod", pp)
        clamp = wire(m, (dist < 0) | prod_zero, "clamp")
        # dist >= 0 unless clamped; beyond the window everything goes to the sticky bit
        shift = wire(m, Mux(clamp, 0, Mux(dist > width, width, dist)), "shift", bits_for(width))
        win_exp = wire(m, Mux(clamp, c_exp, top_exp), "win_exp", eshape)
        # the alignment in two steps: by the multiple of 8, then by the rest
        c_hi, sticky_hi = shift_right_sticky(Cat(Const(0, width - pc), c_sig),
                                             Cat(Const(0, 3), shift[3:]))
        c_hi = wire(m, c_hi, "c_aligned_hi", width)
        sticky_hi = wire(m, sticky_hi, "c_sticky_hi")
        shift_lo = shift[:3]
        prod, c_hi, sticky_hi, shift_lo, win_exp, sign_p, subtract, nan, inf, inf_sign, \
            zero_sign = pipe.cut(prod, c_hi, sticky_hi, shift_lo, win_exp, sign_p, subtract, nan,
                                 inf, inf_sign, zero_sign, name="align_hi")

        c_lo, sticky_lo = shift_right_sticky(c_hi, shift_lo)
        c_al = wire(m, c_lo | sticky_lo | sticky_hi, "c_aligned", width)
        prod, c_al, win_exp, sign_p, subtract, nan, inf, inf_sign, zero_sign = pipe.cut(
            prod, c_al, win_exp, sign_p, subtract, nan, inf, inf_sign, zero_sign, name="align")

        p_al = Cat(Const(0, below), prod)
        # |p - c| without a negation after the subtraction: both differences in parallel
        p_minus_c = wire(m, p_al - c_al, "p_minus_c", width + 1)  # sign at bit `width`
        c_minus_p = wire(m, c_al - p_al, "c_minus_p", width)
        negative = p_minus_c[width]
        total = wire(m, Mux(subtract, Mux(negative, c_minus_p, p_minus_c[:width]), p_al + c_al),
                     "sum", width)
        flip = subtract & negative   # the result's sign is the addend's
        total, win_exp, sign_p, flip, zero_sign, nan, inf, inf_sign = pipe.cut(
            total, win_exp, sign_p, flip, zero_sign, nan, inf, inf_sign, name="sum")

        # the leading-zero count in two steps: of each 16-bit slice, then merged
        lz_parts = wire(m, leading_zeros_parts(total, LZC_PARTS), "norm_lz_parts")
        sign = Mux(total == 0, zero_sign, sign_p ^ flip)
        total, lz_parts, win_exp, sign, nan, inf, inf_sign = pipe.cut(
            total, lz_parts, win_exp, sign, nan, inf, inf_sign, name="lzc_parts")

        lz = wire(m, leading_zeros_merge(lz_parts, LZC_PARTS, width), "norm_lz", bits_for(width))
        total, lz, win_exp, sign, nan, inf, inf_sign = pipe.cut(
            total, lz, win_exp, sign, nan, inf, inf_sign, name="lzc")

        # the normalisation shift goes in two steps, by the multiple of 8 then by the rest: left,
        # or right with sticky (jammed into bit 0, far below the guard bit) below the minimum
        # exponent. Here the amounts of both steps, and the OR of each byte of the sum (the
        # first step's sticky is the OR of the bytes it shifts out)
        left, right, under, exp_n = normalize_amounts(m, total, win_exp, "norm", lz=lz)
        coarse = wire(m, Mux(under, right[3:], left[3:]), "norm_coarse", len(left) - 3)
        fine = wire(m, Mux(under, right[:3], left[:3]), "norm_fine", 3)
        bytes_or = wire(m, Cat(*(total[k:k + 8].any() for k in range(0, width, 8))),
                        "norm_bytes_or")
        total, coarse, fine, bytes_or, under, exp_n, sign, nan, inf, inf_sign = pipe.cut(
            total, coarse, fine, bytes_or, under, exp_n, sign, nan, inf, inf_sign,
            name="amounts")

        by_bytes = Cat(Const(0, 3), coarse)
        sticky_hi = Cat(*(bytes_or[k] & (coarse > k) for k in range(len(bytes_or)))).any()
        shifted_hi = wire(m, Mux(under, (total >> by_bytes) | sticky_hi,
                                 (total << by_bytes)[:width]), "norm_shifted_hi", width)
        shifted_hi, fine, under, exp_n, sign, nan, inf, inf_sign = pipe.cut(
            shifted_hi, fine, under, exp_n, sign, nan, inf, inf_sign, name="normal_hi")

        right_lo, sticky_lo = shift_right_sticky(shifted_hi, fine)
        sig_n = wire(m, Mux(under, right_lo | sticky_lo, (shifted_hi << fine)[:width]),
                     "norm_sig", width)
        sig_n, exp_n, sign, nan, inf, inf_sign = pipe.cut(
            sig_n, exp_n, sign, nan, inf, inf_sign, name="normal")

        packed = round_pack(m, cf, sign, sig_n, exp_n, Const(0, 1), "round")
        return override_special(m, cf, packed, "fma", nan=nan, inf=inf, inf_sign=inf_sign)
