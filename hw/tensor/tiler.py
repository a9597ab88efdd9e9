"""The hardware tiler: job checks and the tile walks that turn (pointers, M, N, K, strides, op)
into the order of slots and memory beats.

Tiles are walked row-major (``m0`` outer in steps of ``L``, ``n0`` inner in steps of ``D``); each
consumer of the walk (the scheduler and the X, Y, W and Z buffers, :mod:`hw.tensor.scheduler`
and :mod:`hw.tensor.buffers`) owns its own :class:`TileWalk`, so they run ahead of one another
as far as their buffers allow. Leftovers:
rows ``m0 + i >= M`` are neither read nor stored, columns ``n0 + e >= N`` are computed on
whatever the beat holds and masked out of the store (byte enables), and the last pass disables
the CEs with ``k >= K`` (see :mod:`hw.tensor.array`).
"""

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .regmap import DIM_BITS, TensorError, TensorOp

__all__ = ["TileWalk", "WalkAddress", "JobChecker"]


class TileWalk:
    """Registers ``m0``, ``n0`` and an inner index ``inner`` (0 .. ``inner_end`` - 1, in steps of
    ``inner_step``), plus ``active`` (the walk has not passed the last tile).

    The walk's logic goes into ``m``, the module of the component that owns the walk (it is
    part of that component, never of a parent's). ``step`` (comb, driven by the owner) moves to
    the next inner index, the next tile at the end of the inner range. :meth:`restart` (in a
    ``with m.If``) rewinds it. :meth:`address` adds a byte address that follows the walk
    without a multiplier."""

    def __init__(self, m, g, name, inner_step, inner_end, M, N):
        self.m, self.g, self.name = m, g, name
        self.m0 = Signal(DIM_BITS + 1, name=f"{name}_m0")
        self.n0 = Signal(DIM_BITS + 1, name=f"{name}_n0")
        self.inner = Signal(DIM_BITS + 1, name=f"{name}_inner")
        self.active = Signal(name=f"{name}_active")
        self.step = Signal(name=f"{name}_step")
        self.inner_step = inner_step
        self.inner_end = inner_end
        self.M, self.N = M, N
        self._addresses = []
        inner_next = self.inner + inner_step
        self.inner_last = Signal(name=f"{name}_inner_last")
        m.d.comb += self.inner_last.eq(inner_next >= inner_end)
        self.n_wrap = Signal(name=f"{name}_n_wrap")      # the step after this one starts a row
        m.d.comb += self.n_wrap.eq(self.n0 + g.D >= N)
        self.tile_last = Signal(name=f"{name}_tile_last")
        m.d.comb += self.tile_last.eq(self.n_wrap & (self.m0 + g.L >= M))
        with m.If(self.step):
            with m.If(self.inner_last):
                m.d.sync += self.inner.eq(0)
                with m.If(self.n_wrap):
                    m.d.sync += [self.n0.eq(0), self.m0.eq(self.m0 + g.L)]
                    with m.If(self.m0 + g.L >= M):
                        m.d.sync += self.active.eq(0)
                with m.Else():
                    m.d.sync += self.n0.eq(self.n0 + g.D)
            with m.Else():
                m.d.sync += self.inner.eq(inner_next)

    def address(self, width, ptr, *, m_delta=0, n_delta=0, inner_delta=0):
        """A :class:`WalkAddress` of ``width`` bits: ``ptr + (m0 / L) * m_delta + (n0 / D) *
        n_delta + (inner / inner_step) * inner_delta`` modulo ``2 ** width``, kept up to date by
        additions on every step. The deltas are constants or registers stable during a job."""
        addr = WalkAddress(self, width, ptr, m_delta, n_delta, inner_delta)
        self._addresses.append(addr)
        return addr

    def restart(self, active=1):
        self.m.d.sync += [self.m0.eq(0), self.n0.eq(0), self.inner.eq(0), self.active.eq(active)]
        for addr in self._addresses:
            addr.restart()


class WalkAddress:
    """The byte address of a :class:`TileWalk`'s position, as registers.

    A multiply ``(m0 + row) * stride`` in front of a port's address register sits on the path
    from the scratchpad grant (which selects the stream) to that register; in the cluster it
    was the critical path. Here every address is a register updated by one addition per step:
    ``base`` (the position), ``row_base`` (the position with ``inner = 0``) and ``tile_base``
    (with ``n0 = 0`` too). ``base_next`` is the value ``base`` takes at the end of a cycle in
    which the walk steps (comb), for users that reload from it in that same cycle."""

    def __init__(self, walk, width, ptr, m_delta, n_delta, inner_delta):
        m = walk.m
        self.walk, self.ptr = walk, ptr
        name = walk.name
        self.base = Signal(width, name=f"{name}_addr")
        self.row_base = Signal(width, name=f"{name}_addr_row")
        self.tile_base = Signal(width, name=f"{name}_addr_tile")
        self.base_next = Signal(width, name=f"{name}_addr_next")
        next_row = Signal(width, name=f"{name}_addr_next_row")
        next_tile = Signal(width, name=f"{name}_addr_next_tile")
        m.d.comb += [next_tile.eq(self.tile_base + m_delta),
                     next_row.eq(Mux(walk.n_wrap, next_tile, self.row_base + n_delta))]
        with m.If(~walk.step):
            m.d.comb += self.base_next.eq(self.base)
        with m.Elif(walk.inner_last):
            m.d.comb += self.base_next.eq(next_row)
            m.d.sync += self.row_base.eq(next_row)
            with m.If(walk.n_wrap):
                m.d.sync += self.tile_base.eq(next_tile)
        with m.Else():
            m.d.comb += self.base_next.eq(self.base + inner_delta)
        with m.If(walk.step):
            m.d.sync += self.base.eq(self.base_next)

    def restart(self):
        self.walk.m.d.sync += [self.base.eq(self.ptr), self.row_base.eq(self.ptr),
                               self.tile_base.eq(self.ptr)]


class JobChecker(wiring.Component):
    """The error cause (:class:`TensorError`) of a job, registered: valid two cycles after
    ``job`` became stable (it must stay so). The buffer spans ``rows * stride`` (DSP
    multipliers) are registered first, then the comparisons and the priority: one long
    combinational check was the unit's critical path (docs/tensor.md).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry (pointers and strides must be multiples of its beat).
    job_layout : :class:`~amaranth.lib.data.StructLayout`
        Layout of the register file's ``job`` view (:func:`~hw.tensor.regmap.tensor_map`).
    mem_base, mem_size : :class:`int`
        The memory window every used matrix must lie in.
    max_dim : :class:`int`
        Largest M, N and K.

    Members
    -------
    job : :py:`In(job_layout)`
        The job's registers.
    cause : :py:`Out(8)`
        The error cause, 0 if the job is valid, in priority order BAD_OP, BAD_DIM, BAD_ALIGN,
        BAD_STRIDE, BAD_ADDR.
    """

    def __init__(self, geometry, job_layout, *, mem_base, mem_size, max_dim):
        self.geometry = geometry
        self.mem_base, self.mem_size, self.max_dim = mem_base, mem_size, max_dim
        super().__init__({"job": In(job_layout), "cause": Out(8)})

    def elaborate(self, platform):
        m = Module()
        job = self.job
        mem_base, mem_size, max_dim = self.mem_base, self.mem_size, self.max_dim
        M, N, K = job.DIM_MN.M, job.DIM_MN.N, job.DIM_K.K
        op = job.COMMAND.OP.as_value()
        has_y = op != TensorOp.MATMUL
        align_mask = self.geometry.beat_bytes - 1
        matrices = [  # (ptr, stride, rows, row elements, used)
            (job.X_PTR, job.X_STRIDE, M, K, Const(1)),
            (job.W_PTR, job.W_STRIDE, K, N, Const(1)),
            (job.Y_PTR, job.Y_STRIDE, M, N, has_y),
            (job.Z_PTR, job.Z_STRIDE, M, N, Const(1)),
        ]
        bad_align = Const(0)
        bad_stride = Const(0)
        bad_addr = Const(0)
        end = mem_base + mem_size
        for k, (ptr, stride, rows, cols, used) in enumerate(matrices):
            misaligned = Signal(name=f"chk_align{k}")
            short_stride = Signal(name=f"chk_stride{k}")
            outside = Signal(name=f"chk_addr{k}")
            span = Signal(len(rows) + len(stride), name=f"chk_span{k}")
            m.d.sync += span.eq(rows * stride)
            m.d.comb += [
                misaligned.eq(used & (((ptr & align_mask) != 0) | ((stride & align_mask) != 0))),
                short_stride.eq(used & (stride < cols * 2)),
                outside.eq(used & ((ptr < mem_base) | (ptr + span > end))),
            ]
            bad_align |= misaligned
            bad_stride |= short_stride
            bad_addr |= outside
        bad_dim = ((M == 0) | (N == 0) | (K == 0) | (M > max_dim) | (N > max_dim) | (K > max_dim))
        cause = Signal(8, name="chk_cause")
        with m.If(op > max(TensorOp)):
            m.d.comb += cause.eq(TensorError.BAD_OP)
        with m.Elif(bad_dim):
            m.d.comb += cause.eq(TensorError.BAD_DIM)
        with m.Elif(bad_align):
            m.d.comb += cause.eq(TensorError.BAD_ALIGN)
        with m.Elif(bad_stride):
            m.d.comb += cause.eq(TensorError.BAD_STRIDE)
        with m.Elif(bad_addr):
            m.d.comb += cause.eq(TensorError.BAD_ADDR)
        m.d.sync += self.cause.eq(cause)
        return m
