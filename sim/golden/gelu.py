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

NaN -> 0x7FC0, +inf -> +inf, -inf -> -0 (0x8000), +-0 -> +-0, subnormals -> x * phi(0).
"""

import numpy as np

from hw.fp.format import BF16
from hw.softex import gelu_coeffs
from sim.golden import fp
from sim.golden.expp import expp
from sim.golden.softmax import bf16_to_int8, int8_to_bf16

__all__ = ["gelu", "gelu_job", "gelu_phi_fixed", "coeffs_for", "ACC_WIDTH_RANGE"]

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


def gelu(x, terms=None, acc_width=14, expp_mode="accurate", coeffs=None):
    """GELU of BF16 bit patterns ``x`` (array or int) -> np.uint16 patterns."""
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
    g = np.where(xa == 0xFF80, 0x8000, g).astype(np.uint16)
    return g[0] if scalar else g


def gelu_job(x, *, terms=None, acc_width=14, expp_mode="accurate", in_cast=None, out_cast=None):
    """A GELU job of the SoftEx engine (COMMAND.OP = GELU): int8 input elements (raw
    ``np.uint8``, ``in_cast`` = (int_bits, signed)) are converted exactly to BF16 first, int8
    outputs (``out_cast``) are ``float_to_int`` of the BF16 GELU (RNE, saturating, NaN -> 0);
    ``None`` means BF16. Returns the output patterns (np.uint16 or np.uint8)."""
    x = np.asarray(x)
    if in_cast is not None:
        x = int8_to_bf16(x, in_cast)
    y = np.atleast_1d(gelu(np.asarray(x, dtype=np.uint16), terms, acc_width, expp_mode))
    return y if out_cast is None else bf16_to_int8(y, out_cast)
