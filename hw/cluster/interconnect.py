"""Banked scratchpad interconnect: ``n`` TCDM masters of any power-of-two width onto ``B``
word-interleaved 32-bit banks.

Banking: byte address ``a`` (relative to the scratchpad base) lives in bank
``(a >> 2) % B``, row ``a >> (2 + log2 B)``. A master of ``W = 32 * k`` bits (``k <= B``) covers
``k`` consecutive banks starting at bank ``(a >> 2) % B`` rounded down to a multiple of ``k``:
wide accesses are aligned to their width (the low ``log2(W / 8)`` address bits are ignored;
accelerators check alignment themselves and report BAD_ALIGN). Word ``j`` of a wide master's
data is bank ``start + j``. Masters of 8 or 16 bits use one bank with shifted byte enables.

Arbitration (one combinational grant per cycle, the TCDM contract of :mod:`hw.bus`): the masters
are visited in a rotating priority order; each requesting master is granted when every bank
it needs is still free. A wide master is therefore granted all of its banks or none (no partial
grants, no hold-and-wait, no livelock), and narrow masters on different banks are granted in
the same cycle. The priority pointer advances by one in every cycle in which a requesting
master was refused, so each master reaches the top of the order within ``n`` contended cycles
and is then granted: a master waits at most ``n - 1`` contended cycles (round robin). Banks
are single-cycle SRAM rows and always accept, so ``gnt`` depends only on the requests.

Read data of a granted read appears one cycle later with ``rvalid``.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int, check_pow2

__all__ = ["TCDMInterconnect", "BankSignature", "Scratchpad"]


def _log2(n):
    return n.bit_length() - 1


class BankSignature(wiring.Signature):
    """Interconnect -> one 32-bit SRAM bank: ``req``, ``row``, ``we``, ``be``, ``wdata``;
    ``rdata`` is the row read one cycle after a request with ``we`` low."""

    def __init__(self, row_width):
        self.row_width = row_width
        super().__init__({
            "req": Out(1), "row": Out(row_width), "we": Out(1), "be": Out(4),
            "wdata": Out(32), "rdata": In(32),
        })


class TCDMInterconnect(wiring.Component):
    """``widths``: data width of each master (8, 16, 32, 64, ... up to ``32 * n_banks``);
    ``n_banks``: power of two (1..64); ``bank_words``: rows per bank (power of two);
    ``addr_width``: master address width. Addresses are taken modulo the scratchpad size
    (the cluster's address decoder only forwards scratchpad addresses).

    Ports: ``masters[i]`` (TCDM slave of width ``widths[i]``), ``banks[b]`` (:class:`BankSignature`).
    """

    def __init__(self, widths, n_banks, bank_words, *, addr_width=32):
        widths = list(widths)
        check_int("number of masters (len(widths))", len(widths), min=1, max=32)
        self.n_banks = check_pow2("n_banks", n_banks, min=1, max=64)
        self.bank_words = check_pow2("bank_words", bank_words, min=1, max=1 << 24)
        self.addr_width = check_int("addr_width", addr_width, min=1, max=32)
        for i, w in enumerate(widths):
            check_pow2(f"widths[{i}]", w, min=8, max=32 * self.n_banks)
        self.widths = widths
        self.size = 4 * n_banks * bank_words
        if (1 << addr_width) < self.size:
            raise ValueError(f"addr_width must cover the scratchpad ({self.size} bytes), got {addr_width}")
        self.row_width = max(1, _log2(bank_words))
        super().__init__({
            "masters": In(wiring.Signature({f"m{i}": Out(TCDMSignature(addr_width=addr_width,
                                                                       data_width=w))
                                            for i, w in enumerate(widths)})),
            "banks": Out(wiring.Signature({f"b{b}": Out(BankSignature(self.row_width))
                                           for b in range(n_banks)})),
            # Observability for tests and performance counters: requests refused this cycle.
            "conflicts": Out(len(widths)),
        })

    def master(self, i):
        return getattr(self.masters, f"m{i}")

    def bank(self, b):
        return getattr(self.banks, f"b{b}")

    def elaborate(self, platform):
        m = Module()
        n, B = len(self.widths), self.n_banks
        lb = _log2(B)
        masters = [self.master(i) for i in range(n)]
        banks = [self.bank(b) for b in range(B)]

        # Per master: the banks it needs (mask), its first bank, its row, its bank-side data.
        need, start, row = [], [], []
        for i, (p, w) in enumerate(zip(masters, self.widths)):
            k = max(1, w // 32)
            word = p.addr[2:]
            first = Signal(max(1, lb), name=f"start{i}")
            if lb:
                m.d.comb += first.eq(word[:lb] & ~(k - 1) & (B - 1))
            r = Signal(self.row_width, name=f"row{i}")
            m.d.comb += r.eq(p.addr[2 + lb:2 + lb + self.row_width] if self.bank_words > 1 else 0)
            mask = Signal(B, name=f"need{i}")
            m.d.comb += mask.eq(Mux(p.req, Const((1 << k) - 1, B) << first, 0))
            need.append(mask)
            start.append(first)
            row.append(r)

        # Rotating-priority greedy allocation.
        ptr = Signal(range(n), name="ptr")
        gnt = [Signal(name=f"gnt{i}") for i in range(n)]
        if n == 1:
            m.d.comb += gnt[0].eq(masters[0].req)
        else:
            needs = Array(need)
            taken = Const(0, B)
            grant_pos = []
            for k in range(n):
                idx = Signal(range(n), name=f"pos{k}")
                m.d.comb += idx.eq(Mux(ptr + k >= n, ptr + k - n, ptr + k))
                want = Signal(B, name=f"want{k}")
                m.d.comb += want.eq(needs[idx])
                ok = Signal(name=f"ok{k}")
                m.d.comb += ok.eq(want.any() & ~(want & taken).any())
                t = Signal(B, name=f"taken{k}")
                m.d.comb += t.eq(taken | Mux(ok, want, 0))
                taken = t
                grant_pos.append((idx, ok))
            for i in range(n):
                m.d.comb += gnt[i].eq(Cat(ok & (idx == i) for idx, ok in grant_pos).any())
        refused = Cat(p.req & ~g for p, g in zip(masters, gnt))
        m.d.comb += self.conflicts.eq(refused)
        if n > 1:
            with m.If(refused.any()):
                m.d.sync += ptr.eq(Mux(ptr == n - 1, 0, ptr + 1))

        # Bank requests: owner of each bank (at most one granted master needs it).
        for b, bank in enumerate(banks):
            for i, (p, w) in enumerate(zip(masters, self.widths)):
                k = max(1, w // 32)
                with m.If(gnt[i] & need[i][b]):
                    m.d.comb += [bank.req.eq(1), bank.row.eq(row[i]), bank.we.eq(p.we)]
                    if w >= 32:
                        j = b % k
                        m.d.comb += [bank.be.eq(p.be[4 * j:4 * j + 4]),
                                     bank.wdata.eq(p.wdata[32 * j:32 * j + 32])]
                    else:
                        lanes = 32 // w
                        off = p.addr[_log2(w // 8):2] if w < 32 else 0
                        m.d.comb += [bank.be.eq(p.be << (off * (w // 8))),
                                     bank.wdata.eq(p.wdata.replicate(lanes))]

        # Grants and read responses (one cycle after a granted read).
        bank_rdata = Array(bank.rdata for bank in banks)
        for i, (p, w) in enumerate(zip(masters, self.widths)):
            k = max(1, w // 32)
            m.d.comb += p.gnt.eq(gnt[i])
            rd = Signal(name=f"rd{i}")
            first_q = Signal.like(start[i], name=f"start{i}_q")
            m.d.sync += [rd.eq(gnt[i] & ~p.we), first_q.eq(start[i])]
            m.d.comb += p.rvalid.eq(rd)
            if w >= 32:
                words = []
                for j in range(k):
                    wj = Signal(32, name=f"rdata{i}_{j}")
                    m.d.comb += wj.eq(bank_rdata[(first_q + j)[:lb]] if B > 1 else banks[0].rdata)
                    words.append(wj)
                m.d.comb += p.rdata.eq(Mux(rd, Cat(*words), 0))
            else:
                sub = Signal(range(32 // w), name=f"sub{i}")
                m.d.sync += sub.eq(p.addr[_log2(w // 8):2])
                word = Signal(32, name=f"rdata{i}_w")
                m.d.comb += word.eq(bank_rdata[first_q] if B > 1 else banks[0].rdata)
                m.d.comb += p.rdata.eq(Mux(rd, word.word_select(sub, w), 0))
        return m


class Scratchpad(wiring.Component):
    """``n_banks`` single-port 32-bit SRAM banks of ``bank_words`` rows (byte writes, read data
    the cycle after the request). Ports: ``banks[b]`` (flipped :class:`BankSignature`).
    ``init``: initial words of the whole scratchpad in address order (word ``i`` is bank
    ``i % n_banks``, row ``i // n_banks``; may be shorter than the scratchpad)."""

    def __init__(self, n_banks, bank_words, *, init=()):
        self.n_banks = check_pow2("n_banks", n_banks, min=1, max=64)
        self.bank_words = check_pow2("bank_words", bank_words, min=1, max=1 << 24)
        init = [int(w) & 0xFFFF_FFFF for w in init]
        if len(init) > n_banks * bank_words:
            raise ValueError(f"init has {len(init)} words; the scratchpad holds "
                             f"{n_banks * bank_words}")
        self.init = init
        self.row_width = max(1, _log2(bank_words))
        super().__init__({
            "banks": In(wiring.Signature({f"b{b}": Out(BankSignature(self.row_width))
                                          for b in range(n_banks)})),
        })

    def bank(self, b):
        return getattr(self.banks, f"b{b}")

    def elaborate(self, platform):
        m = Module()
        for b in range(self.n_banks):
            port = self.bank(b)
            mem = Memory(shape=32, depth=self.bank_words, init=self.init[b::self.n_banks])
            m.submodules[f"bank{b}"] = mem
            rd = mem.read_port()
            wr = mem.write_port(granularity=8)
            m.d.comb += [
                rd.addr.eq(port.row), rd.en.eq(port.req & ~port.we),
                wr.addr.eq(port.row), wr.data.eq(port.wdata),
                wr.en.eq(Mux(port.req & port.we, port.be, 0)),
                port.rdata.eq(rd.data),
            ]
        return m
