"""Bit-exact, vectorised golden models of the floating-point library (the RTL specification).

Every function takes and returns *bit patterns*: ``np.uint16`` for BF16, ``np.uint32`` for
FP32, and the raw ``width``-bit pattern (two's complement when signed) for fixed point, in the
smallest of ``np.uint8`` / ``np.uint16`` / ``np.uint32`` that holds it. Inputs may be numpy
arrays of any integer dtype or python ints; they broadcast against each other, and a result
computed from scalars only is returned as a numpy scalar. Formats are :class:`FloatFormat`
objects or their names (``"bf16"``, ``"fp32"``).

The arithmetic is integer arithmetic on int64 arrays that mirrors the hardware datapath:
decode -> exact product -> normalise -> align with a sticky bit -> add -> round once (RNE) ->
pack. No floating-point arithmetic of the host is used. The semantics are stated in words in
``docs/numerics.md``; :mod:`sim.golden.exact` is an independent big-integer reference.

Datapath widths (what the RTL needs as a minimum; wider is never wrong):

* ``add``: both significands normalised to ``precision`` bits (hidden bit at the top, subnormal
  inputs shifted up), the larger operand extended by ``GUARD_BITS`` = 3 zero bits, the smaller
  one shifted right by the exponent difference in the same ``precision + 3``-bit window with
  every bit shifted out OR-ed into a sticky bit; the difference is taken as
  ``big - small - sticky`` (borrow of the shifted-out part) and the sticky bit goes to the
  rounder. The sum window is ``precision + 4`` bits (one carry bit).
* ``mul``: the exact ``2 * precision``-bit product goes to the rounder (no sticky).
* ``fma``: exact ``2 * mul_fmt.precision``-bit product; product and addend are both normalised
  to ``n = max(2 * mul_fmt.precision, acc_fmt.precision)`` bits (16 -> 24 for bf16 x bf16 + fp32,
  16 for bf16 x bf16 + bf16, 48 for fp32 x fp32 + fp32), then added exactly as in ``add`` in an
  ``n + 3``-bit window (+1 carry bit) with a sticky bit.
* ``round_pack``: one rounder for all operations, see its docstring.
"""

import numpy as np

from hw.fp.format import BF16, FP32, float_format

__all__ = [
    "ZERO", "SUBNORMAL", "NORMAL", "INF", "NAN", "GUARD_BITS",
    "dtype_for", "fixed_dtype",
    "decode", "round_pack",
    "add", "mul", "fma", "compare", "convert", "scale", "int_to_float", "float_to_int",
]

# Class codes returned by decode().
ZERO, SUBNORMAL, NORMAL, INF, NAN = 0, 1, 2, 3, 4

# Extra low-order bits kept when aligning the smaller addend (guard, round, sticky position).
GUARD_BITS = 3

# Exponent given to zero terms so that they always lose the magnitude comparison.
_ZERO_TERM_EXP = -(1 << 20)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _fmt(fmt, param="fmt"):
    return float_format(fmt, param=param)


def dtype_for(fmt):
    """numpy dtype of a bit pattern of ``fmt``: uint16 for 16-bit formats, uint32 for 32-bit."""
    fmt = _fmt(fmt)
    return {16: np.uint16, 32: np.uint32}[fmt.width]


def fixed_dtype(width):
    """numpy dtype holding a ``width``-bit fixed-point pattern."""
    if not 1 <= width <= 32:
        raise ValueError(f"width must be in 1..32, got {width!r}")
    return np.uint8 if width <= 8 else np.uint16 if width <= 16 else np.uint32


def _int_array(x, name):
    arr = np.asarray(x)
    if arr.dtype == object:
        arr = np.asarray(x, dtype=np.int64)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers (bit patterns), got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _bits(x, width, name):
    """Integer bit patterns as int64, masked to ``width`` bits (negative python ints wrap)."""
    return _int_array(x, name) & ((1 << width) - 1)


def _flag(x, name):
    return _int_array(x, name) & 1


def _out(x, dtype):
    return np.asarray(x).astype(dtype)[()]


def _bitlen(x):
    """Bit length of non-negative int64 values (0 for 0), exact for all values < 2^63.

    The exponent of the value converted to float64 is the bit length, except where the
    conversion rounded up to the next power of two (values above 2^53): then the value shifted
    right by one less than that is 0, and the length is one less."""
    x = np.asarray(x, dtype=np.int64)
    n = np.frexp(x.astype(np.float64))[1].astype(np.int64)
    return n - ((x >> np.maximum(n - 1, 0)) == 0) * (x > 0)


def _shr_rne(value, shift):
    """Round ``value >> shift`` to nearest, ties to even; 0 <= ``value`` < 2^61, ``shift`` >= 0
    of any size (shifts beyond 62 behave as 62, which gives 0 without a round-up)."""
    shift = np.asarray(shift, dtype=np.int64)
    s = np.clip(shift, 1, 62)
    kept = value >> s
    half = (value >> (s - 1)) & 1
    rest = (value & ((np.int64(1) << (s - 1)) - 1)) != 0
    rounded = kept + (half & (rest | (kept & 1)))
    return np.where(shift > 0, rounded, value)


# --------------------------------------------------------------------------------------------
# Decode / round-and-pack (the two halves every unit shares)
# --------------------------------------------------------------------------------------------

def decode(bits, fmt):
    """Split bit patterns into ``(sign, sig, exp, cls)`` int64 arrays.

    For finite inputs the value is ``(-1)^sign * sig * 2^exp`` with ``sig`` the integer
    significand (hidden bit included for normals, ``precision`` bits) and ``exp`` the exponent
    of its least significant bit (``emin - frac_bits`` for zeros and subnormals). ``cls`` is one
    of ZERO, SUBNORMAL, NORMAL, INF, NAN; for INF and NAN ``sig`` and ``exp`` hold whatever the
    fields give (hidden bit set, exponent ``emax + 1 - frac_bits``) and must not be used.
    """
    fmt = _fmt(fmt)
    bits = _bits(bits, fmt.width, "bits")
    sign = bits >> (fmt.width - 1)
    efield = (bits >> fmt.frac_bits) & fmt.exp_max
    frac = bits & fmt.frac_mask
    normal = efield != 0
    sig = np.where(normal, frac | (1 << fmt.frac_bits), frac)
    exp = np.where(normal, efield, 1) - (fmt.bias + fmt.frac_bits)
    nonzero = frac != 0
    cls = np.where(efield == fmt.exp_max, np.where(nonzero, NAN, INF),
                   np.where(normal, NORMAL, np.where(nonzero, SUBNORMAL, ZERO))).astype(np.int64)
    return sign, sig, exp, cls


def round_pack(sign, sig, exp, sticky, fmt):
    """Round ``(-1)^sign * (sig + d) * 2^exp`` to ``fmt`` (RNE) and pack it into bit patterns.

    ``sig`` is a non-negative integer significand of any width below 2^60 (not necessarily
    normalised), ``exp`` the exponent of its least significant bit. ``sticky`` = 1 says the exact
    value has further non-zero bits below ``sig``'s LSB (0 < d < 1; d = 0 when ``sticky`` = 0).
    A sticky bit is only meaningful when at least one bit of ``sig`` is rounded off; the
    caller guarantees this (ValueError otherwise).

    The steps, as in hardware: leading-one position ``top = exp + bitlen(sig) - 1``; the result
    exponent is ``max(top, emin)`` (gradual underflow: below ``emin`` the LSB stays at
    ``emin - frac_bits``); drop the bits below the result LSB with guard/sticky RNE; a carry out
    of the significand bumps the exponent (by plain addition into the exponent field); a
    biased exponent field >= ``exp_max`` gives infinity. A zero significand gives a zero of sign
    ``sign``: a non-zero exact value that rounds to zero keeps its sign.
    """
    fmt = _fmt(fmt)
    sign = _flag(sign, "sign")
    sig = _int_array(sig, "sig")
    exp = _int_array(exp, "exp")
    sticky = _flag(sticky, "sticky")
    if np.any(sig < 0) or np.any(sig >= (np.int64(1) << 60)):
        raise ValueError("round_pack: sig must be in [0, 2^60)")
    top = exp + _bitlen(sig) - 1
    e_res = np.where(sig == 0, fmt.emin, np.maximum(top, fmt.emin))
    drop = e_res - fmt.frac_bits - exp                   # bits of sig below the result LSB
    if np.any((sticky != 0) & (drop < 1)):
        raise ValueError("round_pack: sticky bit given but no bit of sig is rounded off")
    # RNE on (2*sig + sticky) one position further: the sticky bit can only break a tie.
    mant = np.where(drop > 0, _shr_rne(2 * sig + sticky, np.maximum(drop, 0) + 1),
                    sig << np.clip(-drop, 0, 62))
    # Exponent field + significand with the hidden bit: a hidden bit (or a rounding carry into
    # it) adds one to the field, which is why the base field is e_res + bias - 1.
    mag = ((e_res + (fmt.bias - 1)) << fmt.frac_bits) + mant
    mag = np.minimum(mag, fmt.pos_inf)
    return _out((sign << (fmt.width - 1)) | mag, dtype_for(fmt))


# --------------------------------------------------------------------------------------------
# Exact two-term addition (shared by add and fma)
# --------------------------------------------------------------------------------------------

def _add_terms(sx, x, ex, sy, y, ey, n, fmt):
    """Round ``(-1)^sx x 2^ex + (-1)^sy y 2^ey`` once to ``fmt``; x, y < 2^n are finite terms."""
    # Normalise both terms to n bits (leading one at bit n-1); zeros get a tiny exponent.
    lx, ly = _bitlen(x), _bitlen(y)
    x = x << np.clip(n - lx, 0, n)
    y = y << np.clip(n - ly, 0, n)
    ex = np.where(lx == 0, _ZERO_TERM_EXP, ex - (n - lx))
    ey = np.where(ly == 0, _ZERO_TERM_EXP, ey - (n - ly))
    # Larger magnitude first.
    swap = (ey > ex) | ((ey == ex) & (y > x))
    big, e_big, s_big = np.where(swap, y, x), np.where(swap, ey, ex), np.where(swap, sy, sx)
    small, e_small, s_small = np.where(swap, x, y), np.where(swap, ex, ey), np.where(swap, sx, sy)
    # Align the smaller term in an (n + GUARD_BITS)-bit window; shifted-out bits -> sticky.
    d = np.minimum(e_big - e_small, 62)
    small_w = small << GUARD_BITS
    aligned = small_w >> d
    sticky = (small_w & ((np.int64(1) << d) - 1)) != 0
    big_w = big << GUARD_BITS
    subtract = (s_big ^ s_small) != 0
    total = np.where(subtract, big_w - aligned - sticky, big_w + aligned)
    # An exact zero (only possible without sticky) is -0 only if both terms are -0-signed.
    exact_zero = (total == 0) & ~sticky
    sign = np.where(exact_zero, s_big & s_small, s_big)
    return round_pack(sign, total, e_big - GUARD_BITS, sticky, fmt)


def _broadcast(*arrays):
    return np.broadcast_arrays(*arrays)


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------

def add(a, b, fmt, sub=0):
    """``a + b`` (``sub`` = 1: ``a - b``), rounded once; ``sub`` may be an array."""
    fmt = _fmt(fmt)
    a, b, sub = _broadcast(_bits(a, fmt.width, "a"), _bits(b, fmt.width, "b"), _flag(sub, "sub"))
    sa, ma, ea, ca = decode(a, fmt)
    sb, mb, eb, cb = decode(b, fmt)
    sb = sb ^ sub
    nan = (ca == NAN) | (cb == NAN) | ((ca == INF) & (cb == INF) & (sa != sb))
    inf = (ca == INF) | (cb == INF)
    inf_sign = np.where(ca == INF, sa, sb)
    special = nan | inf
    ma = np.where(special, 0, ma)
    mb = np.where(special, 0, mb)
    res = _add_terms(sa, ma, ea, sb, mb, eb, fmt.precision, fmt).astype(np.int64)
    res = np.where(inf, (inf_sign << (fmt.width - 1)) | fmt.pos_inf, res)
    res = np.where(nan, fmt.qnan, res)
    return _out(res, dtype_for(fmt))


def mul(a, b, fmt):
    """``a * b``, the exact product rounded once."""
    fmt = _fmt(fmt)
    a, b = _broadcast(_bits(a, fmt.width, "a"), _bits(b, fmt.width, "b"))
    sa, ma, ea, ca = decode(a, fmt)
    sb, mb, eb, cb = decode(b, fmt)
    sign = sa ^ sb
    zero = (ca == ZERO) | (cb == ZERO)
    inf = (ca == INF) | (cb == INF)
    nan = (ca == NAN) | (cb == NAN) | (zero & inf)
    res = round_pack(sign, np.where(inf | nan, 0, ma * mb), ea + eb, 0, fmt).astype(np.int64)
    res = np.where(inf, (sign << (fmt.width - 1)) | fmt.pos_inf, res)
    res = np.where(nan, fmt.qnan, res)
    return _out(res, dtype_for(fmt))


def fma(a, b, c, mul_fmt=BF16, acc_fmt=FP32, neg_ab=0, neg_c=0):
    """``(-1)^neg_ab * a * b + (-1)^neg_c * c`` with ONE rounding to ``acc_fmt``.

    ``a``, ``b`` are in ``mul_fmt``, ``c`` and the result in ``acc_fmt``. Supported: bf16 x bf16
    + bf16, bf16 x bf16 + fp32, fp32 x fp32 + fp32 (any pair of known formats works).
    """
    mf, af = _fmt(mul_fmt, "mul_fmt"), _fmt(acc_fmt, "acc_fmt")
    a, b, c, neg_ab, neg_c = _broadcast(
        _bits(a, mf.width, "a"), _bits(b, mf.width, "b"), _bits(c, af.width, "c"),
        _flag(neg_ab, "neg_ab"), _flag(neg_c, "neg_c"))
    sa, ma, ea, ca = decode(a, mf)
    sb, mb, eb, cb = decode(b, mf)
    sc, mc, ec, cc = decode(c, af)
    sp = sa ^ sb ^ neg_ab
    sc = sc ^ neg_c
    zero_p = (ca == ZERO) | (cb == ZERO)
    inf_p = (ca == INF) | (cb == INF)
    inf_c = cc == INF
    nan = ((ca == NAN) | (cb == NAN) | (cc == NAN) | (zero_p & inf_p)
           | (inf_p & inf_c & (sp != sc)))
    inf = inf_p | inf_c
    inf_sign = np.where(inf_p, sp, sc)
    special = nan | inf
    prod = np.where(special, 0, ma * mb)
    mc = np.where(special, 0, mc)
    n = max(2 * mf.precision, af.precision)
    res = _add_terms(sp, prod, ea + eb, sc, mc, ec, n, af).astype(np.int64)
    res = np.where(inf, (inf_sign << (af.width - 1)) | af.pos_inf, res)
    res = np.where(nan, af.qnan, res)
    return _out(res, dtype_for(af))


def compare(a, b, fmt):
    """IEEE 754-2019 ``minimum`` / ``maximum`` and the IEEE comparison predicates.

    Returns ``dict(min=, max=, lt=, eq=, gt=, unordered=)``; min/max are bit patterns of
    ``fmt`` (a NaN operand gives the canonical NaN, otherwise one of the operands unchanged,
    with -0 < +0), the flags are uint8 0/1 (-0 == +0; any NaN: lt = eq = gt = 0, unordered = 1).
    """
    fmt = _fmt(fmt)
    a, b = _broadcast(_bits(a, fmt.width, "a"), _bits(b, fmt.width, "b"))
    mag_mask = fmt.sign_mask - 1
    ma, mb = a & mag_mask, b & mag_mask
    na, nb = a >> (fmt.width - 1), b >> (fmt.width - 1)
    nan = (ma > fmt.pos_inf) | (mb > fmt.pos_inf)
    # Total order of non-NaN patterns (-0 below +0) and the IEEE value order (-0 == +0).
    ta, tb = np.where(na != 0, -ma - 1, ma), np.where(nb != 0, -mb - 1, mb)
    va, vb = np.where(na != 0, -ma, ma), np.where(nb != 0, -mb, mb)
    dt = dtype_for(fmt)
    return dict(
        min=_out(np.where(nan, fmt.qnan, np.where(ta <= tb, a, b)), dt),
        max=_out(np.where(nan, fmt.qnan, np.where(ta >= tb, a, b)), dt),
        lt=_out(~nan & (va < vb), np.uint8),
        eq=_out(~nan & (va == vb), np.uint8),
        gt=_out(~nan & (va > vb), np.uint8),
        unordered=_out(nan, np.uint8),
    )


def convert(x, src_fmt, dst_fmt):
    """Format conversion, RNE (fp32 -> bf16 rounds, bf16 -> fp32 is exact). NaN -> canonical
    NaN of ``dst_fmt``; infinities and zeros keep their sign; overflow -> inf."""
    sf, df = _fmt(src_fmt, "src_fmt"), _fmt(dst_fmt, "dst_fmt")
    s, m, e, cls = decode(x, sf)
    res = round_pack(s, np.where(cls >= INF, 0, m), e, 0, df).astype(np.int64)
    res = np.where(cls == INF, (s << (df.width - 1)) | df.pos_inf, res)
    res = np.where(cls == NAN, df.qnan, res)
    return _out(res, dtype_for(df))


def scale(x, e, fmt=BF16):
    """``x * 2^e`` in ``fmt``, rounded once (RNE): exact unless the result leaves the normal
    range (gradual underflow rounds, overflow gives inf). ``e`` is a signed integer (any int64;
    the tensor unit's W_EXP is 8 bits). NaN -> canonical NaN; infinities and zeros keep their
    sign."""
    fmt = _fmt(fmt)
    x, e = _broadcast(_bits(x, fmt.width, "x"), _int_array(e, "e"))
    s, m, ex, cls = decode(x, fmt)
    # Beyond +-(range + precision) the result is inf or zero anyway: clamp to stay in int64.
    reach = 2 * (fmt.bias + fmt.precision) + 2
    res = round_pack(s, np.where(cls >= INF, 0, m), ex + np.clip(e, -reach, reach), 0,
                     fmt).astype(np.int64)
    res = np.where(cls == INF, (s << (fmt.width - 1)) | fmt.pos_inf, res)
    res = np.where(cls == NAN, fmt.qnan, res)
    return _out(res, dtype_for(fmt))


def _fixed_params(width, int_bits, signed):
    if not isinstance(width, (int, np.integer)) or not 1 <= width <= 32:
        raise ValueError(f"width must be an int in 1..32, got {width!r}")
    code_bits = int(width).bit_length()            # ceil(log2(width + 1))
    int_bits = _int_array(int_bits, "int_bits")
    if np.any(int_bits < 0) or np.any(int_bits >= (1 << code_bits)):
        raise ValueError(f"int_bits must be in 0..{(1 << code_bits) - 1} for width {width}")
    signed = _flag(signed, "signed")
    return int(width), int_bits, signed


def int_to_float(q, width, int_bits, signed, fmt=BF16):
    """Fixed point ``q`` (raw ``width``-bit pattern, two's complement if ``signed``) with
    ``int_bits`` integer bits, i.e. the value ``q * 2^-(width - signed - int_bits)``, to ``fmt``:
    exact when the significand fits, otherwise RNE. ``q`` = 0 gives +0."""
    fmt = _fmt(fmt)
    width, int_bits, signed = _fixed_params(width, int_bits, signed)
    q, int_bits, signed = _broadcast(_bits(q, width, "q"), int_bits, signed)
    neg = (signed != 0) & (((q >> (width - 1)) & 1) != 0)
    mag = np.where(neg, (np.int64(1) << width) - q, q)
    frac_bits = width - signed - int_bits
    return round_pack(neg.astype(np.int64), mag, -frac_bits, 0, fmt)


def float_to_int(x, width, int_bits, signed, fmt=BF16):
    """``x * 2^(width - signed - int_bits)`` rounded to nearest even and saturated to the
    ``width``-bit (un)signed range; returned as raw ``width``-bit patterns. +inf saturates
    high, -inf low, NaN gives 0, -0 gives 0."""
    fmt = _fmt(fmt)
    width, int_bits, signed = _fixed_params(width, int_bits, signed)
    x, int_bits, signed = _broadcast(_bits(x, fmt.width, "x"), int_bits, signed)
    s, m, e, cls = decode(x, fmt)
    frac_bits = width - signed - int_bits
    e2 = e + frac_bits                          # value * 2^F = m * 2^e2
    # Left shifts beyond 32 saturate anyway (m >= 1, range < 2^32): clamp to stay in int64.
    up = m << np.clip(e2, 0, 32)
    mag = np.where(e2 >= 0, up, _shr_rne(m, np.maximum(-e2, 0)))
    hi = np.where(signed != 0, (np.int64(1) << (width - 1)) - 1, (np.int64(1) << width) - 1)
    lo = np.where(signed != 0, -(np.int64(1) << (width - 1)), 0)
    val = np.where(s != 0, -mag, mag)
    val = np.where(cls == INF, np.where(s != 0, lo, hi), val)
    val = np.where(cls == NAN, 0, val)
    val = np.clip(val, lo, hi)
    return _out(val & ((np.int64(1) << width) - 1), fixed_dtype(width))
