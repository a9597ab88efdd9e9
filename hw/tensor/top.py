"""The tensor unit: register file + tiler + streamers + systolic array.

Ports: ``cfg`` (peripheral bus slave, the register file), ``tcdm`` (one ``D * 16``-bit TCDM
master), ``done_event``. Memory window [``mem_base``, ``mem_base + mem_size``) for pointer
checks. See docs/tensor.md.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from ..regmap import RegisterFile
from .array import TensorArray
from .geometry import TensorGeometry
from .regmap import DIM_BITS, TensorOp, tensor_map
from .streamer import STREAM_W, STREAM_X, STREAM_Y, STREAM_Z, PortArbiter
from .tiler import TileWalk, check_job

__all__ = ["TensorUnit"]


class TensorUnit(wiring.Component):
    def __init__(self, L=4, H=4, P=3, acc="fp32", *, n_contexts=2, addr_width=32,
                 mem_base=0, mem_size=1 << 20, max_dim=4096, w_depth=4, cfg_addr_width=None):
        self.g = TensorGeometry(L, H, P, acc)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = check_int("mem_base", mem_base, min=0, max=(1 << self.addr_width) - 1)
        self.mem_size = check_int("mem_size", mem_size, min=self.g.beat_bytes,
                                  max=(1 << self.addr_width) - self.mem_base)
        self.max_dim = check_int("max_dim", max_dim, min=1, max=(1 << DIM_BITS) - 1)
        self.w_depth = check_int("w_depth", w_depth, min=2, max=16)
        self.regmap = tensor_map(n_contexts=n_contexts, max_dim=self.max_dim,
                                 beat_bytes=self.g.beat_bytes)
        # cfg_addr_width: width of the register-file bus (default: the smallest spanning the
        # map); a cluster slot passes its 12-bit window so that offsets beyond the map miss.
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=self.g.port_width)),
            "done_event": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.g
        L, H, P, D = g.L, g.H, g.P, g.D
        aw = g.acc_width
        bb = g.beat_bytes
        m.submodules.rf = rf = self.rf
        m.submodules.array = arr = TensorArray(g)
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        m.d.comb += self.done_event.eq(rf.done_event)
        job = rf.job
        clear = rf.clear

        M, N, K = job.DIM_MN.M, job.DIM_MN.N, job.DIM_K.K
        op = job.COMMAND.OP.as_value()
        m.d.comb += [arr.op.eq(op), arr.flush.eq(rf.start | clear)]

        # -- job constants (registered in CHECK) ---------------------------------------------
        has_y = Signal()
        kph = Signal(DIM_BITS + 1)      # K rounded up to a multiple of H
        k_last = Signal(range(H + 1))   # CEs used in the last pass
        m.d.comb += arr.k_last.eq(k_last)

        running = Signal()
        checking = Signal()
        done = Signal()
        cause = check_job(m, g, job, mem_base=self.mem_base, mem_size=self.mem_size,
                          max_dim=self.max_dim)
        port = self.tcdm
        arb = PortArbiter(m, port, max(1, (L - 1).bit_length()), clear)

        # -- walks ------------------------------------------------------------------------
        seq = TileWalk(m, g, "seq", H, kph, M, N)          # inner = p*H (issue)
        ww = TileWalk(m, g, "w", 1, kph, M, N)             # inner = k (W rows)
        xw = TileWalk(m, g, "x", D, K, M, N)               # inner = b*D (X beat column)
        yw = TileWalk(m, g, "y", 1, 1, M, N)               # one Y group per tile
        zw = TileWalk(m, g, "z", 1, 1, M, N)               # one Z group per tile

        # Byte addresses as registers that follow the walks by additions (no multiplier between
        # the port's grant and its address register). A tile of L rows moves a stream by
        # L * stride bytes (registered in CHECK); the row within a group adds the stride.
        addr_bits = self.addr_width
        row_strides = {"x": job.X_STRIDE, "y": job.Y_STRIDE, "z": job.Z_STRIDE}
        tile_step = {key: Signal(addr_bits, name=f"{key}_tile_step") for key in row_strides}
        w_walk_addr = ww.address(addr_bits, job.W_PTR, n_delta=2 * D, inner_delta=job.W_STRIDE)
        x_walk_addr = xw.address(addr_bits, job.X_PTR, m_delta=tile_step["x"], inner_delta=2 * D)
        y_walk_addr = yw.address(addr_bits, job.Y_PTR, m_delta=tile_step["y"], n_delta=2 * D)
        z_walk_addr = zw.address(addr_bits, job.Z_PTR, m_delta=tile_step["z"], n_delta=2 * D)

        # Three check cycles: `checking` (job constants, walks restarted, check stage 1),
        # `check2` (check stage 2), `checked` (the registered cause decides).
        check2 = Signal()
        checked = Signal()
        m.d.sync += [check2.eq(checking), checked.eq(check2)]
        with m.If(rf.start):
            m.d.sync += checking.eq(1)
        with m.If(checking):
            m.d.sync += [checking.eq(0),
                         has_y.eq(op != TensorOp.MATMUL),
                         kph.eq((K + H - 1) & ~(H - 1)),
                         k_last.eq(K - (((K + H - 1) & ~(H - 1)) - H))]
            m.d.sync += [tile_step[key].eq(stride * L) for key, stride in row_strides.items()]
            for w in (seq, ww, xw, zw):
                w.restart()
            yw.restart(op != TensorOp.MATMUL)
        with m.If(checked & (cause == 0)):
            m.d.sync += running.eq(1)
        m.d.comb += [rf.done.eq((checked & (cause != 0)) | done),
                     rf.error.eq(Mux(checked, cause, 0))]

        # -- issue sequencer ---------------------------------------------------------------
        c = Signal(range(D), name="seq_c")
        sub = Signal(range(P + 1), name="seq_sub")
        advance = Signal()
        issue = Signal()
        m.d.comb += issue.eq(running & seq.active)
        first = seq.inner == 0
        last = seq.inner + H >= K
        m.d.comb += [arr.advance.eq(advance), arr.i_valid.eq(issue), arr.i_c.eq(c),
                     arr.i_first.eq(first), arr.i_last.eq(last)]
        with m.If(advance & issue):
            m.d.sync += c.eq(c + 1)
            with m.If(c == D - 1):
                m.d.comb += seq.step.eq(1)
                with m.If(seq.inner_last | (sub == P)):
                    m.d.sync += sub.eq(0)
                with m.Else():
                    m.d.sync += sub.eq(sub + 1)
        with m.If(checking):
            m.d.sync += [c.eq(0), sub.eq(0)]

        # -- W FIFO --------------------------------------------------------------------------
        wd = self.w_depth
        wfifo = Array(Signal(D * 16, name=f"wfifo{k}") for k in range(wd))
        w_rd = Signal(range(wd))
        w_wr = Signal(range(wd))
        w_cnt = Signal(range(wd + 1))
        w_push = Signal()
        w_push_data = Signal(D * 16)
        w_pop = Signal()
        m.d.comb += [arr.w_row.eq(wfifo[w_rd]), w_pop.eq(arr.w_pop & advance)]
        with m.If(w_push):
            m.d.sync += [wfifo[w_wr].eq(w_push_data), w_wr.eq(Mux(w_wr == wd - 1, 0, w_wr + 1))]
        with m.If(w_pop):
            m.d.sync += w_rd.eq(Mux(w_rd == wd - 1, 0, w_rd + 1))
        m.d.sync += w_cnt.eq(w_cnt + w_push - w_pop)
        w_inflight = arb.inflight(STREAM_W)
        w_room = (w_cnt + w_inflight) < wd
        w_real = ww.inner < K
        w_dummy = running & ww.active & ~w_real & w_room & (w_inflight == 0)
        w_want = running & ww.active & w_real & w_room
        w_addr = w_walk_addr.base

        # -- X group buffer (L beats) + current group ---------------------------------------------
        xq = [Signal(D * 16, name=f"xq{i}") for i in range(L)]
        xcur = [Signal(D * 16, name=f"xcur{i}") for i in range(L)]
        x_req = Signal(range(L + 1))
        x_got = Signal(range(L + 1))
        x_full = x_got == L
        x_row_real = (xw.m0 + x_req) < M
        x_open = running & xw.active & (x_req < L)
        x_want = x_open & x_row_real
        x_dummy = x_open & ~x_row_real
        x_addr = Signal(addr_bits)        # = X_PTR + (m0 + x_req) * X_STRIDE + inner * 2

        # -- Y group buffer --------------------------------------------------------------------
        yq = [Signal(D * 16, name=f"yq{i}") for i in range(L)]
        ycur = [Signal(D * 16, name=f"ycur{i}") for i in range(L)]
        y_req = Signal(range(L + 1))
        y_got = Signal(range(L + 1))
        y_full = y_got == L
        y_row_real = (yw.m0 + y_req) < M
        y_open = running & yw.active & (y_req < L)
        y_want = y_open & y_row_real
        y_dummy = y_open & ~y_row_real
        y_addr = Signal(addr_bits)        # = Y_PTR + (m0 + y_req) * Y_STRIDE + n0 * 2

        # -- Z collect / store buffers ------------------------------------------------------------
        zc = [Signal(D * 16, name=f"zc{i}") for i in range(L)]
        zs = [Signal(D * 16, name=f"zs{i}") for i in range(L)]
        zs_full = Signal()
        z_i = Signal(range(L + 1))
        z_row_real = (zw.m0 + z_i) < M
        z_open = running & zs_full & (z_i < L)
        z_want = z_open & z_row_real
        z_dummy = z_open & ~z_row_real
        z_addr = Signal(addr_bits)        # = Z_PTR + (m0 + z_i) * Z_STRIDE + n0 * 2
        z_be = Signal(2 * D)
        for e in range(D):
            m.d.comb += z_be[2 * e:2 * e + 2].eq(Mux(zw.n0 + e < N, 0b11, 0b00))

        # -- arbitration ---------------------------------------------------------------------
        arb.add(STREAM_Z, z_want, z_addr, 1, z_be, Array(zs)[z_i[:max(1, (L - 1).bit_length())]] if L > 1 else zs[0], z_i)
        arb.add(STREAM_X, x_want, x_addr, 0, (1 << bb) - 1, 0, x_req)
        arb.add(STREAM_Y, y_want, y_addr, 0, (1 << bb) - 1, 0, y_req)
        arb.add(STREAM_W, w_want, w_addr, 0, (1 << bb) - 1, 0, 0)
        arb.elaborate()
        ld = arb.loaded

        # W stream progress
        m.d.comb += ww.step.eq(ld[STREAM_W] | w_dummy)
        with m.If(arb.r_valid & (arb.r_tag == STREAM_W)):
            m.d.comb += [w_push.eq(1), w_push_data.eq(arb.r_data)]
        with m.Elif(w_dummy):
            m.d.comb += [w_push.eq(1), w_push_data.eq(0)]

        # X stream progress
        x_issue = ld[STREAM_X] | x_dummy
        with m.If(x_issue):
            m.d.sync += [x_req.eq(x_req + 1), x_addr.eq(x_addr + job.X_STRIDE)]
        m.d.comb += xw.step.eq(x_issue & (x_req == L - 1))
        x_ret = arb.r_valid & (arb.r_tag == STREAM_X)
        m.d.sync += x_got.eq(x_got + x_ret + x_dummy)
        for i in range(L):
            with m.If(x_ret & (arb.r_row == i)):
                m.d.sync += xq[i].eq(arb.r_data)

        # Y stream progress
        y_issue = ld[STREAM_Y] | y_dummy
        with m.If(y_issue):
            m.d.sync += [y_req.eq(y_req + 1), y_addr.eq(y_addr + job.Y_STRIDE)]
        m.d.comb += yw.step.eq(y_issue & (y_req == L - 1))
        y_ret = arb.r_valid & (arb.r_tag == STREAM_Y)
        m.d.sync += y_got.eq(y_got + y_ret + y_dummy)
        for i in range(L):
            with m.If(y_ret & (arb.r_row == i)):
                m.d.sync += yq[i].eq(arb.r_data)

        # Z store progress
        z_issue = ld[STREAM_Z] | z_dummy
        with m.If(z_issue):
            m.d.sync += [z_i.eq(z_i + 1), z_addr.eq(z_addr + job.Z_STRIDE)]
            with m.If(z_i == L - 1):
                m.d.comb += zw.step.eq(1)
                m.d.sync += [zs_full.eq(0), z_i.eq(0), z_addr.eq(z_walk_addr.base_next)]

        # -- feeding the array ----------------------------------------------------------------
        x_need = issue & (c == 0) & (sub == 0)
        y_need = issue & (c == 0) & first & has_y
        z_last_col = arr.o_valid & (arr.o_c == D - 1)
        m.d.comb += advance.eq(running
                               & ~(arr.w_pop & (w_cnt == 0))
                               & ~(x_need & ~x_full)
                               & ~(y_need & ~y_full)
                               & ~(z_last_col & zs_full))
        sub_sel = sub if P > 0 else Const(0)
        for i in range(L):
            beat = Mux(sub == 0, xq[i], xcur[i])
            for j in range(H):
                m.d.comb += arr.x_pass[(i * H + j) * 16:(i * H + j + 1) * 16].eq(
                    beat.word_select(sub_sel * H + j, 16))
            yb = Mux(c == 0, yq[i], ycur[i]).word_select(c, 16)
            if aw > 16:
                y_ext = Cat(Const(0, aw - 16), yb)
            else:
                y_ext = yb
            m.d.comb += arr.init[i * aw:(i + 1) * aw].eq(Mux(has_y, y_ext, Const(1 << (aw - 1), aw)))
        with m.If(advance & x_need):
            m.d.sync += [xcur[i].eq(xq[i]) for i in range(L)]
            m.d.sync += [x_got.eq(0), x_req.eq(0), x_addr.eq(x_walk_addr.base)]
        with m.If(advance & y_need):
            m.d.sync += [ycur[i].eq(yq[i]) for i in range(L)]
            m.d.sync += [y_got.eq(0), y_req.eq(0), y_addr.eq(y_walk_addr.base)]
        with m.If(advance & arr.o_valid):
            for i in range(L):
                shifted = Cat(zc[i][16:], arr.z[i * 16:(i + 1) * 16])
                m.d.sync += zc[i].eq(shifted)
                with m.If(arr.o_c == D - 1):
                    m.d.sync += zs[i].eq(shifted)
            with m.If(arr.o_c == D - 1):
                m.d.sync += zs_full.eq(1)

        # -- completion ---------------------------------------------------------------------
        m.d.comb += done.eq(running & ~zw.active & ~arb.req)
        with m.If(done):
            m.d.sync += running.eq(0)
        with m.If(checking):
            m.d.sync += [w_cnt.eq(0), w_rd.eq(0), w_wr.eq(0), x_req.eq(0), x_got.eq(0),
                         y_req.eq(0), y_got.eq(0), zs_full.eq(0), z_i.eq(0),
                         x_addr.eq(job.X_PTR), y_addr.eq(job.Y_PTR), z_addr.eq(job.Z_PTR)]

        # -- counters -------------------------------------------------------------------------
        cnt = rf.counters
        m.d.comb += [cnt.BUSY_CYCLES.eq(1),
                     cnt.COMPUTE_CYCLES.eq(advance & issue),
                     cnt.STALL_CYCLES.eq(port.req & ~port.gnt),
                     cnt.FREEZE_CYCLES.eq(running & ~advance)]

        with m.If(clear):
            m.d.sync += [running.eq(0), checking.eq(0), check2.eq(0), checked.eq(0)]
        return m
