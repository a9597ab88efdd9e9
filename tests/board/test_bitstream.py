# amaranth: UnusedElaboratable=no
"""The board flow end to end on the smallest design: hw.board.hello.UartHello on the
iCEBreaker's top (PLL, reset synchroniser, UART pin, LEDs) through its amaranth-boards
platform and the YoWASP tools: a bitstream and a report whose routed Fmax covers the clock.
An ECP5 build with its block RAMs spread (flows.board.BramSpread): nextpnr places them there.
UartHello itself under Amaranth's simulator: the text, again and again."""

import json

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator

from flows.board import BramSpread, bitstream
from flows.synth.placement import spread
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


class _ChainedRams(wiring.Component):
    """Three 1,024 x 18 block RAMs, each one's read data the next one's write data."""
    tx: Out(1, init=1)
    leds: Out(3)

    def elaborate(self, platform):
        m = Module()
        addr = Signal(10)
        m.d.sync += addr.eq(addr + 1)
        data = addr
        for i in range(3):
            mem = m.submodules[f"ram{i}"] = Memory(shape=18, depth=1024, init=[])
            w, r = mem.write_port(), mem.read_port()
            m.d.comb += [w.addr.eq(addr), w.data.eq(data), w.en.eq(1), r.addr.eq(addr + 1),
                         self.leds[i].eq(r.data.xor())]
            data = r.data
        return m


def test_ecp5_build_spreads_the_block_rams(tmp_path):
    """BramSpread's step between Yosys and nextpnr fixes every block RAM to the site
    flows.synth.placement.spread gives it, and nextpnr places them there."""
    board = BOARDS["ulx3s-85f"]
    platform = board.make_platform((BramSpread,))
    f_in = platform.lookup(board.clock, 0).clock.frequency
    top = BoardTop(board, _ChainedRams(), 25e6, f_in)
    report = bitstream(top, platform, board.name, out=tmp_path,
                       nextpnr_args=("--write", "placed.json"))
    assert report["brams_spread"] and report["utilisation"]["DP16KD"] == 3
    spec = json.loads((tmp_path / BramSpread.SITES).read_text())
    assignment = json.loads((tmp_path / "top.brams.json").read_text())
    assert len(assignment) == 3 and len(set(assignment.values())) == 3
    assert set(assignment.values()) == set(spread(assignment, spec["sites"]).values())
    placed = json.loads((tmp_path / "placed.json").read_text())
    cells = placed["modules"]["top"]["cells"]
    assert {name: cells[name]["attributes"]["NEXTPNR_BEL"] for name in assignment} == assignment


def test_spread_is_for_ecp5(tmp_path):
    board = BOARDS["icebreaker"]
    platform = board.make_platform((BramSpread,))
    top = BoardTop(board, _ChainedRams(), 18e6, 12e6)
    with pytest.raises(ValueError, match="platform: the block RAM spread is for ECP5"):
        bitstream(top, platform, board.name, out=tmp_path)
