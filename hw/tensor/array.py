"""The L x H x P systolic array: computing elements (CEs) and their operand staging.

Row ``i`` is a ring of ``H`` CEs. A *slot* (one output column ``c`` of the tile, ``0 <= c < D``)
enters CE 0, leaves CE ``j`` ``P + 1`` steps later into CE ``j + 1``, and CE ``H - 1`` feeds it
back to CE 0 ``D = H * (P + 1)`` steps after it entered: one *pass* adds ``H`` terms (``k =
p*H .. p*H + H - 1``) to each of the ``D`` partial sums in flight, with no accumulator other than
the CE pipeline registers. ``ceil(K / H)`` passes complete a tile; the first pass starts from
the initial value (Y, or -0 for MATMUL) instead of the feedback.

Every CE reuses the FMA datapath of :class:`hw.fp.FPFMA` with its own :class:`hw.pipeline.
Pipeline` of ``P + 1`` registers (``P`` on the FMA's cut points, or at its output beyond 3, plus
the output register). A tag (valid, column, first pass, last pass) travels with every slot.
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
from ..pipeline import Pipeline
from .regmap import TensorOp

__all__ = ["TensorArray"]


def _silent(elaboratable):
    """Use an operator only for its datapath (never elaborated on its own)."""
    elaboratable._MustUse__silence = True
    return elaboratable


class TensorArray(wiring.Component):
    """The ``L x H x P`` systolic array of computing elements (see the module's description).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry and accumulation format.

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
    busy : :py:`Out(1)`
        A valid slot is in the array.
    flush : :py:`In(1)`
        Empty the array (new job / soft clear).
    """

    def __init__(self, geometry):
        g = self.g = geometry
        L, H, D = g.L, g.H, g.D
        self.cw = max(1, (D - 1).bit_length())
        super().__init__({
            "advance": In(1),
            "i_valid": In(1),
            "i_c": In(self.cw),
            "i_first": In(1),
            "i_last": In(1),
            "x_pass": In(L * H * 16),
            "init": In(L * g.acc_width),
            "w_row": In(D * 16),
            "w_pop": Out(1),
            "op": In(4),
            "k_last": In(range(H + 1)),
            "o_valid": Out(1),
            "o_c": Out(self.cw),
            "z": Out(L * 16),
            "busy": Out(1),
            "flush": In(1),
        })

    def _ce(self, m, j, i, x, w, acc, pad, name):
        """One CE: returns its registered output (acc format)."""
        g = self.g
        af = g.acc_fmt
        aw = af.width
        fma = _silent(FPFMA(af, mul_fmt=BF16))
        ops = Signal(fma.operand_layout, name=f"{name}_ops")
        op = self.op

        def ext(v):  # bf16 -> acc format, exact
            return Cat(Const(0, aw - 16), v) if aw > 16 else v

        one = Const(0x3F80, 16)
        neg_zero_acc = Const(1 << (aw - 1), aw)
        cmp1 = _silent(FPCompare(BF16))
        c1_ops = Signal(cmp1.operand_layout, name=f"{name}_c1")
        m.d.comb += [c1_ops.a.eq(x), c1_ops.b.eq(w)]
        c1 = cmp1.datapath(m, Pipeline(m, latency=0, n_cuts=1, enable=Const(1)), c1_ops)
        c1_min, c1_max = c1[0:16], c1[16:32]
        m.d.comb += ops.as_value().eq(Cat(x, w, acc, Const(0, 2)))  # default: GEMM
        with m.Switch(op):
            with m.Case(TensorOp.ADD_MAX, TensorOp.ADD_MIN):
                m.d.comb += [ops.b.eq(one), ops.c.eq(ext(w))]
            with m.Case(TensorOp.MUL_MAX, TensorOp.MUL_MIN):
                m.d.comb += ops.c.eq(neg_zero_acc)
            with m.Case(TensorOp.MAX_MIN, TensorOp.MIN_MAX):
                m.d.comb += [ops.a.eq(0x8000), ops.b.eq(0), ops.c.eq(ext(Mux(op == TensorOp.MAX_MIN, c1_max, c1_min)))]
        pipe = Pipeline(m, latency=g.P + 1, n_cuts=fma.N_CUTS, enable=self.advance)
        r = pipe.finish(fma.datapath(m, pipe, ops))
        acc_d = pipe.delay(acc, name=f"{name}_acc")
        cmp2 = _silent(FPCompare(af))
        c2_ops = Signal(cmp2.operand_layout, name=f"{name}_c2")
        m.d.comb += [c2_ops.a.eq(acc_d), c2_ops.b.eq(r)]
        c2 = cmp2.datapath(m, Pipeline(m, latency=0, n_cuts=1, enable=Const(1)), c2_ops)
        red_min, red_max = c2[0:aw], c2[aw:2 * aw]
        out = Signal(aw, name=f"{name}_out")
        with m.If(pad):
            m.d.comb += out.eq(acc_d)
        with m.Elif(op <= TensorOp.GEMM):
            m.d.comb += out.eq(r)
        with m.Elif((op == TensorOp.ADD_MAX) | (op == TensorOp.MUL_MAX) | (op == TensorOp.MIN_MAX)):
            m.d.comb += out.eq(red_max)
        with m.Else():
            m.d.comb += out.eq(red_min)
        return out

    def elaborate(self, platform):
        m = Module()
        g = self.g
        L, H, P, D = g.L, g.H, g.P, g.D
        aw = g.acc_width
        adv = self.advance
        cw = self.cw

        def tag_layout(name):
            return (Signal(name=f"{name}_v"), Signal(cw, name=f"{name}_c"),
                    Signal(name=f"{name}_first"), Signal(name=f"{name}_last"))

        # -- tags: one chain per CE column, shared by the L rows -----------------------------
        tag_in = [None] * H
        tag_out = [None] * H
        prev = (self.i_valid, self.i_c, self.i_first, self.i_last)
        for j in range(H):
            tag_in[j] = prev
            v = Cat(*prev)
            for s in range(P + 1):
                r = Signal(len(v), name=f"tag{j}_d{s}")
                with m.If(self.flush):
                    m.d.sync += r.eq(0)
                with m.Elif(adv):
                    m.d.sync += r.eq(v)
                v = r
            tag_out[j] = (v[0], v[1:1 + cw], v[1 + cw], v[2 + cw])
            prev = tag_out[j]

        start = [Signal(name=f"start{j}") for j in range(H)]
        for j in range(H):
            tv, tc, _, _ = tag_in[j]
            m.d.comb += start[j].eq(tv & (tc == 0))
        m.d.comb += self.w_pop.eq(Cat(*start).any())
        busy = Cat(*(t[0] for t in tag_in), tag_out[H - 1][0])
        m.d.comb += self.busy.eq(busy.any())

        # -- W: per-CE shift registers -------------------------------------------------------
        w_val = []
        for j in range(H):
            wreg = Signal(D * 16, name=f"wreg{j}")
            src = Mux(start[j], self.w_row, wreg)
            with m.If(adv):
                m.d.sync += wreg.eq(src >> 16)
            w_val.append(src[0:16])

        # -- X: staging at CE 0's pass start, per-CE latch at each CE's pass start ------------
        x_val = [[None] * H for _ in range(L)]
        for i in range(L):
            for j in range(H):
                xin = self.x_pass[(i * H + j) * 16:(i * H + j + 1) * 16]
                if j == 0:
                    src = xin
                else:
                    xs = Signal(16, name=f"xs{i}_{j}")
                    with m.If(adv & start[0]):
                        m.d.sync += xs.eq(xin)
                    src = xs
                xr = Signal(16, name=f"xr{i}_{j}")
                with m.If(adv & start[j]):
                    m.d.sync += xr.eq(src)
                x_val[i][j] = Mux(start[j], src, xr)

        # -- CE rings --------------------------------------------------------------------------
        pads = []
        for j in range(H):
            last = tag_out[j][3]
            pad = Signal(name=f"pad{j}")
            m.d.comb += pad.eq(last & (self.k_last <= j))
            pads.append(pad)
        conv = _silent(FPConvert(g.acc_fmt, BF16)) if aw > 16 else None
        for i in range(L):
            fb = Signal(aw, name=f"fb{i}")
            acc = Mux(self.i_first, self.init[i * aw:(i + 1) * aw], fb)
            for j in range(H):
                acc = self._ce(m, j, i, x_val[i][j], w_val[j], acc, pads[j], f"ce{i}_{j}")
            m.d.comb += fb.eq(acc)
            if conv is not None:
                c_ops = Signal(conv.operand_layout, name=f"cvt{i}_ops")
                m.d.comb += c_ops.x.eq(acc)
                zb = conv.datapath(m, Pipeline(m, latency=0, n_cuts=1, enable=Const(1)), c_ops)
                m.d.comb += self.z[i * 16:(i + 1) * 16].eq(zb)
            else:
                m.d.comb += self.z[i * 16:(i + 1) * 16].eq(acc)
        ov, oc, _, ol = tag_out[H - 1]
        m.d.comb += [self.o_valid.eq(ov & ol), self.o_c.eq(oc)]
        return m
