"""Independent exact reference for the floating-point library: scalar Python big integers.

Each operation forms its exact result as an integer times a power of two (sums are aligned
to the smaller exponent, so nothing is ever lost), then rounds it ONCE to the result format
(nearest, ties to even, gradual underflow, overflow to infinity) in :func:`round_exact`.
``float_to_int`` rounds a :class:`fractions.Fraction` with Python's own ``round`` (half to even).

This module deliberately shares no code with :mod:`sim.golden.fp` (only the format
descriptions of ``hw/fp/format.py``): it is the independent check of the vectorised models.
Functions have the same names and semantics as those of ``fp`` but take and return python
ints (``compare`` returns a dict of ints); :func:`apply` maps one over numpy arrays.
"""

from fractions import Fraction
from itertools import repeat

import numpy as np

from hw.fp.format import BF16, FP32, FloatFormat, float_format

__all__ = [
    "unpack", "round_exact",
    "add", "mul", "fma", "compare", "convert", "int_to_float", "float_to_int",
    "apply",
]


class _Consts:
    """Plain-int constants of a format (properties of FloatFormat are recomputed per access)."""
    __slots__ = ("w", "f", "bias", "emin", "emax_field", "mask", "sign_bit", "inf", "qnan", "fmt",
                 "table")

    def __init__(self, fmt):
        self.fmt = fmt
        self.w = 1 + fmt.exp_bits + fmt.frac_bits
        self.f = fmt.frac_bits
        self.bias = (1 << (fmt.exp_bits - 1)) - 1
        self.emin = 1 - self.bias
        self.emax_field = (1 << fmt.exp_bits) - 1
        self.mask = (1 << self.w) - 1
        self.sign_bit = 1 << (self.w - 1)
        self.inf = self.emax_field << self.f
        self.qnan = self.inf | (1 << (self.f - 1))
        # 16-bit formats: every pattern unpacked once (a list lookup is faster than the fields)
        self.table = [_unpack_fields(b, self) for b in range(1 << self.w)] if self.w <= 16 else None


_CONSTS = {}


def _k(fmt):
    """Constants of ``fmt`` (a FloatFormat or a format name)."""
    key = fmt.name if isinstance(fmt, FloatFormat) else fmt
    k = _CONSTS.get(key)
    if k is None:
        k = _CONSTS[key] = _Consts(float_format(fmt))
    return k


def _unpack_fields(bits, k):
    sign = bits >> (k.w - 1)
    field = (bits >> k.f) & k.emax_field
    frac = bits & ((1 << k.f) - 1)
    if field == k.emax_field:
        return ("nan" if frac else "inf"), sign, 0, 0
    if field == 0:
        return "fin", sign, frac, k.emin - k.f
    return "fin", sign, frac + (1 << k.f), field - k.bias - k.f


def _unpack(bits, k):
    bits = int(bits) & k.mask
    return k.table[bits] if k.table is not None else _unpack_fields(bits, k)


def unpack(bits, fmt):
    """``(kind, sign, m, e)``: kind is 'nan', 'inf' or 'fin'; a finite value is
    ``(-1)^sign * m * 2^e`` with integer m >= 0."""
    return _unpack(bits, _k(fmt))


def round_exact(sign, m, e, fmt):
    """Bit pattern nearest to ``(-1)^sign * m * 2^e`` (m >= 0 integer), ties to even.

    The result's quantum (value of its last bit) is 2^(max(t, emin) - frac_bits) where t is the
    exponent of m's leading bit: this is what keeps subnormals gradual. A magnitude that rounds
    to 2^(emax+1) or more becomes infinity; m = 0 gives the zero of the given sign.
    """
    return _round(sign, m, e, _k(fmt))


def _round(sign, m, e, k):
    s = k.sign_bit if sign else 0
    if m == 0:
        return s
    lead = e + m.bit_length() - 1
    quantum = max(lead, k.emin) - k.f
    if quantum <= e:
        q = m << (e - quantum)
    else:
        unit = 1 << (quantum - e)
        q, r = divmod(m, unit)
        if 2 * r > unit or (2 * r == unit and q % 2 == 1):
            q += 1
    # Now magnitude = q * 2^quantum exactly; q <= 2^(f+1).
    if q == 1 << (k.f + 1):
        q //= 2
        quantum += 1
    if q < (1 << k.f):                   # subnormal (or zero): quantum is emin - f here
        return s | q
    field = quantum + k.f + k.bias
    if field >= k.emax_field:
        return s | k.inf
    return s | (field << k.f) | (q - (1 << k.f))


def _inf(sign, k):
    return (k.sign_bit if sign else 0) | k.inf


def _signed_sum(s1, m1, e1, s2, m2, e2):
    """Exact (-1)^s1 m1 2^e1 + (-1)^s2 m2 2^e2 as (signed integer, exponent)."""
    e = min(e1, e2)
    v1 = m1 << (e1 - e)
    v2 = m2 << (e2 - e)
    return (-v1 if s1 else v1) + (-v2 if s2 else v2), e


def add(a, b, fmt, sub=0):
    k = _k(fmt)
    ka, sa, ma, ea = _unpack(a, k)
    kb, sb, mb, eb = _unpack(b, k)
    sb ^= int(sub) & 1
    if ka == "nan" or kb == "nan":
        return k.qnan
    if ka == "inf" and kb == "inf":
        return k.qnan if sa != sb else _inf(sa, k)
    if ka == "inf":
        return _inf(sa, k)
    if kb == "inf":
        return _inf(sb, k)
    v, e = _signed_sum(sa, ma, ea, sb, mb, eb)
    if v == 0:
        # exact zero: -0 only for (-0) + (-0); opposite signs (incl. x - x) give +0
        return _round(1 if (sa and sb) else 0, 0, 0, k)
    return _round(v < 0, abs(v), e, k)


def mul(a, b, fmt):
    k = _k(fmt)
    ka, sa, ma, ea = _unpack(a, k)
    kb, sb, mb, eb = _unpack(b, k)
    sign = sa ^ sb
    if ka == "nan" or kb == "nan":
        return k.qnan
    if ka == "inf" or kb == "inf":
        if (ka == "fin" and ma == 0) or (kb == "fin" and mb == 0):
            return k.qnan
        return _inf(sign, k)
    return _round(sign, ma * mb, ea + eb, k)


def fma(a, b, c, mul_fmt=BF16, acc_fmt=FP32, neg_ab=0, neg_c=0):
    km, kacc = _k(mul_fmt), _k(acc_fmt)
    ka, sa, ma, ea = _unpack(a, km)
    kb, sb, mb, eb = _unpack(b, km)
    kc, sc, mc, ec = _unpack(c, kacc)
    sp = sa ^ sb ^ (int(neg_ab) & 1)
    sc ^= int(neg_c) & 1
    if ka == "nan" or kb == "nan" or kc == "nan":
        return kacc.qnan
    if ka == "inf" or kb == "inf":
        if (ka == "fin" and ma == 0) or (kb == "fin" and mb == 0):
            return kacc.qnan                   # 0 x inf (+ anything)
        if kc == "inf" and sc != sp:
            return kacc.qnan                   # inf - inf
        return _inf(sp, kacc)
    if kc == "inf":
        return _inf(sc, kacc)
    mp, ep = ma * mb, ea + eb
    v, e = _signed_sum(sp, mp, ep, sc, mc, ec)
    if v == 0:
        both_zero_same_sign = mp == 0 and mc == 0 and sp == sc
        return _round(sp if both_zero_same_sign else 0, 0, 0, kacc)
    return _round(v < 0, abs(v), e, kacc)


def _order_key(kind, sign, m, e, e0):
    """Integer proportional to the value (all finite values scaled by 2^-e0), +-inf beyond."""
    if kind == "inf":
        return -(1 << 4096) if sign else (1 << 4096)
    v = m << (e - e0)
    return -v if sign else v


def compare(a, b, fmt):
    k = _k(fmt)
    a, b = int(a) & k.mask, int(b) & k.mask
    ka, sa, ma, ea = _unpack(a, k)
    kb, sb, mb, eb = _unpack(b, k)
    if ka == "nan" or kb == "nan":
        return dict(min=k.qnan, max=k.qnan, lt=0, eq=0, gt=0, unordered=1)
    e0 = k.emin - k.f                     # exponent of the smallest subnormal
    va, vb = _order_key(ka, sa, ma, ea, e0), _order_key(kb, sb, mb, eb, e0)
    if va < vb:
        lo, hi = a, b
    elif vb < va:
        lo, hi = b, a
    elif va == 0:                         # +0 and/or -0: -0 is the minimum
        lo = a if sa else b
        hi = b if sa else a
    else:                                 # equal non-zero values have equal patterns
        lo = hi = a
    return dict(min=lo, max=hi, lt=int(va < vb), eq=int(va == vb), gt=int(va > vb),
                unordered=0)


def convert(x, src_fmt, dst_fmt):
    kd = _k(dst_fmt)
    kind, s, m, e = _unpack(x, _k(src_fmt))
    if kind == "nan":
        return kd.qnan
    if kind == "inf":
        return _inf(s, kd)
    return _round(s, m, e, kd)


def scale(x, e, fmt=BF16):
    """``x * 2^e``, rounded once (nearest even)."""
    k = _k(fmt)
    kind, s, m, ex = _unpack(x, k)
    if kind == "nan":
        return k.qnan
    if kind == "inf":
        return _inf(s, k)
    return _round(s, m, ex + int(e), k)


def _fixed_value(q, width, signed):
    q = int(q) & ((1 << width) - 1)
    if signed and q >> (width - 1):
        q -= 1 << width
    return q


def int_to_float(q, width, int_bits, signed, fmt=BF16):
    signed = int(signed) & 1
    v = _fixed_value(q, width, signed)
    frac_bits = width - signed - int(int_bits)
    return _round(v < 0, abs(v), -frac_bits, _k(fmt))


def float_to_int(x, width, int_bits, signed, fmt=BF16):
    signed = int(signed) & 1
    hi = (1 << (width - signed)) - 1
    lo = -(1 << (width - 1)) if signed else 0
    kind, s, m, e = _unpack(x, _k(fmt))
    if kind == "nan":
        v = 0
    elif kind == "inf":
        v = lo if s else hi
    else:
        shift = e + width - signed - int(int_bits)      # value * 2^F = m * 2^shift
        if shift >= 0:
            r = m << shift
        else:
            r = round(Fraction(m, 1 << -shift))         # Python rounds half to even
        v = min(max(-r if s else r, lo), hi)
    return v & ((1 << width) - 1)


def apply(func, *args, dtype=None, **kwargs):
    """Map a scalar function of this module over numpy arrays (a plain loop).

    Array-like arguments (numpy arrays, lists, tuples), positional or keyword, are broadcast
    and iterated together; other arguments (formats, python scalars) are passed unchanged.
    Returns an array of ``dtype`` (default int64) of the broadcast shape, or a dict of such
    arrays when ``func`` returns dicts (``compare``). Positional arguments are the fast path.
    """
    names = list(kwargs)
    values = list(args) + [kwargs[n] for n in names]
    is_arr = [isinstance(v, (np.ndarray, list, tuple)) for v in values]
    arrays = np.broadcast_arrays(*[np.asarray(v) for v, a in zip(values, is_arr) if a])
    shape = arrays[0].shape if arrays else ()
    size = int(np.prod(shape))
    columns = iter([a.ravel().tolist() for a in arrays])
    iters = [next(columns) if a else repeat(v, size) for v, a in zip(values, is_arr)]
    npos = len(args)
    if names:
        out = [func(*xs[:npos], **dict(zip(names, xs[npos:]))) for xs in zip(*iters)]
    else:
        out = list(map(func, *iters))
    dtype = dtype or np.int64
    if out and isinstance(out[0], dict):
        return {key: np.array([o[key] for o in out], dtype=dtype).reshape(shape) for key in out[0]}
    return np.array(out, dtype=dtype).reshape(shape)
