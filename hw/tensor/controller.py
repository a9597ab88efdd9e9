"""The controller: job start, checks, job constants, completion and performance counters
(RedMulE's controller, with the register file beside it in :class:`~hw.tensor.top.
TensorUnit`)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..regmap.description import CAUSE_WIDTH
from .regmap import DIM_BITS, TensorOp
from .tiler import JobChecker

__all__ = ["TensorController"]


class TensorController(wiring.Component):
    """Runs one job from the register file's ``start`` to its ``done``.

    A job takes three check cycles after ``start``: ``restart`` (the job constants are
    registered, the walks and buffers rewind, check stage 1), check stage 2, then the
    registered cause decides: an invalid job is done at once with its cause, a valid one runs
    until the Z store has written its last tile and the memory port is idle. A soft clear
    abandons the job.

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry.
    regmap : :class:`~hw.regmap.RegisterMap`
        The tensor unit's register map (:func:`~hw.tensor.regmap.tensor_map`): layouts of the
        job and of the counters.
    addr_width : :class:`int`
        Width of the byte addresses.
    mem_base, mem_size : :class:`int`
        The memory window every used matrix must lie in.
    max_dim : :class:`int`
        Largest M, N and K.

    Members
    -------
    job : :py:`In(regmap.job_layout)`
        The running job's registers (stable from ``start`` to ``done``).
    start, clear : :py:`In(1)`
        The register file starts a job / aborts everything.
    done : :py:`Out(1)`
        The job ends this cycle (to the register file).
    error : :py:`Out(CAUSE_WIDTH)`
        Its error cause, with ``done``.
    counters : :py:`Out(regmap.counter_layout)`
        Increments of the performance counters.
    restart : :py:`Out(1)`
        First check cycle: the walks and buffers rewind.
    running : :py:`Out(1)`
        A valid job runs.
    reads_y : :py:`Out(1)`
        The job's operation adds Y (combinational, from ``job``; sampled with ``restart``).
    has_y : :py:`Out(1)`
        ``reads_y`` registered for the job.
    k_padded : :py:`Out(DIM_BITS + 1)`
        K rounded up to a multiple of ``H``.
    k_last : :py:`Out(range(H + 1))`
        CEs used in the last pass (1..H).
    x_tile_step, y_tile_step, z_tile_step : :py:`Out(addr_width)`
        ``L`` row strides of X, Y and Z (the address step from a row of tiles to the next).
    stores_left : :py:`In(1)`
        The Z store has tiles left.
    port_busy : :py:`In(1)`
        A memory request is waiting for its grant.
    advance, issue : :py:`In(1)`
        The array advances / a slot enters it (for the counters).
    stalled : :py:`In(1)`
        The memory port requests without grant (for the counters).
    """

    def __init__(self, geometry, regmap, *, addr_width, mem_base, mem_size, max_dim):
        self.geometry = geometry
        self.regmap = regmap
        self.checker = JobChecker(geometry, regmap.job_layout, mem_base=mem_base,
                                  mem_size=mem_size, max_dim=max_dim)
        super().__init__({
            "job": In(regmap.job_layout),
            "start": In(1),
            "clear": In(1),
            "done": Out(1),
            "error": Out(CAUSE_WIDTH),
            "counters": Out(regmap.counter_layout),
            "restart": Out(1),
            "running": Out(1),
            "reads_y": Out(1),
            "has_y": Out(1),
            "k_padded": Out(DIM_BITS + 1),
            "k_last": Out(range(geometry.H + 1)),
            "x_tile_step": Out(addr_width),
            "y_tile_step": Out(addr_width),
            "z_tile_step": Out(addr_width),
            "stores_left": In(1),
            "port_busy": In(1),
            "advance": In(1),
            "issue": In(1),
            "stalled": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        H, L = self.geometry.H, self.geometry.L
        job = self.job
        m.submodules.checker = checker = self.checker
        m.d.comb += checker.job.eq(job)
        cause = checker.cause
        K = job.DIM_K.K
        op = job.COMMAND.OP.as_value()
        m.d.comb += self.reads_y.eq(op != TensorOp.MATMUL)

        checking = self.restart
        running = self.running
        done = Signal()
        check2 = Signal()
        checked = Signal()
        m.d.sync += [check2.eq(checking), checked.eq(check2)]
        with m.If(self.start):
            m.d.sync += checking.eq(1)
        with m.If(checking):
            m.d.sync += [checking.eq(0),
                         self.has_y.eq(op != TensorOp.MATMUL),
                         self.k_padded.eq((K + H - 1) & ~(H - 1)),
                         self.k_last.eq(K - (((K + H - 1) & ~(H - 1)) - H)),
                         self.x_tile_step.eq(job.X_STRIDE * L),
                         self.y_tile_step.eq(job.Y_STRIDE * L),
                         self.z_tile_step.eq(job.Z_STRIDE * L)]
        with m.If(checked & (cause == 0)):
            m.d.sync += running.eq(1)
        m.d.comb += [self.done.eq((checked & (cause != 0)) | done),
                     self.error.eq(Mux(checked, cause, 0))]

        m.d.comb += done.eq(running & ~self.stores_left & ~self.port_busy)
        with m.If(done):
            m.d.sync += running.eq(0)

        counters = self.counters
        m.d.comb += [counters.BUSY_CYCLES.eq(1),
                     counters.COMPUTE_CYCLES.eq(self.advance & self.issue),
                     counters.STALL_CYCLES.eq(self.stalled),
                     counters.FREEZE_CYCLES.eq(running & ~self.advance)]

        with m.If(self.clear):
            m.d.sync += [running.eq(0), checking.eq(0), check2.eq(0), checked.eq(0)]
        return m
