"""The reference of a softmax row: a power of two that follows the running maximum, and the
exact-to-fp32 factor that ties the maximum to it (``docs/softmax.md``, "Numerics").

For a BF16 maximum m with |m| < 2^15 the engine keeps its partial sums relative to e^(K ln 2)
= 2^K, with K = round(m log2 e). A rising maximum then rescales the sums by the exact power of
two 2^(K_old - K_new) (an exponent shift: no rounding, so nothing compounds however often the
maximum rises), and each element enters as e^(x - m) * c with c = e^(m - K ln 2) = 2^u,
u = m log2 e - K in [-1/2, 1/2], computed to about 2^-28 here (fixed point, a table and a
quadratic), so the element path keeps the exact difference x - m of two BF16 numbers.

Fixed-point recipe (integer arithmetic, shared bit for bit by :class:`RowReference` and the
golden model ``sim/golden/softmax.py``):

- m = +-M 2^(E - 134), M = 128 + mantissa (E = exponent field, 1 <= E < REF_EXP_LIMIT);
  T = (M * LOG2E_Q40) >> (134 + 40 - FRAC - E) is |m| log2 e with FRAC fraction bits (floor);
  E = 0 (zero, subnormal) gives T = 0.
- K = +-((T + 2^(FRAC-1)) >> FRAC) with m's sign; u = +-(T - |K| 2^FRAC) in [-1/2, 1/2].
- w = u + 2^(FRAC-1) in [0, 2^FRAC]; h = w >> (FRAC - 8) (0..256), l = w mod 2^(FRAC - 8).
- a = (l * LN2_Q30) >> FRAC (l ln 2 in Q.30), b = (a * a) >> 31 ((l ln 2)^2 / 2);
  p = 2^30 + a + b (2^l, error below 2^-28); q = (EXP2_TABLE[h] * p) >> 30 (Q1.30, c).
- c = q as fp32, rounded half up to 24 significant bits.

|m| >= 2^15, +-inf and NaN have no K: their reference is m itself (c = 1), and any rise of the
maximum into, out of or within that range is by at least 128, where e^-128 vanishes in fp32:
the partial sums are then reset to +0.
"""

from decimal import Decimal, getcontext

from amaranth import Array, C, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fp.constmul import mul_const

__all__ = ["FRAC", "LOG2E_Q40", "LN2_Q30", "REF_EXP_LIMIT", "K_BITS", "DELTA_MIN",
           "EXP2_TABLE", "RowReference", "rescale"]

#: Fraction bits of |m| log2 e.
FRAC = 28
#: Exponent field from which |m| >= 2^15 (no K).
REF_EXP_LIMIT = 142
#: |K| <= 47089: 17-bit two's complement.
K_BITS = 17
#: The rescale exponent K_old - K_new saturates here (an fp32 sum shifted this far is +0).
DELTA_MIN = -255


def _constants():
    getcontext().prec = 60
    ln2 = Decimal(2).ln()
    log2e = 1 / ln2
    log2e_q40 = int((log2e * (1 << 40)).to_integral_value())
    ln2_q30 = int((ln2 * (1 << 30)).to_integral_value())
    table = tuple(int(((ln2 * (h - 128) / 256).exp() * (1 << 30)).to_integral_value())
                  for h in range(257))
    return log2e_q40, ln2_q30, table


#: round(log2 e * 2^40), round(ln 2 * 2^30) and the table round(2^((h - 128) / 256) * 2^30),
#: h = 0 .. 256.
LOG2E_Q40, LN2_Q30, EXP2_TABLE = _constants()

ONE32 = 0x3F80_0000


def _exponent(m, value):
    """(T, |K|, has K, sign) of BF16 ``value`` (the first step of the recipe)."""
    sign, field, mant = value[15], value[7:15], value[:7]
    has = field < REF_EXP_LIMIT
    amount = Signal(6, name="t_shift")
    m.d.comb += amount.eq(Mux(field < 134 + 40 - FRAC - 63, 63, 134 + 40 - FRAC - field))
    product = mul_const(Cat(mant, C(1, 1)), LOG2E_Q40)           # (128 + mant) * log2 e
    t = Signal(FRAC + 16)                                         # |m| < 2^15
    m.d.comb += t.eq(Mux(field == 0, 0, product >> amount))
    k_abs = Signal(16)
    m.d.comb += k_abs.eq((t + (1 << (FRAC - 1))) >> FRAC)
    return t, k_abs, has, sign


def rescale(m, slot_max, slot_exponent, slot_has, beat_max, beat_exponent, beat_has, name):
    """How a partial sum last updated with maximum ``slot_max`` (its K ``slot_exponent``,
    ``slot_has``) follows a beat with maximum ``beat_max`` (``beat_exponent``, ``beat_has``):
    ``(delta, reset)``, delta = K_slot - K_beat saturated at :data:`DELTA_MIN` when both have a
    K (else 0), reset when the maxima differ and not both have a K."""
    both = slot_has & beat_has
    step = Signal(signed(K_BITS + 1), name=f"{name}_step")
    m.d.comb += step.eq(slot_exponent - beat_exponent)
    delta = Signal(signed(9), name=f"{name}_delta")
    m.d.comb += delta.eq(Mux(both, Mux(step < DELTA_MIN, DELTA_MIN, step), 0))
    return delta, (slot_max != beat_max) & ~both


class RowReference(wiring.Component):
    """The reference of a BF16 maximum ``m``, three register stages deep: K(m), whether m has
    one, and c = 2^(m log2 e - K) in fp32 (the recipe of this module; 1.0 without K). The
    golden model is ``sim/golden/softmax.py`` (``reference_fields``).

    Members
    -------
    m : :py:`In(16)`
        The maximum (BF16).
    exponent : :py:`Out(signed(K_BITS))`
        K(m) (0 without K).
    has_exponent : :py:`Out(1)`
        |m| < 2^15.
    factor : :py:`Out(32)`
        c (fp32).
    """

    #: Register stages from the inputs to the outputs.
    LATENCY = 3

    def __init__(self):
        super().__init__({
            "m": In(16),
            "exponent": Out(signed(K_BITS)), "has_exponent": Out(1), "factor": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        # stage 1: T and K, the signed fraction u
        t, k_abs, has, sign = _exponent(m, self.m)
        u_abs = Signal(signed(FRAC + 1))
        m.d.comb += u_abs.eq(t - (k_abs << FRAC))
        u1 = Signal(signed(FRAC + 1))
        k1 = Signal(signed(K_BITS))
        has1 = Signal()
        m.d.sync += [u1.eq(Mux(sign, -u_abs, u_abs)),
                     k1.eq(Mux(has, Mux(sign, -k_abs, k_abs), 0)), has1.eq(has)]
        # stage 2: table index h and 2^l = 1 + a + b
        w = Signal(FRAC + 1)
        m.d.comb += w.eq(u1 + (1 << (FRAC - 1)))
        low = w[:FRAC - 8]
        a = Signal(23)
        m.d.comb += a.eq(mul_const(low, LN2_Q30) >> FRAC)
        square = Signal(46)
        m.d.comb += square.eq(a * a)
        index2, poly2 = Signal(9), Signal(32)
        k2, has2 = Signal(signed(K_BITS)), Signal()
        m.d.sync += [index2.eq(w[FRAC - 8:]), poly2.eq((1 << 30) + a + (square >> 31)),
                     k2.eq(k1), has2.eq(has1)]
        # stage 3: c = table[h] * p, rounded half up to fp32
        table = Array(Const(v, 31) for v in EXP2_TABLE)
        product = Signal(63)
        m.d.comb += product.eq(table[index2] * poly2)
        q = Signal(33)
        m.d.comb += q.eq(product >> 30)
        big = q[30]
        sig = Signal(25)
        m.d.comb += sig.eq(Mux(big, (q + (1 << 6)) >> 7, (q + (1 << 5)) >> 6))
        carry = sig[24]
        exponent = Signal(8)
        m.d.comb += exponent.eq(Mux(big, 127, 126) + carry)
        mantissa = Mux(carry, sig[1:24], sig[:23])
        m.d.sync += [self.factor.eq(Mux(has2, Cat(mantissa, exponent, C(0, 1)), ONE32)),
                     self.exponent.eq(k2), self.has_exponent.eq(has2)]
        return m
