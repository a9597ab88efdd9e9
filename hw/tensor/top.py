"""The tensor unit: a top that only connects its parts, as RedMulE's ``redmule_top``.

- :class:`~hw.regmap.RegisterFile` (``rf``): the register file on the ``cfg`` bus;
- :class:`~hw.tensor.controller.TensorController`: job checks, job constants, completion,
  counters;
- :class:`~hw.tensor.scheduler.TensorScheduler`: the slots issued into the array, the freeze,
  the operands of every slot;
- :class:`~hw.tensor.buffers.XYBuffer` (X and Y), :class:`~hw.tensor.buffers.WBuffer`,
  :class:`~hw.tensor.buffers.ZBuffer`: the streams' buffers and tile walks;
- :class:`~hw.tensor.streamer.TensorStreamer`: the one TCDM master shared by the four streams;
- :class:`~hw.tensor.array.TensorArray`: the systolic array.

See docs/tensor.md.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from ..regmap import RegisterFile
from .array import TensorArray
from .buffers import WBuffer, XYBuffer, ZBuffer
from .controller import TensorController
from .geometry import TensorGeometry
from .regmap import DIM_BITS, MAX_DIM, tensor_map
from .scheduler import TensorScheduler
from .streamer import TensorStreamer
from .tap import CheckTap, tap_layout

__all__ = ["TensorUnit"]


class TensorUnit(wiring.Component):
    """RedMulE-style ``L x H x P`` BF16 GEMM engine with a hardware tiler (docs/tensor.md):
    ``Z = X W (+ Y)`` or a GEMM-op, programmed through its register file
    (:func:`~hw.tensor.regmap.tensor_map`).

    Parameters
    ----------
    rows, cols, pipes : :class:`int`
        Rows (L), CEs per row (H) and pipeline registers per CE (P) of the array
        (:class:`~hw.tensor.geometry.TensorGeometry`; configuration section ``tensor``).
    acc : :class:`str`
        Accumulation format, ``"fp32"`` or ``"bf16"``.
    n_contexts : :class:`int`
        Job contexts of the register file.
    addr_width : :class:`int`
        Width of the TCDM byte address (8..32).
    mem_base, mem_size : :class:`int`
        The memory window: a job whose used matrices leave it fails with BAD_ADDR.
    max_dim : :class:`int`
        Largest M, N and K.
    w_depth : :class:`int`
        Entries of the W FIFO (2..16).
    cfg_addr_width : :class:`int` or :py:`None`
        Width of the register-file bus (default: the smallest spanning the map); a cluster
        slot passes its window so that offsets beyond the map miss.
    check_tap : :class:`bool`
        Add the output ``tap`` for the Flash-ABFT checker (:mod:`hw.tensor.tap`); without it
        the unit's Verilog is unchanged.

    Members
    -------
    cfg : :py:`In(TCDMSignature(cfg_addr_width, 32))`
        Peripheral bus slave: the register file.
    tcdm : :py:`Out(TCDMSignature(addr_width, D * 16))`
        The memory master, one beat of ``D`` BF16 values.
    done_event : :py:`Out(1)`
        One-cycle pulse for every finished job.
    tap : :py:`Out(tap_layout(...))`
        (``check_tap`` only) Every finished output column before its rounding
        (:class:`~hw.tensor.tap.CheckTap`).
    tap_ready : :py:`In(1)`
        (``check_tap`` only) The checker has room for an event: while low, the array does not
        advance in a cycle in which it would output a column (no event is ever lost).
    """

    def __init__(self, rows=4, cols=4, pipes=3, acc="fp32", *, n_contexts=2, addr_width=32,
                 mem_base=0, mem_size=1 << 20, max_dim=MAX_DIM, w_depth=4, cfg_addr_width=None,
                 check_tap=False):
        self.g = TensorGeometry(rows, cols, pipes, acc)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = check_int("mem_base", mem_base, min=0, max=(1 << self.addr_width) - 1)
        self.mem_size = check_int("mem_size", mem_size, min=self.g.beat_bytes,
                                  max=(1 << self.addr_width) - self.mem_base)
        self.max_dim = check_int("max_dim", max_dim, min=1, max=(1 << DIM_BITS) - 1)
        self.w_depth = check_int("w_depth", w_depth, min=2, max=16)
        self.regmap = tensor_map(n_contexts=n_contexts, max_dim=self.max_dim,
                                 beat_bytes=self.g.beat_bytes)
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        self.check_tap = bool(check_tap)
        members = {
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=self.g.port_width)),
            "done_event": Out(1),
        }
        if self.check_tap:
            members["tap"] = Out(tap_layout(self.g, self.addr_width))
            members["tap_ready"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        g, addr_width = self.g, self.addr_width
        m.submodules.rf = rf = self.rf
        m.submodules.controller = controller = TensorController(
            g, self.regmap, addr_width=addr_width, mem_base=self.mem_base,
            mem_size=self.mem_size, max_dim=self.max_dim)
        m.submodules.scheduler = scheduler = TensorScheduler(g)
        m.submodules.x_buffer = x_buffer = XYBuffer(g, addr_width, along_k=True)
        m.submodules.y_buffer = y_buffer = XYBuffer(g, addr_width, along_k=False)
        m.submodules.w_buffer = w_buffer = WBuffer(g, addr_width, self.w_depth)
        m.submodules.z_buffer = z_buffer = ZBuffer(g, addr_width)
        m.submodules.streamer = streamer = TensorStreamer(g, addr_width)
        m.submodules.array = array = TensorArray(g, tap=self.check_tap)

        # register file and controller
        job = rf.job
        M, N, K = job.DIM_MN.M, job.DIM_MN.N, job.DIM_K.K
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        m.d.comb += [self.done_event.eq(rf.done_event),
                     controller.job.eq(job),
                     controller.start.eq(rf.start),
                     controller.clear.eq(rf.clear),
                     rf.done.eq(controller.done),
                     rf.error.eq(controller.error),
                     rf.counters.eq(controller.counters),
                     controller.stores_left.eq(z_buffer.active),
                     controller.port_busy.eq(streamer.busy),
                     controller.advance.eq(scheduler.advance),
                     controller.issue.eq(scheduler.issue),
                     controller.stalled.eq(streamer.stalled)]

        # every walker: job start, run state, dimensions
        for unit in (scheduler, x_buffer, y_buffer, w_buffer, z_buffer):
            m.d.comb += [unit.restart.eq(controller.restart), unit.running.eq(controller.running),
                         unit.m.eq(M), unit.n.eq(N)]
        for unit in (scheduler, x_buffer, w_buffer):
            m.d.comb += unit.k.eq(K)
        for unit in (scheduler, w_buffer):
            m.d.comb += unit.k_padded.eq(controller.k_padded)

        # buffers: their job registers, the streamer, the scheduler
        m.d.comb += [x_buffer.enable.eq(1), y_buffer.enable.eq(controller.reads_y),
                     scheduler.has_y.eq(controller.has_y)]
        for buffer, ptr, stride, tile_step in (
                (x_buffer, job.X_PTR, job.X_STRIDE, controller.x_tile_step),
                (y_buffer, job.Y_PTR, job.Y_STRIDE, controller.y_tile_step),
                (w_buffer, job.W_PTR, job.W_STRIDE, None),
                (z_buffer, job.Z_PTR, job.Z_STRIDE, controller.z_tile_step)):
            m.d.comb += [buffer.ptr.eq(ptr), buffer.stride.eq(stride)]
            if tile_step is not None:
                m.d.comb += buffer.tile_step.eq(tile_step)
        for buffer, port in ((x_buffer, streamer.x), (y_buffer, streamer.y),
                             (w_buffer, streamer.w), (z_buffer, streamer.z)):
            wiring.connect(m, buffer.memory, port)
        m.d.comb += streamer.clear.eq(rf.clear)
        wiring.connect(m, streamer.tcdm, wiring.flipped(self.tcdm))
        for buffer, full, take, fresh, beats in (
                (x_buffer, scheduler.x_full, scheduler.x_take, scheduler.x_fresh,
                 scheduler.x_beats),
                (y_buffer, scheduler.y_full, scheduler.y_take, scheduler.y_fresh,
                 scheduler.y_beats)):
            m.d.comb += [full.eq(buffer.full), buffer.take.eq(take), buffer.fresh.eq(fresh),
                         beats.eq(buffer.beats)]
        z_blocked = z_buffer.blocked
        if self.check_tap:
            z_blocked = z_blocked | (array.o_valid & ~self.tap_ready)
        m.d.comb += [w_buffer.w_exp.eq(job.COMMAND.W_EXP),
                     scheduler.w_starved.eq(w_buffer.starved),
                     scheduler.z_blocked.eq(z_blocked),
                     w_buffer.pop_request.eq(array.w_pop),
                     w_buffer.advance.eq(scheduler.advance),
                     z_buffer.advance.eq(scheduler.advance),
                     z_buffer.out_valid.eq(array.o_valid),
                     z_buffer.out_column.eq(array.o_c),
                     z_buffer.out_values.eq(array.z)]

        # the array
        m.d.comb += [array.op.eq(job.COMMAND.OP.as_value()),
                     array.flush.eq(rf.start | rf.clear),
                     array.k_last.eq(controller.k_last),
                     array.advance.eq(scheduler.advance),
                     array.i_valid.eq(scheduler.issue),
                     array.i_c.eq(scheduler.column),
                     array.i_first.eq(scheduler.first),
                     array.i_last.eq(scheduler.last),
                     array.x_pass.eq(scheduler.x_pass),
                     array.init.eq(scheduler.init),
                     array.w_row.eq(w_buffer.row)]

        if self.check_tap:
            m.submodules.check_tap = tap = CheckTap(g, addr_width)
            m.d.comb += [tap.restart.eq(controller.restart), tap.advance.eq(scheduler.advance),
                         tap.out_valid.eq(array.o_valid), tap.out_column.eq(array.o_c),
                         tap.z_acc.eq(array.z_acc), tap.m.eq(M), tap.n.eq(N),
                         tap.x_ptr.eq(job.X_PTR), tap.z_ptr.eq(job.Z_PTR),
                         tap.done.eq(controller.done), self.tap.eq(tap.tap)]
        return m
