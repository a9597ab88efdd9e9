"""The hardware tiler: job checks and the tile walks that turn (pointers, M, N, K, strides, op)
into the order of slots and memory beats.

Tiles are walked row-major (``m0`` outer in steps of ``L``, ``n0`` inner in steps of ``D``); each
consumer of the walk (the issue sequencer, the W, X, Y streams and the Z store) owns its own
:class:`TileWalk`, so they run ahead of one another as far as their buffers allow. Leftovers:
rows ``m0 + i >= M`` are neither read nor stored, columns ``n0 + e >= N`` are computed on
whatever the beat holds and masked out of the store (byte enables), and the last pass disables
the CEs with ``k >= K`` (see :mod:`hw.tensor.array`).
"""

from amaranth import Const, Signal

from .regmap import DIM_BITS, TensorError, TensorOp

__all__ = ["TileWalk", "check_job"]


class TileWalk:
    """Registers ``m0``, ``n0`` and an inner index ``inner`` (0 .. ``inner_end`` - 1, in steps of
    ``inner_step``), plus ``active`` (the walk has not passed the last tile).

    ``step`` (comb, set by the user through :meth:`advance`) moves to the next inner index, the
    next tile at the end of the inner range. :meth:`restart` (in a ``with m.If``) rewinds it."""

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
        nxt = self.inner + inner_step
        self.inner_last = Signal(name=f"{name}_inner_last")
        m.d.comb += self.inner_last.eq(nxt >= inner_end)
        self.tile_last = Signal(name=f"{name}_tile_last")
        m.d.comb += self.tile_last.eq((self.n0 + g.D >= N) & (self.m0 + g.L >= M))
        with m.If(self.step):
            with m.If(self.inner_last):
                m.d.sync += self.inner.eq(0)
                with m.If(self.n0 + g.D >= N):
                    m.d.sync += [self.n0.eq(0), self.m0.eq(self.m0 + g.L)]
                    with m.If(self.m0 + g.L >= M):
                        m.d.sync += self.active.eq(0)
                with m.Else():
                    m.d.sync += self.n0.eq(self.n0 + g.D)
            with m.Else():
                m.d.sync += self.inner.eq(nxt)

    def restart(self, active=1):
        self.m.d.sync += [self.m0.eq(0), self.n0.eq(0), self.inner.eq(0), self.active.eq(active)]


def check_job(m, g, job, *, mem_base, mem_size, max_dim):
    """Error cause (:class:`TensorError`) of the job view ``job``, registered: valid two
    cycles after ``job`` became stable (it must stay so). The buffer spans ``rows * stride``
    (DSP multipliers) are registered first, then the comparisons and the priority: one long
    combinational check was the unit's critical path (27.8 MHz on ECP5)."""
    M, N, K = job.DIM_MN.M, job.DIM_MN.N, job.DIM_K.K
    op = job.COMMAND.OP.as_value()
    has_y = op != TensorOp.MATMUL
    amask = g.beat_bytes - 1
    mats = [  # (ptr, stride, rows, row bytes, used)
        (job.X_PTR, job.X_STRIDE, M, K, Const(1)),
        (job.W_PTR, job.W_STRIDE, K, N, Const(1)),
        (job.Y_PTR, job.Y_STRIDE, M, N, has_y),
        (job.Z_PTR, job.Z_STRIDE, M, N, Const(1)),
    ]
    bad_align = Const(0)
    bad_stride = Const(0)
    bad_addr = Const(0)
    end = mem_base + mem_size
    for k, (ptr, stride, rows, cols, used) in enumerate(mats):
        ba = Signal(name=f"chk_align{k}")
        bs = Signal(name=f"chk_stride{k}")
        bd = Signal(name=f"chk_addr{k}")
        span = Signal(len(rows) + len(stride), name=f"chk_span{k}")
        m.d.sync += span.eq(rows * stride)
        m.d.comb += [
            ba.eq(used & (((ptr & amask) != 0) | ((stride & amask) != 0))),
            bs.eq(used & (stride < cols * 2)),
            bd.eq(used & ((ptr < mem_base) | (ptr + span > end))),
        ]
        bad_align |= ba
        bad_stride |= bs
        bad_addr |= bd
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
    cause_q = Signal(8, name="chk_cause_q")
    m.d.sync += cause_q.eq(cause)
    return cause_q
