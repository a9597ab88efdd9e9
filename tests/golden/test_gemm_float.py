"""sim.golden.gemm.gemm_float (numpy floating point, for whole networks) against the integer
golden model of the tensor unit, bit for bit: random operands of several scales, and the
adversarial ones (the float32 path's limits: products near 2^-133 and 2^127; subnormal products, cancellation to zero and signed zeros, overflow to
infinity, infinities and NaN, long K with a large partial sum and tiny terms), both
accumulation formats, MATMUL and GEMM."""

import numpy as np
import pytest

from hw.tensor.regmap import TensorOp
from sim.golden.gemm import gemm, gemm_float
from sim.golden.softmax import float_to_bf16


def _bf16(values):
    return np.asarray(float_to_bf16(np.asarray(values, dtype=np.float64).ravel()),
                      np.uint16).reshape(np.shape(values))


def _operands(rng, m, k, n, scale):
    return (_bf16(rng.normal(0, scale, (m, k))), _bf16(rng.normal(0, scale, (k, n))),
            _bf16(rng.normal(0, scale, (m, n))))


@pytest.mark.parametrize("acc", ["fp32", "bf16"])
@pytest.mark.parametrize("scale", [1.0, 1e-20, 1e-38, 1e18, 1e-22])
def test_random(acc, scale):
    rng = np.random.default_rng(int(abs(np.log10(scale))) + 3)
    x, w, y = _operands(rng, 9, 64, 13, scale)
    for op in (TensorOp.MATMUL, TensorOp.GEMM):
        assert np.array_equal(gemm_float(x, w, y, op, acc), gemm(x, w, y, op, acc)), (op, scale)


def test_fp32_to_bf16_is_the_converter():
    from sim.golden import fp
    from sim.golden.gemm import _fp32_to_bf16
    rng = np.random.default_rng(11)
    bits = np.concatenate([rng.integers(0, 1 << 32, 2_000_000, dtype=np.uint64),
                           np.arange(1 << 16, dtype=np.uint64) << 16,
                           (np.arange(1 << 16, dtype=np.uint64) << 16) | 0x8000,
                           (np.arange(1 << 16, dtype=np.uint64) << 16) | 0x7FFF,
                           (np.arange(1 << 16, dtype=np.uint64) << 16) | 0x8001]).astype(np.uint32)
    assert np.array_equal(_fp32_to_bf16(bits), fp.convert(bits, "fp32", "bf16"))


@pytest.mark.parametrize("acc", ["fp32", "bf16"])
@pytest.mark.parametrize("w_exp", [-128, -40, 7, 127])
def test_w_exp(acc, w_exp):
    """COMMAND.W_EXP, including W pushed to subnormals and to infinity."""
    rng = np.random.default_rng(w_exp & 0xFF)
    x, w, y = _operands(rng, 5, 40, 7, 1e-3)
    for op in (TensorOp.MATMUL, TensorOp.GEMM):
        assert np.array_equal(gemm_float(x, w, y, op, acc, w_exp=w_exp),
                              gemm(x, w, y, op, acc, w_exp=w_exp)), (op, w_exp)


@pytest.mark.parametrize("acc", ["fp32", "bf16"])
def test_adversarial(acc):
    rng = np.random.default_rng(11)
    m, k, n = 8, 40, 12
    x, w, y = _operands(rng, m, k, n, 1.0)
    x[0] = 0x0001                                 # subnormal x subnormal: products underflow
    w[:, 1] = 0x0080                              # smallest normal
    x[1, :20], x[1, 20:] = 0x3F80, 0xBF80         # cancellation: exact zero, signed zeros
    w[:, 2] = 0x3F80
    x[2, 0] = 0x7F7F                              # the largest finite: overflow to inf
    w[0, 3] = 0x7F7F
    x[3, 5] = 0x7F80                              # inf, and inf - inf = NaN
    x[3, 6] = 0xFF80
    x[4, 7] = 0x7FC1                              # a NaN operand
    x[5, 0], x[5, 1:] = 0x5F00, 0x2000            # a large partial sum, then tiny terms
    x[6] = 0x8000                                 # -0 rows: the sign of the zero result
    y[6] = 0x8000
    y[7, :] = 0x0000
    for op in (TensorOp.MATMUL, TensorOp.GEMM):
        assert np.array_equal(gemm_float(x, w, y, op, acc), gemm(x, w, y, op, acc)), op


def test_long_sums():
    rng = np.random.default_rng(12)
    x, w, y = _operands(rng, 4, 1536, 8, 1.0)
    for acc in ("fp32", "bf16"):
        assert np.array_equal(gemm_float(x, w, None, TensorOp.MATMUL, acc),
                              gemm(x, w, None, TensorOp.MATMUL, acc))


def test_only_matmul_and_gemm():
    with pytest.raises(ValueError, match="op must be MATMUL or GEMM"):
        gemm_float(np.zeros((1, 1), np.uint16), np.zeros((1, 1), np.uint16),
                   op=TensorOp.ADD_MAX)


def test_leading_axes_are_independent_jobs():
    rng = np.random.default_rng(13)
    x = _bf16(rng.normal(size=(3, 5, 16)))
    w = _bf16(rng.normal(size=(3, 16, 7)))
    got = gemm_float(x, w)
    for i in range(3):
        assert np.array_equal(got[i], gemm(x[i], w[i]))


def test_float32_path_at_its_limits():
    """Operands whose products just reach or just miss the float32 path's exactness bounds."""
    for lo in (2.0 ** -67, 2.0 ** -66.5, 2.0 ** -66):
        x = _bf16(np.full((2, 8), lo) * np.arange(1, 17).reshape(2, 8))
        w = _bf16(np.full((8, 3), lo) * np.linspace(1, 1.9, 24).reshape(8, 3))
        assert np.array_equal(gemm_float(x, w), gemm(x, w)), lo
    big = _bf16(np.full((2, 4), 2.0 ** 63.5))
    assert np.array_equal(gemm_float(big, big.T.copy()), gemm(big, big.T.copy()))


def test_round_to_bf16_is_the_converter():
    """The bf16 accumulator's rounding on float64 sums: random patterns across and beyond bf16's
    range, every bf16 value, the midpoints between neighbours (ties) and a hair either side,
    the subnormal and overflow edges, zeros, infinities and NaN."""
    from sim.golden.gemm import _round_to_bf16
    from sim.golden.softmax import bf16_to_float
    rng = np.random.default_rng(12)
    every = bf16_to_float(np.arange(1 << 16, dtype=np.uint16))
    finite = every[np.isfinite(every)]
    up = bf16_to_float(np.arange(1, 1 << 16, dtype=np.uint16))
    low = bf16_to_float(np.arange(0, (1 << 16) - 1, dtype=np.uint16))
    pairs = np.isfinite(up) & np.isfinite(low) & (np.sign(up) == np.sign(low))
    mid = (up[pairs] + low[pairs]) / 2
    values = np.concatenate([
        every, mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
        np.ldexp(rng.uniform(-1, 1, 1_000_000), rng.integers(-150, 140, 1_000_000)),
        finite * (1 + rng.uniform(-2 ** -7, 2 ** -7, finite.size)),
        [2.0 ** 128, -2.0 ** 128, (2 - 2 ** -8) * 2.0 ** 127, -(2 - 2 ** -8) * 2.0 ** 127,
         np.nextafter((2 - 2 ** -8) * 2.0 ** 127, 0), 2.0 ** -134, -2.0 ** -134,
         np.nextafter(2.0 ** -134, 1), 3 * 2.0 ** -134, 2.0 ** -300, -0.0, 0.0, 1e300]])
    got = _round_to_bf16(values)
    want = bf16_to_float(float_to_bf16(values))
    assert np.array_equal(got, want, equal_nan=True)
    numbers = ~np.isnan(want)  # NaN's sign is the final converter's business (canonical NaN)
    assert np.array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))


def test_round_to_bf16_paths_agree():
    """The bit-pattern path and the quantum path give the same values wherever both apply."""
    from sim.golden.gemm import _round_to_bf16, _round_to_bf16_by_quantum
    rng = np.random.default_rng(13)
    v = np.ldexp(rng.uniform(-1, 1, 500_000), rng.integers(-140, 132, 500_000))
    fast = _round_to_bf16(v)
    slow = _round_to_bf16_by_quantum(v)
    slow = np.where(np.abs(slow) >= 2.0 ** 128, np.copysign(np.inf, v), slow)
    assert np.array_equal(fast, slow)
