"""Operand generators shared by the golden-model tests and the RTL (cocotb) tests.

Everything returns bit patterns as numpy arrays (``np.uint16`` for BF16, ``np.uint32`` for
FP32); ``corner_values`` returns a python list. Random generators take a
``numpy.random.Generator`` and are biased towards the cases that break arithmetic units:
nearby exponents (cancellation, alignment by 0..precision+3 places), exact rounding ties,
significands with long runs of ones or zeros, subnormals, and the overflow / underflow
boundaries of each operation. The generators only make *inputs*; they may use host floats
and truncation freely, the expected results always come from ``fp`` / ``exact``.

Overview:

* ``corner_values(fmt)``, ``corner_pairs(fmt)``, ``corner_triples(mul_fmt, acc_fmt)``
* ``random_bits(rng, n, fmt)``: single operands; ``random_pairs(rng, n, fmt)``: related pairs
* ``add_ties``, ``add_cancellations``, ``add_boundaries``, ``add_operands`` (a, b, sub)
* ``mul_ties``, ``mul_boundaries``, ``mul_operands`` (a, b)
* ``fma_ties``, ``fma_subnormal_products``, ``fma_borrows``, ``fma_cancellations``,
  ``fma_boundaries``, ``fma_operands`` (a, b, c, neg_ab, neg_c)
* ``convert_ties``, ``convert_boundaries``, ``convert_operands`` (x)
"""

import numpy as np

from hw.fp.format import BF16, FP32, float_format

from .fp import _bitlen

__all__ = [
    "corner_values", "corner_pairs", "corner_triples",
    "random_bits", "random_pairs", "encode",
    "add_ties", "add_cancellations", "add_boundaries", "add_operands",
    "mul_ties", "mul_boundaries", "mul_operands",
    "fma_ties", "fma_subnormal_products", "fma_borrows", "fma_cancellations", "fma_boundaries",
    "fma_operands",
    "convert_ties", "convert_boundaries", "convert_operands",
]


def _f(fmt):
    return float_format(fmt)


def _dtype(fmt):
    return np.uint16 if fmt.width == 16 else np.uint32


def _pack(sign, field, frac, fmt):
    sign, field, frac = (np.asarray(v, dtype=np.int64) for v in (sign, field, frac))
    bits = (sign << (fmt.width - 1)) | (field << fmt.frac_bits) | (frac & fmt.frac_mask)
    return bits.astype(_dtype(fmt))


def _fields(bits, fmt):
    bits = np.asarray(bits).astype(np.int64)
    return (bits >> (fmt.width - 1), (bits >> fmt.frac_bits) & fmt.exp_max,
            bits & fmt.frac_mask)


def encode(sign, sig, e, fmt):
    """Bits of ``(-1)^sign * sig * 2^e`` truncated toward zero to ``fmt`` (exact when
    representable); magnitudes above the range give the largest finite number. For making
    inputs only."""
    fmt = _f(fmt)
    sign, sig, e = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (sign, sig, e)))
    top = e + _bitlen(sig) - 1
    lsb = np.maximum(top, fmt.emin) - fmt.frac_bits
    sh = lsb - e
    m = np.where(sh >= 0, sig >> np.clip(sh, 0, 62), sig << np.clip(-sh, 0, 62))
    field = np.where(m >> fmt.frac_bits != 0, top + fmt.bias, 0)
    bits = (field << fmt.frac_bits) | (m & fmt.frac_mask)
    bits = np.where(top > fmt.emax, fmt.max_finite, bits)
    bits = np.where(sig == 0, 0, bits)
    return (bits | (sign << (fmt.width - 1))).astype(_dtype(fmt))


# --------------------------------------------------------------------------------------------
# Corner values
# --------------------------------------------------------------------------------------------

def corner_values(fmt):
    """Bit patterns of every corner class of ``fmt``, both signs: zeros, infinities, quiet and
    signalling NaNs with minimal / maximal payloads (canonical one included), smallest,
    middle and largest subnormals, smallest normals, 1.0 and its neighbours, small integers,
    the largest finite numbers and 2^emax, and the square roots of the overflow, normal and
    subnormal thresholds (so that products and FMAs cross those boundaries)."""
    fmt = _f(fmt)
    f, bias = fmt.frac_bits, fmt.bias

    def val(e, frac=0):                      # 2^e * (1 + frac/2^f) as a positive pattern
        return ((e + bias) << f) | frac

    half_frac = 1 << (f - 1)
    mags = [
        0,
        1, 2, 3, half_frac, half_frac | 1, fmt.frac_mask - 1, fmt.frac_mask,    # subnormals
        fmt.min_normal, fmt.min_normal | 1, fmt.min_normal | fmt.frac_mask,       # 2^emin..
        val(fmt.emin + 1),
        fmt.one, fmt.one - 1, fmt.one + 1, fmt.one + 2, fmt.one | fmt.frac_mask,  # ~1.0
        val(-1), val(1), val(0, half_frac), val(1, half_frac), val(2, 1 << (f - 2)),
        val(f + 1), val(f + 1, fmt.frac_mask),                                    # 2^p..
        fmt.max_finite, fmt.max_finite - 1, val(fmt.emax), val(fmt.emax - 1, fmt.frac_mask),
        # products / squares near the overflow threshold 2^(emax+1)
        val((fmt.emax + 1) // 2), val((fmt.emax + 1) // 2 - 1, fmt.frac_mask),
        val((fmt.emax + 1) // 2, half_frac),
        # ... near the smallest normal 2^emin and the smallest subnormal 2^(emin-f)
        val(fmt.emin // 2), val(fmt.emin // 2 - 1, fmt.frac_mask), val(fmt.emin // 2, 1),
        val((fmt.emin - f) // 2), val((fmt.emin - f) // 2 - 1, fmt.frac_mask),
        val((fmt.emin - f - 1) // 2, half_frac),
        fmt.pos_inf,
        # NaNs: canonical quiet, quiet with other payloads, signalling min / max payload
        fmt.qnan, fmt.qnan | 1, fmt.pos_inf | fmt.frac_mask,
        fmt.pos_inf | 1, fmt.pos_inf | (half_frac - 1),
    ]
    out = sorted(set(mags) | {m | fmt.sign_mask for m in mags})
    return out


def corner_pairs(fmt):
    """All ordered pairs of ``corner_values(fmt)`` as two arrays."""
    fmt = _f(fmt)
    v = np.array(corner_values(fmt), dtype=_dtype(fmt))
    a, b = np.meshgrid(v, v, indexing="ij")
    return a.ravel(), b.ravel()


def corner_triples(mul_fmt=BF16, acc_fmt=FP32):
    """All triples (a, b, c): a, b from ``corner_values(mul_fmt)``, c from ``acc_fmt``."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    va = np.array(corner_values(mf), dtype=_dtype(mf))
    vc = np.array(corner_values(af), dtype=_dtype(af))
    a, b, c = np.meshgrid(va, va, vc, indexing="ij")
    return a.ravel(), b.ravel(), c.ravel()


# --------------------------------------------------------------------------------------------
# Random operands
# --------------------------------------------------------------------------------------------

def _exp_centres(fmt):
    """Biased exponent fields around which interesting values cluster."""
    return np.array([0, 1, 2, fmt.precision, fmt.bias - fmt.precision, fmt.bias - 1, fmt.bias,
                     fmt.bias + 1, fmt.bias + fmt.precision, fmt.bias + (fmt.emax + 1) // 2,
                     fmt.bias + fmt.emin // 2, fmt.exp_max - fmt.precision,
                     fmt.exp_max - 2, fmt.exp_max - 1])


def _random_frac(rng, n, fmt):
    """Fractions: uniform, with a random number of trailing zeros, sparse, or runs of ones."""
    f = fmt.frac_bits
    kind = rng.integers(0, 4, n)
    uni = rng.integers(0, 1 << f, n)
    tz = rng.integers(0, f + 1, n)
    trailing = (uni >> tz) << tz
    sparse = np.zeros(n, dtype=np.int64)
    for _ in range(2):
        bit = rng.integers(0, f + 1, n)                 # f -> no bit
        sparse |= np.where(bit < f, np.int64(1) << np.minimum(bit, f - 1), 0)
    ones = (fmt.frac_mask - (np.int64(1) << rng.integers(0, f, n)) * rng.integers(0, 2, n)) \
        & fmt.frac_mask
    return np.select([kind == 0, kind == 1, kind == 2], [uni, trailing, sparse], ones)


def random_bits(rng, n, fmt):
    """``n`` random bit patterns of ``fmt``: a mix of uniform patterns, exponents clustered
    around zero / one / the subnormal and overflow ranges (so that two draws often have nearby
    exponents), sparse and all-ones significands, and a few percent of corner values."""
    fmt = _f(fmt)
    kind = rng.choice(5, size=n, p=[0.3, 0.35, 0.15, 0.15, 0.05])
    uniform = rng.integers(0, 1 << fmt.width, n, dtype=np.int64)
    centres = _exp_centres(fmt)
    field = centres[rng.integers(0, len(centres), n)] + rng.integers(-3, 4, n)
    field = np.clip(field, 0, fmt.exp_max - 1)
    field = np.where(kind == 3, rng.integers(0, fmt.exp_max, n), field)
    frac = _random_frac(rng, n, fmt)
    sign = rng.integers(0, 2, n)
    built = _pack(sign, field, frac, fmt).astype(np.int64)
    corners = np.array(corner_values(fmt), dtype=np.int64)
    corner = corners[rng.integers(0, len(corners), n)]
    bits = np.select([kind == 0, kind == 4], [uniform, corner], built)
    return bits.astype(_dtype(fmt))


def random_pairs(rng, n, fmt):
    """Pairs (a, b) for two-operand ops: independent draws, b with an exponent within
    +-(precision+3) of a's, b = +-a, and b = -a +- a few ulps."""
    fmt = _f(fmt)
    a = random_bits(rng, n, fmt)
    sa, fa, _ = _fields(a, fmt)
    kind = rng.choice(4, size=n, p=[0.4, 0.4, 0.1, 0.1])
    indep = random_bits(rng, n, fmt).astype(np.int64)
    delta = rng.integers(-(fmt.precision + 3), fmt.precision + 4, n)
    delta = np.where(rng.integers(0, 2, n) == 0, delta // 4, delta)   # more weight near 0
    near = _pack(rng.integers(0, 2, n), np.clip(fa + delta, 0, fmt.exp_max - 1),
                 _random_frac(rng, n, fmt), fmt).astype(np.int64)
    a64 = a.astype(np.int64)
    same = a64 ^ (rng.integers(0, 2, n) * fmt.sign_mask)
    mag = np.clip((a64 & (fmt.sign_mask - 1)) + rng.integers(-3, 4, n), 0, fmt.max_finite)
    close = mag | ((1 - sa) * fmt.sign_mask)
    b = np.select([kind == 0, kind == 1, kind == 2], [indep, near, same], close)
    return a, b.astype(_dtype(fmt))


def _finite_normal(rng, n, fmt, lo=1, hi=None):
    """Random finite normal patterns with exponent field in [lo, hi]."""
    hi = fmt.exp_max - 1 if hi is None else hi
    return _pack(rng.integers(0, 2, n), rng.integers(lo, hi + 1, n), _random_frac(rng, n, fmt),
                 fmt)


def _lsb_exp(bits, fmt):
    """Exponent of the last significand bit (quantum) of finite patterns."""
    _, field, _ = _fields(bits, fmt)
    return np.maximum(field, 1) - fmt.bias - fmt.frac_bits


def _odd(rng, nbits):
    """Random odd integers with exactly ``nbits`` bits (array of widths >= 1)."""
    nbits = np.asarray(nbits, dtype=np.int64)
    r = rng.integers(0, np.int64(1) << 62, nbits.shape, dtype=np.int64)
    r &= (np.int64(1) << np.maximum(nbits - 1, 0)) - 1
    return r | (np.int64(1) << (nbits - 1)) | 1


# --- add / sub -------------------------------------------------------------------------------

def add_ties(rng, n, fmt):
    """(a, b) with a + b exactly halfway between two neighbours (before or after a carry or
    a one-bit borrow normalisation): b is an odd significand whose last bit sits one or two
    places below a's last bit."""
    fmt = _f(fmt)
    a = _finite_normal(rng, n, fmt, lo=1, hi=fmt.exp_max - 2)
    lsb = _lsb_exp(a, fmt) - 1 - rng.integers(0, 2, n)
    sig = _odd(rng, rng.integers(1, fmt.precision + 1, n))
    b = encode(rng.integers(0, 2, n), sig, lsb, fmt)
    return a, b


def add_cancellations(rng, n, fmt):
    """(a, b) with a + b = 0 exactly (b = -a, signed zeros included) or nearly (b = -(a +- a
    few ulps), across binade boundaries, into the subnormal range)."""
    fmt = _f(fmt)
    a = random_bits(rng, n, fmt).astype(np.int64)
    kind = rng.integers(0, 3, n)
    # values at a binade boundary: a = 2^e, b = -(2^e - k ulps)
    binade = _pack(rng.integers(0, 2, n), rng.integers(1, fmt.exp_max, n), 0, fmt).astype(np.int64)
    a = np.where(kind == 2, binade, a)
    mag = a & (fmt.sign_mask - 1)
    k = np.where(kind == 0, 0, rng.integers(-3, 4, n))
    bmag = np.clip(mag + k, 0, fmt.pos_inf)
    b = np.where(mag > fmt.pos_inf, a, bmag | ((a & fmt.sign_mask) ^ fmt.sign_mask))
    return a.astype(_dtype(fmt)), b.astype(_dtype(fmt))


def add_boundaries(rng, n, fmt):
    """(a, b) whose sum lands at the overflow threshold (largest finite + half an ulp, ties
    and near ties, both signs) or in the subnormal / smallest-normal range."""
    fmt = _f(fmt)
    kind = rng.integers(0, 3, n)
    sign = rng.integers(0, 2, n)
    # overflow: a near max_finite, b around half an ulp of it (or also huge)
    a_big = (fmt.max_finite - rng.integers(0, 4, n)) | (sign * fmt.sign_mask)
    half_ulp_e = fmt.emax - fmt.frac_bits - 1
    b_small = encode(sign, _odd(rng, rng.integers(1, fmt.precision + 1, n)),
                     half_ulp_e - rng.integers(0, fmt.precision, n), fmt).astype(np.int64)
    b_big = _pack(sign, fmt.exp_max - 1 - rng.integers(0, fmt.precision + 2, n),
                  _random_frac(rng, n, fmt), fmt).astype(np.int64)
    b_ovf = np.where(rng.integers(0, 2, n) == 0, b_small, b_big)
    # underflow: both tiny, random signs
    tiny_a = _pack(rng.integers(0, 2, n), rng.integers(0, 3, n), _random_frac(rng, n, fmt), fmt)
    tiny_b = _pack(rng.integers(0, 2, n), rng.integers(0, 3, n), _random_frac(rng, n, fmt), fmt)
    a = np.where(kind == 0, a_big, tiny_a.astype(np.int64))
    b = np.where(kind == 0, b_ovf, tiny_b.astype(np.int64))
    return a.astype(_dtype(fmt)), b.astype(_dtype(fmt))


def add_operands(rng, n, fmt):
    """(a, b, sub) for ``add``: related pairs, ties, cancellations and boundaries. Half of the
    cases are rewritten as a - (-b) with sub = 1 (the same sum through the subtract path)."""
    fmt = _f(fmt)
    parts = [random_pairs(rng, n - 3 * (n // 6), fmt), add_ties(rng, n // 6, fmt),
             add_cancellations(rng, n // 6, fmt), add_boundaries(rng, n // 6, fmt)]
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    perm = rng.permutation(n)
    a, b = a[perm], b[perm]
    sub = rng.integers(0, 2, n).astype(np.uint8)
    b = (b.astype(np.int64) ^ (sub.astype(np.int64) * fmt.sign_mask)).astype(_dtype(fmt))
    return a, b, sub


# --- mul -------------------------------------------------------------------------------------

def mul_ties(rng, n, fmt):
    """(a, b) whose exact product is halfway between two normal neighbours: the odd parts
    of the significands multiply to exactly precision + 1 bits (then the last bit is the
    halfway bit and everything below it is zero)."""
    fmt = _f(fmt)
    p = fmt.precision
    out_a, out_b, got = [], [], 0
    while got < n:
        m = 2 * (n - got) + 16
        ka = rng.integers(1, p + 1, m)
        kb = np.clip(p + 1 - ka + rng.integers(0, 2, m), 1, p)
        oa, ob = _odd(rng, ka), _odd(rng, kb)
        ok = _bitlen(oa * ob) == p + 1
        oa, ob = oa[ok], ob[ok]
        k = len(oa)
        # normalise to p bits; product exponent in the normal range
        ea = rng.integers(fmt.emin, fmt.emax + 1, k)
        eb = np.clip(rng.integers(fmt.emin + 1, fmt.emax - 1, k) - ea, fmt.emin, fmt.emax)
        sa = oa << (p - _bitlen(oa))
        sb = ob << (p - _bitlen(ob))
        out_a.append(encode(rng.integers(0, 2, k), sa, ea - fmt.frac_bits, fmt))
        out_b.append(encode(rng.integers(0, 2, k), sb, eb - fmt.frac_bits, fmt))
        got += k
    return np.concatenate(out_a)[:n], np.concatenate(out_b)[:n]


def mul_boundaries(rng, n, fmt):
    """(a, b) whose product lands near the overflow threshold, the smallest normal, the
    smallest subnormal or just below half of it (rounds to zero), with any significands
    (subnormal operands included)."""
    fmt = _f(fmt)
    targets = np.array([fmt.emax, fmt.emin, fmt.emin - fmt.frac_bits,
                        fmt.emin - fmt.frac_bits - 2])
    t = targets[rng.integers(0, len(targets), n)] + rng.integers(-2, 3, n)
    a = random_bits(rng, n, fmt)
    _, fa, _ = _fields(a, fmt)
    a = np.where(fa == fmt.exp_max, _finite_normal(rng, n, fmt), a)     # finite a
    _, fa, _ = _fields(a, fmt)
    ea = np.maximum(fa, 1) - fmt.bias                       # exponent of the binade
    eb = t - ea
    fb = np.clip(eb + fmt.bias, 0, fmt.exp_max - 1)
    b = _pack(rng.integers(0, 2, n), fb, _random_frac(rng, n, fmt), fmt)
    return a.astype(_dtype(fmt)), b


def mul_operands(rng, n, fmt):
    """(a, b) for ``mul``: random pairs, ties and range boundaries."""
    fmt = _f(fmt)
    parts = [random_pairs(rng, n - 2 * (n // 5), fmt), mul_ties(rng, n // 5, fmt),
             mul_boundaries(rng, n // 5, fmt)]
    perm = rng.permutation(n)
    return (np.concatenate([p[0] for p in parts])[perm],
            np.concatenate([p[1] for p in parts])[perm])


# --- fma -------------------------------------------------------------------------------------

def _to_float64(bits, fmt):
    """Host float64 value of patterns (exact: both formats are subsets of float64)."""
    bits = np.asarray(bits).astype(np.int64)
    if fmt.width == 16:
        bits = bits << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def _from_float64_trunc(x, fmt):
    """Patterns near float64 values (float32 cast, then truncation to bf16): inputs only."""
    with np.errstate(over="ignore"):
        b32 = np.asarray(x, dtype=np.float64).astype(np.float32).view(np.uint32).astype(np.int64)
    return (b32 >> 16 if fmt.width == 16 else b32).astype(_dtype(fmt))


def fma_ties(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c) where the product's lowest set bit is exactly half an ulp of c (so a*b + c is
    a tie whenever c dominates and no carry / borrow moves the rounding point)."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    a = _finite_normal(rng, n, mf, lo=mf.bias - 40, hi=mf.bias + 40)
    b = _finite_normal(rng, n, mf, lo=mf.bias - 40, hi=mf.bias + 40)
    _, fa, fra = _fields(a, mf)
    _, fb, frb = _fields(b, mf)
    ma, mb = fra | (1 << mf.frac_bits), frb | (1 << mf.frac_bits)
    prod = ma * mb
    tz = _bitlen(prod & -prod) - 1
    low = fa + fb - 2 * (mf.bias + mf.frac_bits) + tz     # exponent of the product's last one
    sig = (np.int64(1) << af.frac_bits) | rng.integers(0, 1 << af.frac_bits, n)
    c = encode(rng.integers(0, 2, n), sig, low + 1 + rng.integers(0, 2, n) * rng.integers(0, 2, n),
               af)
    return a, b, c


def fma_cancellations(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c) with c = -(a*b) (exactly when the product fits, e.g. b a power of two) or
    c = -(a*b) +- a few ulps: massive cancellation exposing the product's low bits."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    a = random_bits(rng, n, mf)
    b = random_bits(rng, n, mf).astype(np.int64)
    pow2 = rng.integers(0, 2, n) == 0
    b = np.where(pow2, b & ~np.int64(mf.frac_mask), b).astype(_dtype(mf))
    with np.errstate(over="ignore", invalid="ignore"):
        p = _to_float64(a, mf) * _to_float64(b, mf)
    c = _from_float64_trunc(-p, af).astype(np.int64)
    k = np.where(rng.integers(0, 2, n) == 0, 0, rng.integers(-2, 3, n))
    mag = np.clip((c & (af.sign_mask - 1)) + k, 0, af.pos_inf)
    c = np.where((c & (af.sign_mask - 1)) >= af.pos_inf, c, mag | (c & af.sign_mask))
    return a, b, c.astype(_dtype(af))


def fma_boundaries(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c) with the product near the accumulator's overflow threshold, smallest normal
    or smallest subnormal, and c near the largest finite number or tiny."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    targets = np.array([af.emax, af.emin, af.emin - af.frac_bits, af.emin - af.frac_bits - 2])
    t = targets[rng.integers(0, len(targets), n)] + rng.integers(-2, 3, n)
    a = _finite_normal(rng, n, mf)
    _, fa, _ = _fields(a, mf)
    fb = np.clip(t - (fa - mf.bias) + mf.bias, 0, mf.exp_max - 1)
    b = _pack(rng.integers(0, 2, n), fb, _random_frac(rng, n, mf), mf)
    kind = rng.integers(0, 3, n)
    c_big = (af.max_finite - rng.integers(0, 3, n)) | (rng.integers(0, 2, n) * af.sign_mask)
    c_tiny = _pack(rng.integers(0, 2, n), rng.integers(0, 3, n), _random_frac(rng, n, af), af)
    c_rand = random_bits(rng, n, af)
    c = np.select([kind == 0, kind == 1], [c_big, c_tiny.astype(np.int64)], c_rand)
    return a, b, c.astype(_dtype(af))


def fma_subnormal_products(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c) with a subnormal multiplicand (both, a quarter of the time; any number of
    leading zeros in the fraction) and c placed around the product's true leading bit:
    within +-(acc precision + 6) places, so that c lands just above, inside and just below
    a window that is placed from normalised operands."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    f = mf.frac_bits

    def subnormal():
        lead = rng.integers(0, f, n)                          # the fraction's top one
        low = rng.integers(0, 1 << f, n) & ((np.int64(1) << lead) - 1)
        return _pack(rng.integers(0, 2, n), 0, (np.int64(1) << lead) | low, mf)

    a = subnormal()
    b = np.where(rng.integers(0, 4, n) == 0, subnormal(), _finite_normal(rng, n, mf))
    swap = rng.integers(0, 2, n) == 1
    a, b = np.where(swap, b, a), np.where(swap, a, b)

    def top(bits):                                # unbiased exponent of the leading one
        _, field, frac = _fields(bits, mf)
        return np.where(field == 0, _bitlen(frac) - 1 - f + 1 - mf.bias, field - mf.bias)
    e_prod = top(a) + top(b)
    delta = rng.integers(-(af.precision + 6), af.precision + 7, n)
    fc = np.clip(e_prod + delta + af.bias, 0, af.exp_max - 1)
    c = _pack(rng.integers(0, 2, n), fc, _random_frac(rng, n, af), af)
    return a, b, c


def fma_borrows(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c) where a product that is a power of two (a and b powers of two, subnormal ones
    included) loses a small c: the difference borrows, its leading one drops a place, and c's
    top bit sits 0 to 3 places below the result's guard bit, so its lower bits decide
    between a tie and a rounding down. c has the sign that subtracts when neg_c = neg_ab = 0."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    # powers of two, unbiased exponents over the whole finite range (subnormals too)
    ea = rng.integers(mf.emin - mf.frac_bits, mf.emax + 1, n)
    eb = rng.integers(mf.emin - mf.frac_bits, mf.emax + 1, n)

    def power(e):
        field = np.where(e >= mf.emin, e + mf.bias, 0)
        frac = np.where(e >= mf.emin, 0, np.int64(1) << np.maximum(e - mf.emin + mf.frac_bits, 0))
        return field, frac
    (fa, xa), (fb, xb) = power(ea), power(eb)
    sa, sb = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a, b = _pack(sa, fa, xa, mf), _pack(sb, fb, xb, mf)
    # the result 2^e - c has its leading one at e - 1 and its guard bit at e - 1 - precision
    e_top = ea + eb - 1 - af.precision - rng.integers(0, 4, n)
    fc = np.clip(e_top + af.bias, 0, af.exp_max - 1)
    frac = np.where(rng.integers(0, 2, n) == 0, _random_frac(rng, n, af),
                    rng.integers(1, 4, n))                   # a few low bits only
    return a, b, _pack(sa ^ sb ^ 1, fc, frac, af)


def fma_operands(rng, n, mul_fmt=BF16, acc_fmt=FP32):
    """(a, b, c, neg_ab, neg_c) for ``fma``: independent draws, c with an exponent near the
    product's, ties, subnormal multiplicands, borrows, cancellations and range boundaries; neg
    flags uniformly random."""
    mf, af = _f(mul_fmt), _f(acc_fmt)
    m = n - 4 * (n // 6)
    a = random_bits(rng, m, mf)
    b = random_bits(rng, m, mf)
    _, fa, _ = _fields(a, mf)
    _, fb, _ = _fields(b, mf)
    # c near the product: its exponent within +-(acc precision + 3) of the product's
    e_prod = np.maximum(fa, 1) + np.maximum(fb, 1) - 2 * mf.bias
    delta = rng.integers(-(af.precision + 3), af.precision + 4, m)
    delta = np.where(rng.integers(0, 2, m) == 0, delta // 4, delta)
    fc = np.clip(e_prod + delta + af.bias, 0, af.exp_max - 1)
    c_near = _pack(rng.integers(0, 2, m), fc, _random_frac(rng, m, af), af)
    c = np.where(rng.integers(0, 2, m) == 0, c_near, random_bits(rng, m, af))
    parts = [(a, b, c), fma_ties(rng, n // 6, mf, af),
             fma_subnormal_products(rng, n // 12, mf, af),
             fma_borrows(rng, n // 6 - n // 12, mf, af),
             fma_cancellations(rng, n // 6, mf, af), fma_boundaries(rng, n // 6, mf, af)]
    perm = rng.permutation(n)
    a, b, c = (np.concatenate([p[i] for p in parts])[perm] for i in range(3))
    neg_ab = rng.integers(0, 2, n).astype(np.uint8)
    neg_c = rng.integers(0, 2, n).astype(np.uint8)
    return a, b, c, neg_ab, neg_c


# --- convert ---------------------------------------------------------------------------------

def convert_ties(rng, n, src_fmt=FP32, dst_fmt=BF16):
    """Narrowing conversions that are exact ties or off a tie by one unit of the source."""
    sf, df = _f(src_fmt), _f(dst_fmt)
    drop = sf.frac_bits - df.frac_bits
    hi = random_bits(rng, n, df).astype(np.int64)
    hi = np.where((hi & (df.sign_mask - 1)) >= df.pos_inf, hi & df.sign_mask, hi)
    half = np.int64(1) << (drop - 1)
    low = half + rng.integers(-1, 2, n) * rng.integers(0, 2, n)
    return ((hi << drop) | low).astype(_dtype(sf))


def convert_boundaries(rng, n, src_fmt=FP32, dst_fmt=BF16):
    """Narrowing conversions near the destination's overflow threshold and in the subnormal
    range (including values that round up to the smallest normal or down to zero)."""
    sf, df = _f(src_fmt), _f(dst_fmt)
    drop = sf.frac_bits - df.frac_bits
    hi_big = df.max_finite - rng.integers(0, 3, n)
    hi_tiny = rng.integers(0, 2 << df.frac_bits, n)
    hi = np.where(rng.integers(0, 2, n) == 0, hi_big, hi_tiny)
    low = rng.integers(0, np.int64(1) << drop, n)
    low = np.where(rng.integers(0, 2, n) == 0, low, (np.int64(1) << drop) - 1 - rng.integers(0, 2, n))
    sign = rng.integers(0, 2, n) * sf.sign_mask
    return (sign | (hi << drop) | low).astype(_dtype(sf))


def convert_operands(rng, n, src_fmt=FP32, dst_fmt=BF16):
    """Operands for ``convert``: random patterns, ties and range boundaries."""
    sf, df = _f(src_fmt), _f(dst_fmt)
    if sf.frac_bits <= df.frac_bits:
        return random_bits(rng, n, sf)
    x = np.concatenate([random_bits(rng, n - 2 * (n // 4), sf), convert_ties(rng, n // 4, sf, df),
                        convert_boundaries(rng, n // 4, sf, df)])
    return x[rng.permutation(n)]
