"""Bit-exact model of the Flash-ABFT checker's GEMM mode (ARM_GEMM): row and column checksums
of one tensor-unit job ``Z = X W`` or ``Z = Y + X W`` (M x K times K x N, fp32 accumulation),
the classic ABFT identities checked on the accumulators before their BF16 rounding.

The host (the layer that made X, W and Y) encodes the job before the accelerator touches it:
the exact row and column sums of Z,

    r_i = sum_j (y_ij + sum_k x_ik w_kj),     c_j = sum_i (y_ij + sum_k x_ik w_kj),

as fixed-point references ``round(r_i 2^F)``, ``round(c_j 2^F)``. The unit takes every fp32
accumulator z_ij from the tensor unit's check tap as ``trunc(z_ij 2^F)`` (as in attention mode,
:func:`sim.golden.abft.to_fixed`) and adds it to two row-sum entries, row i's and column j's,
which ARM_GEMM started at minus the references. After the job, every entry is a residual and
must be within the threshold

    tau = ceil(gamma_{K+1} max(max_i A_i, max_j B_j) 2^F) + max(M, N) + 2,

A_i = sum_j (|y_ij| + sum_k |x_ik w_kj|), B_j the same over a column: an fp32 FMA chain of
K + 1 terms is within gamma_{K+1} of the exact value whatever its order, the truncations of a
row's or column's terms cost under one LSB each, the references' rounding half an LSB and the
magnitudes' float64 sums (rounded up by 2^-40) the rest. The position F puts the largest
fault-free term just below 2^(TERM_BITS - 1) and every reference below 2^30 (a signed
32-bit word). The written words of Z are summed plain, by row and by column
(:class:`sim.golden.abft.Signature`, rows weighted by their index in Z), and VERIFY reads Z
back against them, as for O: a single corrupted word is located and corrected in place.
"""

import math
from dataclasses import dataclass

import numpy as np

from hw.abft.layout import CAUSES, FRAC_RANGE, GEMM_MAX_SIDE, TAU_BITS
from hw.fp.format import BF16, FP32

from . import fp
from .abft import _bf16_float, _position, gamma, signature, to_fixed, wrap
from .gemm import scaled_w

__all__ = ["GemmEncoding", "GemmCheck", "gemm_encode", "gemm_check", "REF_LIMIT"]

#: Every reference is below this in magnitude (a signed 32-bit descriptor word, with margin).
REF_LIMIT = 1 << 30
#: Float64 sums of magnitudes are rounded up by this factor.
_UP = 1 + 2.0 ** -40


@dataclass(frozen=True)
class GemmEncoding:
    """The checksums of one GEMM job.

    Members
    -------
    frac : int
        The position F of Z's terms.
    tau : int
        The threshold of every residual (LSBs).
    row_refs, col_refs : tuple of int
        round(2^F r_i) and round(2^F c_j).
    """

    frac: int
    tau: int
    row_refs: tuple
    col_refs: tuple

    def reference_words(self):
        """The descriptor's references as 32-bit words: minus each row's, then minus each
        column's (two's complement)."""
        return [(-r) & 0xFFFF_FFFF for r in (*self.row_refs, *self.col_refs)]


def gemm_encode(x, w, y=None, *, w_exp=0):
    """:class:`GemmEncoding` of BF16 operands ``x`` (M x K), ``w`` (K x N) and, for a GEMM job,
    ``y`` (M x N); ``w_exp``: the job's COMMAND.W_EXP (the unit reads W * 2^w_exp, rounded
    once per value, and so does the encoding). ValueError naming the limit when the job is
    outside the checker's range (more than GEMM_MAX_SIDE rows or columns, an odd N, values
    whose position or threshold does not fit)."""
    x, w = np.asarray(x, np.uint16), scaled_w(w, w_exp)
    m, k = x.shape
    if w.shape[0] != k:
        raise ValueError(f"w must have {k} rows (x's columns), got {w.shape[0]}")
    n = w.shape[1]
    for name, side in (("rows M", m), ("columns N", n)):
        if not 1 <= side <= GEMM_MAX_SIDE:
            raise ValueError(f"{name} = {side}: a checked GEMM has 1 .. {GEMM_MAX_SIDE}")
    if n % 2:
        raise ValueError(f"columns N = {n} must be even (VERIFY reads Z in word pairs)")
    xf, wf = _bf16_float(x), _bf16_float(w)
    yf = np.zeros((m, n)) if y is None else _bf16_float(np.asarray(y, np.uint16))
    products = xf[:, :, None] * wf[None, :, :]          # exact in float64 (8 x 8 bits)
    rows = [math.fsum(np.concatenate([products[i].ravel(), yf[i]])) for i in range(m)]
    cols = [math.fsum(np.concatenate([products[:, :, j].ravel(), yf[:, j]]))
            for j in range(n)]
    magnitude = (np.abs(xf) @ np.abs(wf) + np.abs(yf)) * _UP   # A_ij >= |z_ij| exact
    g = gamma(k + 1)
    side_max = max(float(magnitude.sum(axis=1).max()), float(magnitude.sum(axis=0).max())) * _UP
    term_max = float(magnitude.max()) * (1 + g) * _UP
    frac = _position(term_max)
    if side_max > 0:
        frac = min(frac, 29 - math.frexp(side_max * (1 + g))[1])
    if frac < FRAC_RANGE[0]:
        raise ValueError(f"the job's values are too large for the checker (position {frac} "
                         f"below {FRAC_RANGE[0]})")
    row_refs = tuple(round(math.ldexp(r, frac)) for r in rows)
    col_refs = tuple(round(math.ldexp(c, frac)) for c in cols)
    tau = math.ceil(g * math.ldexp(side_max, frac) * _UP) + max(m, n) + 2
    if tau >> TAU_BITS:
        raise ValueError(f"tau = {tau} does not fit the descriptor's {TAU_BITS} bits")
    assert all(abs(r) < REF_LIMIT for r in (*row_refs, *col_refs))
    return GemmEncoding(frac=frac, tau=tau, row_refs=row_refs, col_refs=col_refs)


@dataclass(frozen=True)
class GemmCheck:
    """The checker's view of one GEMM job.

    Members
    -------
    row_residual, col_residual : tuple of int
        Observed minus reference, as the row-sum entries hold them (ACC_BITS bits).
    tau : int
    range_bad : bool
        A term outside the fixed-point range (or NaN, infinity).
    written : :class:`~sim.golden.abft.Signature`
        Of the Z words as the unit rounds the accumulators.
    causes : int
        GEMM_ROW, GEMM_COL, RANGE bits (O_SIGNATURE is VERIFY's: :func:`gemm_verdict`).
    """

    row_residual: tuple
    col_residual: tuple
    tau: int
    range_bad: bool
    written: object
    causes: int

    def margin(self):
        """Largest |residual| / tau (below 1 when fault-free)."""
        return max(abs(r) for r in (*self.row_residual, *self.col_residual)) / self.tau


def _bit(name):
    return 1 << CAUSES.index(name)


def gemm_check(enc, z32):
    """:class:`GemmCheck` of the job's fp32 accumulators ``z32`` (M x N bit patterns, as the
    tap delivers them)."""
    z32 = np.asarray(z32, np.uint32)
    fixed, bad = to_fixed(z32, FP32, enc.frac)
    rows = [wrap(int(s) - r) for s, r in zip(fixed.sum(axis=1), enc.row_refs)]
    cols = [wrap(int(s) - c) for s, c in zip(fixed.sum(axis=0), enc.col_refs)]
    causes = ((_bit("GEMM_ROW") if any(abs(r) > enc.tau for r in rows) else 0)
              | (_bit("GEMM_COL") if any(abs(c) > enc.tau for c in cols) else 0)
              | (_bit("RANGE") if bad.any() else 0))
    return GemmCheck(row_residual=tuple(rows), col_residual=tuple(cols), tau=enc.tau,
                     range_bad=bool(bad.any()), written=signature(fp.convert(z32, FP32, BF16)),
                     causes=causes)


def gemm_verdict(check, z_read):
    """The cause mask VERIFY reports for the job: the check's, and O_SIGNATURE when the Z words
    read back (``z_read``, M x N BF16) differ from those written."""
    return check.causes | (_bit("O_SIGNATURE") if signature(z_read) != check.written else 0)
