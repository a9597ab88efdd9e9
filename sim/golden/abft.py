"""Bit-exact model of the Flash-ABFT checker's arithmetic: the checks of one attention head
(docs/abft.md has the identities, which faults each check sees and the derivations).

The checker does not round. Every value it observes (the tensor unit's fp32 accumulators before
their BF16 rounding, SoftEx's BF16 probabilities, their exact products with the encoded checksum
vectors) becomes a signed fixed-point integer ``trunc(value 2^F)`` (toward zero), and the terms
are summed exactly in ``ACC_BITS``-bit row sums, so a sum does not depend on the order in which
the accelerators deliver its terms, and the only differences between two sides of an identity
are the accelerators' own roundings (bounded below) and the truncations (under one LSB per
term). The position ``F`` is the head's, per quantity (``frac_s``, ``frac_qa``, ``frac_o``;
probabilities at the fixed ``P_FRAC``): the encoder, which sees Q, K and V, bounds every
fault-free term and places the largest just below 2^(TERM_BITS - 1); a term at or beyond
2^TERM_BITS is out of range (check RANGE).

Per query row ``i`` of a tile (``s32``, ``qs32``, ``o32``: the fp32 accumulators of the qk,
scale and pv jobs; ``p``: the BF16 probabilities; ``n`` = SEQ keys, ``d`` = HEAD_DIM)::

    S   sum_k s_ik            against  sum_c qs_ic kbar_c        kbar = fl32(K^T 1), encoded
    P   sum_k p_ik            against  1                         and 0 <= p_ik <= 1
    O   sum_c o_ic            against  sum_k p_ik vbar_k         vbar = fl32(V 1), encoded
    W   a tile's word balance: the words of Qs, plus the score words the tensor unit wrote
        times SoftEx's reads of each minus the words SoftEx read, plus run A's probability
        words minus run B's, against the encoder's sum of the words of 2^-shift Q
        (per tile, exact modulo 2^WORD_SUM_BITS: no tolerance)

and the written words: the BF16 words of O (the unit rounds ``o32`` itself, as the array does)
summed plain, weighted by row and weighted by column (:class:`Signature`), against the same sums
of O as read back at the end of the head (a single corrupted word is located by the weighted
residual / the plain residual and corrected in place, :func:`locate`).

Thresholds, from the arithmetic of the tensor unit (an fp32 FMA chain of K terms:
|fl - exact| <= gamma_K sum |terms|, gamma_K = K u / (1 - K u), u = 2^-24) and of the encoding
(kbar, vbar rounded once to fp32: relative error <= 2^-23, double rounding included)::

    tau_S,i = QA_i + TAU_S,   QA_i = sum_c trunc(|qs_ic| 2^F_QA),  TAU_S = 2 d + n + 2
    tau_P   = p_sum_bound(n)                      (units of 2^-P_FRAC)
    tau_O   = up((2^P_FRAC + tau_P + n) 2^(gain_o + F_O - P_FRAC)) + n + d + 2

with F_QA = F_S + gain_s and ``gain_s`` / ``gain_o`` the smallest integers with
2^gain_s >= gamma_d max_c sum_k |k_kc| + 2^-23 max_c |kbar_c| and
2^gain_o >= gamma_n max_k sum_c |v_kc| + 2^-23 max_k |vbar_k|: the fp32 chains of the qk jobs
(sum_k gamma_d sum_c |qs_ic k_kc| <= gamma_d sum_c |qs_ic| max_c sum_k |k_kc|) and the rounding
of kbar (sum_c |qs_ic| |kbar_c| 2^-23 <= 2^-23 max |kbar| sum_c |qs_ic|) give
|S residual| <= 2^gain_s sum_c |qs_ic| = 2^-F_S sum_c |qs_ic| 2^F_QA < 2^-F_S (QA_i + d);
likewise for O with p_ik >= 0 and sum_k p_ik < (PA_i + n) 2^-P_FRAC <= (2^P_FRAC + tau_P + n)
2^-P_FRAC (a row beyond that fails P_SUM). ``n + d`` bounds the truncations of a residual's
terms, ``+ 2`` the fp32 underflows (F <= 120 keeps them below an LSB). ``tau_P`` comes from
SoftEx's arithmetic (:func:`p_sum_bound`).

SoftEx runs twice (run A, whose probabilities the pv job uses, and run B into a buffer of its
own): the plain sums and the XORs of their words must be equal (P_REPEAT), which no arithmetic
identity could give for a nonlinear function (the XOR catches what the sum cannot: a fault in a
row's state that rounds some words up and as many down).
"""

import math
from dataclasses import dataclass

import numpy as np

from hw.abft.layout import (ACC_BITS, CAUSES, FRAC_FIELD, FRAC_RANGE, MAX_TERMS, MIN_GAIN, P_FRAC,
                            SCORE_READS, TAU_BITS, TERM_BITS, WORD_SUM_BITS)
from hw.fp.format import BF16, FP32  # noqa: F401  (re-exported for callers)

from . import fp
from .gemm import gemm

__all__ = ["ACC_BITS", "TERM_BITS", "P_FRAC", "P_ONE", "WORD_SUM_BITS", "CAUSES", "Encoding",
           "TileCheck", "Signature", "to_fixed", "product_fixed", "encode", "gamma",
           "p_sum_bound", "tile_check", "signature", "locate", "up_shift", "wrap",
           "scale_identity", "word_sum"]

#: 1.0 as a probability term.
P_ONE = 1 << P_FRAC
#: Unit roundoff of fp32 (RNE).
U32 = 2.0 ** -24
WORD_MASK = (1 << WORD_SUM_BITS) - 1


def wrap(x, bits=ACC_BITS):
    """``x`` (Python int) as a ``bits``-bit two's complement value."""
    return ((int(x) + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


def _place(sign, sig, exp, special, frac):
    """trunc(+-sig 2^exp 2^frac) as int64 and the out-of-range flags (``special``: NaN,
    infinity; or |value| >= 2^TERM_BITS). ``sig`` < 2^40."""
    sig = np.asarray(sig, dtype=np.int64)
    shift = np.asarray(exp, dtype=np.int64) + frac
    bits = fp._bitlen(sig)
    bad = np.asarray(special, dtype=bool) | ((sig != 0) & (bits + shift > TERM_BITS))
    left = np.where(bad, 0, np.clip(shift, 0, TERM_BITS))
    right = np.clip(-shift, 0, 63)
    mag = np.where(shift >= 0, sig << left, sig >> right)
    mag = np.where(bad, 0, mag)
    return np.where(np.asarray(sign) == 1, -mag, mag).astype(np.int64), bad


def to_fixed(bits, fmt, frac):
    """``(fixed, out_of_range)`` of bit patterns in ``fmt`` (BF16 or FP32): int64
    trunc(x 2^frac) (toward zero) and a bool array (NaN, infinity, |term| >= 2^TERM_BITS;
    their fixed value is 0)."""
    sign, sig, exp, cls = fp.decode(bits, fmt)
    return _place(sign, sig, exp, cls >= fp.INF, frac)


def product_fixed(a, b, frac, a_fmt=BF16, b_fmt=FP32):
    """``(fixed, out_of_range)`` of the exact products a * b (a BF16, b fp32 bit patterns: an
    8 x 24-bit significand product), truncated as :func:`to_fixed`."""
    sa, ma, ea, ca = fp.decode(a, a_fmt)
    sb, mb, eb, cb = fp.decode(b, b_fmt)
    special = (ca >= fp.INF) | (cb >= fp.INF)
    return _place(sa ^ sb, np.where(special, 0, ma * mb), ea + eb, special, frac)


def gamma(n):
    """gamma_n = n u / (1 - n u): the relative bound of an fp32 chain of n roundings."""
    return n * U32 / (1 - n * U32)


def _gain(bound):
    """The smallest integer g with 2^g >= ``bound`` (> 0)."""
    if bound <= 0:
        return MIN_GAIN
    g = math.frexp(bound)[1]          # bound < 2^g
    return max(MIN_GAIN, g - 1 if math.ldexp(1.0, g - 1) >= bound else g)


def _position(bound):
    """The position F that puts terms up to ``bound`` below 2^(TERM_BITS - 1), within
    FRAC_RANGE."""
    if bound <= 0:
        return FRAC_RANGE[1]
    return max(FRAC_RANGE[0], min(FRAC_RANGE[1], TERM_BITS - 1 - math.frexp(bound)[1]))


def up_shift(x, g):
    """x 2^g rounded up, for non-negative Python ints ``x``."""
    return x << g if g >= 0 else -((-x) >> -g)


def _bf16_float(bits):
    return (np.asarray(bits, np.uint32) << 16).view(np.float32).astype(np.float64)


def _exact_sum_fp32(values):
    """fp32 bits of the correctly rounded fsum of float64 ``values`` (within 2^-23 relative of
    the exact sum: fsum rounds once to float64, the cast to float32 once more)."""
    return np.float32(math.fsum(values)).view(np.uint32)


def scale_identity(d, shift):
    """The scale job's W: 2^-shift on the diagonal (BF16 bits), as the firmware lays it out."""
    ident = np.zeros((d, d), dtype=np.uint16)
    ident[np.arange(d), np.arange(d)] = (127 - shift) << 7
    return ident


def word_sum(words):
    """Sum of 16-bit words modulo 2^WORD_SUM_BITS."""
    return int(np.asarray(words, np.uint16).astype(np.int64).sum()) & WORD_MASK


@dataclass(frozen=True)
class Encoding:
    """The checksums of a head's inputs, made where the inputs are made (the host, or the layer
    that wrote Q, K, V), before the accelerators touch them.

    Members
    -------
    kbar : np.ndarray
        fp32 bits, ``head_dim``: column sums of K (K^T times ones), rounded once.
    vbar : np.ndarray
        fp32 bits, ``seq``: row sums of V, rounded once.
    gain_s, gain_o : int
        The threshold gains (module docstring).
    frac_s, frac_qa, frac_o : int
        The fixed-point positions of the S terms, the QA terms and the O terms.
    tau_s, tau_p, tau_o : int
        The S threshold's constant part, the P and the O thresholds (LSBs).
    qsum : tuple of int
        Per query tile, the sum of the BF16 words of 2^-shift Q (modulo 2^WORD_SUM_BITS).
    """

    kbar: np.ndarray
    vbar: np.ndarray
    gain_s: int
    gain_o: int
    frac_s: int
    frac_qa: int
    frac_o: int
    tau_s: int
    tau_p: int
    tau_o: int
    qsum: tuple


def encode(q, k, v, *, block_q, shift):
    """:class:`Encoding` of BF16 inputs ``q``, ``k``, ``v`` (seq x head_dim bit patterns) for
    query tiles of ``block_q`` rows and the scale 2^-``shift``. ValueError when the head is
    outside the checker's range (more than MAX_TERMS terms in a row sum, a gain below
    MIN_GAIN)."""
    q, k, v = (np.asarray(x, np.uint16) for x in (q, k, v))
    seq, d = k.shape
    if seq + d > MAX_TERMS:
        raise ValueError(f"seq + head_dim = {seq + d}: the checker sums at most {MAX_TERMS} "
                         f"terms in a row")
    kf, vf = _bf16_float(k), _bf16_float(v)
    kbar = np.array([_exact_sum_fp32(kf[:, c]) for c in range(d)], dtype=np.uint32)
    vbar = np.array([_exact_sum_fp32(vf[j]) for j in range(seq)], dtype=np.uint32)
    # max over columns of sum |k| and over keys of sum |v|, rounded up (fsum, then 1 + 2^-50)
    kabs = max(math.fsum(np.abs(kf[:, c])) for c in range(d)) * (1 + 2.0 ** -50)
    vabs = max(math.fsum(np.abs(vf[j])) for j in range(seq)) * (1 + 2.0 ** -50)
    kbar_max = float(np.abs(kbar.view(np.float32)).max())
    vbar_max = float(np.abs(vbar.view(np.float32)).max())
    qs16 = fp.convert(gemm(q, scale_identity(d, shift), unrounded=True), FP32, BF16)
    qsum = tuple(word_sum(qs16[r:r + block_q]) for r in range(0, seq, block_q))
    gain_s = _gain((gamma(d) * kabs + 2.0 ** -23 * kbar_max) * (1 + 2.0 ** -50))
    gain_o = _gain((gamma(seq) * vabs + 2.0 ** -23 * vbar_max) * (1 + 2.0 ** -50))
    for name, g in (("gain_s", gain_s), ("gain_o", gain_o)):
        if not MIN_GAIN <= g <= 0:
            raise ValueError(f"{name} = {g}: the head's values are outside the checker's range "
                             f"(its threshold gains are 2^{MIN_GAIN} .. 1)")
    # The largest S term: |s_ik| <= sum_c |qs_ic| |k_kc| (1 + gamma_d), |qs_ic kbar_c|;
    # the largest O term: |o_ic| <= sum_k p_ik |v_kc| (1 + gamma_n) with sum_k p_ik < 1.1,
    # |p_ik vbar_k| <= |vbar_k|.
    qabs = float(np.abs(_bf16_float(qs16)).sum(axis=1).max())
    kmax = float(max(np.abs(kf).max(), kbar_max))
    frac_s = _position(qabs * kmax * (1 + 2.0 ** -10))
    frac_o = _position(max(1.1 * float(np.abs(vf).max()), vbar_max) * (1 + 2.0 ** -10))
    frac_qa = max(frac_s + gain_s, -(1 << (FRAC_FIELD - 1)))    # larger: a looser bound
    tau_p = p_sum_bound(seq)
    tau_o = up_shift(P_ONE + tau_p + seq, gain_o + frac_o - P_FRAC) + seq + d + 2
    for name, tau in (("tau_p", tau_p), ("tau_o", tau_o)):
        if tau >> TAU_BITS:
            raise ValueError(f"{name} = {tau} does not fit the descriptor's {TAU_BITS} bits")
    return Encoding(kbar=kbar, vbar=vbar, gain_s=gain_s, gain_o=gain_o, frac_s=frac_s,
                    frac_qa=frac_qa, frac_o=frac_o, tau_s=2 * d + seq + 2, tau_p=tau_p,
                    tau_o=tau_o, qsum=qsum)


def p_sum_bound(n):
    """tau_P (LSBs): how far a fault-free SoftEx row of ``n`` probabilities (expp engine,
    accurate mode, docs/softmax.md) can sum from 1, plus the truncations.

    y_j = bf16(e_j r) with e_j = expp(bf16(x_j - m)), r = fl(c(m) fl(1/D)) and D the fp32 sum of
    the terms e'_j c(m'_j) 2^(K(m'_j) - K(m)), e'_j = expp(bf16(x_j - m'_j)) with the running
    maximum m'_j <= m. So sum_j y_j = sum_j e_j c / D (1 + rho) with
      |rho| <= 2^-8 (output rounding, BF16 u)
             + 2^-21 (reciprocal, within 2^-22, and its product with c)
             + gamma_n (D's fp32 sums) + 2.2 2^-23 (c(m), 1.1 fp32 ulp, on both sides)
    and sum_j e_j c / D = sum_j p_j (1 + delta_j), where numerator and denominator term differ
    only by their arguments' roundings (|bf16(t) - t| <= 2^-8 |t|) and expp's errors (at most
    0.562 BF16 ulp = 0.562 2^-7 relative each, docs/expp.md, all negative inputs):
      sum_j p_j |delta_j| <= 2 (0.562 2^-7) + 2^-8 sum_j p_j (|x_j - m| + |x_j - m'_j|)
                          <= 2 (0.562 2^-7) + 2^-8 2 ln(n) 1.1
    since |x_j - m'_j| <= |x_j - m| and sum_j p_j (m - x_j) = H(p) - ln D <= ln n for the exact
    softmax (1.1: SoftEx's p within 10 % of it). Products of the (1 + .) factors are expanded
    exactly; n LSBs cover the truncation of the n terms (units 2^-P_FRAC)."""
    rho = 2.0 ** -8 + 2.0 ** -21 + gamma(n) + 2.2 * 2.0 ** -23
    delta = 2 * 0.562 * 2.0 ** -7 + 2.0 ** -8 * 2 * math.log(max(n, 1)) * 1.1
    tau = (1 + rho) * (1 + delta) - 1
    return math.ceil(tau * P_ONE) + n + 1


@dataclass(frozen=True)
class Signature:
    """Sums of BF16 words (as unsigned 16-bit integers) modulo 2^WORD_SUM_BITS: ``plain`` =
    sum w, ``row`` = sum i w, ``col`` = sum c w (``i``: row in the query tile, ``c``:
    column). The difference of two is signed (:meth:`__sub__`)."""

    plain: int
    row: int
    col: int

    def __sub__(self, other):
        return Signature(*(wrap(a - b, WORD_SUM_BITS)
                           for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self):
        return (self.plain, self.row, self.col)


def signature(words, row0=0):
    """:class:`Signature` of a block of BF16 words (rows x cols), its first row weighted by
    ``row0``."""
    w = np.asarray(words, np.uint16).astype(np.int64)
    rows = np.arange(row0, row0 + w.shape[0], dtype=np.int64)[:, None]
    cols = np.arange(w.shape[1], dtype=np.int64)[None, :]
    return Signature(int(w.sum()) & WORD_MASK, int((rows * w).sum()) & WORD_MASK,
                     int((cols * w).sum()) & WORD_MASK)


def locate(expected, got, rows, cols):
    """Where a single corrupted word is: ``(row, col, delta)`` with delta = got word - expected
    word, from the residual of two :class:`Signature` (position = weighted residual / plain
    residual), or None when the residuals are not those of one word inside ``rows`` x
    ``cols`` (several words, or a corrupted signature)."""
    r = got - expected
    if r.plain == 0 or abs(r.plain) >= 1 << 16:
        return None
    if r.row % r.plain or r.col % r.plain:
        return None
    row, col = r.row // r.plain, r.col // r.plain
    if not (0 <= row < rows and 0 <= col < cols):
        return None
    return row, col, r.plain


@dataclass(frozen=True)
class TileCheck:
    """The checker's view of one query tile (every array per row of the tile, Python ints).

    Members
    -------
    residual_s, tau_s, residual_o : tuple of int
        Residuals (observed - reference, as the ACC_BITS-bit row sums hold them) of the S and
        O identities, and the S thresholds.
    tau_o : int
    p_sum : tuple of int
        sum_k trunc(p_ik 2^P_FRAC); the P check is |p_sum - P_ONE| <= tau_p.
    qa : tuple of int
        sum_c trunc(|qs_ic| 2^F_QA), the row's part of tau_s.
    tau_p : int
    word_balance : int
        The tile's word balance minus the encoded Q word sum (modulo 2^WORD_SUM_BITS: any
        non-zero value fails WORDS).
    p_range_rows : tuple of bool
        Rows with a probability outside [+0, 1].
    range_rows : tuple of bool
        Rows with a term outside the fixed-point range (or NaN, infinity).
    o_signature : Signature
        Of the O words the tile's pv job wrote (rows weighted by their index in the tile).
    causes : int
        Bit i set when check ``CAUSES[i]`` failed in some row (O_SIGNATURE is the scrub's).
    """

    residual_s: tuple
    tau_s: tuple
    residual_o: tuple
    tau_o: int
    p_sum: tuple
    qa: tuple
    tau_p: int
    word_balance: int
    p_range_rows: tuple
    range_rows: tuple
    o_signature: Signature
    causes: int

    @property
    def failed(self):
        return self.causes != 0

    def margins(self):
        """Largest |residual| / threshold of the S, P and O checks over the rows (a fault-free
        tile has all three below 1)."""
        def worst(res, tau):
            return max((abs(r) / t for r, t in zip(res, tau)), default=0.0)
        return dict(s=worst(self.residual_s, self.tau_s),
                    o=worst(self.residual_o, [self.tau_o] * len(self.residual_o)),
                    p=max((abs(p - P_ONE) / self.tau_p for p in self.p_sum), default=0.0))


def _row_sums(fixed):
    """Row sums as the RAM holds them (ACC_BITS-bit two's complement)."""
    return [wrap(x) for x in np.asarray(fixed, np.int64).sum(axis=1)]


def tile_check(enc, tile, row0, qs32, s32, p, o32, s_read=None, p_repeat=None,
               reads=SCORE_READS):
    """:class:`TileCheck` of query tile ``tile`` (rows ``row0``..) from what the checker
    observes: ``qs32`` (rows x d), ``s32`` (rows x n), ``o32`` (rows x d) fp32 accumulator
    bits, ``p`` (rows x n) BF16 probabilities as SoftEx writes them and ``s_read`` the score
    words as SoftEx reads them, once per ``reads`` (default: as the tensor unit wrote them,
    bf16(s32)) and ``p_repeat`` the words of SoftEx's second run (default: equal to ``p``)."""
    qs32, s32, o32 = (np.asarray(x, np.uint32) for x in (qs32, s32, o32))
    p = np.asarray(p, np.uint16)
    rows, d = qs32.shape
    n = s32.shape[1]
    qs16 = fp.convert(qs32, FP32, BF16)          # the words the scale job writes
    sf, s_bad = to_fixed(s32, FP32, enc.frac_s)
    qa, qa_bad = to_fixed(qs32 & 0x7FFF_FFFF, FP32, enc.frac_qa)
    ref_s, rs_bad = product_fixed(qs16, enc.kbar[None, :], enc.frac_s)
    pf, p_bad = to_fixed(p, BF16, P_FRAC)
    ref_o, ro_bad = product_fixed(p, enc.vbar[None, :], enc.frac_o)
    of, o_bad = to_fixed(o32, FP32, enc.frac_o)
    range_rows = tuple(bool(x) for x in (s_bad.any(1) | qa_bad.any(1) | rs_bad.any(1)
                                         | p_bad.any(1) | ro_bad.any(1) | o_bad.any(1)))
    p_range_rows = tuple(bool(x) for x in (p > 0x3F80).any(1))
    QA, PA = _row_sums(qa), _row_sums(pf)
    res_s = _row_sums(np.concatenate([sf, -ref_s], axis=1))
    res_o = _row_sums(np.concatenate([of, -ref_o], axis=1))
    tau_s = [x + enc.tau_s for x in QA]
    s16 = fp.convert(s32, FP32, BF16)
    s_read = s16 if s_read is None else np.asarray(s_read, np.uint16)
    p_repeat = p if p_repeat is None else np.asarray(p_repeat, np.uint16)
    balance = wrap(word_sum(qs16) + reads * (word_sum(s16) - word_sum(s_read))
                   + word_sum(p) - word_sum(p_repeat) - enc.qsum[tile], WORD_SUM_BITS)
    p_rep = int(np.bitwise_xor.reduce(p_repeat.ravel()) ^ np.bitwise_xor.reduce(p.ravel()))
    bits = [any(abs(r) > t for r, t in zip(res_s, tau_s)),
            any(abs(x - P_ONE) > enc.tau_p for x in PA),
            any(p_range_rows),
            any(abs(r) > enc.tau_o for r in res_o),
            balance != 0,
            any(range_rows),
            p_rep != 0,
            False, False, False]
    causes = sum(1 << i for i, b in enumerate(bits) if b)
    o16 = fp.convert(o32, FP32, BF16)
    return TileCheck(residual_s=tuple(res_s), tau_s=tuple(tau_s), residual_o=tuple(res_o),
                     tau_o=enc.tau_o, p_sum=tuple(PA), qa=tuple(QA), tau_p=enc.tau_p,
                     word_balance=balance,
                     p_range_rows=p_range_rows, range_rows=range_rows,
                     o_signature=signature(o16), causes=causes)
