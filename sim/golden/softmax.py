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
           "reduce", "seed", "reciprocal", "pass2", "softmax_job", "softmax_jobs", "softmax_row",
           "reference", "bf16_to_float", "float_to_bf16", "SEED_TABLE"]

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
    """(..., n_beats, lanes) matrices of the rows ``x`` (..., n) as the hardware reads them;
    lanes outside a row: -inf."""
    x = np.asarray(x, dtype=np.uint16)
    n = x.shape[-1]
    nb = beats(n, offset, lanes)
    flat = np.full(x.shape[:-1] + (nb * lanes,), NEG_INF, dtype=np.uint16)
    flat[..., offset:offset + n] = x
    return flat.reshape(x.shape[:-1] + (nb, lanes))


def _max_reduce(v):
    """IEEE maximum over the last axis (a pairwise tree; any order gives the same bits)."""
    v = np.asarray(v, dtype=np.uint16)
    while v.shape[-1] > 1:
        if v.shape[-1] % 2:
            v = np.concatenate([v, np.full(v.shape[:-1] + (1,), NEG_INF, np.uint16)], axis=-1)
        v = fp.compare(v[..., 0::2], v[..., 1::2], BF16)["max"]
    return v[..., 0]


def _running_max(m, vmax):
    """Running maxima of the beats: ``out[..., k]`` = maximum(m, vmax[..., 0], ..,
    vmax[..., k]) for start maxima ``m`` (...) and beat maxima ``vmax`` (..., n_beats).

    The IEEE maximum of BF16 patterns (``fp.compare``) is associative and commutative on bit
    patterns (the canonical NaN if any operand is a NaN, else the largest pattern in the total
    order with -0 < +0), so a prefix scan in log2 steps (Hillis-Steele) gives the bits of the
    hardware's sequential beat-by-beat update."""
    m = np.asarray(m, dtype=np.uint16)
    vmax = np.asarray(vmax, dtype=np.uint16)
    run = np.concatenate([np.broadcast_to(m, vmax.shape[:-1])[..., None], vmax], axis=-1)
    s = 1
    while s < run.shape[-1]:
        run = np.concatenate([run[..., :s], fp.compare(run[..., s:], run[..., :-s],
                                                       BF16)["max"]], axis=-1)
        s *= 2
    return run[..., 1:]


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


def _loaded_state(state, rows_shape):
    """Start maxima (uint16) and loaded sums (uint32) of shape ``rows_shape``: -inf and +0
    without a ``state``, else ``state`` = (m, D) broadcast to it."""
    if state is None:
        return (np.full(rows_shape, NEG_INF, np.uint16), np.zeros(rows_shape, np.uint32))
    return (np.broadcast_to(np.asarray(state[0], np.uint16), rows_shape).copy(),
            np.broadcast_to(np.asarray(state[1], np.uint32), rows_shape).copy())


def pass1(x, offset, lanes, mode="accurate", state=None, slots=SLOTS):
    """Pass 1 over row chunk ``x`` starting at lane ``offset``. ``state`` = (m, D) loaded from a
    slot, or None. Returns (m, S) with S the (``slots``, ``lanes``) fp32 partial sums (uint32),
    relative to the reference of m: beat k updates slot k mod ``slots``, then ``slots`` beats
    of zeros (FLUSH) bring every slot to the final maximum's reference.

    Rows batched: ``x`` (..., n) holds independent rows sharing ``offset``; the leading axes
    carry through (m of shape (...), S of shape (..., ``slots``, ``lanes``); ``state`` arrays
    broadcast to (...)). A single row gives a scalar m."""
    x = np.asarray(x, dtype=np.uint16)
    rows_shape = x.shape[:-1]
    m, loaded = _loaded_state(state, rows_shape)
    S = np.zeros(rows_shape + (slots, lanes), dtype=np.uint32)
    S[..., 0, 0] = loaded
    X = _beat_matrix(x, offset, lanes)
    nb = X.shape[-2]
    m_new = _running_max(m, _max_reduce(X))
    m_final = m_new[..., -1] if nb else m
    e = np.asarray(expp(fp.add(X, m_new[..., None], BF16, sub=1), PASS1_MODE.get(mode, mode)))
    e[m_new == NEG_INF] = 0
    e32 = np.concatenate([np.asarray(fp.convert(e, BF16, FP32), np.uint32).reshape(e.shape),
                          np.zeros(rows_shape + (slots, lanes), np.uint32)], axis=-2)
    final = np.broadcast_to(m_final[..., None], rows_shape + (slots,))
    maxima = np.concatenate([m_new, final], axis=-1)
    previous = np.concatenate([np.broadcast_to(m[..., None], rows_shape + (slots,)),
                               maxima[..., :nb]], axis=-1)
    _, _, c = reference_fields(maxima)
    delta, reset = rescale(previous, maxima)
    # Beat k only reads and writes slot k mod slots: the beats k0 .. k0 + slots - 1 of one
    # round touch different slots and are done together, the rounds in order.
    total = nb + slots
    for k0 in range(0, total, slots):
        k1 = min(k0 + slots, total)
        used = k1 - k0                          # slots 0 .. used - 1
        S[..., :used, :] = fp.fma(
            e32[..., k0:k1, :], c[..., k0:k1, None],
            shift_sums(S[..., :used, :], delta[..., k0:k1, None], reset[..., k0:k1, None]),
            mul_fmt=FP32, acc_fmt=FP32)
    return np.asarray(m_final, np.uint16)[()], S


def reduce(S):
    """The fixed reduction of the (slots, lanes) partial sums: within each lane the slots by a
    pairwise tree (S[p] += S[p + s], s = 1, 2, ..), then slot 0 of the lanes by a pairwise tree:
    ((S0+S1)+(S2+S3))+((S4+S5)+(S6+S7)) for 8 lanes. Returns D.

    Rows batched: ``S`` (..., slots, lanes) gives D of shape (...) (a scalar for one row). The
    additions of one tree level are independent and done together."""
    S = np.array(S, dtype=np.uint32)
    slots, lanes = S.shape[-2:]
    s = 1
    while s < slots:
        S[..., 0::2 * s, :] = fp.fma(S[..., s::2 * s, :], ONE32, S[..., 0::2 * s, :],
                                     mul_fmt=FP32, acc_fmt=FP32)
        s *= 2
    row = S[..., 0, :]
    s = 1
    while s < lanes:
        row[..., 0::2 * s] = fp.fma(row[..., s::2 * s], ONE32, row[..., 0::2 * s],
                                    mul_fmt=FP32, acc_fmt=FP32)
        s *= 2
    return np.asarray(row[..., 0], np.uint32)[()]


def _fp32_patterns(D):
    return np.asarray(D, dtype=np.int64) & 0xFFFF_FFFF


def seed(D):
    """Reciprocal seed of fp32 ``D`` (bit pattern): sign of D, exponent field 253 - E,
    mantissa SEED_TABLE[top 7 mantissa bits] (zero low bits). Special results
    (bypassing Newton-Raphson): see :func:`reciprocal`. Elementwise on arrays; exponent
    fields E <= 253 only."""
    D = _fp32_patterns(D)
    s, E, k = D >> 31, (D >> 23) & 0xFF, (D >> 16) & 0x7F
    table = np.asarray(SEED_TABLE, dtype=np.int64)
    return np.asarray((s << 31) | ((253 - E) << 23) | (table[k] << 16)).astype(np.uint32)[()]


def reciprocal(D):
    """fp32 1/D: NaN -> NaN; exponent field 0 (zero, subnormal) -> inf with D's sign; exponent
    field >= 253 (|D| >= 2^126, inf) -> zero with D's sign; else seed + 2 Newton-Raphson steps.
    Elementwise on arrays."""
    D = _fp32_patterns(D)
    s, E = D >> 31, (D >> 23) & 0xFF
    nan = (E == 0xFF) & (D & 0x7F_FFFF != 0)
    tiny = E == 0
    huge = E >= 253
    # Newton-Raphson on the others (the special ones iterate on 1.0, and are then replaced)
    D_nr = np.where(nan | tiny | huge, np.int64(ONE32), D)
    y = seed(D_nr)
    for _ in range(2):
        t = fp.fma(D_nr, y, TWO32, mul_fmt=FP32, acc_fmt=FP32, neg_ab=1)
        y = fp.fma(y, t, np.uint32(0), mul_fmt=FP32, acc_fmt=FP32)
    out = np.select([nan, tiny, huge], [0x7FC0_0000, (s << 31) | 0x7F80_0000, s << 31],
                    np.asarray(y, np.int64))
    return out.astype(np.uint32)[()]


def scaled_reciprocal(D, m):
    """fp32 c(m) / D as the engine forms it: fma32(c, reciprocal(D), +0), so that pass 2's
    e^(x - m) times it is e^(x - m) c / D = e^(x - K ln 2) / D. Elementwise on arrays."""
    _, _, c = reference_fields(np.asarray(m, np.uint16))
    return np.asarray(fp.fma(c, reciprocal(D), np.uint32(0), mul_fmt=FP32, acc_fmt=FP32),
                      np.uint32)[()]


def pass2(x, m, r, mode="accurate"):
    """Outputs of pass 2 for the elements ``x`` (lane placement does not matter).

    Rows batched: ``x`` (..., n) with maxima ``m`` and scaled reciprocals ``r`` of shape
    (...); rows with m = -inf give zeros."""
    x = np.asarray(x, dtype=np.uint16)
    m = np.asarray(m, dtype=np.uint16)[..., None]
    r = np.asarray(r, dtype=np.uint32)[..., None]
    e = expp(fp.add(x, m, BF16, sub=1), mode)
    e32 = fp.convert(e, BF16, FP32)
    y = np.asarray(fp.fma(e32, r, np.uint16(0), mul_fmt=FP32, acc_fmt=BF16), dtype=np.uint16)
    return np.where(m == NEG_INF, np.uint16(0), y).astype(np.uint16).reshape(x.shape)


def _jobs(x, lanes, offset, acc, div, state, mode):
    """Jobs of the engine on rows ``x`` (..., n) of BF16 patterns sharing ``offset``:
    (y or None, m, D), the leading axes carried through (scalars m, D for one row)."""
    if acc:
        m, S = pass1(x, offset, lanes, mode, state)
    else:
        if state is None:
            raise ValueError("a job without ACC needs a loaded state")
        m, loaded = _loaded_state(state, x.shape[:-1])
        m = m[()]
        S = np.zeros(x.shape[:-1] + (SLOTS, lanes), dtype=np.uint32)
        S[..., 0, 0] = loaded
    D = reduce(S)
    y = pass2(x, m, scaled_reciprocal(D, m), mode) if div else None
    return y, m, D


def softmax_job(x, *, lanes=8, offset=0, acc=True, div=True, state=None, mode="accurate",
                in_cast=None, out_cast=None):
    """One job of the engine. ``state`` = (m, D) loaded from the slot (LOAD) or None.
    ``in_cast`` / ``out_cast``: (int_bits, signed) for int8 input / output, None for BF16.
    Returns dict(y=outputs or None, m=, D=, masked=) where (m, D) is the state after the job
    (what SAVE writes) and masked = (m == -inf)."""
    if in_cast is not None:
        x = int8_to_bf16(x, in_cast)
    x = np.asarray(x, dtype=np.uint16)
    if x.ndim != 1:
        raise ValueError(f"softmax_job takes one row (1-D), got shape {x.shape}; "
                         f"rows: softmax_jobs")
    y, m, D = _jobs(x, lanes, offset, acc, div, state, mode)
    if y is not None and out_cast is not None:
        y = bf16_to_int8(y, out_cast)
    return {"y": y, "m": np.uint16(m), "D": np.uint32(D), "masked": bool(np.uint16(m) == NEG_INF)}


def softmax_jobs(x, *, lanes=8, offset=0, acc=True, div=True, state=None, mode="accurate"):
    """The same job on every row of ``x`` (rows x n BF16 patterns, every row starting at lane
    ``offset``), all rows at once: row i of every result is bit for bit what
    :func:`softmax_job` gives for ``x[i]`` (and ``state[0][i]``, ``state[1][i]``).

    ``state`` = (m, D), arrays of shape (rows,) (BF16 maxima, fp32 sums) loaded from the slots
    (LOAD), or None. Returns dict(y=(rows, n) uint16 outputs or None, m=(rows,) uint16,
    D=(rows,) uint32, masked=(rows,) bool)."""
    x = np.asarray(x, dtype=np.uint16)
    if x.ndim != 2:
        raise ValueError(f"softmax_jobs takes rows x n patterns (2-D), got shape {x.shape}")
    if state is not None:
        for name, value in zip(("m", "D"), state):
            if np.shape(value) != x.shape[:1]:
                raise ValueError(f"state {name} must have shape {x.shape[:1]}, "
                                 f"got {np.shape(value)}")
    y, m, D = _jobs(x, lanes, offset, acc, div, state, mode)
    m = np.asarray(m, np.uint16).reshape(x.shape[:1])
    return {"y": y, "m": m, "D": np.asarray(D, np.uint32).reshape(x.shape[:1]),
            "masked": m == NEG_INF}


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
