"""The scheduler: the order in which slots enter the array, when the array may advance, and
the operands presented with each slot (RedMulE's scheduler)."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .regmap import DIM_BITS
from .tiler import TileWalk

__all__ = ["TensorScheduler"]


class TensorScheduler(wiring.Component):
    """Issues the slots of every tile into the array and freezes it when an operand or the Z
    store buffer is not ready.

    A tile takes ``ceil(K / H)`` passes of ``D`` slots (output columns ``c = 0 .. D - 1``). An X
    beat holds ``D = H * (P + 1)`` columns of X, so one X group serves ``P + 1`` passes: the
    pass presents ``H`` values per row from *part* ``0 .. P`` of the beat. The first pass of a
    tile takes the Y group (initial partial sums, ``-0`` for MATMUL).

    The array advances unless it starts a pass without a W row, needs the next X or Y group
    before it is complete, or finishes a tile while the Z store buffer is still full.

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry.

    Members
    -------
    restart : :py:`In(1)`
        First cycle of a job: rewind the walk of slots.
    running : :py:`In(1)`
        A job runs.
    m, n, k : :py:`In(DIM_BITS)`
        The job's M, N and K.
    k_padded : :py:`In(DIM_BITS + 1)`
        K rounded up to a multiple of ``H``.
    has_y : :py:`In(1)`
        The job adds Y (every operation but MATMUL).
    w_starved : :py:`In(1)`
        The W FIFO is empty while the array wants a row.
    z_blocked : :py:`In(1)`
        The array finishes a tile while the Z store buffer is full.
    x_full, y_full : :py:`In(1)`
        The next X / Y group is complete.
    x_take, y_take : :py:`Out(1)`
        The array starts the next X / Y group this cycle.
    x_fresh, y_fresh : :py:`Out(1)`
        The X / Y buffer presents its queued group (first slot of a group) rather than the
        current one.
    x_beats, y_beats : :py:`In(data.ArrayLayout(D * 16, L))`
        The X / Y group presented, one beat per tile row.
    advance : :py:`Out(1)`
        The array advances this cycle.
    issue : :py:`Out(1)`
        A slot enters the array (when it advances).
    column : :py:`Out(range(D))`
        The slot's output column.
    first, last : :py:`Out(1)`
        The slot's pass is the first / last of its tile.
    x_pass : :py:`Out(L * H * 16)`
        The pass's X values, X[i, p*H + j] at bits ``(i * H + j) * 16``.
    init : :py:`Out(L * acc_width)`
        Initial partial sums of the slot's column, row ``i`` at bits ``i * acc_width``.
    """

    def __init__(self, geometry):
        self.geometry = geometry
        g = geometry
        beats = data.ArrayLayout(g.port_width, g.L)
        super().__init__({
            "restart": In(1),
            "running": In(1),
            "m": In(DIM_BITS),
            "n": In(DIM_BITS),
            "k": In(DIM_BITS),
            "k_padded": In(DIM_BITS + 1),
            "has_y": In(1),
            "w_starved": In(1),
            "z_blocked": In(1),
            "x_full": In(1),
            "y_full": In(1),
            "x_take": Out(1),
            "y_take": Out(1),
            "x_fresh": Out(1),
            "y_fresh": Out(1),
            "x_beats": In(beats),
            "y_beats": In(beats),
            "advance": Out(1),
            "issue": Out(1),
            "column": Out(max(1, (g.D - 1).bit_length())),
            "first": Out(1),
            "last": Out(1),
            "x_pass": Out(g.L * g.H * 16),
            "init": Out(g.L * g.acc_width),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        L, H, P, D = g.L, g.H, g.P, g.D
        acc_width = g.acc_width
        walk = TileWalk(m, g, "walk", H, self.k_padded, self.m, self.n)   # inner = p*H
        with m.If(self.restart):
            walk.restart()

        column = Signal(range(D), name="column")
        x_part = Signal(range(P + 1), name="x_part")   # part of the X beat this pass uses
        advance, issue = self.advance, self.issue
        m.d.comb += [issue.eq(self.running & walk.active),
                     self.column.eq(column),
                     self.first.eq(walk.inner == 0),
                     self.last.eq(walk.inner + H >= self.k)]
        with m.If(advance & issue):
            m.d.sync += column.eq(column + 1)
            with m.If(column == D - 1):
                m.d.comb += walk.step.eq(1)
                with m.If(walk.inner_last | (x_part == P)):
                    m.d.sync += x_part.eq(0)
                with m.Else():
                    m.d.sync += x_part.eq(x_part + 1)
        with m.If(self.restart):
            m.d.sync += [column.eq(0), x_part.eq(0)]

        x_need = issue & (column == 0) & (x_part == 0)
        y_need = issue & (column == 0) & self.first & self.has_y
        m.d.comb += [advance.eq(self.running
                                & ~self.w_starved
                                & ~(x_need & ~self.x_full)
                                & ~(y_need & ~self.y_full)
                                & ~self.z_blocked),
                     self.x_take.eq(advance & x_need),
                     self.y_take.eq(advance & y_need),
                     self.x_fresh.eq(x_part == 0),
                     self.y_fresh.eq(column == 0)]

        x_part_index = x_part if P > 0 else Const(0)
        for i in range(L):
            for j in range(H):
                m.d.comb += self.x_pass[(i * H + j) * 16:(i * H + j + 1) * 16].eq(
                    self.x_beats[i].word_select(x_part_index * H + j, 16))
            y_value = self.y_beats[i].word_select(column, 16)
            if acc_width > 16:
                y_value = Cat(Const(0, acc_width - 16), y_value)
            m.d.comb += self.init[i * acc_width:(i + 1) * acc_width].eq(
                Mux(self.has_y, y_value, Const(1 << (acc_width - 1), acc_width)))
        return m
