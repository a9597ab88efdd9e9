"""GELU for SoftEx by table: BF16 GELU of every input correctly rounded, a pipelined stream operator.

``GeluTable(lanes=1, *, latency=2)`` has the interface of :class:`hw.softex.gelu.Gelu` (payload
``data.ArrayLayout(BF16.layout, lanes)`` in and out, one beat per cycle) and computes exactly
``sim/golden/gelu_table.py``: the binades E_LO .. E_LO + 2^INDEX_BITS - 1 (|x| in [2^-9, 2^7))
from a ROM of 15-bit magnitudes (``hw/softex/gelu_table_data.py``, generated from exact
arithmetic), the smaller inputs by the x / 2 rule, the larger ones as x (x > 0) or -0 (x < 0).

Per lane: one ROM read port and about 40 LUTs of selection; two lanes share a ROM (its two read
ports; ECP5 maps each 4,096 x 15 ROM to block RAM). One cut point, the ROM read: with latency
>= 1 the read port is synchronous (the ROM's output register is the first stage) and the other
stages follow at the output; latency 0 reads asynchronously (a LUT ROM).
"""

from amaranth import C, Cat, Mux, Signal
from amaranth.lib import data
from amaranth.lib.memory import Memory

from ..fp import BF16
from ..params import Range, check_int
from ..pipeline import PipelinedOp
from .gelu_table_data import E_LO, INDEX_BITS, WORDS

__all__ = ["GeluTable"]


class GeluTable(PipelinedOp):
    """Correctly rounded GELU on ``lanes`` BF16 lanes per beat.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat, 1 .. 64.
    latency : :class:`int`
        Register stages, 0 .. 15: the first is the ROM's read register, the rest are at the
        output.

    Members
    -------
    i : :py:`In(stream.Signature(data.ArrayLayout(BF16.layout, lanes)))`
        Operands.
    o : :py:`Out(stream.Signature(data.ArrayLayout(BF16.layout, lanes)))`
        GELU of each, ``latency`` transfers later (global stall).
    """

    N_CUTS = 1
    LATENCY = Range(0, 15)
    DEFAULT_LATENCY = 2

    def __init__(self, lanes=1, *, latency=DEFAULT_LATENCY):
        self.lanes = check_int("lanes", lanes, min=1, max=64)
        layout = data.ArrayLayout(BF16.layout, self.lanes)
        super().__init__(layout, layout, latency=latency)

    def datapath(self, m, pipe, operands):
        sync = pipe.latency > 0                 # N_CUTS = 1: the cut holds a stage iff latency > 0
        rom = None
        words, sides = [], []
        for i in range(self.lanes):
            x = Signal(16, name=f"x{i}")
            m.d.comb += x.eq(operands[i].as_value())
            s, e, mant = x[15], x[7:15], x[:7]
            if i % 2 == 0:
                rom = m.submodules[f"rom{i // 2}"] = Memory(shape=15, depth=len(WORDS),
                                                             init=WORDS)
            port = rom.read_port(domain="sync" if sync else "comb")
            offset = Signal(8, name=f"offset{i}")
            m.d.comb += [offset.eq(e - E_LO), port.addr.eq(Cat(mant, offset[:INDEX_BITS], s))]
            if sync:
                m.d.comb += port.en.eq(pipe.enable)
            words.append(port.data)
            in_table = Signal(name=f"in_table{i}")
            m.d.comb += in_table.eq((e >= E_LO) & (e < E_LO + (1 << INDEX_BITS)))
            side = Signal(16, name=f"rule{i}")          # the result of rules 2-4 (not the table)
            sig = Mux(e == 0, Cat(mant, C(0, 1)), Cat(mant, C(1, 1)))
            low = Signal(15, name=f"half{i}")         # e <= 1: x / 2, the tie upwards
            m.d.comb += low.eq((sig >> 1) + (sig[0] & ~s))
            with m.If(e < E_LO):
                m.d.comb += side.eq(Mux(e >= 2, Cat(mant, (e - 1)[:8], s), Cat(low, s)))
            with m.Elif((e == 0xFF) & (mant != 0)):
                m.d.comb += side.eq(0x7FC0)
            with m.Elif(s):
                m.d.comb += side.eq(0x8000)
            with m.Else():
                m.d.comb += side.eq(x)
            sides.append(Cat(side, in_table))
        sides = pipe.cut(*sides, name="rom")
        if self.lanes == 1:
            sides = (sides,)
        results = []
        for i in range(self.lanes):
            side = sides[i]
            results.append(Mux(side[16], Cat(words[i], side[15]), side[:16]))
        return Cat(*results)
