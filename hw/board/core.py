"""The board-independent part of a board top: a cluster with its firmware in its memories, the
mailbox bytes on a UART, the run's state on three LEDs.

``BoardCore(make_cluster, imem_words, spm_words, divisor=...)`` builds the cluster with the
image as the initial contents of its instruction memory and scratchpad (no loader: the
cores start one cycle after reset). The bytes the firmware writes to the mailbox wait in a
FIFO for the transmitter; the mailbox has no back-pressure, so a byte that finds the FIFO
full is dropped and counted as a failure (``fifo_depth`` must hold what the firmware prints
faster than the line sends it). A board's platform wrapper (:mod:`.top`) adds the clock, the
reset button and the pins.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import Out

from ..params import check_pow2
from .uart import UartTx

__all__ = ["BoardCore", "LEDS"]

#: The LEDs, in the order of ``BoardCore.leds``: the cores run; the firmware exited with 0;
#: it exited with another code, or a bus error or a dropped byte happened.
LEDS = ("running", "passed", "failed")


class BoardCore(wiring.Component):
    """A cluster running its firmware, reporting over a UART.

    Parameters
    ----------
    make_cluster : callable
        ``make_cluster(imem_init=..., spm_init=...)`` returns the cluster
        (:class:`hw.cluster.Cluster` or :class:`hw.cluster.system.AcceleratedCluster`: ports
        ``fetch_enable``, ``loader``, ``putc_*``, ``exit_*``, ``bus_error``).
    imem_words, spm_words : sequence of int
        The firmware image: the instruction memory's and the scratchpad's initial words from
        their first address on.
    divisor : int
        Clock cycles per UART bit (:func:`hw.board.uart.uart_divisor`).
    fifo_depth : int
        Bytes the report FIFO holds (a power of two, 16 .. 65,536).

    Members
    -------
    tx : ``Out(1, init=1)``
        The UART line.
    leds : ``Out(3)``
        :data:`LEDS`, active high.
    exit_code : ``Out(32)``
        The firmware's exit code (valid with the ``passed`` or ``failed`` LED).
    dropped : ``Out(16)``
        Mailbox bytes the full FIFO could not take (saturating).
    cluster : the cluster
    """

    def __init__(self, make_cluster, imem_words, spm_words, *, divisor, fifo_depth=4096):
        self.fifo_depth = check_pow2("fifo_depth", fifo_depth, min=16, max=1 << 16)
        self.cluster = make_cluster(imem_init=list(imem_words), spm_init=list(spm_words))
        self.uart = UartTx(divisor)
        cluster_record = getattr(self.cluster, "catalog_record", None)
        if cluster_record is not None:      # the Verilog cache's key (flows.emit.verilog_text)
            self.catalog_record = {"class": f"{__name__}.BoardCore", "cluster": cluster_record,
                                   "divisor": divisor, "fifo_depth": self.fifo_depth}
        super().__init__({"tx": Out(1, init=1), "leds": Out(len(LEDS)), "exit_code": Out(32),
                          "dropped": Out(16)})

    def elaborate(self, platform):
        m = Module()
        cluster = m.submodules.cluster = self.cluster
        uart = m.submodules.uart = self.uart
        fifo = m.submodules.fifo = SyncFIFOBuffered(width=8, depth=self.fifo_depth)

        started = Signal()                    # the cores start the cycle after reset
        m.d.sync += started.eq(1)
        m.d.comb += cluster.fetch_enable.eq(started)

        m.d.comb += [fifo.w_data.eq(cluster.putc_data), fifo.w_en.eq(cluster.putc_valid),
                     uart.i.payload.eq(fifo.r_data), uart.i.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(uart.i.ready), self.tx.eq(uart.tx)]
        with m.If(cluster.putc_valid & ~fifo.w_rdy & (self.dropped != 0xFFFF)):
            m.d.sync += self.dropped.eq(self.dropped + 1)

        exited, bus_error = Signal(), Signal()
        with m.If(cluster.exit_valid & ~exited):
            m.d.sync += [exited.eq(1), self.exit_code.eq(cluster.exit_code)]
        with m.If(cluster.bus_error):
            m.d.sync += bus_error.eq(1)
        failed = (exited & (self.exit_code != 0)) | bus_error | (self.dropped != 0)
        state = {"running": started & ~exited, "passed": exited & ~failed, "failed": failed}
        m.d.comb += self.leds.eq(Cat(*(state[name] for name in LEDS)))
        return m
