"""The L x H x P systolic array: computing elements (CEs) and their operand staging.

Row ``i`` is a ring of ``H`` CEs. A *slot* (one output column ``c`` of the tile, ``0 <= c < D``)
enters CE 0, leaves CE ``j`` ``P + 1`` steps later into CE ``j + 1``, and CE ``H - 1`` feeds it
back to CE 0 ``D = H * (P + 1)`` steps after it entered: one *pass* adds ``H`` terms (``k =
p*H .. p*H + H - 1``) to each of the ``D`` partial sums in flight, with no accumulator other than
the CE pipeline registers. ``ceil(K / H)`` passes complete a tile; the first pass starts from
the initial value (Y, or -0 for MATMUL) instead of the feedback.

Every CE reuses the FMA datapath of :class:`hw.fp.FPFMA` with its own :class:`hw.pipeline.
Pipeline` of ``P`` registers (on the FMA's cut points that its measured segment delays choose,
at its output beyond ``FPFMA.N_CUTS``), plus the CE's output register: latency ``P + 1``. A tag (valid, column, first pass, last pass) travels with every slot.
All registers advance together on ``advance`` (global freeze), so the ring never loses a slot.

Operands:

- W: CE ``j`` takes a W row segment (``D`` values of row ``k = p*H + j``) when it starts a pass
  (slot with column 0 at its input; ``w_pop`` tells the feeder) and shifts it one value per step.
- X: at CE 0's pass start the feeder presents ``x_pass`` (the ``L x H`` values X[i, p*H + j]);
  they are staged and every CE latches its own value at its own pass start.
- CEs with ``p*H + j >= K`` in the last pass (``j >= k_last``) pass the partial sum through
  unchanged (no zero padding, so GEMM-ops and signed zeros stay exact).

GEMM-ops reuse the FMA: ``x + w = fma(x, 1, w)``, ``x * w = fma(x, w, -0)`` and ``max/min(x, w)
= fma(-0, +0, max/min(x, w))`` (an exact pass-through of the addend), then the reduction
``max/min(acc, r)`` with the comparator of :class:`hw.fp.FPCompare` in the accumulation format.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fp import FPCompare, FPConvert, FPFMA
from ..fp.format import BF16
from ..pipeline import Pipeline, combinational, datapath_only
from .regmap import TensorOp

__all__ = ["TensorArray"]


class TensorArray(wiring.Component):
    """The ``L x H x P`` systolic array of computing elements (see the module's description).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry and accumulation format.
    tap : :class:`bool`
        Add the output ``z_acc`` (for the Flash-ABFT checker); without it the array is
        unchanged.

    Members
    -------
    advance : :py:`In(1)`
        Every register of the array moves one step (global freeze when low).
    i_valid : :py:`In(1)`
        A slot enters CE 0 this step.
    i_c : :py:`In(range(D))`
        Its output column.
    i_first, i_last : :py:`In(1)`
        Its pass is the first / last of the tile.
    x_pass : :py:`In(L * H * 16)`
        The pass's X values, X[i, p*H + j] at bits ``(i * H + j) * 16``.
    init : :py:`In(L * acc_width)`
        Initial partial sums of column ``i_c``, row ``i`` at bits ``i * acc_width``.
    w_row : :py:`In(D * 16)`
        The W FIFO's head (row ``k`` of the tile's W columns).
    w_pop : :py:`Out(1)`
        A CE starts a pass: it takes ``w_row`` when the array advances.
    op : :py:`In(4)`
        The job's :class:`~hw.tensor.regmap.TensorOp`.
    k_last : :py:`In(range(H + 1))`
        CEs used in the last pass (1..H); the others pass the partial sums through.
    o_valid : :py:`Out(1)`
        CE ``H - 1`` of every row outputs a finished column (last pass).
    o_c : :py:`Out(range(D))`
        Its column.
    z : :py:`Out(L * 16)`
        Its values, rounded to BF16, row ``i`` at bits ``16 * i``.
    z_acc : :py:`Out(L * acc_width)`
        (``tap`` only) The values of ``z`` before their rounding, row ``i`` at bits
        ``i * acc_width``.
    busy : :py:`Out(1)`
        A valid slot is in the array.
    flush : :py:`In(1)`
        Empty the array (new job / soft clear).
    """

    def __init__(self, geometry, *, tap=False):
        g = self.g = geometry
        L, H, D = g.L, g.H, g.D
        self.tap = bool(tap)
        self.column_width = max(1, (D - 1).bit_length())
        members = {
            "advance": In(1),
            "i_valid": In(1),
            "i_c": In(self.column_width),
            "i_first": In(1),
            "i_last": In(1),
            "x_pass": In(L * H * 16),
            "init": In(L * g.acc_width),
            "w_row": In(D * 16),
            "w_pop": Out(1),
            "op": In(4),
            "k_last": In(range(H + 1)),
            "o_valid": Out(1),
            "o_c": Out(self.column_width),
            "z": Out(L * 16),
            "busy": Out(1),
            "flush": In(1),
        }
        if self.tap:
            members["z_acc"] = Out(L * g.acc_width)
        super().__init__(members)

    def _ce(self, m, j, i, x, w, acc, pad, name):
        """One CE: returns its registered output (acc format)."""
        g = self.g
        acc_fmt = g.acc_fmt
        acc_width = acc_fmt.width
        fma = datapath_only(FPFMA(acc_fmt, mul_fmt=BF16))
        fma_operands = Signal(fma.operand_layout, name=f"{name}_ops")
        op = self.op

        def widen(value):  # bf16 -> acc format, exact
            return Cat(Const(0, acc_width - 16), value) if acc_width > 16 else value

        one = Const(0x3F80, 16)
        neg_zero_acc = Const(1 << (acc_width - 1), acc_width)
        x_w_compare = FPCompare(BF16)
        x_w_operands = Signal(x_w_compare.operand_layout, name=f"{name}_c1")
        m.d.comb += [x_w_operands.a.eq(x), x_w_operands.b.eq(w)]
        x_w_minmax = combinational(m, x_w_compare, x_w_operands)
        x_w_min, x_w_max = x_w_minmax[0:16], x_w_minmax[16:32]
        x_w_selected = Mux(op == TensorOp.MAX_MIN, x_w_max, x_w_min)
        m.d.comb += fma_operands.as_value().eq(Cat(x, w, acc, Const(0, 2)))  # default: GEMM
        with m.Switch(op):
            with m.Case(TensorOp.ADD_MAX, TensorOp.ADD_MIN):
                m.d.comb += [fma_operands.b.eq(one), fma_operands.c.eq(widen(w))]
            with m.Case(TensorOp.MUL_MAX, TensorOp.MUL_MIN):
                m.d.comb += fma_operands.c.eq(neg_zero_acc)
            with m.Case(TensorOp.MAX_MIN, TensorOp.MIN_MAX):
                m.d.comb += [fma_operands.a.eq(0x8000), fma_operands.b.eq(0),
                             fma_operands.c.eq(widen(x_w_selected))]
        # P registers inside the FMA where its measured delays say, one on its output
        pipe = Pipeline(m, latency=g.P, n_cuts=fma.N_CUTS, enable=self.advance,
                        weights=fma.CUT_WEIGHTS)
        product = Signal(acc_width, name=f"{name}_sum")      # the running sum, fed back
        acc_delayed = Signal(acc_width, name=f"{name}_acc_d{g.P}")
        with m.If(self.advance):
            m.d.sync += [product.eq(pipe.finish(fma.datapath(m, pipe, fma_operands))),
                         acc_delayed.eq(pipe.delay(acc, name=f"{name}_acc"))]
        reduce_compare = FPCompare(acc_fmt)
        reduce_operands = Signal(reduce_compare.operand_layout, name=f"{name}_c2")
        m.d.comb += [reduce_operands.a.eq(acc_delayed), reduce_operands.b.eq(product)]
        reduce_minmax = combinational(m, reduce_compare, reduce_operands)
        reduced_min = reduce_minmax[0:acc_width]
        reduced_max = reduce_minmax[acc_width:2 * acc_width]
        out = Signal(acc_width, name=f"{name}_out")
        with m.If(pad):
            m.d.comb += out.eq(acc_delayed)
        with m.Elif(op <= TensorOp.GEMM):
            m.d.comb += out.eq(product)
        with m.Elif((op == TensorOp.ADD_MAX) | (op == TensorOp.MUL_MAX)
                    | (op == TensorOp.MIN_MAX)):
            m.d.comb += out.eq(reduced_max)
        with m.Else():
            m.d.comb += out.eq(reduced_min)
        return out

    def elaborate(self, platform):
        m = Module()
        g = self.g
        L, H, P, D = g.L, g.H, g.P, g.D
        acc_width = g.acc_width
        advance = self.advance
        column_width = self.column_width

        # -- tags: one chain per CE column, shared by the L rows -----------------------------
        tag_in = [None] * H
        tag_out = [None] * H
        prev = (self.i_valid, self.i_c, self.i_first, self.i_last)
        for j in range(H):
            tag_in[j] = prev
            tag = Cat(*prev)
            for stage in range(P + 1):
                tag_reg = Signal(len(tag), name=f"tag{j}_d{stage}")
                with m.If(self.flush):
                    m.d.sync += tag_reg.eq(0)
                with m.Elif(advance):
                    m.d.sync += tag_reg.eq(tag)
                tag = tag_reg
            tag_out[j] = (tag[0], tag[1:1 + column_width], tag[1 + column_width],
                          tag[2 + column_width])
            prev = tag_out[j]

        start = [Signal(name=f"start{j}") for j in range(H)]
        for j in range(H):
            tag_valid, tag_column, _, _ = tag_in[j]
            m.d.comb += start[j].eq(tag_valid & (tag_column == 0))
        m.d.comb += self.w_pop.eq(Cat(*start).any())
        busy = Cat(*(t[0] for t in tag_in), tag_out[H - 1][0])
        m.d.comb += self.busy.eq(busy.any())

        # -- W: per-CE shift registers -------------------------------------------------------
        w_values = []
        for j in range(H):
            w_shift = Signal(D * 16, name=f"w_shift{j}")
            w_segment = Mux(start[j], self.w_row, w_shift)
            with m.If(advance):
                m.d.sync += w_shift.eq(w_segment >> 16)
            w_values.append(w_segment[0:16])

        # -- X: staging at CE 0's pass start, per-CE latch at each CE's pass start ------------
        x_values = [[None] * H for _ in range(L)]
        for i in range(L):
            for j in range(H):
                x_in = self.x_pass[(i * H + j) * 16:(i * H + j + 1) * 16]
                if j == 0:
                    x_source = x_in
                else:
                    x_staged = Signal(16, name=f"x_staged{i}_{j}")
                    with m.If(advance & start[0]):
                        m.d.sync += x_staged.eq(x_in)
                    x_source = x_staged
                x_held = Signal(16, name=f"x_held{i}_{j}")
                with m.If(advance & start[j]):
                    m.d.sync += x_held.eq(x_source)
                x_values[i][j] = Mux(start[j], x_source, x_held)

        # -- CE rings --------------------------------------------------------------------------
        pads = []
        for j in range(H):
            last = tag_out[j][3]
            pad = Signal(name=f"pad{j}")
            m.d.comb += pad.eq(last & (self.k_last <= j))
            pads.append(pad)
        to_bf16 = FPConvert(g.acc_fmt, BF16) if acc_width > 16 else None
        for i in range(L):
            feedback = Signal(acc_width, name=f"feedback{i}")
            acc = Mux(self.i_first, self.init[i * acc_width:(i + 1) * acc_width], feedback)
            for j in range(H):
                acc = self._ce(m, j, i, x_values[i][j], w_values[j], acc, pads[j], f"ce{i}_{j}")
            m.d.comb += feedback.eq(acc)
            if self.tap:
                m.d.comb += self.z_acc[i * acc_width:(i + 1) * acc_width].eq(acc)
            if to_bf16 is not None:
                to_bf16_operands = Signal(to_bf16.operand_layout, name=f"cvt{i}_ops")
                m.d.comb += to_bf16_operands.x.eq(acc)
                z_bf16 = combinational(m, to_bf16, to_bf16_operands)
                m.d.comb += self.z[i * 16:(i + 1) * 16].eq(z_bf16)
            else:
                m.d.comb += self.z[i * 16:(i + 1) * 16].eq(acc)
        ov, oc, _, ol = tag_out[H - 1]
        m.d.comb += [self.o_valid.eq(ov & ol), self.o_c.eq(oc)]
        return m
