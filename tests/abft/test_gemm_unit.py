"""The checker's GEMM mode (ARM_GEMM) alone under the Amaranth simulator against its golden
model (sim/golden/abft_gemm.py): every row and column entry bit for bit at the close, the
report's causes and Z word sums, planted faults in the accumulators, the operands and the
written words, bad descriptors, random stalls on its port."""

import numpy as np
import pytest

from hw.abft.layout import CAUSES, Cause
from hw.tensor.regmap import TensorOp
from sim.golden import abft
from sim.golden.abft_gemm import gemm_check, gemm_encode, gemm_verdict
from sim.golden.gemm import gemm
from sim.golden import fp
from hw.fp.format import BF16, FP32

from .bench import run_gemm, run_jobs, gemm_memory, ADDRS, BASE


def _bf16(a):
    return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def _operands(rng, m, k, n, kind, with_y):
    if kind == "normal":
        x, w = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    elif kind == "scaled":             # magnitudes over twelve decades
        x = rng.standard_normal((m, k)) * 10.0 ** rng.uniform(-6, 6, size=(m, 1))
        w = rng.standard_normal((k, n)) * 10.0 ** rng.uniform(-6, 6, size=(1, n))
    elif kind == "cancelling":         # rows whose products cancel: large terms, tiny sums
        x = np.repeat(rng.standard_normal((m, 1)) * 1e3, k, axis=1)
        w = rng.standard_normal((k, n))
        w[k // 2:] = -w[:k - k // 2][::-1] if k > 1 else w[k // 2:]
        w = w * 1e3
    else:                              # extreme: near the largest bf16 values the sums allow
        x = rng.choice([-1.0, 1.0], size=(m, k)) * 2.0 ** 60
        w = rng.choice([-1.0, 1.0], size=(k, n)) * 2.0 ** 55
    y = _bf16(rng.standard_normal((m, n)) * 100) if with_y else None
    return _bf16(x), _bf16(w), y


def _z(x, w, y):
    op = TensorOp.GEMM if y is not None else TensorOp.MATMUL
    return gemm(x, w, y, op, "fp32", unrounded=True)


def _check(enc, z32, z_words, result):
    """The unit's report and its entries at the close against the golden model."""
    gold = gemm_check(enc, z32)
    want = gemm_verdict(gold, z_words)
    rep = result["report"]
    assert result["arm_error"] == 0
    assert rep["closes"] == 1
    assert rep["tiles"][0]["causes"] == want
    assert rep["causes"] == want
    assert result["error"] == (Cause.CHECK_FAILED if want else 0)
    assert rep["tiles"][0]["written"] == gold.written
    assert rep["tiles"][0]["residual"] == abft.signature(z_words) - gold.written
    (snap,) = result["closes"]
    mg = result["max_gemm"]
    m, n = z32.shape
    assert [abft.wrap(snap[i]) for i in range(m)] == list(gold.row_residual)
    assert [abft.wrap(snap[mg + j]) for j in range(n)] == list(gold.col_residual)
    return want


@pytest.mark.parametrize("m, k, n, kind, with_y, stall", [
    (5, 7, 6, "normal", False, 0.0),
    (16, 24, 12, "scaled", True, 0.3),
    (9, 16, 8, "cancelling", False, 0.2),
    (4, 6, 4, "extreme", True, 0.2),
    (64, 8, 64, "normal", True, 0.1),
])
def test_fault_free_gemms_match_the_golden_model(m, k, n, kind, with_y, stall):
    rng = np.random.default_rng(m * 1000 + k)
    x, w, y = _operands(rng, m, k, n, kind, with_y)
    enc = gemm_encode(x, w, y)
    z32 = _z(x, w, y)
    z16 = fp.convert(z32, FP32, BF16)
    result = run_gemm(enc, z32, z16, stall=stall, seed=m)
    assert _check(enc, z32, z16, result) == 0


@pytest.fixture(scope="module")
def job():
    rng = np.random.default_rng(5)
    x, w, y = _operands(rng, 12, 20, 10, "normal", True)
    z32 = _z(x, w, y)
    return x, w, y, gemm_encode(x, w, y), z32, fp.convert(z32, FP32, BF16)


def _bits(*names):
    return sum(1 << CAUSES.index(n) for n in names)


def test_a_flipped_accumulator_fails_its_row_and_column(job):
    x, w, y, enc, z32, z16 = job
    bad = z32.copy()
    bad[7, 3] ^= 1 << 20                       # a significand bit: far beyond the threshold
    result = run_gemm(enc, bad, fp.convert(bad, FP32, BF16), seed=2)
    assert _check(enc, bad, fp.convert(bad, FP32, BF16), result) == _bits("GEMM_ROW",
                                                                          "GEMM_COL")


def test_a_corrupted_operand_is_seen(job):
    """An X element read wrong by the array: a whole row of Z moves, the columns too."""
    x, w, y, enc, z32, z16 = job
    x_bad = x.copy()
    x_bad[4, 11] ^= 1 << 12
    bad = _z(x_bad, w, y)
    result = run_gemm(enc, bad, fp.convert(bad, FP32, BF16), seed=3)
    assert _check(enc, bad, fp.convert(bad, FP32, BF16), result) & _bits("GEMM_ROW")


def test_a_corrupted_z_word_is_located(job):
    x, w, y, enc, z32, z16 = job
    z_bad = z16.copy()
    z_bad[9, 5] ^= 0x0080
    result = run_gemm(enc, z32, z_bad, seed=4)
    assert _check(enc, z32, z_bad, result) == _bits("O_SIGNATURE")
    tile = result["report"]["tiles"][0]
    got = abft.Signature(*((a + b) & abft.WORD_MASK for a, b in zip(
        tile["written"].astuple(), tile["residual"].astuple())))
    assert abft.locate(tile["written"], got, 12, 10) == (9, 5, int(z_bad[9, 5]) - int(z16[9, 5]))


def test_an_infinite_accumulator_is_out_of_range(job):
    x, w, y, enc, z32, z16 = job
    bad = z32.copy()
    bad[0, 0] = 0x7F80_0000
    result = run_gemm(enc, bad, fp.convert(bad, FP32, BF16), seed=6)
    assert _check(enc, bad, fp.convert(bad, FP32, BF16), result) & _bits("RANGE")


@pytest.mark.parametrize("changes", [
    {"SEQ_DIM": 65 | 10 << 16},                # M above the bench unit's GEMM limit (64)
    {"SEQ_DIM": 12 | 65 << 16},                # N above it
    {"SEQ_DIM": 12 | 9 << 16},                 # N odd
    {"ROWS_TILES": 12 | 2 << 16},              # more than one tile
])
def test_bad_gemm_descriptors_are_refused(job, changes):
    x, w, y, enc, z32, z16 = job
    memory = gemm_memory(enc, z16, 32, changes=changes)
    assert run_jobs([dict(COMMAND={"OP": 3}, DESC_ADDR=BASE + ADDRS["desc"])],
                    memory=memory) == [Cause.BAD_DESC]


def test_the_encoder_refuses_what_the_checker_cannot_hold():
    x = np.zeros((129, 4), np.uint16)
    with pytest.raises(ValueError, match="rows M = 129"):
        gemm_encode(x, np.zeros((4, 8), np.uint16))
    with pytest.raises(ValueError, match="columns N = 7 must be even"):
        gemm_encode(np.zeros((3, 4), np.uint16), np.zeros((4, 7), np.uint16))
