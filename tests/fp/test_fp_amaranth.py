# amaranth: UnusedElaboratable=no
"""RTL of the floating-point library (hw/fp) against the golden models (sim/golden/fp.py).

Two kinds of test per operator:

- bulk: corner values (all pairs for binary ops) and a few thousand biased random operands
  through the combinational (latency 0) datapath, bit-exact against the golden model;
- stream: a few hundred operands through a pipelined instance (latency > 1, and latency 0)
  with random ``i.valid`` gaps and ``o.ready`` stalls, checking in-order delivery, the
  lib.stream hold rule and bit-exact results.

Larger sweeps are run under Verilator; this file stays well under two minutes.
"""


import numpy as np
import pytest
from amaranth import Value
from amaranth.back import verilog
from amaranth.sim import Simulator
from amaranth.utils import bits_for

from hw.fp import (BF16, FP32, FPAdd, FPCompare, FPConvert, FPFMA, FPMul, FPScale, FloatToInt,
                   IntToFloat)
from sim.golden import fp as golden
from sim.golden import vectors
from sim.amaranth_stream import run_stream

N_RANDOM = 3000   # random operands per bulk test
N_STREAM = 600    # operands per stream test


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def pack(layout, fields):
    """Raw integers of a StructLayout from a dict of equal-length arrays (python ints: the
    FMA operand is 66 bits wide)."""
    names = list(fields)
    n = len(fields[names[0]])
    cols = [[int(v) for v in np.asarray(fields[k]).ravel()] for k in names]
    out = []
    for i in range(n):
        raw = 0
        for name, col in zip(names, cols):
            f = layout[name]
            raw |= (col[i] & ((1 << f.width) - 1)) << f.offset
        out.append(raw)
    return out


def fields_text(layout, raw):
    return ", ".join(f"{name}={(raw >> f.offset) & ((1 << f.width) - 1):#x}"
                     for name, f in layout)


def check(dut, operands, got, expected):
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    if bad:
        lines = [f"{len(bad)} of {len(expected)} results differ, first ones:"]
        for i in bad[:8]:
            lines.append(f"  {fields_text(dut.operand_layout, operands[i])}: "
                         f"got {got[i]:#x}, expected {expected[i]:#x}")
        pytest.fail("\n".join(lines))


def run_comb(dut, operands):
    """Results of the latency-0 datapath: set each operand and read the settled output."""
    assert dut.latency == 0
    results = []

    async def testbench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        payload_in, payload_out = Value.cast(dut.i.payload), Value.cast(dut.o.payload)
        for raw in operands:
            ctx.set(payload_in, raw)
            assert ctx.get(dut.o.valid) and ctx.get(dut.i.ready)
            results.append(ctx.get(payload_out))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    return results


def ints(a):
    return [int(v) for v in np.asarray(a).ravel()]


# --------------------------------------------------------------------------------------------
# Operand sets and expected results, one function per operator
# --------------------------------------------------------------------------------------------

def add_case(fmt, n_random, rng):
    ca, cb = vectors.corner_pairs(fmt)
    ra, rb, rsub = vectors.add_operands(rng, n_random, fmt)
    a = np.concatenate([ca, ra])
    b = np.concatenate([cb, rb])
    sub = np.concatenate([rng.integers(0, 2, len(ca)), rsub])
    return {"a": a, "b": b, "sub": sub}, ints(golden.add(a, b, fmt, sub))


def mul_case(fmt, n_random, rng):
    ca, cb = vectors.corner_pairs(fmt)
    ra, rb = vectors.mul_operands(rng, n_random, fmt)
    a, b = np.concatenate([ca, ra]), np.concatenate([cb, rb])
    return {"a": a, "b": b}, ints(golden.mul(a, b, fmt))


def fma_case(acc_fmt, n_random, rng, mul_fmt=BF16):
    # Every corner pair (a, b) with a corner c cycling through its list, and every corner c
    # against random corner pairs: each corner value meets each slot, without all triples.
    va = np.array(vectors.corner_values(mul_fmt))
    vc = np.array(vectors.corner_values(acc_fmt))
    ca, cb = vectors.corner_pairs(mul_fmt)
    cc = vc[np.arange(len(ca)) % len(vc)]
    ka = va[rng.integers(0, len(va), 4 * len(vc))]
    kb = va[rng.integers(0, len(va), 4 * len(vc))]
    kc = np.repeat(vc, 4)
    ra, rb, rc, rna, rnc = vectors.fma_operands(rng, n_random, mul_fmt, acc_fmt)
    a = np.concatenate([ca, ka, ra]).astype(np.int64)
    b = np.concatenate([cb, kb, rb]).astype(np.int64)
    c = np.concatenate([cc, kc, rc]).astype(np.int64)
    n_corner = len(ca) + len(ka)
    neg_ab = np.concatenate([rng.integers(0, 2, n_corner), rna])
    neg_c = np.concatenate([rng.integers(0, 2, n_corner), rnc])
    expected = golden.fma(a, b, c, mul_fmt, acc_fmt, neg_ab, neg_c)
    return {"a": a, "b": b, "c": c, "neg_ab": neg_ab, "neg_c": neg_c}, ints(expected)


def fma_mixed_case(acc_fmt, n_random, rng):
    """FPFMA(acc_fmt, mul_fmt=FP32, b_fmt=BF16): the fp32 cases of :func:`fma_case` with b
    replaced by bf16 corners (each against every kind of a and c) and random bf16 operands;
    expected: the fp32 FMA with b converted exactly (its pattern shifted up 16 bits)."""
    fields, _ = fma_case(acc_fmt, n_random, rng, mul_fmt=FP32)
    n = len(fields["a"])
    vb = np.array(vectors.corner_values(BF16))
    _, rb, _, _, _ = vectors.fma_operands(rng, n - n // 2, BF16, acc_fmt)
    b = np.concatenate([vb[rng.permutation(n // 2) % len(vb)], rb]).astype(np.int64)
    expected = golden.fma(fields["a"], b << 16, fields["c"], FP32, acc_fmt, fields["neg_ab"],
                          fields["neg_c"])
    return dict(fields, b=b), ints(expected)


def compare_case(fmt, n_random, rng):
    ca, cb = vectors.corner_pairs(fmt)
    ra, rb = vectors.random_pairs(rng, n_random, fmt)
    a, b = np.concatenate([ca, ra]), np.concatenate([cb, rb])
    g = golden.compare(a, b, fmt)
    w = fmt.width
    expected = [int(mn) | int(mx) << w | int(lt) << 2 * w | int(eq) << (2 * w + 1)
                | int(gt) << (2 * w + 2) | int(un) << (2 * w + 3)
                for mn, mx, lt, eq, gt, un in zip(g["min"], g["max"], g["lt"], g["eq"], g["gt"],
                                                  g["unordered"])]
    return {"a": a, "b": b}, expected


def convert_case(src, dst, n_random, rng):
    x = np.concatenate([np.array(vectors.corner_values(src)),
                        vectors.convert_operands(rng, n_random, src, dst)])
    return {"x": x}, ints(golden.convert(x, src, dst))


def scale_case(fmt, exp_width, n_random, rng):
    """Every corner value under the extreme and near-edge exponents, then random values with
    random exponents, half of them aimed at the subnormal and overflow edges."""
    lo, hi = -(1 << (exp_width - 1)), (1 << (exp_width - 1)) - 1
    edges = sorted({lo, lo + 1, -fmt.precision - 1, -fmt.precision, -1, 0, 1, fmt.precision,
                    hi - 1, hi} & set(range(lo, hi + 1)))
    corners = np.array(vectors.corner_values(fmt))
    cx, ce = np.repeat(corners, len(edges)), np.tile(edges, len(corners))
    rx = vectors.random_bits(rng, n_random, fmt).astype(np.int64)
    re = rng.integers(lo, hi + 1, n_random)
    near = rng.random(n_random) < 0.5
    field = (rx >> fmt.frac_bits) & fmt.exp_max
    re = np.where(near, np.clip(np.where(rng.random(n_random) < 0.5, -field, fmt.exp_max - field)
                                + rng.integers(-fmt.precision - 2, 3, n_random), lo, hi), re)
    x, e = np.concatenate([cx, rx]), np.concatenate([ce, re])
    return {"x": x, "e": e}, ints(golden.scale(x, e, fmt))


def int_to_float_case(width, n_random, rng):
    code_bits = bits_for(width)
    if (1 << width) * (1 << code_bits) * 2 <= 16384:  # small widths: exhaustive
        q, ib, sg = np.meshgrid(np.arange(1 << width), np.arange(1 << code_bits), np.arange(2))
        q, ib, sg = q.ravel(), ib.ravel(), sg.ravel()
    else:
        edges = np.array([0, 1, 2, (1 << (width - 1)) - 1, 1 << (width - 1),
                          (1 << (width - 1)) + 1, (1 << width) - 1, (1 << width) - 2])
        q = np.concatenate([np.repeat(edges, 2 << code_bits),
                            rng.integers(0, 1 << width, n_random)])
        ib = np.concatenate([np.tile(np.arange(1 << code_bits), 2 * len(edges)),
                             rng.integers(0, 1 << code_bits, n_random)])
        sg = np.concatenate([np.tile(np.repeat([0, 1], 1 << code_bits), len(edges)),
                             rng.integers(0, 2, n_random)])
    return ({"q": q, "int_bits": ib, "signed": sg},
            ints(golden.int_to_float(q, width, ib, sg, BF16)))


def float_to_int_case(width, n_random, rng):
    code_bits = bits_for(width)
    corners = np.array(vectors.corner_values(BF16))
    # Corner values under every (int_bits, signed), then random values whose exponents make
    # x * 2^F land around the integer range (rounding and saturation edges).
    cx = np.repeat(corners, 2 << code_bits)
    cib = np.tile(np.arange(1 << code_bits), 2 * len(corners))
    csg = np.tile(np.repeat([0, 1], 1 << code_bits), len(corners))
    rx = vectors.random_bits(rng, n_random, BF16).astype(np.int64)
    rib = rng.integers(0, 1 << code_bits, n_random)
    rsg = rng.integers(0, 2, n_random)
    near = rng.random(n_random) < 0.7
    exp_field = BF16.bias - (width - rsg - rib) + rng.integers(-3, width + 3, n_random)
    rx = np.where(near, (rx & 0x807F) | (np.clip(exp_field, 0, 254) << 7), rx)
    x, ib, sg = np.concatenate([cx, rx]), np.concatenate([cib, rib]), np.concatenate([csg, rsg])
    return ({"x": x, "int_bits": ib, "signed": sg},
            ints(golden.float_to_int(x, width, ib, sg, BF16)))


# name -> (constructor taking latency, case builder taking (n_random, rng))
OPS = {
    "add_bf16":      (lambda lat: FPAdd(BF16, latency=lat), lambda n, r: add_case(BF16, n, r)),
    "add_fp32":      (lambda lat: FPAdd(FP32, latency=lat), lambda n, r: add_case(FP32, n // 3, r)),
    "mul_bf16":      (lambda lat: FPMul(BF16, latency=lat), lambda n, r: mul_case(BF16, n, r)),
    "mul_fp32":      (lambda lat: FPMul(FP32, latency=lat), lambda n, r: mul_case(FP32, n // 3, r)),
    "fma_fp32":      (lambda lat: FPFMA(FP32, latency=lat), lambda n, r: fma_case(FP32, n, r)),
    "fma_bf16":      (lambda lat: FPFMA("bf16", latency=lat), lambda n, r: fma_case(BF16, n, r)),
    # fp32 x bf16 (the SoftEx lane sums and output products)
    "fma_fp32_x_bf16": (lambda lat: FPFMA(FP32, mul_fmt=FP32, b_fmt=BF16, latency=lat),
                        lambda n, r: fma_mixed_case(FP32, n, r)),
    "fma_bf16_x_bf16": (lambda lat: FPFMA(BF16, mul_fmt=FP32, b_fmt=BF16, latency=lat),
                        lambda n, r: fma_mixed_case(BF16, n, r)),
    "compare_bf16":  (lambda lat: FPCompare(BF16, latency=lat),
                      lambda n, r: compare_case(BF16, n, r)),
    "compare_fp32":  (lambda lat: FPCompare(FP32, latency=lat),
                      lambda n, r: compare_case(FP32, n // 3, r)),
    "fp32_to_bf16":  (lambda lat: FPConvert(FP32, BF16, latency=lat),
                      lambda n, r: convert_case(FP32, BF16, n, r)),
    "bf16_to_fp32":  (lambda lat: FPConvert("bf16", "fp32", latency=lat),
                      lambda n, r: convert_case(BF16, FP32, n, r)),
    "scale_bf16":    (lambda lat: FPScale(BF16, latency=lat),
                      lambda n, r: scale_case(BF16, 8, n, r)),
    "scale_fp32":    (lambda lat: FPScale(FP32, exp_width=10, latency=lat),
                      lambda n, r: scale_case(FP32, 10, n // 3, r)),
    "scale_bf16_e4": (lambda lat: FPScale(BF16, exp_width=4, latency=lat),
                      lambda n, r: scale_case(BF16, 4, n, r)),
    "int8_to_bf16":  (lambda lat: IntToFloat(8, latency=lat),
                      lambda n, r: int_to_float_case(8, n, r)),
    "int16_to_bf16": (lambda lat: IntToFloat(16, latency=lat),
                      lambda n, r: int_to_float_case(16, n, r)),
    "int3_to_bf16":  (lambda lat: IntToFloat(3, latency=lat),
                      lambda n, r: int_to_float_case(3, n, r)),
    "bf16_to_int8":  (lambda lat: FloatToInt(8, latency=lat),
                      lambda n, r: float_to_int_case(8, n, r)),
    "bf16_to_int16": (lambda lat: FloatToInt(16, latency=lat),
                      lambda n, r: float_to_int_case(16, n, r)),
    "bf16_to_int2":  (lambda lat: FloatToInt(2, latency=lat),
                      lambda n, r: float_to_int_case(2, n, r)),
}


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(OPS))
def test_bulk_latency0(name):
    make, case = OPS[name]
    dut = make(0)
    fields, expected = case(N_RANDOM, np.random.default_rng(sum(map(ord, name))))
    operands = pack(dut.operand_layout, fields)
    check(dut, operands, run_comb(dut, operands), expected)


@pytest.mark.parametrize("name", list(OPS))
def test_stream_pipelined(name):
    """Latency N_CUTS + 1 (a register on every cut plus one at the output) under stalls."""
    make, case = OPS[name]
    dut = make(make(0).N_CUTS + 1)
    rng = np.random.default_rng(1 + sum(map(ord, name)))
    fields, expected = case(N_STREAM, rng)
    # Keep the stream run short: a random subset that still includes some corner cases.
    pick = np.sort(rng.choice(len(expected), size=min(N_STREAM, len(expected)), replace=False))
    fields = {k: np.asarray(v)[pick] for k, v in fields.items()}
    expected = [expected[i] for i in pick]
    operands = pack(dut.operand_layout, fields)
    check(dut, operands, run_stream(dut, operands, stall=0.4, seed=len(name)), expected)


@pytest.mark.parametrize("name,latency", [("fma_fp32", 0), ("fma_fp32", 2), ("add_bf16", 0),
                                          ("add_bf16", 1), ("mul_bf16", 5)])
def test_stream_other_latencies(name, latency):
    """Latency 0 (combinational stream pass-through), fewer registers than cuts, more."""
    make, case = OPS[name]
    dut = make(latency)
    rng = np.random.default_rng(latency)
    fields, expected = case(150, rng)
    pick = np.sort(rng.choice(len(expected), size=150, replace=False))
    fields = {k: np.asarray(v)[pick] for k, v in fields.items()}
    expected = [expected[i] for i in pick]
    operands = pack(dut.operand_layout, fields)
    check(dut, operands, run_stream(dut, operands, stall=0.4, seed=latency), expected)


@pytest.mark.parametrize("name", list(OPS))
def test_converts_to_verilog(name):
    make, _ = OPS[name]
    text = verilog.convert(make(2), name=name)
    assert f"module {name}" in text
