"""expp: SoftEx's BF16 exponential as a pipelined, multi-lane stream operator.

``Expp(lanes, mode=..., latency=..., constants=...)`` takes ``lanes`` BF16 numbers per beat
(payload ``data.ArrayLayout(BF16.layout, lanes)``) and returns expp of each (same layout).
The datapath is the bit-level algorithm of ``sim/golden/expp.py`` (the specification; words and
accuracy in ``docs/expp.md``):

``mode="softex"``
    SoftEx's hardware, bit-exact: stage 1 Schraudolph (x/ln2 as Q8.7 from the product
    (128 + m) * 23637), stage 2 the factored quadratic mantissa correction per half of [0, 1),
    one 8 x 3 constant multiplier and one 11 x 9 multiplier.
``mode="accurate"``
    Same structure with the generated constants of ``hw/softex/expp_constants.py``: stage 1
    keeps K fraction bits of x/ln2 (rounded), stage 2 computes
    ``C_j + (ALPHA_j * (t * (t + GAMMA_j) >> Q1)) >> Q`` with G guard bits and the rounding
    folded into C_j; a mantissa carry increments the exponent.

Special values: NaN -> 0x7FC0, -inf -> +0, +inf -> +inf, zeros and subnormals -> 1.0, results
below the normal range -> +0, above it -> +inf.

Cut points (``N_CUTS`` = 3; ``latency`` registers are spread over them, see hw/pipeline.py):
after the stage-1 product, after the shift/round/negate of stage 1, after the stage-2 product.
"""

from dataclasses import dataclass

from amaranth import C, Cat, Mux
from amaranth.lib import data

from ..fp.format import BF16
from ..params import check_choice, check_int
from ..pipeline import PipelinedOp
from . import expp_constants

__all__ = ["Expp", "ExppConstants", "MODES", "SOFTEX_A", "E_LIMIT"]

MODES = ("softex", "accurate")

# round(2^14 / ln 2): SoftEx's stage-1 constant (Q1.14).
SOFTEX_A = 23637
# Largest input exponent field that is not an automatic overflow / underflow (|x| < 128).
E_LIMIT = 133

_SCALARS = ("KA", "A", "K", "SEG_BITS", "G", "Q")
_TABLES = ("ALPHA", "GAMMA", "C")


@dataclass(frozen=True)
class ExppConstants:
    """Validated constants of the accurate mode (see ``hw/softex/expp_constants.py``).

    ``A`` ~ 2^KA / ln 2; stage 1 keeps ``K`` fraction bits of x/ln2; 2^SEG_BITS segments of
    [0, 1) with one (ALPHA, GAMMA, C) each; ``G`` guard bits; ``Q1`` the truncation of the
    stage-2 product before ALPHA (optional in the source object, default 0), ``Q`` the shift
    after ALPHA:  v = C_j + ((ALPHA_j * ((t * (t + GAMMA_j)) >> Q1)) >> Q).
    """
    KA: int
    A: int
    K: int
    SEG_BITS: int
    G: int
    Q1: int
    Q: int
    ALPHA: tuple
    GAMMA: tuple
    C: tuple

    @classmethod
    def load(cls, obj=None):
        """Validated constants from ``obj`` (any object with the attribute names, e.g. a
        module or a SimpleNamespace; None = the generated ``expp_constants`` module).
        Raises ValueError naming the offending constant."""
        if obj is None:
            obj = expp_constants
        if isinstance(obj, cls):
            return obj
        missing = [n for n in _SCALARS + _TABLES if not hasattr(obj, n)]
        if missing:
            raise ValueError(f"constants lack {', '.join(missing)}")
        d = {}
        for n in _SCALARS + ("Q1",):
            v = getattr(obj, n, 0)                  # only Q1 may be missing (default 0)
            if isinstance(v, bool) or not hasattr(v, "__index__"):
                raise ValueError(f"constants.{n} must be an integer, got {v!r}")
            d[n] = int(v)
        ranges = {"A": (1, (1 << 20) - 1), "K": (1, 16), "KA": (d["K"], 24),
                  "SEG_BITS": (0, min(4, d["K"] - 1)), "G": (1, 16), "Q1": (0, 32),
                  "Q": (0, 48)}
        for n, (lo, hi) in ranges.items():
            check_int(f"constants.{n}", d[n], min=lo, max=hi)
        n_seg = 1 << d["SEG_BITS"]
        for n in _TABLES:
            v = tuple(getattr(obj, n))
            if len(v) != n_seg or any(isinstance(a, bool) or not hasattr(a, "__index__")
                                      or not 0 <= int(a) < (1 << 24) for a in v):
                raise ValueError(f"constants.{n} must be {n_seg} integers in [0, 2^24) "
                                 f"(one per segment), got {v!r}")
            d[n] = tuple(int(a) for a in v)
        c = cls(**d)
        if c.v_max >= 1 << (8 + c.G):
            raise ValueError(f"constants give a mantissa value {c.v_max} >= 2^(8 + G): "
                             "2^f - 1 must stay below 2 (at most one carry)")
        return c

    @property
    def t_bits(self):
        return self.K - self.SEG_BITS

    @property
    def p_width(self):
        """Bits of the stage-1 product (128 + m) * A."""
        return 8 + self.A.bit_length()

    @property
    def y_width(self):
        """Bits of |x|/ln2 with K fraction bits for |x| < 128 (e <= 133)."""
        p_max = 255 * self.A
        return (((p_max >> (self.KA - self.K)) + 1) >> 1).bit_length()

    @property
    def v_max(self):
        """Largest stage-2 value v over all t (v grows with t)."""
        t = (1 << self.t_bits) - 1
        return max(c0 + ((a * ((t * (t + g)) >> self.Q1)) >> self.Q)
                   for a, g, c0 in zip(self.ALPHA, self.GAMMA, self.C))


class Expp(PipelinedOp):
    """expp on ``lanes`` BF16 lanes per beat.

    Parameters: ``lanes`` in [1, 64]; ``mode`` "softex" or "accurate"; ``latency`` >= 0
    register stages (0 = combinational, 3 = one per cut point); ``constants`` (accurate mode
    only) overrides the generated constants (anything :meth:`ExppConstants.load` accepts).
    """

    N_CUTS = 3

    #: Most lanes one unit takes.
    MAX_LANES = 64

    def __init__(self, lanes=1, *, mode="softex", latency=2, constants=None):
        self.lanes = check_int("lanes", lanes, min=1, max=self.MAX_LANES)
        self.mode = check_choice("mode", mode, MODES)
        if mode == "accurate":
            self.constants = ExppConstants.load(constants)
        elif constants is not None:
            raise ValueError("constants only apply to mode 'accurate'")
        else:
            self.constants = None
        layout = data.ArrayLayout(BF16.layout, self.lanes)
        super().__init__(layout, layout, latency=latency)

    # ---------------------------------------------------------------------------------------
    # Pipeline plumbing: every stage maps a dict of live values per lane to the next one.

    @staticmethod
    def _cut(pipe, lanes, name):
        keys = sorted(lanes[0])
        flat = [lane[k] for lane in lanes for k in keys]
        regs = pipe.cut(*flat, name=name)
        if len(flat) == 1:
            regs = (regs,)
        it = iter(regs)
        return [{k: next(it) for k in keys} for _ in lanes]

    def datapath(self, m, pipe, operands):
        stages = self._softex_stages() if self.mode == "softex" else self._accurate_stages()
        lanes = [{"x": operands[i]} for i in range(self.lanes)]
        for i, stage in enumerate(stages[:-1]):
            lanes = [stage(lane) for lane in lanes]
            lanes = self._cut(pipe, lanes, f"expp_s{i}")
        return Cat(*(stages[-1](lane) for lane in lanes))

    @staticmethod
    def _specials(out, s, big, flush, nan):
        """Common result selection: big |x| -> +inf / +0 by sign, flush -> +0, NaN -> qNaN."""
        out = Mux(flush, 0, out)
        out = Mux(big, Mux(s, 0, BF16.pos_inf), out)
        return Mux(nan, BF16.qnan, out)

    # ---------------------------------------------------------------------------------------
    # mode "softex": algorithms.md section 2, bit for bit.

    def _softex_stages(self):
        def product(v):
            x = v["x"]
            return {"s": x.sign, "e": x.exp, "p": Cat(x.frac, C(1, 1)) * SOFTEX_A,
                    "nan": (x.exp == 0xFF) & (x.frac != 0)}

        def shift(v):
            s, e, p = v["s"], v["e"], v["p"]
            f = p[7:23]                                         # Q2.14 of |x|/ln2
            sham = Mux(e > E_LIMIT, 0, E_LIMIT - e)[:8]        # 133 - e (>= 16 clears f)
            sv = f >> sham
            r = (sv[1:] + sv[0])[:15]                           # round half up
            z = Mux(s, (-r)[:15], r)
            zi = z[7:15]
            big = (e > E_LIMIT) | ((e == E_LIMIT) & (p[22] | (s & (p[14:22] == 0xFF))))
            flush = s & (e == E_LIMIT) & (zi == 0x81)
            return {"s": s, "z": z, "big": big, "flush": flush, "nan": v["nan"]}

        def correction(v):
            z = v["z"]
            mm = z[:7]
            lo = ~mm[6]
            u = Mux(lo, Cat(C(0, 1), mm), 255 - Cat(C(0, 1), mm))[:8]
            uk = Mux(lo, u * 4, u * 7)[:11]
            r = uk * Mux(lo, mm + 363, mm + 278)[:9]           # the stage-2 multiplier
            return {"s": v["s"], "zi": z[7:15], "lo": lo, "r": r,
                    "big": v["big"], "flush": v["flush"], "nan": v["nan"]}

        def pack(v):
            c = v["r"][12:19]
            mant = Mux(v["lo"], c, 127 - c)[:7]
            out = Cat(mant, (v["zi"] + 127)[:8], C(0, 1))
            return self._specials(out, v["s"], v["big"], v["flush"], v["nan"])

        return [product, shift, correction, pack]

    # ---------------------------------------------------------------------------------------
    # mode "accurate"

    def _accurate_stages(self):
        c = self.constants
        pw, yw, k, tb, sb = c.p_width, c.y_width, c.K, c.t_bits, c.SEG_BITS
        sh_base = E_LIMIT + c.KA - k                            # sh - 1 = sh_base - e

        def product(v):
            x = v["x"]
            return {"s": x.sign, "e": x.exp, "p": Cat(x.frac, C(1, 1)) * c.A,
                    "nan": (x.exp == 0xFF) & (x.frac != 0)}

        def shift(v):
            s, e, p = v["s"], v["e"], v["p"]
            big = e > E_LIMIT
            sh1 = Mux(big, 0, sh_base - e)
            sh1 = Mux(sh1 > pw, pw, sh1)[:pw.bit_length()]
            y = ((p >> sh1) + 1)[1:yw + 1]                       # |x|/ln2, K fraction bits
            z = Mux(s, -y, y)                                   # signed(yw + 1)
            return {"s": s, "n": z[k:].as_signed(), "f": z[:k], "big": big, "nan": v["nan"]}

        def correction(v):
            f = v["f"]
            t = f[:tb]
            j = f[tb:] if sb else C(0, 1)
            gamma = _select(j, [C(g, max(max(c.GAMMA).bit_length(), 1)) for g in c.GAMMA])
            prod = (t * (t + gamma))[c.Q1:]                     # the stage-2 multiplier
            return {"s": v["s"], "n": v["n"], "j": j, "prod": prod,
                    "big": v["big"], "nan": v["nan"]}

        def pack(v):
            j, prod = v["j"], v["prod"]
            scaled = _select(j, [prod * a for a in c.ALPHA])    # constant multipliers + mux
            c0 = _select(j, [C(x, max(max(c.C).bit_length(), 1)) for x in c.C])
            val = c0 + scaled[c.Q:]
            mant8 = val[c.G:c.G + 8]
            exp = v["n"] + 127 + mant8[7]
            out = Cat(mant8[:7], exp[:8], C(0, 1))
            out = Mux(exp <= 0, 0, Mux(exp >= 255, BF16.pos_inf, out))
            return self._specials(out, v["s"], v["big"], C(0, 1), v["nan"])

        return [product, shift, correction, pack]


def _select(index, values):
    """values[index] as a tree of 2:1 multiplexers (len(values) a power of two)."""
    bit = 0
    while len(values) > 1:
        values = [Mux(index[bit], hi, lo) for lo, hi in zip(values[::2], values[1::2])]
        bit += 1
    return values[0]
