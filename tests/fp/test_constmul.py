# amaranth: UnusedElaboratable=no
"""Constant multiplication as shift-adds (hw/fp/constmul.py) and FPMulConst against FPMul.

CSD recoding is checked exhaustively for 16-bit constants in Python; the shift-add network
for every 8-bit input against Python products; FPMulConst bit for bit against the golden
multiplier for every GELU coefficient and the special constants, on corner plus random x.
"""

import numpy as np
import pytest
from amaranth import Elaboratable, Module, Signal, signed
from amaranth.sim import Simulator

from hw.fp import BF16, FPMulConst, SHIFT_ADD_MAX_DIGITS, const_mul, csd_digits, mul_const
from hw.softex import gelu_coeffs
from sim.golden import fp as golden
from sim.golden import vectors
from tests.fp.test_fp_amaranth import check, ints, run_comb


def test_csd_digits_exhaustive_16_bit():
    for k in range(1 << 16):
        digits = csd_digits(k)
        assert sum(d << s for s, d in digits) == k
        shifts = [s for s, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), k   # non-adjacent
        assert len(digits) <= bin(k).count("1")                           # never worse
        assert len(digits) <= (k.bit_length() + 2) // 2


def test_csd_digits_rejects_negative():
    with pytest.raises(ValueError, match="k must be an integer"):
        csd_digits(-3)


CONSTANTS = (0, 1, 2, 3, 7, 9, 13, 85, 255, 0xAAAA, 0x7FFF, 23637)


class _Products(Elaboratable):
    """x (8 bits) times each constant, as const_mul and as mul_const."""

    def __init__(self):
        self.x = Signal(8)
        self.shift_add = [Signal(8 + k.bit_length()) for k in CONSTANTS]
        self.auto = [Signal(8 + k.bit_length()) for k in CONSTANTS]

    def elaborate(self, platform):
        m = Module()
        for k, s, a in zip(CONSTANTS, self.shift_add, self.auto):
            p, q = const_mul(self.x, k), mul_const(self.x, k)
            assert len(p) == len(q) == 8 + k.bit_length()
            m.d.comb += [s.eq(p), a.eq(q)]
        return m


def test_const_mul_every_8_bit_input():
    dut = _Products()
    bad = []

    async def testbench(ctx):
        for x in range(256):
            ctx.set(dut.x, x)
            for k, s, a in zip(CONSTANTS, dut.shift_add, dut.auto):
                if ctx.get(s) != x * k or ctx.get(a) != x * k:
                    bad.append((x, k, ctx.get(s), ctx.get(a)))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert not bad, f"{len(bad)} wrong products, first (x, k, shift-add, auto): {bad[:5]}"


def test_mul_const_threshold():
    """Few-digit constants become adders, many-digit ones keep a multiplier."""
    x = Signal(8)
    assert len(csd_digits(13)) <= SHIFT_ADD_MAX_DIGITS
    assert "*" not in repr(mul_const(x, 13))
    assert len(csd_digits(23637)) > SHIFT_ADD_MAX_DIGITS
    assert "*" in repr(mul_const(x, 23637))


def test_const_mul_rejects_signed_values():
    with pytest.raises(ValueError, match="unsigned"):
        const_mul(Signal(signed(8)), 3)


def _gelu_constants():
    out = set()
    for na, b in gelu_coeffs.COEFFS.values():
        out.update(na)
        out.update(b)
    return sorted(out)


SPECIAL_CONSTANTS = (0x0000, 0x8000, 0x3F80, 0xBF80, 0x0001, 0x807F, 0x7F7F, 0x7F80, 0xFF80,
                     0x7FC0)


@pytest.mark.parametrize("constant", _gelu_constants() + list(SPECIAL_CONSTANTS),
                         ids=lambda c: f"{c:#06x}")
def test_fp_mul_const_matches_fp_mul(constant):
    rng = np.random.default_rng(constant)
    corners = np.array(vectors.corner_values(BF16), dtype=np.int64)
    x = np.concatenate([corners, rng.integers(0, 1 << 16, 400)]).astype(np.int64)
    expected = ints(golden.mul(np.full_like(x, constant), x, BF16))
    dut = FPMulConst(constant, BF16, latency=0)
    operands = ints(x)
    check(dut, operands, run_comb(dut, operands), expected)


def test_fp_mul_const_parameters():
    with pytest.raises(ValueError, match="constant must be an integer in"):
        FPMulConst(1 << 16, BF16)
    with pytest.raises(ValueError, match="constant"):
        FPMulConst(1.5, BF16)
