# amaranth: UnusedElaboratable=no
"""The board flow end to end on the smallest design: hw.board.hello.UartHello on the
iCEBreaker's top (PLL, reset synchroniser, UART pin, LEDs) through its amaranth-boards
platform and the YoWASP tools: a bitstream and a report whose routed Fmax covers the clock.
UartHello itself under Amaranth's simulator: the text, again and again."""

import json

from amaranth.sim import Simulator

from flows.board import bitstream
from hw.board.hello import UartHello
from hw.board.top import BOARDS, BoardTop, ecp5_pll, ice40_pll
from hw.board.uart import uart_divisor
from sim.uart import decode_uart


def test_hello_sends_its_text_again_and_again():
    dut = UartHello(b"hi\n", divisor=2)
    levels = []

    async def testbench(ctx):
        for _ in range(3 * 3 * 20 + 10):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert decode_uart(levels, 2).startswith(b"hi\nhi\nhi\n")


def test_pll_settings():
    clki, fb, op, f = ecp5_pll(25e6, 20e6)
    assert f == 20e6 and 400e6 <= f * op <= 800e6 and 25e6 / clki >= 3.125e6
    divr, divf, divq, filt, f = ice40_pll(12e6, 18e6)
    assert f == 18e6 and 533e6 <= 12e6 / (divr + 1) * (divf + 1) <= 1066e6


def test_icebreaker_bitstream(tmp_path):
    board = BOARDS["icebreaker"]
    platform = board.make_platform()
    f_in = platform.lookup(board.clock, 0).clock.frequency
    top = BoardTop(board, UartHello(b"hello\n", divisor=uart_divisor(18_000_000, 115_200)),
                   18e6, f_in)
    report = bitstream(top, platform, board.name, out=tmp_path)
    assert report["bitstreams"] == ["top.bin"]
    assert (tmp_path / "top.bin").stat().st_size > 100_000
    assert report["routed_fmax_mhz"] >= report["clock_mhz"] == 18.0
    assert abs(report["constraint_mhz"] - 18.0) < 0.01       # nextpnr timed the PLL's clock
    assert report["utilisation"]["ICESTORM_PLL"] == 1
    assert json.loads((tmp_path / "report.json").read_text())["board"] == "icebreaker"
