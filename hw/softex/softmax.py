"""SoftEx softmax engine: two-pass BF16 softmax behind a generated HWPE register file, with one
L x 16-bit scratchpad (TCDM) master port. Semantics and numerics: ``docs/softmax.md``; the
bit-exact specification is ``sim/golden/softmax.py``.

Ports: ``cfg`` (slave, 32-bit peripheral bus to the register file), ``tcdm`` (master,
``lanes * 16`` data bits, byte addresses), ``done_event`` (one-cycle event per finished job),
``busy``.

Datapath (one beat = L lanes):

- read stage R (the cycle of ``rdata``): int8 elements (one half of the port word: L bytes,
  one per lane) are converted exactly to BF16 (IntToFloat, CAST.IN_*); lanes outside the row
  become -inf; the beat maximum (a tree of FPCompare) is registered with the beat (stage A).
- stage A: m_new = maximum(m, vmax) (pass 1; pass 2 keeps m); d_j = bf16(x_j - m_new) and the
  rescale argument bf16(m - m_new) (L + 1 BF16 subtractors) enter one Expp of L + 1 lanes.
- stage E (Expp output): pass 1 updates the L fp32 partial sums, one fp32 FMA per lane:
  S_j = S_j * (grown ? f : 1) + e_j, so pass 1 takes one beat per cycle with a data-independent
  order. Pass 2 multiplies e_j (exact in fp32) by the fp32 reciprocal and rounds once to BF16
  (an fp32 x fp32 + bf16 FMA per lane), then, for int8 output, FloatToInt (CAST.OUT_*), into
  a FIFO towards the write port.
- After pass 1 the lane FMAs reduce the partial sums in a fixed pairwise tree (log2 L cycles),
  then lane 0's FMA runs two Newton-Raphson steps from a 7-bit table seed (4 cycles).

Pass 2 shares the port between reads and writes (writes first; credits bound the reads in
flight to the FIFO depth), so it runs at one beat per two cycles.

A job of ROWS.COUNT rows runs them one after the other: at the end of a row (state DONE) the
three addresses advance by their strides, the state is reset and the next row is checked and
started without a return to IDLE; only the last row (or a row that fails) signals done.

GELU jobs (COMMAND.OP = GELU, engines built with ``gelu=True``) use pass 2's port schedule:
the beats of stage A enter a FIFO, leave it as two half beats into a :class:`Gelu` of L / 2
lanes (one half beat per cycle: exactly the port's rate of one beat read per two cycles),
and are paired again into the output FIFO (then int8 casts, as for softmax). Half the lanes
halve GELU's area (K expp and 2K + 2 multipliers per lane) at no cost in cycles.
"""

from contextlib import contextmanager

from amaranth import Array, C, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..bus import TCDMRequester, TCDMSignature
from ..fp import FloatToInt, FPAdd, FPCompare, FPFMA, IntToFloat
from ..fp.format import BF16, FP32
from ..params import Range, check_choice, check_int
from ..regmap import RegisterFile
from .expp import MODES, Expp
from . import gelu_coeffs
from .gelu import ACC_WIDTH_MAX, ACC_WIDTH_MIN, Gelu
from .regmap import LENGTH_BITS, ROWS_BITS, Cause, ElemFormat, SoftexOp, softex_map

__all__ = ["SoftmaxEngine", "SEED_TABLE", "LANE_CHOICES"]

LANE_CHOICES = (4, 8, 16, 32)
NEG_INF = 0xFF80
ONE32 = 0x3F80_0000
TWO32 = 0x4000_0000


def _seed_table():
    t = []
    for k in range(128):
        v = 2.0 / (1.0 + (k + 0.5) / 128.0)
        t.append(min(127, int(round((v - 1.0) * 128))))
    return tuple(t)


SEED_TABLE = _seed_table()


def _comb(m, op, name):
    """Instantiate a latency-0 PipelinedOp as a combinational function."""
    m.submodules[name] = op
    m.d.comb += [op.i.valid.eq(1), op.o.ready.eq(1)]
    return op


class SoftmaxEngine(wiring.Component):
    """Softmax engine with ``lanes`` lanes (4, 8, 16 or 32; port of ``16 * lanes`` bits); BF16 or
    int8 elements in and out (COMMAND.IN_FMT / OUT_FMT, CAST).

    ``mode``: expp mode ("accurate" default, or "softex"); ``expp_latency``: register stages
    of the Expp unit; ``addr_width``: scratchpad address width; ``mem_base`` / ``mem_size``:
    the scratchpad window every buffer must lie in (default: the whole address space);
    ``n_contexts``: job contexts of the register file; ``cfg_addr_width``: register bus width.

    GELU (OP = GELU): ``gelu`` (include the unit; without it OP = GELU ends with BAD_CMD),
    ``gelu_terms`` K (a fitted K of ``hw/softex/gelu_coeffs.py``, default its DEFAULT_TERMS),
    ``gelu_acc_width`` W (fixed-point accumulator bits), ``gelu_latency`` (register stages of
    the GELU unit, 0..6). The GELU expp uses ``mode`` too.
    """

    #: Register stages of the exponential (its three cut points, then the output).
    EXPP_LATENCY = Range(0, 6)

    def __init__(self, lanes=8, *, mode="accurate", expp_latency=2, addr_width=32,
                 mem_base=0, mem_size=None, n_contexts=2, cfg_addr_width=None, gelu=True,
                 gelu_terms=None, gelu_acc_width=14, gelu_latency=6):
        self.lanes = check_choice("lanes", lanes, LANE_CHOICES)
        self.mode = check_choice("mode", mode, MODES)
        self.expp_latency = self.EXPP_LATENCY.check("expp_latency", expp_latency)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = check_int("mem_base", mem_base, min=0, max=(1 << addr_width) - 1)
        if mem_size is None:
            mem_size = (1 << addr_width) - mem_base
        self.mem_size = check_int("mem_size", mem_size, min=8,
                                  max=(1 << addr_width) - self.mem_base)
        self.gelu = check_choice("gelu", gelu, (False, True))
        self.gelu_unit = None
        if self.gelu:
            if gelu_terms is not None:
                check_choice("gelu_terms", gelu_terms, tuple(sorted(gelu_coeffs.COEFFS)))
            self.gelu_unit = Gelu(
                self.lanes // 2, terms=gelu_terms,
                acc_width=check_int("gelu_acc_width", gelu_acc_width, min=ACC_WIDTH_MIN,
                                    max=ACC_WIDTH_MAX),
                latency=check_int("gelu_latency", gelu_latency, min=0, max=Gelu.N_CUTS),
                expp_mode=self.mode)
        self.regmap = softex_map(n_contexts=n_contexts)
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        # Pass-2 credits: reads in flight + results waiting in the FIFO (grant -> FIFO write
        # takes 3 + expp_latency cycles; for GELU 4 + gelu_latency, the second half beat
        # leaving the input FIFO one cycle after the first).
        self.fifo_depth = self.expp_latency + 5
        if self.gelu:
            self.fifo_depth = max(self.fifo_depth, self.gelu_unit.latency + 7)
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=16 * self.lanes)),
            "done_event": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        lg = L.bit_length() - 1              # log2 L
        lb = lg + 1                          # log2 of the beat size in bytes
        BW = 2 * L
        rf = self.rf
        m.submodules.rf = rf
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        m.d.comb += [self.done_event.eq(rf.done_event), self.busy.eq(rf.busy)]
        clear = rf.clear
        port = self.tcdm

        # The job registers, latched at start (the register file resets them on a soft clear
        # one cycle before the `clear` pulse).
        job = Signal(rf.job.shape())
        with m.If(rf.start):
            m.d.sync += job.eq(rf.job)
        cmd = job.COMMAND
        n = job.LENGTH.ELEMS
        in_addr, out_addr, slot_addr = job.IN_ADDR, job.OUT_ADDR, job.SLOT_ADDR
        acc, div, load, save = cmd.ACC, cmd.DIV, cmd.LOAD, cmd.SAVE
        cast = job.CAST
        in8 = cmd.IN_FMT.as_value() == ElemFormat.INT8    # int8: 1 byte, lane (addr mod L)
        out8 = cmd.OUT_FMT.as_value() == ElemFormat.INT8

        # -- job geometry and checks --------------------------------------------------------
        # A beat holds one element per lane: 2L bytes (BF16, the whole port word) or L bytes
        # (int8, one half of the port word, selected by address bit lg).
        off = Mux(in8, in_addr[:lg], in_addr[1:lb])       # lane of the first element
        out_off = Mux(out8, out_addr[:lg], out_addr[1:lb])
        nb = Signal(LENGTH_BITS)                          # beats of the chunk
        last_cnt = Signal(range(L + 1))                   # valid lanes of the last beat
        in_base = Mux(in8, Cat(C(0, lg), in_addr[lg:self.addr_width]),
                      Cat(C(0, lb), in_addr[lb:self.addr_width]))
        out_base = Mux(out8, Cat(C(0, lg), out_addr[lg:self.addr_width]),
                       Cat(C(0, lb), out_addr[lb:self.addr_width]))

        def beat_addr(base, is8, beat):
            return (base + Mux(is8, beat << lg, beat << lb))[:self.addr_width]

        def port_word(a):                                 # port word of byte address a
            return Cat(C(0, lb), a[lb:self.addr_width])

        slot_base = Cat(C(0, lb), slot_addr[lb:self.addr_width])
        slot_word = slot_addr[3:lb]                       # 8-byte word of the slot in its beat

        lo, hi = self.mem_base, self.mem_base + self.mem_size

        def outside(addr, nbytes):
            return (addr < lo) | (addr + nbytes > hi)

        op = cmd.OP.as_value()
        is_gelu = C(0, 1)
        if self.gelu:
            is_gelu = op == SoftexOp.GELU
        uses_out = div | is_gelu
        uses_slot = (load | save) & ~is_gelu
        bad_cmd = (((op != SoftexOp.SOFTMAX) & ~is_gelu)
                   | (cmd.IN_FMT.as_value() > ElemFormat.INT8)
                   | (cmd.OUT_FMT.as_value() > ElemFormat.INT8)
                   | (~is_gelu & (~(acc | div) | (div & ~acc & ~load) | (save & ~acc))))
        bad_len = (n == 0) | (job.ROWS.COUNT == 0)
        bad_align = ((in_addr[0] & ~in8)
                     | (uses_out & ((out_addr[0] & ~out8) | (out_off != off)))
                     | (uses_slot & (slot_addr[:3] != 0)))
        bad_addr = (outside(in_addr, Mux(in8, n, n * 2))
                    | (uses_out & outside(out_addr, Mux(out8, n, n * 2)))
                    | (uses_slot & outside(slot_addr, 8)))
        cause_now = Mux(bad_cmd, Cause.BAD_CMD, Mux(bad_len, Cause.BAD_LENGTH,
                        Mux(bad_align, Cause.BAD_ALIGN, Mux(bad_addr, Cause.BAD_ADDR, 0))))
        cause = Signal(8)

        # -- state --------------------------------------------------------------------------
        mx = Signal(16, init=NEG_INF)                     # running max (bf16)
        S = [Signal(32, name=f"S{j}") for j in range(L)]  # fp32 partial sums
        y = Signal(32)                                    # reciprocal iterate
        t = Signal(32)
        rd_beat = Signal(LENGTH_BITS)
        wr_beat = Signal(LENGTH_BITS)
        acc_cnt = Signal(LENGTH_BITS)
        step = Signal(range(max(lg, 4) + 1))
        in_p1 = Signal()
        in_p2 = Signal()
        in_gelu = Signal()

        def lane_mask(beat):
            return Cat(((beat != 0) | (j >= off)) & ((beat != nb - 1) | (j < last_cnt))
                       for j in range(L))

        # -- memory port ----------------------------------------------------------------------
        # A request not granted is held in registers (even across a soft clear: the protocol
        # forbids withdrawing it); `stale` marks one left over from an aborted job.
        rq = TCDMRequester.attach(m, port, clear)
        hold, req_we, granted, stale = rq.hold, rq.we, rq.granted, rq.stale
        want_rd, want_wr, q_addr, q_be, q_wdata = rq.want_rd, rq.want_wr, rq.addr, rq.be, rq.wdata
        data_read = Signal()     # the current request is a data beat read (pass 1 or 2)
        g_ok = rq.ok             # a grant of this job's request

        rd_pend = Signal()
        rd_mask = Signal(L)
        rd_half = Signal()                                # int8: upper half of the port word
        rd_addr = beat_addr(in_base, in8, rd_beat)
        beat_rd = granted & data_read & ~req_we & ~stale & ~clear
        m.d.sync += rd_pend.eq(beat_rd)
        with m.If(beat_rd):
            m.d.sync += [rd_mask.eq(lane_mask(rd_beat)), rd_half.eq(rd_addr[lg])]

        # -- stage R: int8 -> bf16 (exact), lane masking, beat maximum -----------------------
        q_r = port.rdata.word_select(rd_half, 8 * L)
        x_r = []
        for j in range(L):
            cv = _comb(m, IntToFloat(8, BF16), f"i2f{j}")
            m.d.comb += [cv.i.payload.q.eq(q_r[8 * j:8 * j + 8]),
                         cv.i.payload.int_bits.eq(cast.IN_INT_BITS),
                         cv.i.payload.signed.eq(cast.IN_SIGNED)]
            xj = Mux(in8, cv.o.payload.as_value(), port.rdata[16 * j:16 * j + 16])
            x_r.append(Mux(rd_mask[j], xj, NEG_INF))
        level = x_r
        k = 0
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level), 2):
                c = _comb(m, FPCompare(BF16), f"vmax{k}")
                k += 1
                m.d.comb += [c.i.payload.a.eq(level[i]), c.i.payload.b.eq(level[i + 1])]
                nxt.append(c.o.payload.max.as_value())
            level = nxt
        vmax_r = level[0]
        a_valid = Signal()
        a_x = Signal(16 * L)
        a_vmax = Signal(16)
        m.d.sync += [a_valid.eq(rd_pend & port.rvalid), a_x.eq(Cat(*x_r)), a_vmax.eq(vmax_r)]

        # -- stage A: running max, differences ---------------------------------------------
        cm = _comb(m, FPCompare(BF16), "mcmp")
        m.d.comb += [cm.i.payload.a.eq(mx), cm.i.payload.b.eq(a_vmax)]
        m_new = Signal(16)
        m.d.comb += m_new.eq(Mux(in_p1, cm.o.payload.max.as_value(), mx))
        cg = _comb(m, FPCompare(BF16), "gcmp")
        m.d.comb += [cg.i.payload.a.eq(m_new), cg.i.payload.b.eq(mx)]
        grown_a = in_p1 & cg.o.payload.gt
        ninf_a = m_new == NEG_INF
        with m.If(a_valid & in_p1):
            m.d.sync += mx.eq(m_new)
        diffs = []
        for j in range(L + 1):
            ad = _comb(m, FPAdd(BF16), f"sub{j}")
            src = a_x[16 * j:16 * j + 16] if j < L else mx
            m.d.comb += [ad.i.payload.a.eq(src), ad.i.payload.b.eq(m_new), ad.i.payload.sub.eq(1)]
            diffs.append(ad.o.payload.as_value())

        expp = Expp(L + 1, mode=self.mode, latency=self.expp_latency)
        m.submodules.expp = ResetInserter(clear)(expp)
        m.d.comb += [expp.i.payload.as_value().eq(Cat(*diffs)), expp.i.valid.eq(a_valid),
                     expp.o.ready.eq(1)]
        side = Cat(grown_a, ninf_a)
        for i in range(self.expp_latency):
            nxt = Signal(2, name=f"side{i}")
            m.d.sync += nxt.eq(side)
            side = nxt
        grown_e, ninf_e = side[0], side[1]
        e_valid = expp.o.valid
        e_out = expp.o.payload.as_value()
        e32 = [Cat(C(0, 16), e_out[16 * j:16 * j + 16]) for j in range(L)]
        f32 = Cat(C(0, 16), e_out[16 * L:16 * L + 16])

        # -- lane FMAs (fp32 x fp32 + fp32): accumulate, reduce, Newton-Raphson ----------------
        fmas = []
        for j in range(L):
            f = _comb(m, FPFMA(FP32, mul_fmt=FP32), f"fma{j}")
            fmas.append(f)
            p = f.i.payload
            # default: accumulation S_j * (grown ? f : 1) + e_j
            m.d.comb += [p.a.eq(S[j]), p.b.eq(Mux(grown_e, f32, ONE32)),
                         p.c.eq(Mux(ninf_e, 0, e32[j])), p.neg_ab.eq(0), p.neg_c.eq(0)]

        # -- pass-2 multiply (fp32 x fp32 + bf16: one rounding to bf16) -------------------
        fifo = SyncFIFO(width=16 * L, depth=self.fifo_depth)
        m.submodules.fifo = ResetInserter(clear | rf.start)(fifo)
        r = Signal(32)
        ys = []
        for j in range(L):
            f = _comb(m, FPFMA(BF16, mul_fmt=FP32), f"mul{j}")
            p = f.i.payload
            m.d.comb += [p.a.eq(e32[j]), p.b.eq(r), p.c.eq(0), p.neg_ab.eq(0), p.neg_c.eq(0)]
            ys.append(Mux(mx == NEG_INF, 0, f.o.payload.as_value()))
        # -- GELU: stage A beats -> FIFO -> two half beats -> Gelu(L/2) -> paired again -----
        g_valid = C(0, 1)
        if self.gelu:
            g_in = SyncFIFO(width=16 * L, depth=self.fifo_depth)
            m.submodules.gelu_in = ResetInserter(clear | rf.start)(g_in)
            gelu = self.gelu_unit
            m.submodules.gelu = ResetInserter(clear | rf.start)(gelu)
            half_in = Signal()                  # which half of the FIFO head enters next
            half_out = Signal()                 # which half leaves the GELU next
            low = Signal(8 * L)                 # the first half of the beat being paired
            m.d.comb += [g_in.w_data.eq(a_x), g_in.w_en.eq(a_valid & in_gelu),
                         gelu.i.valid.eq(g_in.r_rdy),
                         gelu.i.payload.as_value().eq(g_in.r_data.word_select(half_in, 8 * L)),
                         g_in.r_en.eq(gelu.i.ready & half_in),
                         gelu.o.ready.eq(~half_out | fifo.w_rdy)]
            with m.If(gelu.i.valid & gelu.i.ready):
                m.d.sync += half_in.eq(~half_in)
            with m.If(gelu.o.valid & gelu.o.ready):
                m.d.sync += half_out.eq(~half_out)
                with m.If(~half_out):
                    m.d.sync += low.eq(gelu.o.payload.as_value())
            with m.If(clear | rf.start):
                m.d.sync += [half_in.eq(0), half_out.eq(0)]
            g_valid = gelu.o.valid & half_out & fifo.w_rdy
            g_beat = Cat(low, gelu.o.payload.as_value())
            ys = [Mux(in_gelu, g_beat[16 * j:16 * j + 16], ys[j]) for j in range(L)]
        qs = []                                           # int8 outputs: float_to_int(y_j)
        for j in range(L):
            cv = _comb(m, FloatToInt(8, BF16), f"f2i{j}")
            m.d.comb += [cv.i.payload.x.eq(ys[j]), cv.i.payload.int_bits.eq(cast.OUT_INT_BITS),
                         cv.i.payload.signed.eq(cast.OUT_SIGNED)]
            qs.append(cv.o.payload)
        q_beat = Cat(*qs)
        m.d.comb += [fifo.w_data.eq(Mux(out8, Cat(q_beat, q_beat), Cat(*ys))),
                     fifo.w_en.eq((e_valid & in_p2) | g_valid)]

        # -- reciprocal seed and specials ---------------------------------------------------
        D = S[0]
        d_exp = D[23:31]
        d_sign = D[31]
        seed_tab = Array(Const(v, 7) for v in SEED_TABLE)
        seed = Cat(C(0, 16), seed_tab[D[16:23]], (C(253, 9) - d_exp)[:8], d_sign)
        r_nan = (d_exp == 0xFF) & (D[:23] != 0)
        r_inf = d_exp == 0
        r_zero = d_exp >= 253
        r_special = Mux(r_nan, 0x7FC0_0000, Mux(r_inf, Cat(C(0x7F80_0000, 31), d_sign),
                                                 Cat(C(0, 31), d_sign)))
        r_is_special = r_nan | r_inf | r_zero

        # -- control ------------------------------------------------------------------------
        done = Signal()
        m.d.comb += [rf.done.eq(done), rf.error.eq(cause)]
        nb_next = ((off + n + (L - 1)) >> lg)[:LENGTH_BITS]

        row = Signal(ROWS_BITS)                           # the running row of the job
        row_end = Signal()                                # the last cycle of a row
        last_row = (cause != 0) | (row == job.ROWS.COUNT - 1)
        row_ok = row_end & (cause == 0)
        stall_inc = port.req & ~port.gnt
        m.d.comb += [rf.counters.STALL_CYCLES.eq(stall_inc),
                     rf.counters.MEM_BEATS.eq(granted),
                     rf.counters.MASKED_ROW.eq(row_ok & (mx == NEG_INF) & ~is_gelu),
                     rf.counters.ROWS_DONE.eq(row_ok)]

        slot_rd = port.rdata.word_select(slot_word, 64) if lb > 3 else port.rdata[:64]

        with m.If(clear):
            m.d.sync += [in_p1.eq(0), in_p2.eq(0), in_gelu.eq(0)]
        @contextmanager
        def state(name):
            with m.State(name):
                yield
                with m.If(clear):            # soft clear: back to IDLE from any state
                    m.next = "IDLE"

        with m.FSM(name="ctl"):
            def new_row():
                m.d.sync += [mx.eq(NEG_INF), rd_beat.eq(0), wr_beat.eq(0), acc_cnt.eq(0)]
                m.d.sync += [s.eq(0) for s in S]
                m.next = "CHECK"

            with state("IDLE"):
                with m.If(rf.start & ~clear):
                    m.d.sync += [cause.eq(0), row.eq(0)]
                    new_row()
            with state("CHECK"):
                m.d.sync += [cause.eq(cause_now), nb.eq(nb_next),
                             last_cnt.eq(((off + n - 1) & (L - 1)) + 1)]
                with m.If(cause_now != 0):
                    m.next = "DONE"
                with m.Elif(is_gelu):
                    m.d.sync += in_gelu.eq(1)
                    m.next = "P2"
                with m.Elif(load):
                    m.next = "LOAD"
                with m.Elif(acc):
                    m.d.sync += in_p1.eq(1)
                    m.next = "P1"
                with m.Else():
                    m.d.sync += step.eq(0)
                    m.next = "REDUCE"
            with state("LOAD"):
                m.d.comb += [want_rd.eq(~hold), q_addr.eq(slot_base)]
                with m.If(g_ok):
                    m.next = "LOAD_WAIT"
            with state("LOAD_WAIT"):
                m.d.sync += [S[0].eq(slot_rd[:32]), mx.eq(slot_rd[32:48])]
                with m.If(acc):
                    m.d.sync += in_p1.eq(1)
                    m.next = "P1"
                with m.Else():
                    m.d.sync += step.eq(0)
                    m.next = "REDUCE"
            with state("P1"):
                m.d.comb += [want_rd.eq(~hold & (rd_beat != nb)), data_read.eq(1),
                             q_addr.eq(port_word(rd_addr))]
                with m.If(g_ok):
                    m.d.sync += rd_beat.eq(rd_beat + 1)
                with m.If(e_valid):
                    for j in range(L):
                        m.d.sync += S[j].eq(fmas[j].o.payload.as_value())
                    m.d.sync += acc_cnt.eq(acc_cnt + 1)
                    with m.If(acc_cnt == nb - 1):
                        m.d.sync += [in_p1.eq(0), step.eq(0)]
                        m.next = "REDUCE"
            with state("REDUCE"):
                # level `step`: S_j += S_(j + 2^step) for j multiple of 2^(step + 1)
                for lvl in range(lg):
                    s = 1 << lvl
                    with m.If(step == lvl):
                        for j in range(0, L, 2 * s):
                            p = fmas[j].i.payload
                            m.d.comb += [p.a.eq(S[j + s]), p.b.eq(ONE32), p.c.eq(S[j])]
                            m.d.sync += S[j].eq(fmas[j].o.payload.as_value())
                m.d.sync += step.eq(step + 1)
                with m.If(step == lg - 1):
                    m.d.sync += step.eq(0)
                    with m.If(save):
                        m.next = "SAVE"
                    with m.Elif(div):
                        m.next = "SEED"
                    with m.Else():
                        m.next = "DONE"
            with state("SAVE"):
                word = Cat(D, mx, C(0, 16))
                if lb > 3:
                    m.d.comb += [q_wdata.eq(word << (slot_word * 64)),
                                 q_be.eq(C(0xFF, BW) << (slot_word * 8))]
                else:
                    m.d.comb += [q_wdata.eq(word), q_be.eq(0xFF)]
                m.d.comb += [want_wr.eq(~hold), q_addr.eq(slot_base)]
                with m.If(g_ok):
                    with m.If(div):
                        m.next = "SEED"
                    with m.Else():
                        m.next = "DONE"
            with state("SEED"):
                m.d.sync += [y.eq(seed), step.eq(0)]
                m.next = "RECIP"
            with state("RECIP"):
                p = fmas[0].i.payload
                with m.If(step[0] == 0):       # t = 2 - D * y
                    m.d.comb += [p.a.eq(D), p.b.eq(y), p.c.eq(TWO32), p.neg_ab.eq(1)]
                    m.d.sync += t.eq(fmas[0].o.payload.as_value())
                with m.Else():                 # y = y * t
                    m.d.comb += [p.a.eq(y), p.b.eq(t), p.c.eq(0)]
                    m.d.sync += y.eq(fmas[0].o.payload.as_value())
                m.d.sync += step.eq(step + 1)
                with m.If(step == 3):
                    m.d.sync += [r.eq(Mux(r_is_special, r_special, fmas[0].o.payload.as_value())),
                                 rd_beat.eq(0), wr_beat.eq(0), in_p2.eq(1)]
                    m.next = "P2"
            with state("P2"):
                credit = (rd_beat - wr_beat)[:LENGTH_BITS] < self.fifo_depth
                m.d.comb += [want_wr.eq(~hold & fifo.r_rdy),
                             want_rd.eq(~hold & ~fifo.r_rdy & (rd_beat != nb) & credit),
                             data_read.eq(1)]
                wr_addr = beat_addr(out_base, out8, wr_beat)
                wmask = lane_mask(wr_beat)
                with m.If(req_we):
                    m.d.comb += [q_addr.eq(port_word(wr_addr)),
                                 q_wdata.eq(fifo.r_data),
                                 q_be.eq(Mux(out8, Mux(wr_addr[lg], Cat(C(0, L), wmask),
                                                       Cat(wmask, C(0, L))),
                                             Cat(b.replicate(2) for b in wmask)))]
                with m.Else():
                    m.d.comb += q_addr.eq(port_word(rd_addr))
                with m.If(g_ok):
                    with m.If(req_we):
                        m.d.comb += fifo.r_en.eq(1)
                        m.d.sync += wr_beat.eq(wr_beat + 1)
                        with m.If(wr_beat == nb - 1):
                            m.d.sync += [in_p2.eq(0), in_gelu.eq(0)]
                            m.next = "DONE"
                    with m.Else():
                        m.d.sync += rd_beat.eq(rd_beat + 1)
            with state("DONE"):                  # the end of a row
                m.d.comb += [row_end.eq(1), done.eq(last_row)]
                with m.If(last_row):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [in_addr.eq(in_addr + job.IN_STRIDE),
                                 out_addr.eq(out_addr + job.OUT_STRIDE),
                                 slot_addr.eq(slot_addr + job.SLOT_STRIDE), row.eq(row + 1)]
                    new_row()

        with m.If(clear):
            m.d.sync += [rd_pend.eq(0), a_valid.eq(0)]
        return m
