"""The tensor unit's check tap: what the Flash-ABFT checker (:mod:`hw.abft`) observes of a job.

Every finished output column of a tile (the array's ``o_valid`` while it advances) is one
*event*: the ``L`` accumulators of column ``c`` before their rounding to BF16, with the position
of the values in the job (rows ``m0 + i``, column ``n0 + c``) and which of them the job keeps
(rows below M, columns below N). Tiles leave the array row-major (``m0`` outer, ``n0`` inner,
:mod:`hw.tensor.tiler`) and every tile outputs its ``D`` columns in order, so a counter beside
the array knows the tile without the Z buffer's help. The job's X and Z pointers tell the
checker which stage of a head the job is.
"""

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .regmap import DIM_BITS

__all__ = ["tap_layout", "CheckTap"]


def tap_layout(geometry, addr_width):
    """Payload of the tap (:attr:`CheckTap.tap`): ``valid`` (an event this cycle), ``values``
    (``L`` accumulators, row ``i`` at bits ``i * acc_width``), ``rows`` (bit ``i``: row
    ``m0 + i`` is below M), ``column_ok`` (``n0 + c`` is below N), ``row`` (``m0``), ``column``
    (``n0 + c``), ``x_ptr`` and ``z_ptr`` (the job's pointers) and ``done`` (the job ended this
    cycle: every event of it came before)."""
    g = geometry
    return data.StructLayout({
        "valid": 1, "values": g.L * g.acc_width, "rows": g.L, "column_ok": 1,
        "row": DIM_BITS + 1, "column": DIM_BITS + 1,
        "x_ptr": addr_width, "z_ptr": addr_width, "done": 1})


class CheckTap(wiring.Component):
    """Builds the tap payload beside the array (see the module description).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
    addr_width : :class:`int`

    Members
    -------
    restart : :py:`In(1)`
        A job starts (rewind the tile counter).
    advance, out_valid : :py:`In(1)`
        The array advances / outputs a finished column.
    out_column : :py:`In(range(D))`
    z_acc : :py:`In(L * acc_width)`
        The array's accumulators of that column.
    m, n : :py:`In(DIM_BITS)`
        The job's M and N.
    x_ptr, z_ptr : :py:`In(addr_width)`
    done : :py:`In(1)`
        The job's done pulse.
    tap : :py:`Out(tap_layout(geometry, addr_width))`
    """

    def __init__(self, geometry, addr_width):
        self.g = geometry
        g = geometry
        super().__init__({
            "restart": In(1), "advance": In(1), "out_valid": In(1),
            "out_column": In(max(1, (g.D - 1).bit_length())),
            "z_acc": In(g.L * g.acc_width),
            "m": In(DIM_BITS), "n": In(DIM_BITS),
            "x_ptr": In(addr_width), "z_ptr": In(addr_width), "done": In(1),
            "tap": Out(tap_layout(geometry, addr_width)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.g
        m0 = Signal(DIM_BITS + 1)
        n0 = Signal(DIM_BITS + 1)
        event = self.advance & self.out_valid
        column = n0 + self.out_column
        m.d.comb += [self.tap.valid.eq(event), self.tap.values.eq(self.z_acc),
                     self.tap.row.eq(m0), self.tap.column.eq(column),
                     self.tap.column_ok.eq(column < self.n),
                     self.tap.x_ptr.eq(self.x_ptr), self.tap.z_ptr.eq(self.z_ptr),
                     self.tap.done.eq(self.done)]
        for i in range(g.L):
            m.d.comb += self.tap.rows[i].eq(m0 + i < self.m)
        with m.If(event & (self.out_column == g.D - 1)):
            with m.If(n0 + g.D >= self.n):
                m.d.sync += [n0.eq(0), m0.eq(m0 + g.L)]
            with m.Else():
                m.d.sync += n0.eq(n0 + g.D)
        with m.If(self.restart):
            m.d.sync += [m0.eq(0), n0.eq(0)]
        return m
