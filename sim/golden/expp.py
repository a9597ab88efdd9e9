"""Bit-exact, vectorised golden model of expp, SoftEx's BF16 exponential (the RTL specification).

``expp(x, mode)`` takes and returns BF16 bit patterns (``np.uint16``; any integer array or python
int is accepted, a scalar input gives a numpy scalar). The arithmetic is int64 numpy arithmetic
that mirrors the datapath of ``hw/softex/expp.py`` step by step; no host floating point is used.

Two modes (the word-level description, design notes and measured accuracy: ``docs/expp.md``):

``"softex"``
    Exactly the bit-level algorithm of ``/work/shared/docs/algorithms.md`` section 2 (SoftEx's
    hardware): stage 1 Schraudolph (x/ln2 as Q8.7, the integer part becomes the exponent, the
    fraction the mantissa), stage 2 a factored quadratic correction of the 7-bit mantissa per
    half of [0, 1), every step truncating.

``"accurate"``
    Same two-stage structure with constants found by ``scripts/expp_search.py`` (stored in
    ``hw/softex/expp_constants.py``): stage 1 keeps ``K`` fraction bits of x/ln2 (rounded, half
    up) instead of rounding it to Q8.7, stage 2 evaluates ``2^f - 1`` per segment of [0, 1) as
    ``C_j + (ALPHA_j * (t * (t + GAMMA_j) >> Q1)) >> Q`` with ``G`` guard bits below the 7-bit
    mantissa;
    the round-to-nearest offset is folded into ``C_j`` and a carry out of the mantissa
    increments the exponent.

Special values (both modes; decided in ``docs/expp.md``): NaN -> canonical NaN ``0x7FC0``;
-inf -> +0; +inf -> +inf; +-0 and subnormal inputs -> 1.0 (the hidden bit is forced to 1, so
they behave as tiny numbers); results below the normal range flush to +0; results above the
largest finite number give +inf. The output sign is always 0.

The second half of this module holds the accuracy helpers shared by the search script, the
report and the tests: exact BF16 <-> float64 conversions, the exact exp reference, the
correctly rounded BF16 exp, the ulp-error measure and the distribution U[a, b] rounded to BF16.
"""

from decimal import Decimal, localcontext

import numpy as np

from hw.fp.format import BF16
from hw.softex.expp import ExppConstants

__all__ = [
    "MODES", "SOFTEX_A", "E_LIMIT", "expp", "expp_stage1", "accurate_constants",
    "bf16_to_float", "float_to_bf16", "exp_exact", "exp_correctly_rounded", "ulp_of",
    "ulp_error", "uniform_bf16", "uniform_weights", "ALL_INPUTS",
]

MODES = ("softex", "accurate")

# Stage-1 constant of SoftEx: round(2^14 / ln 2) (Q1.14).
SOFTEX_A = 23637

# Largest input exponent field that is not an automatic overflow/underflow (|x| < 128).
E_LIMIT = 133

ALL_INPUTS = np.arange(1 << 16, dtype=np.uint16)
"""Every BF16 bit pattern, 0x0000 .. 0xFFFF."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

def _int_array(x, name="x"):
    arr = np.asarray(x)
    if arr.dtype == object:
        arr = np.asarray(x, dtype=np.int64)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers (BF16 bit patterns), got dtype {arr.dtype}")
    return arr.astype(np.int64) & 0xFFFF


def _decode(x):
    x = _int_array(x)
    return x, x >> 15, (x >> 7) & 0xFF, x & 0x7F


def _finish(x, s, e, m, result):
    """NaN -> 0x7FC0 (both modes; +-inf already gave +inf / +0 through the e > 133 path)."""
    is_nan = (e == 0xFF) & (m != 0)
    result = np.where(is_nan, BF16.qnan, result)
    return np.asarray(result).astype(np.uint16)[()]


def _softex_stage1(s, e, m):
    """SoftEx stage 1 on decoded fields. Returns (Z, zi, overflow, flush) as int64 arrays:
    Z is the 15-bit two's complement Q8.7 value of x/ln2, zi = Z[14:7]; overflow covers e > 133
    (+-inf and NaN included) and the e = 133 cases of algorithms.md."""
    p = (128 + m) * SOFTEX_A                       # 23 bits
    f = p >> 7                                     # Q2.14 of |x|/ln2 before the exponent shift
    sh = np.clip(E_LIMIT - e, 0, 31)
    s_ = f >> sh
    r = (s_ >> 1) + (s_ & 1)                       # round half up, 15 bits
    z = np.where(s == 0, r, (-r) & 0x7FFF)
    zi = z >> 7
    overflow = (e > E_LIMIT) | ((e == E_LIMIT) & ((((p >> 22) & 1) == 1)
                                                  | ((s == 1) & (((p >> 14) & 0xFF) == 0xFF))))
    flush = (s == 1) & (e == E_LIMIT) & (zi == 0x81)
    return z, zi, overflow, flush


def _softex_pack(s, overflow, flush, exp_field, mant):
    out = (exp_field << 7) | mant
    return np.where(overflow, np.where(s == 0, BF16.pos_inf, 0), np.where(flush, 0, out))


def expp_stage1(x):
    """Stage 1 of the ``softex`` mode alone (plain Schraudolph): the "after stage 1" column of
    the algorithms.md test vectors. Same special values as :func:`expp`."""
    x, s, e, m = _decode(x)
    z, zi, overflow, flush = _softex_stage1(s, e, m)
    out = _softex_pack(s, overflow, flush, (zi + 127) & 0xFF, z & 0x7F)
    return _finish(x, s, e, m, out)


def _softex(s, e, m):
    z, zi, overflow, flush = _softex_stage1(s, e, m)
    exp_field = (zi + 127) & 0xFF
    mm = z & 0x7F
    # Stage 2: quadratic correction per half of [0, 1), every step truncating.
    u1 = 2 * mm
    m1 = (((u1 * 4) * (mm + 363)) >> 12) & 0x7F
    u2 = 255 - 2 * mm
    m2 = 127 - ((((u2 * 7) * (mm + 278)) >> 12) & 0x7F)
    mant = np.where(mm < 64, m1, m2)
    return _softex_pack(s, overflow, flush, exp_field, mant)


def accurate_constants(constants=None):
    """Validated accurate-mode constants: ``constants`` (any object with the attribute names of
    ``hw/softex/expp_constants.py``) or, by default, that generated module. ValueError naming
    the offending constant if one is out of range."""
    return ExppConstants.load(constants)


def _accurate(s, e, m, c):
    ka, a, k, sb, g, q1, q = c.KA, c.A, c.K, c.SEG_BITS, c.G, c.Q1, c.Q
    alpha, gamma, c0 = (np.array(v, dtype=np.int64) for v in (c.ALPHA, c.GAMMA, c.C))
    # Stage 1: |x|/ln2 with K fraction bits, rounded half up. |x| = M8 * 2^(e-134), so
    # |x|/ln2 = M8 * A * 2^(e-134-KA) and Y = round(M8 * A / 2^sh), sh = 134 + KA - K - e >= 1.
    p = (128 + m) * a
    sh1 = np.clip(E_LIMIT + ka - k - e, 0, c.p_width)     # sh - 1; shifting further gives 0
    y = ((p >> sh1) + 1) >> 1
    z = np.where(s == 0, y, -y)                           # two's complement (floor below)
    n = z >> k                                            # integer part, floor
    f = z & ((1 << k) - 1)                                # fraction, K bits
    # Stage 2: 2^f - 1 per segment j: C_j + (ALPHA_j * (t * (t + GAMMA_j) >> Q1)) >> Q, in
    # units of 2^-(7+G); C_j includes the round-to-nearest offset 2^(G-1).
    tb = k - sb
    j = f >> tb
    t = f & ((1 << tb) - 1)
    v = c0[j] + ((alpha[j] * ((t * (t + gamma[j])) >> q1)) >> q)
    mant8 = v >> g                                        # 0..128 (+ carry)
    carry = mant8 >> 7
    exp_field = n + 127 + carry
    out = (exp_field << 7) | (mant8 & 0x7F)
    out = np.where(exp_field <= 0, 0, np.where(exp_field >= 255, BF16.pos_inf, out))
    return np.where(e > E_LIMIT, np.where(s == 0, BF16.pos_inf, 0), out)


def expp(x, mode="softex", *, constants=None):
    """expp of BF16 bit patterns ``x`` (uint16 in, uint16 out, always non-negative).

    ``mode`` is ``"softex"`` (SoftEx-compatible, bit-exact to algorithms.md section 2) or
    ``"accurate"``; ``constants`` overrides the accurate-mode constants (default: the generated
    ``hw/softex/expp_constants.py``; any object with its attribute names)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, got {mode!r}")
    x, s, e, m = _decode(x)
    if mode == "softex":
        if constants is not None:
            raise ValueError("constants only apply to mode 'accurate'")
        out = _softex(s, e, m)
    else:
        out = _accurate(s, e, m, accurate_constants(constants))
    return _finish(x, s, e, m, out)


# --------------------------------------------------------------------------------------------
# Accuracy helpers (exact references; used by scripts/expp_search.py, scripts/expp_report.py
# and the tests)
# --------------------------------------------------------------------------------------------

def bf16_to_float(x):
    """BF16 bit patterns -> float64 values (exact; NaN stays NaN)."""
    x = _int_array(x).astype(np.uint32)
    with np.errstate(invalid="ignore"):
        return (x << 16).view(np.float32).astype(np.float64)


def float_to_bf16(v):
    """float64 values -> BF16 bit patterns, rounded once to nearest even (exact: integer
    arithmetic on the float64 encoding), with gradual underflow, overflow to inf, NaN -> 0x7FC0."""
    v = np.asarray(v, dtype=np.float64)
    b = v.view(np.uint64).astype(np.uint64)
    sign = (b >> np.uint64(63)).astype(np.int64)
    e64 = ((b >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    sig = (b & np.uint64((1 << 52) - 1)).astype(np.int64) | np.where(e64 > 0, 1 << 52, 0)
    e64 = np.maximum(e64, 1)
    eb = e64 - 1023 + 127                                  # BF16 exponent field if normal
    shift = np.clip(45 + np.maximum(1 - eb, 0), 1, 62)
    kept = sig >> shift
    half = 1 << (shift - 1)
    rem = sig & ((1 << shift) - 1)
    kept = kept + ((rem > half) | ((rem == half) & ((kept & 1) == 1)))
    mag = np.where(eb >= 1, ((eb - 1) << 7) + kept, kept)   # carries ripple into the exponent
    mag = np.minimum(mag, BF16.pos_inf)
    mag = np.where(e64 == 0x7FF, np.where(sig & ((1 << 52) - 1) != 0, -1, BF16.pos_inf), mag)
    out = np.where(mag < 0, BF16.qnan, (sign << 15) | np.maximum(mag, 0))
    return out.astype(np.uint16)[()]


def exp_exact(x):
    """exp of BF16 inputs as float64: the "exact" reference (relative error ~1e-16, far below
    BF16's 2^-9). NaN -> NaN, overflow -> inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(bf16_to_float(x))


def exp_correctly_rounded(x):
    """exp of BF16 inputs correctly rounded to BF16 (nearest even, gradual underflow, overflow
    to +inf, NaN -> 0x7FC0): the accuracy floor of any BF16 exp.

    Rounded once from float64; the inputs whose float64 exp lies within 2^-40 (relative) of a
    BF16 rounding boundary, where float64's own error could flip the rounding, are recomputed
    with 50-digit decimal arithmetic."""
    xs = _int_array(x)
    ref = exp_exact(xs)
    out = np.asarray(float_to_bf16(ref)).copy()
    lo = bf16_to_float(np.where(out == 0, 0, np.maximum(out.astype(np.int64) - 1, 0)))
    hi = bf16_to_float(np.minimum(out.astype(np.int64) + 1, BF16.pos_inf))
    mid_lo = (lo + bf16_to_float(out)) / 2
    mid_hi = (hi + bf16_to_float(out)) / 2
    with np.errstate(invalid="ignore"):
        near = np.isfinite(ref) & (ref > 0) & (
            (np.abs(ref - mid_lo) <= ref * 2.0**-40) | (np.abs(ref - mid_hi) <= ref * 2.0**-40))
    flat_x, flat_out = xs.reshape(-1), out.reshape(-1)
    for i in np.flatnonzero(near.reshape(-1)):
        flat_out[i] = _exp_bf16_decimal(int(flat_x[i]))
    return out.astype(np.uint16)[()]


def _exp_bf16_decimal(bits):
    """Correctly rounded BF16 exp of one (finite, non-overflowing) input, in decimal."""
    with localcontext() as ctx:
        ctx.prec = 50
        ex = Decimal(float(bf16_to_float(bits))).exp()
        cand = int(float_to_bf16(float(ex)))
        for c in (cand - 1, cand, cand + 1):           # the true neighbours of ex
            if c < 0 or c >= BF16.pos_inf:
                continue
            lo = Decimal(float(bf16_to_float(c)))
            hi = Decimal(float(bf16_to_float(c + 1)))
            if lo <= ex < hi:
                mid = (lo + hi) / 2
                return c + 1 if ex > mid or (ex == mid and c & 1) else c
        return cand


def ulp_of(v):
    """The BF16 ulp at value ``v`` > 0: the spacing of BF16 numbers in the binade [2^k, 2^(k+1))
    that contains v, 2^(k-7) (2^-133 below the normal range)."""
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log2(v))
    return np.exp2(np.maximum(k, -126) - 7)


def ulp_error(result, x):
    """|result - exp(x)| in ulps of the exact result (``ulp_of(exp(x))``), float64 per input.

    This is the stricter of the usual definitions: when the exact value lies just below a power
    of two, the ulp is the smaller spacing below it (a correctly rounded result is always within
    0.5 of these ulps)."""
    ex = exp_exact(x)
    with np.errstate(invalid="ignore"):
        return np.abs(bf16_to_float(result) - ex) / ulp_of(ex)


def uniform_bf16(a, b, n, seed):
    """``n`` samples of U[a, b] (numpy default_rng(seed), float64) rounded once to BF16."""
    rng = np.random.default_rng(seed)
    return float_to_bf16(rng.uniform(a, b, n))


def uniform_weights(a, b):
    """Probability of every BF16 pattern (index = pattern) when x ~ U[a, b] (a < b <= 0 or
    0 <= a < b) is rounded to nearest BF16: the length of its rounding interval inside [a, b]
    divided by b - a. A mean over U[a, b] is then sum(weights * error) with no sampling noise.
    Negative-side intervals go to the negative patterns (-0 takes (-min_sub/2, 0])."""
    if not a < b or (a < 0 < b):
        raise ValueError(f"need a < b on one side of zero, got [{a}, {b}]")
    neg = b <= 0
    pats = np.arange(0x8000, 0xFF81) if neg else np.arange(0x0000, 0x7F81)
    vals = np.abs(bf16_to_float(pats))                      # increasing magnitudes
    mids = (vals[1:] + vals[:-1]) / 2
    lo = np.concatenate([[0.0], mids])
    hi = np.concatenate([mids, [np.inf]])
    amin, amax = (-b, -a) if neg else (a, b)
    lengths = np.clip(np.minimum(hi, amax) - np.maximum(lo, amin), 0, None)
    w = np.zeros(1 << 16)
    w[pats] = lengths / (amax - amin)
    return w
