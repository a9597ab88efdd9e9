"""The users' API (api.Accelerator) on the tiny configuration: the RTL backend and the golden
backend give the same bits on random and adversarial inputs (special values, masked rows,
extreme scales, rows and matrices split across jobs, every GELU input), the RTL reports its
cycles, and bad input ends in a ValueError naming the limit or an AcceleratorError carrying the
accelerator's cause."""

import ml_dtypes
import numpy as np
import pytest

from api import GEMM_OPS, SOFTMAX_MODES, Accelerator, AcceleratorError
from api.tensors import as_bits
from sim.golden.softmax import bf16_to_float

pytestmark = pytest.mark.verilator

NAN, INF, NEG_INF = 0x7FC0, 0x7F80, 0xFF80


@pytest.fixture(scope="module")
def rtl():
    with Accelerator("tiny", backend="rtl", stall=0.2, seed=3) as acc:
        yield acc


@pytest.fixture(scope="module")
def golden():
    return Accelerator("tiny", backend="golden")


def _same(rtl, golden, method, *args, **kwargs):
    """Run ``method`` on both backends: the same bits; the RTL's stats have cycles."""
    got, stats = getattr(rtl, method)(*args, **kwargs)
    want, gstats = getattr(golden, method)(*args, **kwargs)
    assert got.dtype == want.dtype and got.shape == want.shape
    bits = np.asarray(got).view(np.uint8)
    assert np.array_equal(bits, np.asarray(want).view(np.uint8)), \
        f"{method}: {int(np.count_nonzero(got.view(np.uint8) != want.view(np.uint8)))} bytes differ"
    assert stats.cycles > 0 and sum(stats.stages.values()) == stats.cycles
    assert stats.jobs == gstats.jobs and gstats.cycles is None
    return got, stats


def _bf16(rng, shape, scale=1.0):
    return np.asarray(as_bits("x", rng.normal(0, scale, shape)).bits)


def test_softmax_random_rows_and_lengths(rtl, golden):
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 7, 37, 256, 1000):
        x = rng.normal(0, 3, (3, n)).astype(np.float32)
        y, _ = _same(rtl, golden, "softmax", x)
        assert y.dtype == np.float32
        assert np.allclose(y.sum(axis=-1), 1, atol=0.02)


def test_softmax_adversarial_rows(rtl, golden):
    rng = np.random.default_rng(2)
    n = 40
    rows = _bf16(rng, (10, n), 4.0)
    rows[0, :] = NEG_INF                          # a fully masked row: zeros
    rows[1, ::3] = NEG_INF                        # masked keys
    rows[2, 5] = NAN
    rows[3, 7] = INF
    rows[4, :] = 0x3F80                           # equal values
    rows[5] = _bf16(rng, n, 1e4)                  # extreme scores: one-hot
    rows[6, :] = 0x0001                           # subnormals
    rows[7] = np.sort(rows[7])                    # increasing (the running max moves every beat)
    rows[8] = np.sort(rows[8])[::-1]
    rows[9, :] = 0xC2F0                           # all -120
    for mode in SOFTMAX_MODES:
        y, _ = _same(rtl, golden, "softmax", rows, mode=mode)
        assert y.dtype == np.uint16
        assert not np.any(y[0]) and not np.any(y[1, ::3])


def test_lut_softmax_split_rows(rtl, golden):
    rng = np.random.default_rng(8)
    for mode in ("lut_a", "lut_b"):
        _, stats = _same(rtl, golden, "softmax", rng.normal(0, 4, (12, 900)), mode=mode)
        assert stats.jobs == 2


def test_softmax_split_across_jobs_and_longest_row(rtl, golden):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (2, 5, 1000))            # 8 rows of 1000 per 16 KiB job: 2 jobs
    _, stats = _same(rtl, golden, "softmax", x)
    assert stats.jobs == 2
    longest = rtl.scratchpad_bytes // 2
    _same(rtl, golden, "softmax", rng.normal(0, 1, longest))
    with pytest.raises(ValueError, match=f"at most {longest} elements"):
        golden.softmax(np.zeros(longest + 1, np.float32))


def test_gelu_every_input(rtl, golden):
    x = np.arange(1 << 16, dtype=np.uint16)        # every BF16 pattern: 8 jobs of 8,192
    _, stats = _same(rtl, golden, "gelu", x)
    assert stats.jobs == 8


def test_matmul_and_gemm_ops(rtl, golden):
    rng = np.random.default_rng(4)
    a, b, c = rng.normal(size=(9, 7)), rng.normal(size=(7, 11)), rng.normal(size=(9, 11))
    z, _ = _same(rtl, golden, "matmul", a, b)
    assert np.allclose(z, a @ b, rtol=0.05, atol=0.05)
    for op in GEMM_OPS:
        _same(rtl, golden, "gemm", a, b, c, op=op)
    _same(rtl, golden, "matmul", a, b, acc="bf16")
    # W_EXP: weights stored scaled by 2^5 read back unscaled, bit for bit; the ends of the range
    stored = b * 32.0
    z_scaled, _ = _same(rtl, golden, "matmul", a, stored, w_exp=-5)
    assert np.array_equal(z_scaled, z)
    for w_exp in (-128, 127):
        _same(rtl, golden, "gemm", a, b, c, w_exp=w_exp)


def test_matmul_adversarial_and_split(rtl, golden):
    rng = np.random.default_rng(5)
    a, b = _bf16(rng, (100, 30)), _bf16(rng, (30, 90))
    a[0, :] = INF
    a[1, 3] = NAN
    a[2, :] = 0x7F7F                              # the largest finite: overflow to inf
    b[:, 4] = 0x0001                              # subnormals
    a[3] = _bf16(rng, 30, 1e30)
    _, stats = _same(rtl, golden, "matmul", a, b)   # 100 x 90 does not fit 16 KiB at once
    assert stats.jobs > 1


def test_faults_in_stored_weights(rtl, golden):
    """RtlBackend.w_faults flips bits of W where it is stored, the same bits in every job that
    reads a word; scaled weights read back with W_EXP; the result is the golden model's on the
    faulty words."""
    rng = np.random.default_rng(8)
    a, b = _bf16(rng, (40, 24)), _bf16(rng, (24, 300), 0.05)
    stored = np.asarray(as_bits("b", bf16_to_float(b) * 2.0 ** 6).bits)
    flips = (rng.random(b.shape) < 0.02).astype(np.uint16) << rng.integers(0, 16, b.shape).astype(
        np.uint16)
    seen = []

    def faults(words, columns):
        seen.append(columns)
        return words ^ flips[:, columns]

    rtl.backend.w_faults = faults
    try:
        z, stats = rtl.matmul(a, stored, w_exp=-6)
    finally:
        rtl.backend.w_faults = None
    want, _ = golden.matmul(a, stored ^ flips, w_exp=-6)
    assert stats.jobs > 1 and len(seen) == stats.jobs
    assert set().union(*(range(300)[c] for c in seen)) == set(range(300))
    assert np.array_equal(z.view(np.uint16), want.view(np.uint16))
    assert not np.array_equal(want, golden.matmul(a, stored, w_exp=-6)[0])


def test_attention_heads(rtl, golden):
    rng = np.random.default_rng(6)
    for seq, d in ((32, 16), (48, 4)):
        q, k, v = (rng.normal(size=(seq, d)).astype(np.float32) for _ in range(3))
        o, stats = _same(rtl, golden, "attention", q, k, v)
        assert set(stats.stages) >= {"qk", "softmax", "pv"}
        assert stats.plan.startswith(f"AttentionShape(seq={seq}, head_dim={d}")
        s = q.astype(np.float64) @ k.T / np.sqrt(d)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        ref = (p / p.sum(axis=1, keepdims=True)) @ v
        assert np.abs(o - ref).max() < 0.05


def _masked_reference(q, k, v, attend):
    s = q.astype(np.float64) @ k.T / np.sqrt(q.shape[1])
    s = np.where(attend, s, -np.inf)
    top = np.max(s, axis=1, keepdims=True)
    p = np.where(attend, np.exp(s - np.where(np.isfinite(top), top, 0)), 0)
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.zeros_like(p), where=total > 0) @ v


def test_attention_causal_and_explicit_masks(rtl, golden):
    rng = np.random.default_rng(9)
    seq, d = 48, 4                                # two query tiles, the second a partial one
    q, k, v = (rng.normal(size=(seq, d)).astype(np.float32) for _ in range(3))
    o, stats = _same(rtl, golden, "attention", q, k, v, causal=True)
    assert np.abs(o - _masked_reference(q, k, v, np.tril(np.ones((seq, seq), bool)))).max() < 0.05
    assert o[0] == pytest.approx(v[0].astype(ml_dtypes.bfloat16).astype(np.float32))
    attend = rng.random((seq, seq)) < 0.6
    attend[5] = False                             # a query that sees no key: zeros
    attend[7] = np.arange(seq) == 40              # one key only: its value row
    o, _ = _same(rtl, golden, "attention", q, k, v, mask=attend)
    assert not np.any(o[5])
    assert np.abs(o - _masked_reference(q, k, v, attend)).max() < 0.05
    plain, _ = golden.attention(q, k, v)
    everything, _ = golden.attention(q, k, v, mask=np.ones((seq, seq), bool))
    assert np.array_equal(plain, everything)


def test_attention_padded_sequence(rtl, golden):
    rng = np.random.default_rng(10)
    seq, d = 30, 4                                # not a multiple of the 4-element alignment
    q, k, v = (rng.normal(size=(seq, d)).astype(np.float32) for _ in range(3))
    attend = rng.random((seq, seq)) < 0.7
    for kwargs, allowed in (({}, np.ones((seq, seq), bool)),
                            ({"causal": True}, np.tri(seq, dtype=bool)),
                            ({"mask": attend}, attend)):
        o, _ = _same(rtl, golden, "attention", q, k, v, **kwargs)
        assert o.shape == (seq, d)
        assert np.abs(o - _masked_reference(q, k, v, allowed)).max() < 0.05


def test_attention_any_head_dimension(rtl, golden):
    rng = np.random.default_rng(11)
    for seq, d in ((32, 8), (16, 6)):        # 1/sqrt(d) not a power of two: Q takes the rest
        q, k, v = (rng.normal(size=(seq, d)).astype(np.float32) for _ in range(3))
        o, _ = _same(rtl, golden, "attention", q, k, v)
        assert np.abs(o - _masked_reference(q, k, v, np.ones((seq, seq), bool))).max() < 0.05


def test_firmware_exit_codes_become_errors():
    from api.backends import _firmware_error
    error = _firmware_error(0x203)
    assert (error.block, error.cause, error.code) == ("softex", "BAD_ALIGN", 3)
    assert _firmware_error(0x101).cause == "BAD_DIM"
    assert _firmware_error(0x400).block == "cluster"


def test_dtypes_round_trip(golden):
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3, (4, 16)).astype(np.float32)
    as_bf16 = x.astype(ml_dtypes.bfloat16)
    # the float -> BF16 rounding is ml_dtypes' (nearest even) on every finite value
    assert np.array_equal(as_bits("x", x).bits, as_bf16.view(np.uint16))
    y_float, _ = golden.softmax(x)
    y_bf16, _ = golden.softmax(as_bf16)
    y_bits, _ = golden.softmax(as_bf16.view(np.uint16))
    assert y_bf16.dtype == ml_dtypes.bfloat16 and y_bits.dtype == np.uint16
    assert np.array_equal(y_bf16.view(np.uint16), y_bits)
    assert np.array_equal(bf16_to_float(y_bits).astype(np.float32), y_float)


def test_bad_input_names_the_limit(golden):
    with pytest.raises(ValueError, match="x must be float16, float32, float64"):
        golden.softmax(np.zeros(4, np.int32))
    with pytest.raises(ValueError, match="x is empty"):
        golden.gelu(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="b must have 3 rows"):
        golden.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="c must be 2 x 2"):
        golden.gemm(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="op must be one of"):
        golden.gemm(np.ones((2, 3)), np.ones((3, 2)), np.ones((2, 2)), op="matmul")
    with pytest.raises(ValueError, match="acc must be one of fp32, bf16"):
        golden.matmul(np.ones((2, 3)), np.ones((3, 2)), acc="fp16")
    with pytest.raises(ValueError, match=r"w_exp must be an integer in -128\.\.127"):
        golden.matmul(np.ones((2, 3)), np.ones((3, 2)), w_exp=128)
    with pytest.raises(ValueError, match="needs at least"):
        golden.attention(*[np.ones((512, 64))] * 3)
    with pytest.raises(ValueError, match="mode must be one of expp, lut_a, lut_b"):
        golden.softmax(np.zeros(4, np.float32), mode="fast")
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(32, 32\)"):
        golden.attention(*[np.ones((32, 4))] * 3, mask=np.ones((32, 16), bool))
    with pytest.raises(ValueError, match="not both"):
        golden.attention(*[np.ones((32, 4))] * 3, causal=True, mask=np.ones((32, 32), bool))
    with pytest.raises(ValueError, match="backend must be one of golden, rtl"):
        Accelerator("tiny", backend="spike")
    with pytest.raises(ValueError, match="K = 9000 is above the tensor unit's 4096"):
        golden.matmul(np.ones((1, 9000)), np.ones((9000, 1)))


def test_accelerator_error_carries_the_cause(rtl):
    with pytest.raises(AcceleratorError, match="BAD_LENGTH") as info:
        rtl.backend.softmax(np.zeros((1, 0), np.uint16), "expp")   # a job the planner never makes
    assert info.value.block == "softex" and info.value.cause == "BAD_LENGTH"
