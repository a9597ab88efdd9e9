"""Bit-exact golden model of the tensor unit (hw/tensor): the FMAs in the array's order.

Every output Z[i, n] is one partial sum that travels the ring of its row: it starts from the
initial value (Y[i, n] widened exactly to the accumulation format, or -0 for MATMUL, the exact
additive identity) and receives the terms k = 0, 1, ..., K-1 in order, one FMA (one rounding to
the accumulation format) each. CEs past K in the last pass pass the partial sum through, so
there are no padding terms. With ``acc="fp32"`` the final value is rounded once to bf16; with
``acc="bf16"`` every FMA already rounds to bf16 (RedMulE's chain).

GEMM-ops (``Z = Y (+)_k (X[i,k] (x) W[k,n])``) use the same FMA unit for the element op --
``x + w = fma(x, 1, w)``, ``x * w = fma(x, w, -0)``, ``max/min(x, w) = fma(-0, +0, m)`` (exact) --
then IEEE 754-2019 maximum/minimum (NaN-propagating, -0 < +0) in the accumulation format.

All arrays are bit patterns (np.uint16 for bf16, np.uint32 for fp32).
"""

import numpy as np

from hw.fp.format import BF16, FP32
from hw.tensor.regmap import GEMM_OPS, W_EXP_BITS, TensorOp

from . import fp

__all__ = ["gemm", "gemm_float", "scaled_w", "ACC"]

ACC = {"fp32": FP32, "bf16": BF16}


def _widen(bits16, af):
    bits16 = np.asarray(bits16, dtype=np.uint32)
    return (bits16 << 16).astype(np.uint32) if af.width == 32 else bits16.astype(np.uint16)


def scaled_w(w, w_exp):
    """W as the unit reads it: W * 2^w_exp (COMMAND.W_EXP), rounded once per value."""
    w_exp = int(w_exp)
    if not -(1 << (W_EXP_BITS - 1)) <= w_exp < (1 << (W_EXP_BITS - 1)):
        raise ValueError(f"w_exp must be in -{1 << (W_EXP_BITS - 1)}.."
                         f"{(1 << (W_EXP_BITS - 1)) - 1}, got {w_exp}")
    w = np.asarray(w, dtype=np.uint16)
    return fp.scale(w, w_exp, BF16) if w_exp else w


def gemm(x, w, y=None, op=TensorOp.MATMUL, acc="fp32", *, unrounded=False, w_exp=0):
    """Z (bf16 bits, M x N) for X (M x K), W (K x N), Y (M x N; ignored by MATMUL).

    ``w_exp``: COMMAND.W_EXP, W read as W * 2^w_exp (:func:`sim.golden.fp.scale`).

    ``unrounded``: return the accumulators before the final rounding instead (fp32 bits,
    ``np.uint32``, with ``acc="fp32"``): what the array hands to its BF16 output converter, and
    what the Flash-ABFT checker observes (:mod:`sim.golden.abft`)."""
    if unrounded and acc != "fp32":
        raise ValueError(f"unrounded accumulators exist with acc='fp32' only, got acc={acc!r}")
    af = ACC[acc]
    op = TensorOp(op)
    x = np.asarray(x, dtype=np.uint16)
    w = scaled_w(w, w_exp)
    M, K = x.shape
    K2, N = w.shape
    if K2 != K:
        raise ValueError(f"X is {M}x{K} but W is {K2}x{N}")
    if op == TensorOp.MATMUL:
        state = np.full((M, N), 1 << (af.width - 1), dtype=np.uint32 if af.width == 32 else np.uint16)
    else:
        y = np.asarray(y, dtype=np.uint16)
        if y.shape != (M, N):
            raise ValueError(f"Y must be {M}x{N}, got {y.shape}")
        state = _widen(y, af)
    neg_zero = 1 << (af.width - 1)
    elem, red = GEMM_OPS.get(op, (None, None))
    for k in range(K):
        xk = np.broadcast_to(x[:, k][:, None], (M, N))
        wk = np.broadcast_to(w[k, :][None, :], (M, N))
        if elem is None:
            state = fp.fma(xk, wk, state, BF16, af)
            continue
        if elem == "add":
            r = fp.fma(xk, np.uint16(0x3F80), _widen(wk, af), BF16, af)
        elif elem == "mul":
            r = fp.fma(xk, wk, neg_zero, BF16, af)
        else:
            mm = fp.compare(xk, wk, BF16)[elem]
            r = fp.fma(np.uint16(0x8000), np.uint16(0), _widen(mm, af), BF16, af)
        state = fp.compare(state, r, af)[red]
    if unrounded:
        return np.asarray(state, dtype=np.uint32)
    if af.width == 32:
        return fp.convert(state, FP32, BF16)
    return np.asarray(state, dtype=np.uint16)


def gemm_float(x, w, y=None, op=TensorOp.MATMUL, acc="fp32", *, w_exp=0):
    """:func:`gemm` for MATMUL and GEMM, bit for bit, in numpy floating point (fast enough for a
    whole network): each FMA ``state + x w`` is formed in float64, where the product of two
    bf16 values is exact and so is the sum unless one term is below 2^-29 of the other's last
    bit (then both roundings below give the same result), and rounded once to the accumulation
    format (a cast to float32, or :func:`_round_to_bf16`); the final rounding to bf16 is
    :func:`fp.convert`. NaN results are the canonical NaN, as :func:`gemm`'s. Leading axes of
    X and W (broadcast) are independent jobs, e.g. the heads of an attention layer.
    ``w_exp`` as :func:`gemm`'s. ``tests/golden/test_gemm_float.py`` checks it against
    :func:`gemm`."""
    from .softmax import bf16_to_float, float_to_bf16
    op = TensorOp(op)
    if op not in (TensorOp.MATMUL, TensorOp.GEMM):
        raise ValueError(f"op must be MATMUL or GEMM, got {op.name}")
    if acc not in ACC:
        raise ValueError(f"acc must be one of {', '.join(ACC)}, got {acc!r}")
    xf, wf = bf16_to_float(x), bf16_to_float(scaled_w(w, w_exp))
    (M, K), (K2, N) = xf.shape[-2:], wf.shape[-2:]
    if K2 != K:
        raise ValueError(f"X is {M}x{K} but W is {K2}x{N}")
    lead = np.broadcast_shapes(xf.shape[:-2], wf.shape[:-2])
    if op == TensorOp.MATMUL:
        state = np.full(lead + (M, N), -0.0)
    else:
        state = np.broadcast_to(bf16_to_float(y), lead + (M, N)).copy()
        if np.shape(y)[-2:] != (M, N):
            raise ValueError(f"Y must be {M}x{N}, got {np.shape(y)}")
    with np.errstate(invalid="ignore", over="ignore"):
        if acc == "fp32" and _products_exact_in_fp32(xf, wf):
            # every product is exact in float32: a float32 addition is the FMA's one rounding
            x32, w32, state = xf.astype(np.float32), wf.astype(np.float32), state.astype(np.float32)
            for k in range(K):
                state = state + x32[..., :, k, None] * w32[..., None, k, :]
        for k in range(K if state.dtype == np.float64 else 0):
            total = state + xf[..., :, k, None] * wf[..., None, k, :]
            if acc == "fp32":
                state = total.astype(np.float32).astype(np.float64)
            else:
                state = _round_to_bf16(total)
        if acc == "fp32":
            bits = state.astype(np.float32).view(np.uint32)
            return _fp32_to_bf16(bits)
        return np.asarray(float_to_bf16(state), dtype=np.uint16)


def _round_to_bf16(v):
    """float64 ``v`` rounded once to the nearest bf16 value (ties to even), as float64. In bf16's
    normal range this is the float64 pattern cut to 7 fraction bits: adding 2^44 - 1 plus the
    kept LSB and clearing the low 45 bits rounds to nearest even, a carry moving into the
    exponent; zeros keep their sign. Below 2^-126 (bf16's subnormals, quantum 2^-133) and for
    NaN, :func:`_round_to_bf16_by_quantum`. A result at 2^128 or beyond is infinite. The same
    as the exact converter (:func:`sim.golden.softmax.float_to_bf16`), checked in
    ``tests/golden/test_gemm_float.py``."""
    v = np.asarray(v, dtype=np.float64)
    shape = v.shape
    v = v.reshape(-1)
    bits = v.view(np.uint64)
    rounded = (bits >> np.uint64(45)) & np.uint64(1)
    rounded += bits
    rounded += np.uint64((1 << 44) - 1)
    rounded &= np.uint64(((1 << 64) - 1) ^ ((1 << 45) - 1))
    rounded = rounded.view(np.float64)
    with np.errstate(invalid="ignore"):
        slow = ~(np.abs(v) >= 2.0 ** -126) & (v != 0)     # bf16's subnormal range or NaN
    if slow.any():
        rounded[slow] = _round_to_bf16_by_quantum(v[slow])
    with np.errstate(invalid="ignore"):
        over = np.abs(rounded) >= 2.0 ** 128
    if over.any():
        rounded[over] = np.copysign(np.inf, v[over])
    return rounded.reshape(shape)


def _round_to_bf16_by_quantum(v):
    """:func:`_round_to_bf16` for any float64: the quantum is 2^(e - 8) for |v| in
    [2^(e-1), 2^e), never below bf16's subnormal step 2^-133; scaling by a power of two is
    exact, so ``np.rint`` (ties to even) does the rounding. inf and NaN pass through."""
    _, e = np.frexp(v)
    quantum = np.ldexp(1.0, np.maximum(e, -125) - 8)
    with np.errstate(invalid="ignore"):
        return np.rint(v / quantum) * quantum


def _fp32_to_bf16(bits):
    """:func:`fp.convert` from FP32 to BF16 on the bit patterns, vectorised the short way:
    round to nearest even is adding 0x7FFF plus the kept LSB and dropping the low half, which
    also gives inf on overflow and rounds subnormals right; NaN becomes the canonical NaN."""
    b = np.asarray(bits, dtype=np.uint32)
    rounded = ((b.astype(np.uint64) + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where((b & 0x7FFFFFFF) > 0x7F800000, np.uint16(BF16.qnan), rounded)


def _products_exact_in_fp32(xf, wf):
    """Whether every product of an element of ``xf`` and one of ``wf`` (bf16 values) is exact in
    float32: all finite, no product at or above 2^127, none (but zeros) below 2^-133 (a bf16
    product has 16 significant bits; its last one is then at 2^-149 or above)."""
    if not (np.isfinite(xf).all() and np.isfinite(wf).all()):
        return False
    ax, aw = np.abs(xf), np.abs(wf)
    if not ax.any() or not aw.any():
        return True
    small = ax[ax > 0].min() * aw[aw > 0].min()
    return small >= 2.0 ** -133 and ax.max() * aw.max() < 2.0 ** 127
