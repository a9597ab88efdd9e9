# amaranth: UnusedElaboratable=no
"""hw.board.uart.UartTx against the receiver model sim.uart.decode_uart: random bytes under
random valid gaps, several divisors; the frame's timing bit by bit; the divisor's checks."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.board.uart import MAX_DIVISOR, UartTx, uart_divisor
from sim.uart import UartFramingError, decode_uart


def _send(payload, divisor, gap, seed):
    """Run UartTx on ``payload`` with random valid gaps; the line's level in every cycle and
    the cycles in which each byte was taken."""
    dut = UartTx(divisor)
    rng = np.random.default_rng(seed)
    levels, taken = [], []
    frame_cycles = 10 * divisor

    async def testbench(ctx):
        cycle = 0
        for byte in payload:
            while rng.random() < gap:                       # a gap before the byte
                levels.append(ctx.get(dut.tx))
                await ctx.tick()
                cycle += 1
            ctx.set(dut.i.payload, int(byte))
            ctx.set(dut.i.valid, 1)
            while True:
                ready = ctx.get(dut.i.ready)
                levels.append(ctx.get(dut.tx))
                await ctx.tick()
                cycle += 1
                if ready:
                    taken.append(cycle - 1)
                    break
            ctx.set(dut.i.valid, 0)
        for _ in range(frame_cycles + 2):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(levels), taken


@pytest.mark.parametrize("divisor, gap", [(1, 0.0), (2, 0.5), (3, 0.0), (7, 0.3), (16, 0.9)])
def test_bytes_arrive_in_order(divisor, gap):
    payload = np.random.default_rng(divisor).integers(0, 256, 40).tolist() + [0x00, 0xFF, 0x55]
    levels, taken = _send(payload, divisor, gap, seed=divisor)
    assert decode_uart(levels, divisor) == bytes(payload)
    # back to back when the producer waits: one byte per 10 bits, not faster
    assert all(b - a >= 10 * divisor for a, b in zip(taken, taken[1:]))
    if gap == 0:
        assert all(b - a == 10 * divisor for a, b in zip(taken, taken[1:]))


def test_frame_timing():
    """0xA5 at 3 cycles per bit: idle high, start bit, LSB first, stop bit, idle."""
    levels, taken = _send([0xA5], 3, 0.0, seed=0)
    t = taken[0] + 1                                 # the frame starts the cycle after
    bits = [0] + [(0xA5 >> i) & 1 for i in range(8)] + [1]
    assert levels[:t].tolist() == [1] * t
    assert levels[t:t + 30].tolist() == [b for b in bits for _ in range(3)]
    assert set(levels[t + 30:].tolist()) == {1}


def test_receiver_model_rejects_broken_frames():
    levels = [1] * 8 + [0] * 4 * 9 + [0] * 4 + [1] * 8          # stop bit low
    with pytest.raises(UartFramingError, match="stop bit 0"):
        decode_uart(levels, 4)
    assert decode_uart([1] * 4 + [0] * 20, 4) == b""             # cut off: left out


def test_divisor_checks():
    assert uart_divisor(12_000_000, 115_200) == 104
    assert uart_divisor(48_000_000, 115_200) == 417
    with pytest.raises(ValueError, match="off by"):
        uart_divisor(250_000, 115_200)                            # 2 cycles: 8.5 % off
    with pytest.raises(ValueError, match="cycles per bit"):
        uart_divisor(100_000_000, 1)
    with pytest.raises(ValueError, match="clk_hz"):
        uart_divisor(0, 115_200)
    with pytest.raises(ValueError, match="divisor"):
        UartTx(MAX_DIVISOR + 1)
