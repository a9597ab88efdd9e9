"""Per-operation protection of an attention head: the classic scheme the Flash-ABFT checker is
compared with (docs/abft.md, "Per-operation protection"; EFTA's baseline: ABFT on each GEMM plus
the softmax computed twice). No hardware beyond the cluster:

- every tensor job of a tile gets two more: a checksum job on the same left operand, with a
  two-column right operand whose first column is the sum of the job's right operand's columns
  (scale: 2^-shift; qk: bf16(K^T 1); pv: bf16(V 1)), and a sum job that multiplies the job's
  output by a column of ones (the reduction on the accelerator, as GPU implementations do it:
  summing the words on these cores costs about 300 cycles a word);
- the cores compare the two words of each row as fixed-point integers trunc(x 2^F), within a
  tolerance derived below;
- SoftEx runs twice (run B into a buffer of its own) and the cores compare the words.

Tolerances (F the check's position; u = 2^-9 the BF16 unit roundoff (RNE); gamma that of the
longer fp32 chain, of the job's K products or of the sum job's N words). For a row i, with a
checksum vector rounded once to BF16 from the exact sums (fsum, then one rounding: within
2^-9 (1 + 2^-14) relative), the sum word bf16(fl(sum_j bf16(z_ij))) and the
checksum word bf16(zc_i) differ from the exact row sum by at most

    u (1 + gamma) T_i                    the outputs' rounding   (T_i = sum_j sum_k |x_ik w_kj|)
    gamma T_i                            the outputs' fp32 chains
    (gamma + u (1 + gamma)) (1 + 2^-7) T_i   the sum job's chain and rounding
    u (1 + gamma) (1 + 2^-8) T_i         the checksum's rounding
    gamma (1 + 2^-8) T_i                 the checksum's chain
    u (1 + 2^-14) T_i                    the checksum vector's rounding

so tol_i = ceil(2^F T_i (4 u (1 + 2^-6) + 4 gamma)) + 4 (two truncated words, and margin).
T_i is known to the host for the scale job (T_i = sum_c |q_ic| 2^-shift) and for qk (T_i =
sum_c |qs_ic| sum_k |k_kc|); for pv, T_i = sum_k p_ik sum_c |v_kc| <= (1 + tau_P 2^-24) max_k
sum_c |v_kc| with tau_P the fault-free SoftEx row sum's bound (sim.golden.abft.p_sum_bound; a
faulty row is the softmax comparison's). The positions put every row's sum below 2^28; the
firmware treats a word of 2^29 or more, NaN or infinity as a failure.
"""

import math
from dataclasses import dataclass

import numpy as np

from .golden.abft import P_ONE, _bf16_float, gamma, p_sum_bound
from .golden.softmax import float_to_bf16


__all__ = ["PerOpEncoding", "perop_encode", "fixed_word", "row_check", "ones_operand",
           "PEROP_CHECKS"]

#: The checks, by bit of the firmware's flag mask (abft_result's first and last verdicts).
PEROP_CHECKS = ("SCALE", "QK", "SOFTMAX", "PV")
_U = 2.0 ** -9
_UP = 1 + 2.0 ** -40


def _bf16_words(values):
    """BF16 bits of float64 ``values``, rounded once (the project's exact converter)."""
    return np.asarray(float_to_bf16(np.asarray(values, np.float64)), np.uint16)


def _position(bound):
    """F with bound 2^F < 2^28, within -120 .. 120."""
    if bound <= 0:
        return 120
    return max(-120, min(120, 28 - math.frexp(bound)[1]))


def _tolerance(frac, t, chain, terms):
    """The tolerance of a row with magnitude sum ``t``, fp32 chains of ``chain`` products and
    ``terms`` output words (summed by a chain of as many)."""
    factor = 4 * _U * (1 + 2.0 ** -6) + 4 * gamma(max(chain, terms))
    return math.ceil(math.ldexp(t * factor * _UP, frac)) + 4


@dataclass(frozen=True)
class PerOpEncoding:
    """What the host gives the firmware for one head.

    Members
    -------
    id_chk, kt_chk : np.ndarray
        BF16, head_dim x 2: the scale job's and the qk job's checksum operands.
    v_chk : np.ndarray
        BF16, seq x 2: the pv job's.
    frac_q, frac_s, frac_o : int
        Positions of the three row checks.
    tol_q, tol_s : tuple of int
        Per query row.
    tol_o : int
    """

    id_chk: np.ndarray
    kt_chk: np.ndarray
    v_chk: np.ndarray
    frac_q: int
    frac_s: int
    frac_o: int
    tol_q: tuple
    tol_s: tuple
    tol_o: int


def perop_encode(q, k, v, *, shift):
    """:class:`PerOpEncoding` of BF16 inputs ``q``, ``k``, ``v`` (seq x head_dim)."""
    qf, kf, vf = (_bf16_float(np.asarray(x, np.uint16)) for x in (q, k, v))
    seq, d = kf.shape
    scale = 2.0 ** -shift
    id_chk = np.zeros((d, 2), np.uint16)
    id_chk[:, 0] = _bf16_words(np.full(d, scale))
    kt_chk = np.zeros((d, 2), np.uint16)
    kt_chk[:, 0] = _bf16_words([math.fsum(kf[:, c]) for c in range(d)])
    v_chk = np.zeros((seq, 2), np.uint16)
    v_chk[:, 0] = _bf16_words([math.fsum(vf[j]) for j in range(seq)])
    u_rows = np.abs(qf).sum(axis=1) * scale * _UP                 # sum_c |qs_ic|
    k_abs = np.abs(kf).sum(axis=0) * _UP                          # sum_k |k_kc|
    t_rows = (np.abs(qf) * scale) @ k_abs * _UP
    w_max = float(np.abs(vf).sum(axis=1).max()) * _UP * (1 + p_sum_bound(seq) / P_ONE)
    frac_q = _position(float(u_rows.max()) * 1.01)
    frac_s = _position(float(t_rows.max()) * 1.01)
    frac_o = _position(w_max * 1.01)
    return PerOpEncoding(
        id_chk=id_chk, kt_chk=kt_chk, v_chk=v_chk, frac_q=frac_q, frac_s=frac_s, frac_o=frac_o,
        tol_q=tuple(_tolerance(frac_q, float(t), d, d) for t in u_rows),
        tol_s=tuple(_tolerance(frac_s, float(t), d, seq) for t in t_rows),
        tol_o=_tolerance(frac_o, w_max, seq, d))


def fixed_word(word, frac):
    """(trunc(x 2^frac), bad) of one BF16 word as the firmware computes it: bad for NaN,
    infinity or a magnitude of 2^29 or more; subnormals are 0."""
    e = (int(word) >> 7) & 0xFF
    if e == 0xFF:
        return 0, True
    if e == 0:
        return 0, False
    m = (int(word) & 0x7F) | 0x80
    sh = e - 134 + frac
    if sh >= 22:
        return 0, True
    mag = m << sh if sh >= 0 else (0 if sh <= -8 else m >> -sh)
    return (-mag if int(word) & 0x8000 else mag), False


def ones_operand(n):
    """The sum jobs' right operand: n x 2 BF16, 1.0 in the first column."""
    ones = np.zeros((n, 2), np.uint16)
    ones[:, 0] = 0x3F80
    return ones


def row_check(sum_word, check_word, frac, tol):
    """The firmware's row check: True when the sum job's word and the checksum job's word agree
    within ``tol`` at ``frac`` (neither bad)."""
    a, bad_a = fixed_word(sum_word, frac)
    c, bad_c = fixed_word(check_word, frac)
    return not (bad_a or bad_c) and abs(a - c) <= tol
