"""Bit-exact golden model of the SoftEx softmax engine (``hw/softex/softmax.py``), plus a float64
reference. Words: ``docs/softmax.md``.

Every value is a bit pattern (BF16 ``np.uint16``, FP32 ``np.uint32``). The model performs
exactly the operations of the hardware, in the same order.

The reference of a maximum m (:func:`reference_fields`, recipe in ``hw/softex/reference.py``):
for |m| < 2^15 the integer K(m) = round(m log2 e) and c(m) = e^(m - K ln 2) in fp32 (within
1.1 ulp); otherwise no K and c = 1. Partial sums are kept relative to e^(K ln 2) = 2^K.

pass 1 (per beat k of L lanes, lanes outside the row read as -inf; P = SLOTS partial sums per
lane, beat k updates slot p = k mod P):
    vmax_k  = IEEE maximum of the beat's lanes (order irrelevant: maximum is associative)
    m_new   = maximum(m, vmax_k)
    d_j     = bf16(x_j - m_new)
    e_j     = expp(d_j) in mode PASS1_MODE (accurate for mode "softex": an unbiased D), or +0
              for the whole beat when m_new = -inf
    delta, reset = rescale(m_p, m_new), m_p = the maximum slot p was last updated with:
              delta = K(m_p) - K(m_new) if both have a K (else 0); reset if m_p != m_new and
              not both have a K
    S_pj    = fma32(e_j, c(m_new), shift(S_pj, delta, reset))   (one rounding; the shift adds
              delta to the exponent field: exact, +0 below field 1 or on reset)
    m_p     = m_new;  m = m_new
then P beats of zeros (FLUSH, slots continuing k mod P) with m_new = the final m.
reduction: per lane, slots by a pairwise tree (S_p += S_(p+s)), then slot 0 across lanes by a
pairwise tree (S_0j += S_0(j+s)); D = S_00 = sum of e^(x - K(m) ln 2) over the row.
reciprocal: seed(D), then twice  t = fma32(-D, y, 2.0); y = fma32(y, t, +0); r = fma32(c(m), y, +0)
pass 2: y_j = bf16(expp(bf16(x_j - m)) * r) (exact product rounded once), or +0 when m = -inf.

A job's initial state is (m, S) = (-inf, 0...) or, with LOAD, (m_slot, S_00 = D_slot, 0 ...),
every m_p = m.

int8 I/O (``in_cast`` / ``out_cast`` = (int_bits, signed), None = BF16): int8 input elements
(``np.uint8`` raw patterns) are converted exactly to BF16 (``fp.int_to_float``) and then
processed as above; int8 outputs are ``fp.float_to_int`` of the BF16 output y_j (RNE,
saturating, NaN -> 0). An int8 element at byte address a sits in lane a mod L (BF16: a/2 mod L).
"""

import numpy as np

from hw.fp.format import BF16, FP32
from hw.softex.reference import EXP2_TABLE, FRAC, LN2_Q30, LOG2E_Q40, REF_EXP_LIMIT
from hw.softex.softmax import PASS1_MODE, SLOTS
from sim.golden import fp
from sim.golden.expp import expp
from sim.golden.expp import float_to_bf16 as _exact_float_to_bf16

__all__ = ["NEG_INF", "ONE32", "TWO32", "reference_fields", "rescale", "shift_sums",
           "scaled_reciprocal", "lane_offset", "int8_to_bf16", "bf16_to_int8", "beats", "pass1",
           "reduce", "seed",
           "reciprocal", "pass2", "softmax_job", "softmax_row", "reference", "bf16_to_float",
           "float_to_bf16", "SEED_TABLE"]

NEG_INF = np.uint16(0xFF80)
ONE32 = np.uint32(0x3F80_0000)
TWO32 = np.uint32(0x4000_0000)


def _seed_table():
    """7-bit mantissa of 2 / (1 + (k + 0.5)/128), k = 0..127 (midpoint of each interval),
    rounded to nearest and clamped to 127."""
    t = []
    for k in range(128):
        v = 2.0 / (1.0 + (k + 0.5) / 128.0)          # in (1, 2)
        t.append(min(127, int(round((v - 1.0) * 128))))
    return tuple(t)


SEED_TABLE = _seed_table()


def lane_offset(addr, lanes, size=2):
    """Lane of the first element of a row at byte address ``addr`` (``size``-byte elements:
    2 for BF16, aligned; 1 for int8)."""
    return (int(addr) // size) % lanes


def int8_to_bf16(q, cast):
    """int8 raw patterns -> BF16 (exact), ``cast`` = (int_bits, signed)."""
    return np.asarray(fp.int_to_float(np.asarray(q, np.uint8), 8, cast[0], cast[1]),
                      dtype=np.uint16).reshape(np.shape(q))


def bf16_to_int8(y, cast):
    """BF16 -> int8 raw patterns (RNE, saturating, NaN -> 0), ``cast`` = (int_bits, signed)."""
    return np.asarray(fp.float_to_int(np.asarray(y, np.uint16), 8, cast[0], cast[1]),
                      dtype=np.uint8).reshape(np.shape(y))


def beats(n, offset, lanes):
    return (offset + n + lanes - 1) // lanes


def _beat_matrix(x, offset, lanes):
    """(n_beats, lanes) matrix of the row as the hardware reads it; lanes outside: -inf."""
    x = np.asarray(x, dtype=np.uint16)
    nb = beats(len(x), offset, lanes)
    flat = np.full(nb * lanes, NEG_INF, dtype=np.uint16)
    flat[offset:offset + len(x)] = x
    return flat.reshape(nb, lanes)


def _max_reduce(v):
    """IEEE maximum over the last axis (a pairwise tree; any order gives the same bits)."""
    v = np.asarray(v, dtype=np.uint16)
    while v.shape[-1] > 1:
        if v.shape[-1] % 2:
            v = np.concatenate([v, np.full(v.shape[:-1] + (1,), NEG_INF, np.uint16)], axis=-1)
        v = fp.compare(v[..., 0::2], v[..., 1::2], BF16)["max"]
    return v[..., 0]


def reference_fields(m):
    """The reference of BF16 maxima ``m`` (``hw/softex/reference.py``): K (int64), whether m
    has one (|m| < 2^15), and c = 2^(m log2 e - K) (fp32 bits; 1.0 without K)."""
    m = np.asarray(m, dtype=np.uint16).astype(np.int64)
    s, e, mant = m >> 15, (m >> 7) & 0xFF, m & 0x7F
    has = e < REF_EXP_LIMIT
    shift = np.clip(134 + 40 - FRAC - e, 0, 63)
    t = np.where(e == 0, 0, ((128 + mant) * LOG2E_Q40) >> shift)
    k_abs = (t + (1 << (FRAC - 1))) >> FRAC
    u_abs = t - (k_abs << FRAC)
    u = np.where(s == 1, -u_abs, u_abs)
    w = u + (1 << (FRAC - 1))
    h, low = w >> (FRAC - 8), w & ((1 << (FRAC - 8)) - 1)
    a = (low * LN2_Q30) >> FRAC
    b = (a * a) >> 31
    q = (np.asarray(EXP2_TABLE, dtype=np.int64)[h] * ((1 << 30) + a + b)) >> 30
    big = q >= (1 << 30)                      # c >= 1: exponent 127, else 126
    sig = np.where(big, (q + (1 << 6)) >> 7, (q + (1 << 5)) >> 6)      # 24 bits, half up
    exp = np.where(big, 127, 126) + (sig >> 24)
    sig = np.where(sig >> 24, sig >> 1, sig)
    c = (exp << 23) | (sig & 0x7F_FFFF)
    k = np.where(has, np.where(s == 1, -k_abs, k_abs), 0)
    return k, has, np.where(has, c, ONE32).astype(np.uint32)


def rescale(m_slot, m_new):
    """How a partial sum last updated with maximum ``m_slot`` follows a beat with maximum
    ``m_new``: (delta, reset) with delta = K(m_slot) - K(m_new) <= 0 when both have a K (else
    0) and reset when the two differ (bit patterns) and one of them has none (the sum becomes
    +0: a rise by at least 128, or from -inf)."""
    m_slot = np.asarray(m_slot, np.uint16)
    m_new = np.asarray(m_new, np.uint16)
    k_old, has_old, _ = reference_fields(m_slot)
    k_new, has_new, _ = reference_fields(m_new)
    both = has_old & has_new
    return np.where(both, k_old - k_new, 0), (m_slot != m_new) & ~both


def shift_sums(S, delta, reset):
    """fp32 partial sums ``S`` times 2^delta (delta <= 0) by their exponent field: +0 when the
    field would drop below 1 or on ``reset``; infinities and NaN unchanged."""
    S = np.asarray(S, dtype=np.uint32).astype(np.int64)
    field = (S >> 23) & 0xFF
    moved = field + delta
    shifted = np.where(moved >= 1, (S & ~(0xFF << 23)) | (moved << 23), 0)
    out = np.where((delta == 0) | (field == 0xFF), S, shifted)
    return np.where(reset, 0, out).astype(np.uint32)


def pass1(x, offset, lanes, mode="accurate", state=None, slots=SLOTS):
    """Pass 1 over row chunk ``x`` starting at lane ``offset``. ``state`` = (m, D) loaded from a
    slot, or None. Returns (m, S) with S the (``slots``, ``lanes``) fp32 partial sums (uint32),
    relative to the reference of m: beat k updates slot k mod ``slots``, then ``slots`` beats
    of zeros (FLUSH) bring every slot to the final maximum's reference."""
    S = np.zeros((slots, lanes), dtype=np.uint32)
    m = NEG_INF if state is None else np.uint16(state[0])
    if state is not None:
        S[0, 0] = np.uint32(state[1])
    X = _beat_matrix(x, offset, lanes)
    nb = X.shape[0]
    vmax = _max_reduce(X)
    # running maximum (sequential, cheap: scalars)
    m_new = np.empty(nb, np.uint16)
    cur = m
    for k in range(nb):
        cur = np.uint16(fp.compare(cur, vmax[k], BF16)["max"])
        m_new[k] = cur
    m_final = cur
    e = expp(fp.add(X, m_new[:, None], BF16, sub=1), PASS1_MODE.get(mode, mode))
    e[m_new == NEG_INF, :] = 0
    e32 = np.concatenate([fp.convert(e, BF16, FP32), np.zeros((slots, lanes), np.uint32)])
    maxima = np.concatenate([m_new, np.full(slots, m_final, np.uint16)])
    previous = np.concatenate([np.full(slots, m, np.uint16), maxima[:-slots]])
    _, _, c = reference_fields(maxima)
    delta, reset = rescale(previous, maxima)
    for k in range(nb + slots):
        p = k % slots
        S[p] = fp.fma(e32[k], c[k], shift_sums(S[p], delta[k], reset[k]), mul_fmt=FP32,
                      acc_fmt=FP32)
    return np.uint16(m_final), S


def reduce(S):
    """The fixed reduction of the (slots, lanes) partial sums: within each lane the slots by a
    pairwise tree (S[p] += S[p + s], s = 1, 2, ..), then slot 0 of the lanes by a pairwise tree:
    ((S0+S1)+(S2+S3))+((S4+S5)+(S6+S7)) for 8 lanes. Returns D."""
    S = np.array(S, dtype=np.uint32)
    slots, lanes = S.shape
    s = 1
    while s < slots:
        for p in range(0, slots, 2 * s):
            S[p] = fp.fma(S[p + s], ONE32, S[p], mul_fmt=FP32, acc_fmt=FP32)
        s *= 2
    row = S[0]
    s = 1
    while s < lanes:
        for j in range(0, lanes, 2 * s):
            row[j] = fp.fma(row[j + s], ONE32, row[j], mul_fmt=FP32, acc_fmt=FP32)
        s *= 2
    return np.uint32(row[0])


def seed(D):
    """Reciprocal seed of fp32 ``D`` (bit pattern): sign of D, exponent field 253 - E,
    mantissa SEED_TABLE[top 7 mantissa bits] (zero low bits). Special results
    (bypassing Newton-Raphson): see :func:`reciprocal`."""
    D = int(D)
    s, E, k = D >> 31, (D >> 23) & 0xFF, (D >> 16) & 0x7F
    return np.uint32((s << 31) | ((253 - E) << 23) | (SEED_TABLE[k] << 16))


def reciprocal(D):
    """fp32 1/D: NaN -> NaN; exponent field 0 (zero, subnormal) -> inf with D's sign; exponent
    field >= 253 (|D| >= 2^126, inf) -> zero with D's sign; else seed + 2 Newton-Raphson steps."""
    D = int(D)
    s, E = D >> 31, (D >> 23) & 0xFF
    if E == 0xFF and D & 0x7F_FFFF:
        return np.uint32(0x7FC0_0000)
    if E == 0:
        return np.uint32((s << 31) | 0x7F80_0000)
    if E >= 253:
        return np.uint32(s << 31)
    y = seed(D)
    for _ in range(2):
        t = fp.fma(np.uint32(D), y, TWO32, mul_fmt=FP32, acc_fmt=FP32, neg_ab=1)
        y = fp.fma(y, t, np.uint32(0), mul_fmt=FP32, acc_fmt=FP32)
    return np.uint32(y)


def scaled_reciprocal(D, m):
    """fp32 c(m) / D as the engine forms it: fma32(c, reciprocal(D), +0), so that pass 2's
    e^(x - m) times it is e^(x - m) c / D = e^(x - K ln 2) / D."""
    _, _, c = reference_fields(np.uint16(m))
    return np.uint32(fp.fma(np.uint32(c), reciprocal(D), np.uint32(0), mul_fmt=FP32,
                            acc_fmt=FP32))


def pass2(x, m, r, mode="accurate"):
    """Outputs of pass 2 for the elements ``x`` (lane placement does not matter)."""
    x = np.asarray(x, dtype=np.uint16)
    if np.uint16(m) == NEG_INF:
        return np.zeros(len(x), dtype=np.uint16)
    e = expp(fp.add(x, np.uint16(m), BF16, sub=1), mode)
    e32 = fp.convert(e, BF16, FP32)
    return np.asarray(fp.fma(e32, np.uint32(r), np.uint16(0), mul_fmt=FP32, acc_fmt=BF16),
                      dtype=np.uint16)


def softmax_job(x, *, lanes=8, offset=0, acc=True, div=True, state=None, mode="accurate",
                in_cast=None, out_cast=None):
    """One job of the engine. ``state`` = (m, D) loaded from the slot (LOAD) or None.
    ``in_cast`` / ``out_cast``: (int_bits, signed) for int8 input / output, None for BF16.
    Returns dict(y=outputs or None, m=, D=, masked=) where (m, D) is the state after the job
    (what SAVE writes) and masked = (m == -inf)."""
    if in_cast is not None:
        x = int8_to_bf16(x, in_cast)
    if acc:
        m, S = pass1(x, offset, lanes, mode, state)
    else:
        if state is None:
            raise ValueError("a job without ACC needs a loaded state")
        m = np.uint16(state[0])
        S = np.zeros((SLOTS, lanes), dtype=np.uint32)
        S[0, 0] = np.uint32(state[1])
    D = reduce(S)
    y = pass2(x, m, scaled_reciprocal(D, m), mode) if div else None
    if y is not None and out_cast is not None:
        y = bf16_to_int8(y, out_cast)
    return {"y": y, "m": np.uint16(m), "D": np.uint32(D), "masked": bool(np.uint16(m) == NEG_INF)}


def softmax_row(x, *, lanes=8, offset=0, mode="accurate", in_cast=None, out_cast=None):
    """Outputs of a full softmax job (ACC | DIV) on one row."""
    return softmax_job(x, lanes=lanes, offset=offset, mode=mode, in_cast=in_cast,
                       out_cast=out_cast)["y"]


def bf16_to_float(x):
    return (np.asarray(x, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def float_to_bf16(v):
    """float64 -> bf16, one rounding (nearest even) through the exact converter."""
    return _exact_float_to_bf16(v)


def reference(x):
    """float64 softmax of BF16 row ``x`` (mathematical; -inf elements give 0; a fully masked row
    gives zeros)."""
    v = bf16_to_float(x)
    if np.all(v == -np.inf):
        return np.zeros(len(v))
    mx = np.max(v)
    e = np.exp(v - mx)
    return e / e.sum()
