"""Bit-exact golden model of the SoftEx GELU unit (the RTL specification of hw/softex/gelu.py).

GELU(x) = x * Phi(x). The tail T(t) = 1 - Phi(t) = erfc(t / sqrt 2) / 2 (t >= 0) is
approximated by a sum of K exponentials of x^2, T(t) ~ sum_k b_k exp(-a_k t^2), with the
coefficients of ``hw/softex/gelu_coeffs.py`` (fitted by ``scripts/gelu_fit.py``). Operation
order (every step a BF16 operation of ``sim.golden.fp`` or ``expp``, or exact integer math):

1. u = bf16(x * x)                                   (RNE; x = NaN -> NaN, inf -> inf)
2. y_k = bf16(NA_k * u), NA_k = -a_k (BF16 constant)  (K products in parallel)
3. e_k = expp(y_k, expp_mode)                        (SoftEx's exponential)
4. p_k = bf16(B_k * e_k)                             (B_k > 0 BF16 constants)
5. q_k = float_to_int(p_k, W, 0, unsigned): Q0.W, RNE, saturating (NaN -> 0)
6. S = sum_k q_k, saturated to 2^W - 1               (the W-bit accumulator)
7. P = 2^W - S if sign(x) == 0 else S                (Phi(x) in Q1.W, W + 1 bits)
8. phi = int_to_float(P, W + 1, 1, unsigned)          (exact or RNE)
9. G = bf16(x * phi); x = -inf gives -0 (the limit) instead of NaN.

The negative tail (finite x <= TAIL_X = -2.859375, :func:`in_tail`) takes its own formula instead
of steps 2-9: there Phi(x) < 2^-8, which the Q1.W sum holds to a few bits only, and it rounds
to 0 below 2^-(W+1) (from x ~ -3.97 at W = 14, so G was -0 down to where GELU underflows,
x ~ -13.2). For t = -x, GELU(x) = -t (1 - Phi(t)) = -exp(-t^2/2) / sqrt(2 pi) * r(t) with
r(t) = 1 - 1/t^2 + 3/t^4 - ... = 0.908 .. 0.994 over the tail, so one constant takes r:

T1. y_T = bf16(TAIL_NA * u), TAIL_NA = -0.5          (exact: -u/2)
T2. e_T = expp(y_T, expp_mode)
T3. p_T = bf16(TAIL_C * e_T), TAIL_C = 0.384765625   (BF16 0x3EC5, 197/512 = 0.964 / sqrt(2 pi))
T4. G = -p_T                                          (sign bit set; p_T = +0 gives -0)

The RTL feeds y_T to the first term's expp for tail inputs (the terms are unused there).
Accuracy (docs/gelu.md, against the exact GELU): relative error <= 8 % on [-8, TAIL_X] and
<= 25 % below, down to x = -13.125 (the last normal GELU), set by the BF16 rounding of
u = bf16(x^2) in the exponent; -0 only where GELU is subnormal and exp(-u/2) underflows.

NaN -> 0x7FC0, +inf -> +inf, -inf -> -0 (0x8000), +-0 -> +-0, subnormals -> x * phi(0).
"""

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from hw.fp.format import BF16
from hw.softex import gelu_coeffs
from hw.softex.gelu import TAIL_C, TAIL_NA, TAIL_X
from sim.golden import exact, fp
from sim.golden.expp import bf16_to_float, expp
from sim.golden.gelu_table import gelu_table
from sim.golden.softmax import bf16_to_int8, int8_to_bf16

__all__ = ["gelu", "gelu_job", "gelu_phi_fixed", "gelu_tail", "in_tail", "coeffs_for",
           "gelu_exact", "gelu_correctly_rounded", "ACC_WIDTH_RANGE", "TAIL", "GELU_EXACT_CUTOFF"]

ACC_WIDTH_RANGE = (8, 15)


def coeffs_for(terms):
    """(NA, B) tuples of BF16 bit patterns for ``terms`` K from hw/softex/gelu_coeffs.py."""
    if terms not in gelu_coeffs.COEFFS:
        raise ValueError(f"terms must be one of {sorted(gelu_coeffs.COEFFS)}, got {terms!r}")
    return gelu_coeffs.COEFFS[terms]


def gelu_phi_fixed(x, na, b, acc_width=14, expp_mode="accurate"):
    """Steps 1-7: the Q1.W fixed-point Phi(x) (P) for BF16 patterns x."""
    x = np.asarray(x, dtype=np.int64) & 0xFFFF
    w = int(acc_width)
    u = fp.mul(x, x, BF16).astype(np.int64)
    s = np.zeros_like(x)
    for a_k, b_k in zip(na, b):
        y = fp.mul(np.int64(a_k), u, BF16).astype(np.int64)
        e = np.asarray(expp(y, expp_mode)).astype(np.int64)
        p = fp.mul(np.int64(b_k), e, BF16).astype(np.int64)
        s = s + fp.float_to_int(p, w, 0, 0, BF16).astype(np.int64)
    s = np.minimum(s, (1 << w) - 1)
    neg = (x >> 15) & 1
    return np.where(neg == 0, (1 << w) - s, s)


TAIL = (TAIL_X, TAIL_C)
"""The tail constants of the RTL: (threshold, scale) as BF16 patterns."""


def in_tail(x, tail_x=TAIL_X):
    """Which inputs take the tail formula (steps T1-T4).

    Parameters
    ----------
    x : array_like of int
        BF16 bit patterns.
    tail_x : int
        The threshold, a negative BF16 pattern (default: the RTL's ``TAIL_X``).

    Returns
    -------
    numpy.ndarray of bool
        Finite x <= ``tail_x``: sign set and |tail_x| <= |x| < inf.
    """
    x = np.asarray(x, dtype=np.int64) & 0xFFFF
    mag = x & 0x7FFF
    return ((x >> 15) == 1) & (mag >= (tail_x & 0x7FFF)) & (mag < BF16.pos_inf)


def gelu_tail(x, expp_mode="accurate", tail_c=TAIL_C):
    """Steps T1-T4: -bf16(tail_c * expp(bf16(TAIL_NA * bf16(x * x)))).

    Parameters
    ----------
    x : array_like of int
        BF16 bit patterns (the result is the unit's output where :func:`in_tail` holds).
    expp_mode : str
        ``"accurate"`` or ``"softex"``.
    tail_c : int
        The scale, a positive BF16 pattern (default: the RTL's ``TAIL_C``).

    Returns
    -------
    numpy.ndarray of numpy.int64
        BF16 patterns, sign bit set.
    """
    x = np.asarray(x, dtype=np.int64) & 0xFFFF
    u = fp.mul(x, x, BF16).astype(np.int64)
    y = fp.mul(np.int64(TAIL_NA), u, BF16).astype(np.int64)
    e = np.asarray(expp(y, expp_mode)).astype(np.int64)
    return fp.mul(np.int64(tail_c), e, BF16).astype(np.int64) | 0x8000


def gelu(x, terms=None, acc_width=14, expp_mode="accurate", coeffs=None, tail=TAIL):
    """GELU of BF16 bit patterns ``x`` (array or int) -> np.uint16 patterns.

    ``coeffs`` (NA, B) overrides the fitted coefficients of ``terms``; ``tail`` = (threshold,
    scale) BF16 patterns overrides the RTL's tail constants :data:`TAIL` (for the searches of
    ``scripts/gelu_fit.py``), and ``tail=None`` gives the unit without the tail formula (every
    x through steps 1-9, as before it had one: the "before" column of docs/gelu.md)."""
    if coeffs is None:
        if terms is None:
            terms = gelu_coeffs.DEFAULT_TERMS
        coeffs = coeffs_for(terms)
    na, b = coeffs
    lo, hi = ACC_WIDTH_RANGE
    if not isinstance(acc_width, (int, np.integer)) or not lo <= acc_width <= hi:
        raise ValueError(f"acc_width must be an int in {lo}..{hi}, got {acc_width!r}")
    scalar = np.ndim(x) == 0
    xa = np.atleast_1d(np.asarray(x, dtype=np.int64) & 0xFFFF)
    w = int(acc_width)
    pfix = gelu_phi_fixed(xa, na, b, w, expp_mode)
    phi = fp.int_to_float(pfix, w + 1, 1, 0, BF16).astype(np.int64)
    g = fp.mul(xa, phi, BF16).astype(np.int64)
    g = np.where(xa == 0xFF80, 0x8000, g)
    if tail is not None:
        tail_x, tail_c = tail
        g = np.where(in_tail(xa, tail_x), gelu_tail(xa, expp_mode, tail_c), g)
    g = g.astype(np.uint16)
    return g[0] if scalar else g


def gelu_job(x, *, method="table", terms=None, acc_width=14, expp_mode="accurate", in_cast=None,
             out_cast=None):
    """A GELU job of the SoftEx engine (COMMAND.OP = GELU) whose unit is ``method`` (``table``:
    :func:`sim.golden.gelu_table.gelu_table`, which ignores ``terms``, ``acc_width`` and
    ``expp_mode``; ``expp``: :func:`gelu`): int8 input elements (raw ``np.uint8``, ``in_cast``
    = (int_bits, signed)) are converted exactly to BF16 first, int8 outputs (``out_cast``) are
    ``float_to_int`` of the BF16 GELU (RNE, saturating, NaN -> 0); ``None`` means BF16. Returns
    the output patterns (np.uint16 or np.uint8)."""
    if method not in ("table", "expp"):
        raise ValueError(f"method must be 'table' or 'expp', got {method!r}")
    x = np.asarray(x)
    if in_cast is not None:
        x = int8_to_bf16(x, in_cast)
    x = np.asarray(x, dtype=np.uint16)
    y = np.atleast_1d(gelu_table(x) if method == "table" else gelu(x, terms, acc_width, expp_mode))
    return y if out_cast is None else bf16_to_int8(y, out_cast)


# --------------------------------------------------------------------------------------------
# Accuracy helper (the exact reference of scripts/gelu_report.py and the tests)
# --------------------------------------------------------------------------------------------

#: :func:`gelu_exact` takes GELU(x) = -0.0 for x < -GELU_EXACT_CUTOFF (|GELU| < 1e-58, far
#: below half the smallest BF16 subnormal, 2^-134 ~ 4.6e-41) and x for x > GELU_EXACT_CUTOFF
#: (1 - Phi(x) < 1e-60).
GELU_EXACT_CUTOFF = 16.5


def _erfc_decimal(z, prec):
    """erfc(z) for a Decimal z >= 0 at ``prec`` digits: 1 - erf(z) with erf from the series of
    positive terms erf(z) = 2/sqrt(pi) exp(-z^2) sum_n 2^n z^(2n+1) / (1 3 5 ... (2n+1)) (no
    cancellation inside the sum; the subtraction from 1 loses log10(1/erfc(z)) digits, which
    ``prec`` covers)."""
    with localcontext() as ctx:
        ctx.prec = prec + 10
        z2 = z * z
        term = z
        total = Decimal(0)
        n = 0
        eps = Decimal(10) ** -(prec + 5)
        while True:
            total += term
            n += 1
            term = term * 2 * z2 / (2 * n + 1)
            if term < eps * total:
                break
        pi = Decimal("3.14159265358979323846264338327950288419716939937510"
                     "58209749445923078164062862089986280348253421170679")
        erf = 2 / pi.sqrt() * (-z2).exp() * total
        return 1 - erf


def gelu_exact(x, prec=80):
    """Exact GELU(x) = x Phi(x) of BF16 inputs, rounded once to float64.

    Phi(x) = erfc(-x / sqrt 2) / 2 is evaluated in ``prec``-digit decimal arithmetic (the
    series of :func:`_erfc_decimal`), so the relative error is at most 2^-53 for every x, the
    far negative tail included, where 1 + erf(x / sqrt 2) in float64 cancels to nothing.

    Parameters
    ----------
    x : int or array_like of int
        BF16 bit patterns.
    prec : int
        Decimal digits (80 cover the cancellation of 1 - erf down to x = -GELU_EXACT_CUTOFF).

    Returns
    -------
    float or numpy.ndarray of float64
        NaN -> NaN, +-inf -> +inf / -0.0, +-0 -> +-0.0; beyond +-GELU_EXACT_CUTOFF x or -0.0.
    """
    xs = np.atleast_1d(np.asarray(x, dtype=np.int64) & 0xFFFF)
    vals = bf16_to_float(xs)
    out = np.empty(len(xs))
    cache = {}
    for i, v in enumerate(vals):
        if not np.isfinite(v) or v == 0:
            out[i] = v if not (np.isinf(v) and v < 0) else -0.0
            continue
        if abs(v) > GELU_EXACT_CUTOFF:                     # Phi(x) = 0 or 1 within 1e-60
            out[i] = v if v > 0 else -0.0
            continue
        if v not in cache:
            with localcontext() as ctx:
                ctx.prec = prec + 10
                d = Decimal(float(v))
                t = abs(d) / Decimal(2).sqrt()
                tail = _erfc_decimal(t, prec) / 2          # 1 - Phi(|x|)
                phi = tail if d < 0 else 1 - tail
                cache[v] = float(d * phi)
        out[i] = cache[v]
    return out if np.ndim(x) else out[0]


def _gelu_decimal(v, prec):
    """GELU(v) of a finite float v with 0 < |v| <= GELU_EXACT_CUTOFF in ``prec``-digit decimal
    arithmetic (the series of :func:`_erfc_decimal`)."""
    with localcontext() as ctx:
        ctx.prec = prec + 10
        d = Decimal(float(v))
        tail = _erfc_decimal(abs(d) / Decimal(2).sqrt(), prec) / 2      # 1 - Phi(|x|)
        return d * (tail if d < 0 else 1 - tail)


def gelu_correctly_rounded(x, prec=60):
    """GELU(x) of BF16 inputs rounded once to BF16 (nearest, ties to even) from exact arithmetic.

    The value is evaluated to ``prec`` decimal digits (:func:`_gelu_decimal`) and rounded by
    :func:`sim.golden.exact.round_exact` from a 256-bit integer significand of the decimal's
    exact value. If the rounding could change within the decimal's error (10^-prec relative), it
    raises ValueError instead of guessing; no BF16 input comes near at 60 digits (the closest
    case is ~1e-41 relative: x^2 / sqrt(2 pi) against x / 2 at the smallest subnormals).

    Parameters
    ----------
    x : int or array_like of int
        BF16 bit patterns.
    prec : int
        Decimal digits.

    Returns
    -------
    numpy.uint16 or numpy.ndarray of numpy.uint16
        NaN -> 0x7FC0, +inf -> +inf, -inf -> -0, +-0 -> +-0; x > GELU_EXACT_CUTOFF -> x
        (1 - Phi(x) < 1e-60), x < -GELU_EXACT_CUTOFF -> -0 (|GELU| < 1e-58).
    """
    xs = np.atleast_1d(np.asarray(x, dtype=np.int64) & 0xFFFF)
    vals = bf16_to_float(xs)
    out = np.empty(len(xs), dtype=np.uint16)
    cache = {}
    for i, (bits, v) in enumerate(zip(xs.tolist(), vals.tolist())):
        if v != v:
            out[i] = 0x7FC0
        elif v == 0:
            out[i] = bits
        elif abs(v) > GELU_EXACT_CUTOFF:                  # includes +-inf
            out[i] = bits if v > 0 else 0x8000
        else:
            if bits not in cache:
                g = Fraction(_gelu_decimal(v, prec))           # exact value of the decimal
                sign, mag = int(g < 0), abs(g)
                e = mag.numerator.bit_length() - mag.denominator.bit_length() - 256
                m = mag.numerator * 2 ** max(-e, 0) // (mag.denominator * 2 ** max(e, 0))
                slack = m // 10 ** prec + 2                   # the decimal's error, in units
                lo, mid, hi = (exact.round_exact(sign, mm, e, BF16)
                               for mm in (m - slack, m, m + slack))
                if lo != hi:
                    raise ValueError(f"GELU of BF16 {bits:#06x} too close to a rounding "
                                     f"boundary at {prec} digits")
                cache[bits] = mid
            out[i] = cache[bits]
    return out if np.ndim(x) else out[0]
