"""Golden floating-point models (sim/golden/fp.py) against the independent exact reference
(sim/golden/exact.py): >= 10^6 biased random cases per operation and format, every
combination of corner values, exhaustive sweeps where the input space is small, known answers,
and third-party cross-checks of the reference itself (host IEEE float32 arithmetic and a
Fraction-based rounder)."""

import zlib
from fractions import Fraction

import numpy as np
import pytest

from hw.fp.format import BF16, FP32
from sim.golden import exact, fp
from sim.golden import vectors as V

SEED = 0x5EED_F10A
N = 1_000_000


def rng_for(*key):
    """Independent fixed-seed generator per test (stable under xdist scheduling)."""
    return np.random.default_rng([SEED, zlib.crc32(repr(key).encode())])


def check(name, got, want, **inputs):
    """Assert ``got == want`` elementwise; print (up to 25 of) the mismatching inputs."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    bad = np.flatnonzero(got.astype(np.int64) != want.astype(np.int64))
    if bad.size:
        cols = {k: np.broadcast_to(np.asarray(v), got.shape).ravel() for k, v in inputs.items()}
        lines = [", ".join(f"{k}=0x{int(v[i]):x}" for k, v in cols.items())
                 + f": golden=0x{int(got.ravel()[i]):x} exact=0x{int(want.ravel()[i]):x}"
                 for i in bad[:25]]
        msg = f"{name}: {bad.size} mismatches of {got.size} cases\n" + "\n".join(lines)
        print(msg)
        pytest.fail(msg)


FMTS = [pytest.param(BF16, id="bf16"), pytest.param(FP32, id="fp32")]


# --------------------------------------------------------------------------------------------
# Golden vs exact: random (biased) cases and all corner combinations
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FMTS)
def test_add_random(fmt):
    a, b, sub = V.add_operands(rng_for("add", fmt.name), N, fmt)
    check(f"add {fmt.name}", fp.add(a, b, fmt, sub), exact.apply(exact.add, a, b, fmt, sub),
          a=a, b=b, sub=sub)


@pytest.mark.parametrize("fmt", FMTS)
def test_add_corners(fmt):
    a, b = V.corner_pairs(fmt)
    for sub in (0, 1):
        check(f"add {fmt.name} corners sub={sub}", fp.add(a, b, fmt, sub),
              exact.apply(exact.add, a, b, fmt, sub), a=a, b=b)


@pytest.mark.parametrize("fmt", FMTS)
def test_mul_random(fmt):
    a, b = V.mul_operands(rng_for("mul", fmt.name), N, fmt)
    check(f"mul {fmt.name}", fp.mul(a, b, fmt), exact.apply(exact.mul, a, b, fmt), a=a, b=b)


@pytest.mark.parametrize("fmt", FMTS)
def test_mul_corners(fmt):
    a, b = V.corner_pairs(fmt)
    check(f"mul {fmt.name} corners", fp.mul(a, b, fmt), exact.apply(exact.mul, a, b, fmt),
          a=a, b=b)


FMA_FMTS = [pytest.param(BF16, BF16, id="bf16xbf16+bf16"),
            pytest.param(BF16, FP32, id="bf16xbf16+fp32"),
            pytest.param(FP32, FP32, id="fp32xfp32+fp32")]


@pytest.mark.parametrize("mul_fmt, acc_fmt", FMA_FMTS)
def test_fma_random(mul_fmt, acc_fmt):
    rng = rng_for("fma", mul_fmt.name, acc_fmt.name)
    a, b, c, nab, nc = V.fma_operands(rng, N, mul_fmt, acc_fmt)
    assert {(x, y) for x, y in zip(nab[:64], nc[:64])} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    check(f"fma {mul_fmt.name}x{mul_fmt.name}+{acc_fmt.name}",
          fp.fma(a, b, c, mul_fmt, acc_fmt, nab, nc),
          exact.apply(exact.fma, a, b, c, mul_fmt, acc_fmt, nab, nc),
          a=a, b=b, c=c, neg_ab=nab, neg_c=nc)


@pytest.mark.parametrize("mul_fmt, acc_fmt", FMA_FMTS)
def test_fma_corners(mul_fmt, acc_fmt):
    a, b, c = V.corner_triples(mul_fmt, acc_fmt)
    for nab in (0, 1):
        for nc in (0, 1):
            check(f"fma {mul_fmt.name}x{mul_fmt.name}+{acc_fmt.name} corners "
                  f"neg_ab={nab} neg_c={nc}",
                  fp.fma(a, b, c, mul_fmt, acc_fmt, nab, nc),
                  exact.apply(exact.fma, a, b, c, mul_fmt, acc_fmt, nab, nc), a=a, b=b, c=c)


@pytest.mark.parametrize("fmt", FMTS)
def test_compare(fmt):
    a, b = V.random_pairs(rng_for("cmp", fmt.name), N, fmt)
    ca, cb = V.corner_pairs(fmt)
    a, b = np.concatenate([a, ca]), np.concatenate([b, cb])
    got = fp.compare(a, b, fmt)
    want = exact.apply(exact.compare, a, b, fmt)
    assert set(got) == {"min", "max", "lt", "eq", "gt", "unordered"} == set(want)
    assert got["min"].dtype == fp.dtype_for(fmt) and got["lt"].dtype == np.uint8
    for key in got:
        check(f"compare {fmt.name} {key}", got[key], want[key], a=a, b=b)


def test_convert_fp32_to_bf16():
    x = V.convert_operands(rng_for("cvt"), N, FP32, BF16)
    x = np.concatenate([x, np.array(V.corner_values(FP32), dtype=np.uint32)])
    got = fp.convert(x, FP32, BF16)
    assert got.dtype == np.uint16
    check("convert fp32->bf16", got, exact.apply(exact.convert, x, FP32, BF16), x=x)


def test_convert_bf16_to_fp32_exhaustive():
    x = np.arange(1 << 16, dtype=np.uint16)
    got = fp.convert(x, BF16, FP32)
    assert got.dtype == np.uint32
    check("convert bf16->fp32", got, exact.apply(exact.convert, x, BF16, FP32), x=x)
    # Exact widening: the same bits shifted, except that NaNs become the canonical NaN.
    nan = (x & 0x7FFF) > 0x7F80
    check("convert bf16->fp32 (shift)", got, np.where(nan, 0x7FC00000, x.astype(np.uint32) << 16),
          x=x)


SCALE_EXPONENTS = (-300, -160, -128, -127, -126, -120, -9, -8, -7, -1, 0, 1, 7, 8, 9, 120, 126,
                   127, 160, 300)


def test_scale_bf16_every_input():
    """Every BF16 pattern times 2^e for exponents around the range edges, and 10^6 random
    (x, e) with e in the tensor unit's W_EXP range, against the exact rounder."""
    x, e = np.meshgrid(np.arange(1 << 16), SCALE_EXPONENTS, indexing="ij")
    x, e = x.ravel(), e.ravel()
    rng = rng_for("scale")
    x = np.concatenate([x, rng.integers(0, 1 << 16, N)])
    e = np.concatenate([e, rng.integers(-128, 128, N)])
    got = fp.scale(x, e, BF16)
    assert got.dtype == np.uint16
    check("scale bf16", got, exact.apply(exact.scale, x, e, BF16), x=x, e=e & 0xFFFF)


def test_scale_fp32_random():
    x = np.concatenate([V.random_bits(rng_for("scale32"), 200_000, FP32),
                        np.array(V.corner_values(FP32), dtype=np.uint32)])
    e = rng_for("scale32-e").integers(-300, 300, len(x))
    check("scale fp32", fp.scale(x, e, FP32), exact.apply(exact.scale, x, e, FP32), x=x, e=e)


def test_scale_is_exact_in_range():
    """A power of two changes only the exponent field while the result stays normal."""
    x = np.arange(1 << 16, dtype=np.uint16)
    field = (x.astype(np.int64) >> 7) & 0xFF
    for e in (-5, 3):
        keep = (field > 0) & (field < 255) & (field + e > 0) & (field + e < 255)
        want = ((x.astype(np.int64) + (e << 7)) & 0xFFFF)
        check(f"scale exact e={e}", fp.scale(x[keep], e), want[keep], x=x[keep])


@pytest.mark.parametrize("fmt", FMTS)
def test_convert_same_format(fmt):
    x = np.concatenate([V.random_bits(rng_for("cvt-same", fmt.name), 100_000, fmt),
                        np.array(V.corner_values(fmt), dtype=fp.dtype_for(fmt))])
    check(f"convert {fmt.name}->{fmt.name}", fp.convert(x, fmt, fmt),
          exact.apply(exact.convert, x, fmt, fmt), x=x)


# --------------------------------------------------------------------------------------------
# Fixed point
# --------------------------------------------------------------------------------------------

def _fixed_grid(width, codes):
    q, ib, sg = np.meshgrid(np.arange(1 << width), np.arange(codes), np.arange(2), indexing="ij")
    return q.ravel(), ib.ravel(), sg.ravel()


@pytest.mark.parametrize("fmt", FMTS)
def test_int_to_float_exhaustive_w8(fmt):
    q, ib, sg = _fixed_grid(8, 16)                      # every q, every int_bits code, signedness
    got = fp.int_to_float(q.astype(np.uint8), 8, ib, sg, fmt)
    assert got.dtype == fp.dtype_for(fmt)
    check(f"int_to_float w8 {fmt.name}", got,
          exact.apply(exact.int_to_float, q, 8, ib, sg, fmt), q=q, int_bits=ib, signed=sg)
    # Exact for width 8: the value round-trips through the host's float64.
    v = np.where((sg == 1) & (q >= 128), q - 256, q) * np.exp2(-(8 - sg - ib).astype(np.float64))
    host = v.astype(np.float32).view(np.uint32)
    host = (host >> 16).astype(np.uint16) if fmt is BF16 else host
    check(f"int_to_float w8 {fmt.name} (host)", got, host, q=q, int_bits=ib, signed=sg)


@pytest.mark.parametrize("width", [1, 4, 12, 16, 24, 32])
def test_int_to_float_random_widths(width):
    rng = rng_for("i2f", width)
    n = 100_000
    codes = 1 << width.bit_length()
    q = rng.integers(0, 1 << width, n, dtype=np.int64)
    # many values with few significant bits / near the rounding boundaries
    q = np.where(rng.integers(0, 2, n) == 0, q, q & ~((np.int64(1) << rng.integers(0, width, n)) - 1))
    ib = rng.integers(0, codes, n)
    sg = rng.integers(0, 2, n)
    for fmt in (BF16, FP32):
        check(f"int_to_float w{width} {fmt.name}", fp.int_to_float(q, width, ib, sg, fmt),
              exact.apply(exact.int_to_float, q, width, ib, sg, fmt), q=q, int_bits=ib, signed=sg)


@pytest.mark.parametrize("signed", [0, 1])
def test_float_to_int_exhaustive_w8(signed):
    x, ib = np.meshgrid(np.arange(1 << 16), np.arange(16), indexing="ij")
    x, ib = x.ravel(), ib.ravel()
    got = fp.float_to_int(x.astype(np.uint16), 8, ib, signed, BF16)
    assert got.dtype == np.uint8
    check(f"float_to_int w8 signed={signed}", got,
          exact.apply(exact.float_to_int, x, 8, ib, signed, BF16), x=x, int_bits=ib)


@pytest.mark.parametrize("width", [1, 3, 16, 32])
def test_float_to_int_random_widths(width):
    rng = rng_for("f2i", width)
    n = 100_000
    codes = 1 << width.bit_length()
    for fmt in (BF16, FP32):
        x = V.random_bits(rng, n, fmt)
        ib = rng.integers(0, codes, n)
        sg = rng.integers(0, 2, n)
        got = fp.float_to_int(x, width, ib, sg, fmt)
        assert got.dtype == fp.fixed_dtype(width)
        check(f"float_to_int w{width} {fmt.name}", got,
              exact.apply(exact.float_to_int, x, width, ib, sg, fmt), x=x, int_bits=ib, signed=sg)


# --------------------------------------------------------------------------------------------
# Known answers (hand-computed)
# --------------------------------------------------------------------------------------------

def h(x):
    return int(x)


def test_known_answers_add():
    assert h(fp.add(0x3F80, 0x3F80, BF16)) == 0x4000                   # 1 + 1 = 2
    assert h(fp.add(0x3F80, 0x3B80, BF16)) == 0x3F80                   # 1 + 2^-8: tie -> even
    assert h(fp.add(0x3F81, 0x3B80, BF16)) == 0x3F82                   # 1+2^-7 + 2^-8: tie -> even (up)
    assert h(fp.add(0x3F80, 0x3B81, BF16)) == 0x3F81                   # just above the tie
    assert h(fp.add(0x3F80, 0xBB80, BF16)) == 0x3F7F                   # 1 - 2^-8 is exact
    assert h(fp.add(0x3F80, 0xBB00, BF16)) == 0x3F80                   # 1 - 2^-9: tie -> even (up)
    assert h(fp.add(0x3F80, 0x3B80, BF16, sub=1)) == 0x3F7F            # the same through sub
    assert h(fp.add(0x8000, 0x8000, BF16)) == 0x8000                   # -0 + -0 = -0
    assert h(fp.add(0x0000, 0x8000, BF16)) == 0x0000                   # +0 + -0 = +0
    assert h(fp.add(0x8000, 0x0000, BF16, sub=1)) == 0x8000            # -0 - +0 = -0
    assert h(fp.add(0x4049, 0x4049, BF16, sub=1)) == 0x0000            # x - x = +0
    assert h(fp.add(0xC049, 0xC049, BF16, sub=1)) == 0x0000            # (-x) - (-x) = +0
    assert h(fp.add(0x3F80, 0xBF80, BF16)) == 0x0000                   # 1 + -1 = +0
    assert h(fp.add(0x7F7F, 0x7F7F, BF16)) == 0x7F80                   # overflow -> inf
    assert h(fp.add(0x7F7F, 0x7B00, BF16)) == 0x7F80                   # max + half ulp (2^119): tie -> inf
    assert h(fp.add(0x7F7F, 0x7A80, BF16)) == 0x7F7F                   # max + quarter ulp -> max
    assert h(fp.add(0x7F80, 0xFF80, BF16)) == 0x7FC0                   # inf - inf = NaN
    assert h(fp.add(0x7F80, 0x7F80, BF16)) == 0x7F80
    assert h(fp.add(0xFF80, 0x3F80, BF16)) == 0xFF80
    assert h(fp.add(0xFF81, 0x3F80, BF16)) == 0x7FC0                   # negative sNaN -> canonical
    assert h(fp.add(0x3F80, 0x7FFF, BF16)) == 0x7FC0
    assert h(fp.add(0x0001, 0x0001, BF16)) == 0x0002                   # subnormals are exact
    assert h(fp.add(0x007F, 0x0001, BF16)) == 0x0080                   # largest sub + min sub = min normal
    assert h(fp.add(0x0080, 0x8001, BF16)) == 0x007F                   # min normal - min sub
    assert h(fp.add(0x3F800000, 0x33800000, FP32)) == 0x3F800000       # 1 + 2^-24: tie -> even
    assert h(fp.add(0x3F800001, 0x33800000, FP32)) == 0x3F800002
    assert h(fp.add(0x00000001, 0x80000001, FP32)) == 0x00000000


def test_known_answers_mul():
    assert h(fp.mul(0x3F80, 0x3F80, BF16)) == 0x3F80                   # 1 * 1 = 1
    assert h(fp.mul(0x4000, 0x4040, BF16)) == 0x40C0                   # 2 * 3 = 6
    assert h(fp.mul(0x3FC0, 0x3FC0, BF16)) == 0x4010                   # 1.5^2 = 2.25
    assert h(fp.mul(0x3F81, 0x3F81, BF16)) == 0x3F82                   # (1+2^-7)^2 = 1 + 2^-6 + 2^-14 -> down
    assert h(fp.mul(0x3F81, 0x3FC0, BF16)) == 0x3FC2                   # 1.5 + 2^-7 + 2^-8: tie -> even
    assert h(fp.mul(0x0000, 0x8000, BF16)) == 0x8000                   # +0 * -0 = -0
    assert h(fp.mul(0xBF80, 0x0000, BF16)) == 0x8000
    assert h(fp.mul(0x7F80, 0x0000, BF16)) == 0x7FC0                   # inf * 0 = NaN
    assert h(fp.mul(0xFF80, 0x3F80, BF16)) == 0xFF80
    assert h(fp.mul(0x5F80, 0x5F80, BF16)) == 0x7F80                   # 2^64 * 2^64 = inf
    assert h(fp.mul(0x5F00, 0x5F80, BF16)) == 0x7F00                   # 2^63 * 2^64 = 2^127
    assert h(fp.mul(0x2000, 0x2000, BF16)) == 0x0080                   # 2^-63 * 2^-63 = 2^-126
    assert h(fp.mul(0x2000, 0x1F80, BF16)) == 0x0040                   # 2^-63 * 2^-64 = 2^-127 (subnormal)
    assert h(fp.mul(0x0001, 0x3F00, BF16)) == 0x0000                   # 2^-134: tie with 0 -> +0 (even)
    assert h(fp.mul(0x8001, 0x3F00, BF16)) == 0x8000                   # ... keeps the sign
    assert h(fp.mul(0x0001, 0x3F40, BF16)) == 0x0001                   # 0.75 * min sub -> min sub
    assert h(fp.mul(0x0003, 0x3F00, BF16)) == 0x0002                   # 1.5 min sub: tie -> even
    assert h(fp.mul(0x007F, 0x3F81, BF16)) == 0x0080                   # rounds up into the normals


def test_known_answers_fma():
    # bf16 x bf16 + fp32
    assert h(fp.fma(0x3F80, 0x3F80, 0x3F800000)) == 0x40000000          # 1*1 + 1
    assert h(fp.fma(0x3F80, 0x3F80, 0x3F800000, neg_ab=1)) == 0x00000000 # -1 + 1 = +0
    assert h(fp.fma(0x3F80, 0x3F80, 0xBF800000, neg_ab=1)) == 0xC0000000 # -1 - 1
    assert h(fp.fma(0x3F80, 0x3F80, 0x3F800000, BF16, FP32, 1, 1)) == 0xC0000000
    assert h(fp.fma(0x8000, 0x3F80, 0x80000000)) == 0x80000000          # -0 + -0 = -0
    assert h(fp.fma(0x8000, 0x3F80, 0x00000000)) == 0x00000000          # -0 + +0 = +0
    assert h(fp.fma(0x0000, 0x3F80, 0x00000000, neg_ab=1, neg_c=1)) == 0x80000000
    assert h(fp.fma(0x0000, 0x7F80, 0x3F800000)) == 0x7FC00000          # 0 * inf + c = NaN
    assert h(fp.fma(0x7F80, 0x3F80, 0xFF800000)) == 0x7FC00000          # inf - inf
    assert h(fp.fma(0x7F80, 0x3F80, 0xFF800000, neg_c=1)) == 0x7F800000
    assert h(fp.fma(0x3F80, 0x3F80, 0x7FC00001)) == 0x7FC00000
    # c dominates: the product only decides the rounding of 1.0
    assert h(fp.fma(0x3380, 0x3F80, 0x3F800000)) == 0x3F800000          # 1 + 2^-24: tie -> even
    assert h(fp.fma(0x3381, 0x3F80, 0x3F800000)) == 0x3F800001          # 1 + 2^-24(1+2^-7) -> up
    assert h(fp.fma(0x3381, 0x3F80, 0x3F800000, neg_ab=1)) == 0x3F7FFFFF # 1 - 2^-24(1+2^-7) -> down
    assert h(fp.fma(0x0001, 0x0001, 0x00000000)) == 0x00000000          # 2^-266 -> +0
    assert h(fp.fma(0x0001, 0x0001, 0x00000000, neg_ab=1)) == 0x80000000 # -2^-266 -> -0 (sign kept)
    assert h(fp.fma(0x0001, 0x0001, 0x80000001)) == 0x80000001          # -min + tiny -> -min
    # bf16 x bf16 + bf16 with one rounding: (1+2^-7)(1+3*2^-7) - 1 = 2^-5 + 3*2^-14 -> 0x3D01
    # (rounding the product to bf16 first would give 2^-5 = 0x3D00)
    assert h(fp.fma(0x3F81, 0x3F83, 0xBF80, BF16, BF16)) == 0x3D01
    assert h(fp.fma(0x3F81, 0x3F81, 0x3F80, BF16, BF16)) == 0x4001      # 2 + 2^-6 + 2^-14 -> 2 + 2^-6
    assert h(fp.fma(0x3B80, 0x3F80, 0x3F80, BF16, BF16)) == 0x3F80      # 1 + 2^-8: tie -> even
    assert h(fp.fma(0x3B81, 0x3F80, 0x3F80, BF16, BF16)) == 0x3F81      # just above the tie
    assert h(fp.fma(0x7F7F, 0x4000, 0xFF7F, BF16, BF16)) == 0x7F7F      # 2 max - max = max (no overflow)


def test_known_answers_convert_and_compare():
    assert h(fp.convert(0x3F808000, FP32, BF16)) == 0x3F80             # tie -> even (down)
    assert h(fp.convert(0x3F818000, FP32, BF16)) == 0x3F82             # tie -> even (up)
    assert h(fp.convert(0x3F808001, FP32, BF16)) == 0x3F81
    assert h(fp.convert(0x7F7FFFFF, FP32, BF16)) == 0x7F80             # rounds above max -> inf
    assert h(fp.convert(0x7F7F7FFF, FP32, BF16)) == 0x7F7F
    assert h(fp.convert(0x00000001, FP32, BF16)) == 0x0000             # fp32 min sub -> +0
    assert h(fp.convert(0x80000001, FP32, BF16)) == 0x8000             # ... with its sign
    assert h(fp.convert(0x007FFFFF, FP32, BF16)) == 0x0080             # rounds up to min normal
    assert h(fp.convert(0x00008000, FP32, BF16)) == 0x0000             # tie between 0 and min sub
    assert h(fp.convert(0x00018000, FP32, BF16)) == 0x0002             # tie -> even (up)
    assert h(fp.convert(0xFF800001, FP32, BF16)) == 0x7FC0             # NaN -> canonical
    assert h(fp.convert(0xFFC1, BF16, FP32)) == 0x7FC00000
    assert h(fp.convert(0x8001, BF16, FP32)) == 0x80010000
    r = fp.compare(0x8000, 0x0000, BF16)
    assert (h(r["min"]), h(r["max"]), r["lt"], r["eq"], r["gt"], r["unordered"]) == \
        (0x8000, 0x0000, 0, 1, 0, 0)
    r = fp.compare(0x0000, 0x8000, BF16)
    assert (h(r["min"]), h(r["max"])) == (0x8000, 0x0000)
    r = fp.compare(0x3F80, 0x7F81, BF16)
    assert (h(r["min"]), h(r["max"]), r["lt"], r["eq"], r["gt"], r["unordered"]) == \
        (0x7FC0, 0x7FC0, 0, 0, 0, 1)
    r = fp.compare(0xFF80, 0xBF80, BF16)
    assert (h(r["min"]), h(r["max"]), r["lt"], r["gt"]) == (0xFF80, 0xBF80, 1, 0)


def test_known_answers_fixed():
    # int8 Q2.5 (signed, 2 integer bits): 0x20 = 1.0, 0x80 = -4.0, 0x01 = 2^-5
    assert h(fp.int_to_float(0x20, 8, 2, 1)) == 0x3F80
    assert h(fp.int_to_float(0x80, 8, 2, 1)) == 0xC080
    assert h(fp.int_to_float(0x01, 8, 2, 1)) == 0x3D00
    assert h(fp.int_to_float(0x00, 8, 2, 1)) == 0x0000
    assert h(fp.int_to_float(0xFF, 8, 0, 0)) == 0x3F7F                 # 255/256 unsigned
    assert h(fp.int_to_float(0xFF, 8, 15, 1)) == 0xC380                # -1 * 2^8 (F = -8)
    assert h(fp.int_to_float(0x1FF, 12, 12, 0)) == 0x4400              # 511 -> 512 (rounds up)
    assert h(fp.int_to_float(0x101, 12, 12, 0)) == 0x4380              # 257: tie -> 256
    assert h(fp.int_to_float(0x103, 12, 12, 0)) == 0x4382              # 259: tie -> 260
    assert h(fp.float_to_int(0x3F80, 8, 2, 1)) == 0x20                 # 1.0 in Q2.5
    assert h(fp.float_to_int(0x4100, 8, 2, 1)) == 0x7F                 # 8.0 saturates high
    assert h(fp.float_to_int(0xC100, 8, 2, 1)) == 0x80                 # -8.0 saturates low
    assert h(fp.float_to_int(0x7F80, 8, 2, 1)) == 0x7F                 # +inf
    assert h(fp.float_to_int(0xFF80, 8, 2, 1)) == 0x80                 # -inf
    assert h(fp.float_to_int(0x7FC0, 8, 2, 1)) == 0x00                 # NaN -> 0
    assert h(fp.float_to_int(0x8000, 8, 2, 1)) == 0x00                 # -0 -> 0
    assert h(fp.float_to_int(0x3F00, 8, 8, 0)) == 0x00                 # 0.5: tie -> 0
    assert h(fp.float_to_int(0x3FC0, 8, 8, 0)) == 0x02                 # 1.5: tie -> 2
    assert h(fp.float_to_int(0x4020, 8, 8, 0)) == 0x02                 # 2.5: tie -> 2
    assert h(fp.float_to_int(0xBFC0, 8, 7, 1)) == 0xFE                 # -1.5 -> -2
    assert h(fp.float_to_int(0xBF80, 8, 8, 0)) == 0x00                 # negative -> 0 unsigned
    assert h(fp.float_to_int(0x4380, 8, 8, 0)) == 0xFF                 # 256 saturates at 255
    assert h(fp.float_to_int(0x3F80, 8, 15, 1)) == 0x00                # 1 * 2^-8 -> 0
    assert h(fp.float_to_int(0x4380, 8, 15, 1)) == 0x01                # 256 * 2^-8 = 1
    assert h(fp.float_to_int(0x407F, 8, 2, 1)) == 0x7F                 # 127.5 -> 128 -> saturates
    assert h(fp.float_to_int(0xBC80, 8, 2, 1)) == 0x00                 # -0.5 -> -0 -> 0
    assert h(fp.float_to_int(0xBD40, 8, 2, 1)) == 0xFE                 # -1.5 -> -2


# --------------------------------------------------------------------------------------------
# Cross-checks of the exact reference itself
# --------------------------------------------------------------------------------------------

def test_fp32_against_host_ieee_arithmetic():
    """numpy float32 + and * are single IEEE roundings (RNE, subnormals): they must agree
    with golden and exact on every non-NaN result (NaN bits are platform-specific)."""
    rng = rng_for("host")
    a, b, _ = V.add_operands(rng, 200_000, FP32)
    fa, fb = a.view(np.float32), b.view(np.float32)
    with np.errstate(all="ignore"):
        host_add, host_mul = (fa + fb).view(np.uint32), (fa * fb).view(np.uint32)
    for name, host, gold, ref in (
            ("add", host_add, fp.add(a, b, FP32), exact.apply(exact.add, a, b, FP32)),
            ("mul", host_mul, fp.mul(a, b, FP32), exact.apply(exact.mul, a, b, FP32))):
        keep = (host & 0x7FFFFFFF) <= 0x7F800000
        check(f"fp32 {name} vs host", gold[keep], host[keep], a=a[keep], b=b[keep])
        check(f"fp32 {name} exact vs host", ref[keep], host[keep], a=a[keep], b=b[keep])
        check(f"fp32 {name} NaN", gold[~keep], np.full((~keep).sum(), 0x7FC00000))


def test_fma_bf16_fp32_against_host_float64():
    """bf16 x bf16 + fp32 in float64 then one cast to float32 is correctly rounded (the
    product is exact and 53 >= 2 * 24 + 2 makes the double rounding innocuous)."""
    rng = rng_for("host-fma")
    a, b, c, nab, nc = V.fma_operands(rng, 200_000, BF16, FP32)
    f64 = lambda x, sh: (x.astype(np.uint32) << sh).view(np.float32).astype(np.float64)
    with np.errstate(all="ignore"):
        p = f64(a, 16) * f64(b, 16) * np.where(nab == 1, -1.0, 1.0)
        host = (p + f64(c, 0) * np.where(nc == 1, -1.0, 1.0)).astype(np.float32).view(np.uint32)
    gold = fp.fma(a, b, c, BF16, FP32, nab, nc)
    keep = (host & 0x7FFFFFFF) <= 0x7F800000
    check("fma bf16xbf16+fp32 vs host", gold[keep], host[keep], a=a[keep], b=b[keep], c=c[keep])


def _fraction_round(v, fmt):
    """A third rounder: Fraction + round() (half to even), by scaling into [2^f, 2^(f+1))."""
    if v == 0:
        return 0
    sign = fmt.sign_mask if v < 0 else 0
    v = abs(v)
    e = v.numerator.bit_length() - v.denominator.bit_length()      # floor(log2 v) or one more
    if v < Fraction(2) ** e:
        e -= 1
    e = max(e, fmt.emin)
    q = round(v / Fraction(2) ** (e - fmt.frac_bits))
    if q == 2 ** fmt.precision:
        q, e = q // 2, e + 1
    if e > fmt.emax:
        return sign | fmt.pos_inf
    if q < 2 ** fmt.frac_bits:
        return sign | q
    return sign | ((e + fmt.bias) << fmt.frac_bits) | (q - 2 ** fmt.frac_bits)


def _fraction_value(bits, fmt):
    bits = int(bits)
    e = (bits >> fmt.frac_bits) & fmt.exp_max
    m = bits & fmt.frac_mask
    v = Fraction(m if e == 0 else m + 2 ** fmt.frac_bits) * Fraction(2) ** (max(e, 1) - fmt.bias - fmt.frac_bits)
    return -v if bits >> (fmt.width - 1) else v


def test_exact_against_fraction_rounder():
    """The exact reference against a Fraction-based rounder on finite, non-zero results."""
    rng = rng_for("fraction")
    n = 3000
    for fmt in (BF16, FP32):
        a, b, _ = V.add_operands(rng, n, fmt)
        for op in ("add", "mul"):
            for x, y in zip(a.tolist(), b.tolist()):
                if (x & (fmt.sign_mask - 1)) >= fmt.pos_inf or (y & (fmt.sign_mask - 1)) >= fmt.pos_inf:
                    continue
                vx, vy = _fraction_value(x, fmt), _fraction_value(y, fmt)
                v = vx + vy if op == "add" else vx * vy
                if v == 0:
                    continue
                want = _fraction_round(v, fmt)
                got = exact.add(x, y, fmt) if op == "add" else exact.mul(x, y, fmt)
                assert got == want, (op, fmt.name, hex(x), hex(y), hex(got), hex(want))
    for acc in (BF16, FP32):
        a, b, c, nab, nc = V.fma_operands(rng, n, BF16, acc)
        for x, y, z, s1, s2 in zip(a.tolist(), b.tolist(), c.tolist(), nab.tolist(), nc.tolist()):
            if max(x & 0x7FFF, y & 0x7FFF) >= 0x7F80 or (z & (acc.sign_mask - 1)) >= acc.pos_inf:
                continue
            v = (_fraction_value(x, BF16) * _fraction_value(y, BF16) * (-1) ** s1
                 + _fraction_value(z, acc) * (-1) ** s2)
            if v == 0:
                continue
            got = exact.fma(x, y, z, BF16, acc, s1, s2)
            assert got == _fraction_round(v, acc), (acc.name, hex(x), hex(y), hex(z), s1, s2)


# --------------------------------------------------------------------------------------------
# Generators, decode / round_pack, API
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FMTS)
def test_corner_values_cover_all_classes(fmt):
    v = np.array(V.corner_values(fmt))
    sign, sig, exp, cls = fp.decode(v, fmt)
    for c in (fp.ZERO, fp.SUBNORMAL, fp.NORMAL, fp.INF, fp.NAN):
        for s in (0, 1):
            assert np.any((cls == c) & (sign == s)), (c, s)
    frac = v & fmt.frac_mask
    quiet = (frac >> (fmt.frac_bits - 1)) & 1
    nan = cls == fp.NAN
    assert fmt.qnan in v.tolist() and (fmt.qnan | fmt.sign_mask) in v.tolist()
    assert np.any(nan & (quiet == 1) & (frac != 1 << (fmt.frac_bits - 1)))     # non-canonical qNaN
    assert np.any(nan & (quiet == 0))                                          # sNaN
    for x in (1, fmt.frac_mask, fmt.min_normal, fmt.max_finite, fmt.one, fmt.one - 1, fmt.one + 1):
        assert x in v.tolist()


def _count_ties(kind, fmt, *ops):
    """How many exact results are exactly halfway between two representable numbers."""
    ties = 0
    for args in zip(*[o.tolist() for o in ops]):
        if kind == "add":
            (ka, sa, ma, ea), (kb, sb, mb, eb) = exact.unpack(args[0], fmt), exact.unpack(args[1], fmt)
            if "fin" != ka or "fin" != kb:
                continue
            e = min(ea, eb)
            v = (-1) ** sa * (ma << (ea - e)) + (-1) ** sb * (mb << (eb - e))
        elif kind == "mul":
            (ka, sa, ma, ea), (kb, sb, mb, eb) = exact.unpack(args[0], fmt), exact.unpack(args[1], fmt)
            if "fin" != ka or "fin" != kb:
                continue
            v, e = ma * mb, ea + eb
        elif kind == "fma":
            (ka, sa, ma, ea), (kb, sb, mb, eb) = (exact.unpack(x, BF16) for x in args[:2])
            kc, sc, mc, ec = exact.unpack(args[2], fmt)
            if "fin" != ka or "fin" != kb or "fin" != kc:
                continue
            e = min(ea + eb, ec)
            v = (-1) ** sa * (-1) ** sb * (ma * mb << (ea + eb - e)) + (-1) ** sc * (mc << (ec - e))
        else:                       # convert fp32 -> bf16
            kx, sx, v, e = exact.unpack(args[0], FP32)
            if kx != "fin":
                continue
        v = abs(v)
        if v == 0:
            continue
        lead = e + v.bit_length() - 1
        quantum = max(lead, fmt.emin) - fmt.frac_bits
        if quantum > e and v % (1 << (quantum - e)) == 1 << (quantum - e - 1):
            ties += 1
    return ties


def test_generators_make_ties():
    rng = rng_for("ties")
    n = 2000
    for fmt in (BF16, FP32):
        assert _count_ties("add", fmt, *V.add_ties(rng, n, fmt)) > n // 3
        assert _count_ties("mul", fmt, *V.mul_ties(rng, n, fmt)) > 0.9 * n
    assert _count_ties("fma", FP32, *V.fma_ties(rng, n, BF16, FP32)) > n // 3
    assert _count_ties("fma", BF16, *V.fma_ties(rng, n, BF16, BF16)) > n // 10
    assert _count_ties("cvt", BF16, V.convert_ties(rng, n)) > n // 4


def test_generators_shapes_and_dtypes():
    rng = rng_for("shapes")
    for fmt in (BF16, FP32):
        dt = fp.dtype_for(fmt)
        assert V.random_bits(rng, 1000, fmt).dtype == dt
        a, b, sub = V.add_operands(rng, 1000, fmt)
        assert a.shape == b.shape == sub.shape == (1000,) and a.dtype == b.dtype == dt
        a, b = V.mul_operands(rng, 1000, fmt)
        assert a.shape == b.shape == (1000,) and a.dtype == b.dtype == dt
        ca, cb = V.corner_pairs(fmt)
        assert len(ca) == len(V.corner_values(fmt)) ** 2
    a, b, c, nab, nc = V.fma_operands(rng, 1000, BF16, FP32)
    assert a.dtype == np.uint16 and c.dtype == np.uint32 and len(nab) == len(nc) == 1000
    assert V.convert_operands(rng, 1000).dtype == np.uint32


def test_decode_round_pack_roundtrip():
    x = np.arange(1 << 16)
    s, m, e, cls = fp.decode(x, BF16)
    fin = cls <= fp.NORMAL
    check("round_pack(decode(x)) bf16", fp.round_pack(s[fin], m[fin], e[fin], 0, BF16), x[fin], x=x[fin])
    x = V.random_bits(rng_for("rt"), 100_000, FP32)
    s, m, e, cls = fp.decode(x, FP32)
    fin = cls <= fp.NORMAL
    check("round_pack(decode(x)) fp32", fp.round_pack(s[fin], m[fin], e[fin], 0, FP32), x[fin], x=x[fin])
    # value = (-1)^s * sig * 2^exp with the documented class codes
    assert [int(v) for v in fp.decode(0x3F80, BF16)] == [0, 128, -7, fp.NORMAL]
    assert [int(v) for v in fp.decode(0x8001, BF16)] == [1, 1, -133, fp.SUBNORMAL]
    assert int(fp.decode(0x8000, BF16)[3]) == fp.ZERO
    assert int(fp.decode(0xFF80, BF16)[3]) == fp.INF
    assert int(fp.decode(0x7F81, BF16)[3]) == fp.NAN
    # round_pack with a sticky bit: 1 + 2^-8 + tiny rounds up; wide significand, subnormal
    assert int(fp.round_pack(0, 0x101, -8, 1, BF16)) == 0x3F81
    assert int(fp.round_pack(0, 0x101, -8, 0, BF16)) == 0x3F80
    assert int(fp.round_pack(1, 3, -135, 0, BF16)) == 0x8001                # 0.75 min sub -> min sub
    assert int(fp.round_pack(0, 1, 200, 0, BF16)) == 0x7F80                 # overflow
    assert int(fp.round_pack(0, 1 << 59, -59, 1, FP32)) == 0x3F800000
    with pytest.raises(ValueError):
        fp.round_pack(0, 0x80, -7, 1, BF16)                                 # nothing to round off


def test_api_scalars_names_broadcasting():
    r = fp.add(0x3F80, 0x3F80, "bf16")
    assert isinstance(r, np.uint16) and int(r) == 0x4000
    assert isinstance(fp.mul(0x3F800000, 0x3F800000, "fp32"), np.uint32)
    assert isinstance(fp.fma(0x3F80, 0x3F80, 0x3F800000), np.uint32)
    assert isinstance(fp.fma(0x3F80, 0x3F80, 0x3F80, "bf16", "bf16"), np.uint16)
    assert isinstance(fp.float_to_int(0x3F80, 8, 2, 1), np.uint8)
    assert isinstance(fp.float_to_int(0x3F80, 16, 2, 1), np.uint16)
    assert isinstance(fp.int_to_float(1, 8, 0, 0), np.uint16)
    assert isinstance(fp.int_to_float(1, 8, 0, 0, FP32), np.uint32)
    # sub, neg flags and int_bits broadcast as arrays
    out = fp.add(np.uint16(0x3F80), 0x3F80, BF16, sub=np.array([0, 1]))
    assert out.tolist() == [0x4000, 0x0000] and out.dtype == np.uint16
    out = fp.fma(0x3F80, 0x3F80, 0x3F800000, neg_ab=np.array([[0], [1]]), neg_c=np.array([0, 1]))
    assert out.shape == (2, 2) and out.tolist() == [[0x40000000, 0], [0, 0xC0000000]]
    assert fp.int_to_float(0x20, 8, np.arange(3), 1).tolist() == [0x3E80, 0x3F00, 0x3F80]
    assert fp.compare([0x3F80], 0x4000, BF16)["lt"].tolist() == [1]
    assert fp.convert(np.array([0x3F80], dtype=np.uint16), "bf16", "fp32").dtype == np.uint32
    # exact mirrors the names
    assert exact.add(0x3F80, 0x3F80, BF16) == 0x4000
    assert exact.apply(exact.fma, [0x3F80], 0x3F80, 0x3F800000, neg_ab=[1]).tolist() == [0]
    with pytest.raises(ValueError):
        fp.add(0, 0, "fp16")
    with pytest.raises(ValueError):
        fp.int_to_float(0, 8, 16, 0)
    with pytest.raises(TypeError):
        fp.add(1.0, 2.0, BF16)


def test_bitlen_is_exact_up_to_2_63():
    """fp._bitlen (float64 exponents, corrected where the conversion rounds up) against Python's
    int.bit_length on every power of two +-2 and 100,000 random lengths."""
    rng = np.random.default_rng(63)
    vals = [0, 1, 2, 3] + [v for k in range(1, 64) for v in range((1 << k) - 2, (1 << k) + 3)
                           if v < 1 << 63]
    vals += [int(rng.integers(0, 1 << int(b), dtype=np.uint64)) for b in rng.integers(1, 64, 100_000)]
    got = fp._bitlen(np.array(vals, dtype=np.int64))
    assert got.tolist() == [v.bit_length() for v in vals]
    assert fp._bitlen(0) == 0 and fp._bitlen((1 << 63) - 1) == 63
