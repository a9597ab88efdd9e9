# amaranth: UnusedElaboratable=no
"""The tensor unit's golden model (sim/golden/gemm.py) against an independent scalar reference
(sim/golden/exact.py, Python integers) applying the operations in the array's order, and the
geometry / parameter validation."""

import numpy as np
import pytest

from hw.fp.format import BF16, FP32
from hw.tensor.regmap import GEMM_OPS, TensorOp
from sim.golden import exact
from sim.golden.fp import scale as fp_scale
from sim.golden.gemm import gemm

ACC = {"fp32": FP32, "bf16": BF16}


def _data(rng, shape, special):
    v = (rng.standard_normal(shape).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    if special:
        u = rng.random(shape)
        v = np.where(u < 0.1, rng.integers(1, 0x80, size=shape).astype(np.uint16) | 0x8000, v)
        v = np.where((u > 0.1) & (u < 0.13), np.uint16(0x7F80), v)
        v = np.where((u > 0.13) & (u < 0.15), np.uint16(0x8000), v)
        v = np.where((u > 0.15) & (u < 0.16), np.uint16(0xFFC1), v)
    return v.astype(np.uint16)


def _reference(x, w, y, op, acc, w_exp=0):
    af = ACC[acc]
    w = np.vectorize(lambda v: exact.scale(int(v), w_exp, BF16))(w)
    M, K = x.shape
    N = w.shape[1]
    z = np.zeros((M, N), dtype=np.uint16)
    for i in range(M):
        for n in range(N):
            s = (1 << (af.width - 1)) if op == TensorOp.MATMUL else int(y[i, n]) << (af.width - 16)
            for k in range(K):
                a, b = int(x[i, k]), int(w[k, n])
                if op in (TensorOp.MATMUL, TensorOp.GEMM):
                    s = exact.fma(a, b, s, BF16, af)
                    continue
                elem, red = GEMM_OPS[op]
                if elem == "add":
                    r = exact.fma(a, 0x3F80, b << (af.width - 16), BF16, af)
                elif elem == "mul":
                    r = exact.fma(a, b, 1 << (af.width - 1), BF16, af)
                else:
                    r = exact.compare(a, b, BF16)[elem] << (af.width - 16)
                s = exact.compare(s, r, af)[red]
            z[i, n] = exact.convert(s, FP32, BF16) if af.width == 32 else s
    return z


@pytest.mark.parametrize("acc", ["fp32", "bf16"])
@pytest.mark.parametrize("op", list(TensorOp))
@pytest.mark.parametrize("special", [False, True])
def test_golden_matches_exact(acc, op, special):
    rng = np.random.default_rng(int(op) * 7 + special + (acc == "bf16") * 100)
    M, N, K = 3, 5, 9
    x, w, y = _data(rng, (M, K), special), _data(rng, (K, N), special), _data(rng, (M, N), special)
    assert np.array_equal(gemm(x, w, y, op, acc), _reference(x, w, y, op, acc))


@pytest.mark.parametrize("w_exp", [-128, -120, -3, 5, 120, 127])
@pytest.mark.parametrize("acc", ["fp32", "bf16"])
def test_golden_w_exp_matches_exact(w_exp, acc):
    """COMMAND.W_EXP: W read as W * 2^w_exp, every op, special operands."""
    for op in TensorOp:
        rng = np.random.default_rng([int(op), w_exp & 0xFF, acc == "bf16"])
        x, w, y = _data(rng, (3, 9), True), _data(rng, (9, 5), True), _data(rng, (3, 5), True)
        assert np.array_equal(gemm(x, w, y, op, acc, w_exp=w_exp),
                              _reference(x, w, y, op, acc, w_exp))


def test_w_exp_unscales_power_of_two_scaled_weights():
    """Weights stored as W * 2^s and read with W_EXP = -s give the unscaled product bit for bit
    (no value leaves the normal range)."""
    rng = np.random.default_rng(5)
    x, w = _data(rng, (4, 16), False), _data(rng, (16, 6), False)
    for s in (-20, 3, 6):
        stored = np.asarray(fp_scale(w, s), dtype=np.uint16)
        assert np.array_equal(gemm(x, stored, op=TensorOp.MATMUL, w_exp=-s), gemm(x, w))
    with pytest.raises(ValueError, match="w_exp"):
        gemm(x, w, w_exp=128)


def test_golden_matmul_close_to_float():
    rng = np.random.default_rng(1)
    x, w = _data(rng, (8, 40), False), _data(rng, (40, 6), False)
    f = lambda b: (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)  # noqa: E731
    z = f(gemm(x, w))
    ref = f(x) @ f(w)
    assert np.all(np.abs(z - ref) <= np.abs(ref) * 2 ** -7 + 1e-6)


def test_signed_zero_and_nan():
    # all products -0: MATMUL keeps -0 (the -0 initial value is the exact identity)
    x = np.array([[0x8000, 0x0000]], dtype=np.uint16)
    w = np.array([[0x3F80], [0x8000]], dtype=np.uint16)
    assert gemm(x, w)[0, 0] == 0x8000
    x = np.array([[0x7F80, 0x3F80]], dtype=np.uint16)
    w = np.array([[0x0000], [0x3F80]], dtype=np.uint16)
    assert gemm(x, w)[0, 0] == 0x7FC0  # inf * 0 -> canonical NaN


def test_geometry_validation():
    from hw.tensor.geometry import TensorGeometry
    g = TensorGeometry()
    assert (g.L, g.H, g.P, g.D, g.port_width) == (4, 4, 3, 16, 256)
    assert TensorGeometry(24, 8, 3).D == 32
    assert TensorGeometry(12, 4, 3, "bf16").acc_width == 16
    with pytest.raises(ValueError, match=r"rows \(L\) must"):
        TensorGeometry(rows=17, cols=4, pipes=3)
    with pytest.raises(ValueError, match="power of two"):
        TensorGeometry(cols=3, pipes=3)
    with pytest.raises(ValueError, match="power of two"):
        TensorGeometry(cols=4, pipes=2)
    with pytest.raises(ValueError, match="acc"):
        TensorGeometry(acc="fp16")
    with pytest.raises(ValueError, match="P"):
        TensorGeometry(pipes=-1)


def test_unit_parameters():
    from hw.tensor.top import TensorUnit
    u = TensorUnit(mem_base=0x1000, mem_size=4096)
    u.rf._MustUse__silence = True
    assert u.tcdm.signature.data_width == 256
    for kw, name in [(dict(mem_size=8), "mem_size"), (dict(max_dim=0), "max_dim"),
                     (dict(w_depth=1), "w_depth")]:
        with pytest.raises(ValueError, match=name):
            TensorUnit(**kw)


def test_regmap_description():
    from flows.regmaps import markdown
    from hw.tensor.regmap import tensor_map
    rm = tensor_map()
    text = markdown(rm)
    for name in ("X_PTR", "W_STRIDE", "BAD_ALIGN", "COMPUTE_CYCLES", "MIN_MAX"):
        assert name in text


@pytest.mark.parametrize("geometry", [(12, 4, 3, "fp32"), (2, 2, 1, "bf16")])
def test_other_geometries_elaborate(geometry):
    from amaranth.hdl import Fragment
    from hw.tensor.top import TensorUnit
    u = TensorUnit(*geometry)
    Fragment.get(u, None)
    assert u.tcdm.signature.data_width == geometry[1] * (geometry[2] + 1) * 16
