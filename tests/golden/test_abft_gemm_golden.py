"""The checker's GEMM mode in the golden model (sim/golden/abft_gemm.py): references against
exact rational arithmetic, 0 false positives on random and adversarial fault-free jobs, and
the residual a fault leaves."""

from fractions import Fraction

import numpy as np
import pytest

from hw.abft.layout import CAUSES
from hw.fp.format import BF16, FP32
from hw.tensor.regmap import TensorOp
from sim.golden import fp
from sim.golden.abft_gemm import gemm_check, gemm_encode, gemm_verdict
from sim.golden.gemm import gemm


def _bf16(a):
    return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def _exact(bits):
    return Fraction(float((np.asarray(bits, np.uint32) << 16).view(np.float32)))


def _random_job(rng):
    m, k, n = int(rng.integers(1, 129)), int(rng.integers(1, 200)), 2 * int(rng.integers(1, 65))
    kind = rng.integers(4)
    if kind == 0:
        x, w = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    elif kind == 1:                                    # twelve decades of magnitudes
        x = rng.standard_normal((m, k)) * 10.0 ** rng.uniform(-6, 6, size=(m, 1))
        w = rng.standard_normal((k, n)) * 10.0 ** rng.uniform(-6, 6, size=(1, n))
    elif kind == 2:                                    # cancelling products
        x = np.repeat(rng.standard_normal((m, 1)) * 1e3, k, axis=1)
        w = rng.standard_normal((k, n)) * 1e3
        h = k // 2
        w[k - h:] = -w[:h][::-1]
    else:                                              # sparse, with exact zeros and huge values
        x = rng.standard_normal((m, k)) * (rng.random((m, k)) < 0.1) * 2.0 ** 40
        w = rng.standard_normal((k, n)) * (rng.random((k, n)) < 0.1) * 2.0 ** 40
    y = _bf16(rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-3, 3)) if rng.random() < 0.5 \
        else None
    return _bf16(x), _bf16(w), y


def test_references_are_the_exact_sums_rounded():
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, w, y = _random_job(rng)
        x, w = x[:6, :9], w[:9, :8]
        y = None if y is None else y[:6, :8]
        enc = gemm_encode(x, w, y)
        m, n = x.shape[0], w.shape[1]
        z = [[sum(_exact(x[i, k]) * _exact(w[k, j]) for k in range(x.shape[1]))
              + (_exact(y[i, j]) if y is not None else 0) for j in range(n)] for i in range(m)]
        scale = Fraction(2) ** enc.frac
        for i in range(m):
            assert abs(enc.row_refs[i] - sum(z[i]) * scale) <= Fraction(1, 2) + Fraction(1, 2**20)
        for j in range(n):
            col = sum(z[i][j] for i in range(m))
            assert abs(enc.col_refs[j] - col * scale) <= Fraction(1, 2) + Fraction(1, 2**20)


def test_no_false_positives_on_fault_free_jobs():
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(200):
        x, w, y = _random_job(rng)
        op = TensorOp.GEMM if y is not None else TensorOp.MATMUL
        z32 = gemm(x, w, y, op, "fp32", unrounded=True)
        check = gemm_check(gemm_encode(x, w, y), z32)
        assert gemm_verdict(check, fp.convert(z32, FP32, BF16)) == 0
        worst = max(worst, check.margin())
    assert worst < 1


@pytest.mark.parametrize("bit", [16, 20, 23, 25, 30])
def test_a_flipped_accumulator_moves_its_row_and_column(bit):
    rng = np.random.default_rng(bit)
    x, w = _bf16(rng.standard_normal((8, 16))), _bf16(rng.standard_normal((16, 6)))
    z32 = gemm(x, w, None, TensorOp.MATMUL, "fp32", unrounded=True)
    enc = gemm_encode(x, w)
    z32[3, 2] ^= 1 << bit
    check = gemm_check(enc, z32)
    # the row's and the column's residuals move by the same change (their fault-free parts are
    # within tau each), beyond tau: both checks fail (or the term leaves the range)
    if not check.range_bad:
        assert abs(check.row_residual[3] - check.col_residual[2]) <= 2 * enc.tau
        assert check.causes == (1 << CAUSES.index("GEMM_ROW")) | (1 << CAUSES.index("GEMM_COL"))
    assert check.causes != 0


@pytest.mark.parametrize("w_exp", [-100, -3, 5, 60])
def test_w_exp_jobs_are_encoded_as_the_unit_reads_w(w_exp):
    """A job with COMMAND.W_EXP: the references are those of W * 2^W_EXP as the unit rounds it,
    so a fault-free job passes; encoded without W_EXP the same job fails its checks."""
    rng = np.random.default_rng(400 + w_exp)
    x, w = _bf16(rng.standard_normal((8, 16))), _bf16(rng.standard_normal((16, 6)))
    z32 = gemm(x, w, None, TensorOp.MATMUL, "fp32", unrounded=True, w_exp=w_exp)
    check = gemm_check(gemm_encode(x, w, w_exp=w_exp), z32)
    assert gemm_verdict(check, fp.convert(z32, FP32, BF16)) == 0
    try:
        unscaled = gemm_check(gemm_encode(x, w), z32)
    except ValueError:
        return          # the unscaled encoding's position cannot even hold the scaled values
    assert unscaled.causes != 0
    with pytest.raises(ValueError, match="w_exp must be in -128..127"):
        gemm_encode(x, w, w_exp=128)
