# amaranth: UnusedElaboratable=no
"""The cocotb testbench library (sim/tb) tested on small Amaranth DUTs under Verilator:
stream agents and the TCDM model must move data correctly under random stalls, and their
checkers must catch broken DUTs (the cocotb test must then FAIL)."""

import json
import random

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.hdl import Shape, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.bus import TCDMSignature
from hw.pipeline import PipelinedOp
from flows.runner import SimulationFailed, VerilatorSim
from sim.tb.layout import (fields, layout_from_json, layout_to_json, pack, pack_array,
                           pack_lanes, split_lanes, unpack, unpack_array, width)

TB = "sim.benches.infra_tb"


# --- DUTs -------------------------------------------------------------------------------------

class FifoLoop(wiring.Component):
    """Stream in -> SyncFIFOBuffered -> stream out."""

    def __init__(self, width=32, depth=4):
        self.width, self.depth = width, depth
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.width, depth=self.depth)
        m.d.comb += [
            fifo.w_data.eq(self.i.payload), fifo.w_en.eq(self.i.valid), self.i.ready.eq(fifo.w_rdy),
            self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready),
        ]
        return m


class AddSub(PipelinedOp):
    """a +- b mod 2^16 as a PipelinedOp (two cut points)."""
    N_CUTS = 2

    def __init__(self, latency):
        super().__init__(data.StructLayout({"a": 16, "b": 16, "sub": 1}), 16, latency=latency)

    def datapath(self, m, pipe, ops):
        a, b, sub = pipe.cut(ops.a, ops.b, ops.sub)
        a, nb, sub = pipe.cut(a, (b ^ sub.replicate(16))[:16], sub)  # everything live crosses the cut
        return (a + nb + sub)[:16]


class BrokenStage(wiring.Component):
    """One register stage with a deliberate lib.stream violation on its output:

    - ``payload``: the output register reloads whenever the input is valid, even while the
      output waits for ready (payload changes while valid & ~ready);
    - ``valid``: an output that is not taken at once is dropped after one cycle.
    """

    def __init__(self, bug, width=16):
        self.bug, self.width = bug, width
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        waited = Signal()
        if self.bug == "payload":
            m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
            with m.If(self.i.valid):
                m.d.sync += self.o.payload.eq(self.i.payload)  # bug: ignores the stall
            with m.If(self.i.ready):
                m.d.sync += self.o.valid.eq(self.i.valid)
        elif self.bug == "valid":
            m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1), waited.eq(0)]
            with m.Elif(self.o.valid & ~self.o.ready):
                m.d.sync += waited.eq(1)
                with m.If(waited):
                    m.d.sync += self.o.valid.eq(0)  # bug: gives up after waiting a cycle
            with m.Elif(self.o.ready):
                m.d.sync += self.o.valid.eq(0)
        else:
            raise ValueError(self.bug)
        return m


class TCDMCopy(wiring.Component):
    """Copies ``count`` words from byte address ``src`` to ``dst`` (writes with byte enables
    ``wbe``) through one TCDM port ``mem`` or, with ``two_ports``, reads on ``rd`` and writes on
    ``wr``. Pulse ``start``; ``done`` rises when finished. ``err`` is set if read data does not
    arrive exactly one cycle after the grant, or rvalid comes unasked.

    ``bug`` plants a protocol violation: ``addr`` (the read address moves while waiting for
    gnt), ``wdata`` (write data changes while waiting), ``req`` (req dropped before gnt).
    """

    def __init__(self, data_width=32, two_ports=False, bug=None):
        self.data_width, self.two_ports, self.bug = data_width, two_ports, bug
        self.nbytes = data_width // 8
        sig = TCDMSignature(addr_width=32, data_width=data_width)
        ports = {"rd": Out(sig), "wr": Out(sig)} if two_ports else {"mem": Out(sig)}
        super().__init__({
            **ports,
            "start": In(1), "src": In(32), "dst": In(32), "count": In(16),
            "wbe": In(self.nbytes), "done": Out(1), "err": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rd = self.rd if self.two_ports else self.mem
        wr = self.wr if self.two_ports else self.mem
        shift = self.nbytes.bit_length() - 1
        i = Signal(16)
        buf = Signal(self.data_width)
        toggle = Signal()
        asked = Signal()
        m.d.sync += toggle.eq(~toggle)
        rd_addr = self.src + (i << shift)
        if self.bug == "addr":
            rd_addr = rd_addr + (toggle * self.nbytes)
        wdata = buf ^ toggle.replicate(self.data_width) if self.bug == "wdata" else buf
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += i.eq(0)
                    with m.If(self.count == 0):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ"
            with m.State("READ"):
                req = ~asked if self.bug == "req" else 1
                m.d.comb += [rd.req.eq(req), rd.addr.eq(rd_addr), rd.we.eq(0),
                             rd.be.eq((1 << self.nbytes) - 1)]
                m.d.sync += asked.eq(1)
                with m.If(rd.gnt & rd.req):
                    m.d.sync += asked.eq(0)
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(rd.rvalid):
                    m.d.sync += buf.eq(rd.rdata)
                    m.next = "WRITE"
                with m.Else():
                    m.d.sync += self.err.eq(1)
                    m.next = "DONE"
            with m.State("WRITE"):
                m.d.comb += [wr.req.eq(1), wr.addr.eq(self.dst + (i << shift)), wr.we.eq(1),
                             wr.be.eq(self.wbe), wr.wdata.eq(wdata)]
                with m.If(wr.gnt):
                    m.d.sync += i.eq(i + 1)
                    with m.If(i + 1 == self.count):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                with m.If(self.start):
                    m.d.sync += i.eq(0)
                    m.next = "READ"
        # rvalid must never come outside the cycle after a granted read.
        in_wait = Signal()
        m.d.sync += in_wait.eq(rd.req & rd.gnt & ~rd.we)
        with m.If(rd.rvalid & ~in_wait):
            m.d.sync += self.err.eq(1)
        if self.two_ports:
            with m.If(wr.rvalid):
                m.d.sync += self.err.eq(1)
        return m


class ChainedPorts(wiring.Component):
    """Port ``b`` requests combinationally when port ``a`` is granted (``b.req = a.gnt``): the
    TCDM model must settle the two grants within the cycle (fixed-point of respond phases).
    Each granted pair reads word i at ``src`` on ``a`` and writes i to word i at ``dst`` on ``b``."""

    def __init__(self):
        sig = TCDMSignature(addr_width=32, data_width=32)
        super().__init__({"a": Out(sig), "b": Out(sig), "start": In(1), "src": In(32), "dst": In(32),
                          "count": In(16), "wbe": In(4), "done": Out(1), "err": Out(1)})

    def elaborate(self, platform):
        m = Module()
        i = Signal(16)
        busy = Signal()
        m.d.comb += [
            self.a.req.eq(busy), self.a.addr.eq(self.src + (i << 2)), self.a.be.eq(0xF),
            self.b.req.eq(self.a.gnt & busy), self.b.we.eq(1), self.b.addr.eq(self.dst + (i << 2)),
            self.b.be.eq(0xF), self.b.wdata.eq(i), self.done.eq(~busy),
        ]
        with m.If(self.start):
            m.d.sync += [busy.eq(1), i.eq(0)]
        with m.Elif(busy & self.a.gnt & self.b.gnt):
            m.d.sync += i.eq(i + 1)
            with m.If(i + 1 == self.count):
                m.d.sync += busy.eq(0)
        with m.Elif(busy):
            m.d.sync += self.err.eq(1)  # with no stalls every cycle must grant both ports
        return m


def _sim(component, name):
    return VerilatorSim.for_component(component, name)


def _result(sim):
    return json.loads((sim.last_run_dir / "result.json").read_text())


# --- layout: pure Python ----------------------------------------------------------------------

NESTED = data.StructLayout({
    "a": 16,
    "inner": data.StructLayout({"x": 3, "y": signed(5), "deep": data.StructLayout({"p": 1, "q": 7})}),
    "arr": data.ArrayLayout(4, 3),
    "wide": 70,
    "s": signed(12),
})


def test_pack_unpack_roundtrip_nested():
    rng = random.Random(1)
    w = width(NESTED)
    assert w == 16 + 16 + 12 + 70 + 12
    for _ in range(500):
        bits = rng.getrandbits(w)
        value = unpack(NESTED, bits)
        assert pack(NESTED, value) == bits
        assert pack(NESTED, unpack(NESTED, bits, depth=1)) == bits
    v = {"a": 0x3F80, "inner": {"x": 5, "y": -3, "deep": {"p": 1, "q": 0x55}}, "arr": [1, 2, 15],
         "wide": (1 << 69) | 5, "s": -1}
    bits = pack(NESTED, v)
    assert unpack(NESTED, bits) == v
    assert bits & 0xFFFF == 0x3F80
    assert (bits >> 16) & 0x7 == 5 and (bits >> 19) & 0x1F == 0b11101  # y = -3, two's complement
    assert (bits >> (16 + 16 + 12 + 70)) == 0xFFF
    # Missing fields pack as zero; a nested field may be given as raw bits.
    assert pack(NESTED, {"inner": 0xABCD}) == 0xABCD << 16
    assert unpack(NESTED, 0xABCD << 16, depth=1)["inner"] == 0xABCD


def test_pack_rejects_bad_values():
    with pytest.raises(ValueError, match="does not fit"):
        pack(NESTED, {"a": 1 << 16})
    with pytest.raises(ValueError, match="does not fit"):
        pack(NESTED, {"inner": {"y": 32}})
    with pytest.raises(KeyError, match="nope"):
        pack(NESTED, {"nope": 1})
    with pytest.raises(ValueError):
        pack(NESTED, {"arr": [1, 2]})
    with pytest.raises(ValueError):
        unpack(NESTED, 1 << width(NESTED))


def test_pack_array_matches_scalar_pack():
    rng = np.random.default_rng(2)
    n = 1000
    cols = {"a": rng.integers(0, 1 << 16, n), "inner": {"x": rng.integers(0, 8, n),
            "y": rng.integers(-16, 16, n), "deep": {"q": rng.integers(0, 128, n)}},
            "wide": np.array([int(v) << 10 for v in rng.integers(0, 1 << 60, n)], dtype=object),
            "s": -5}
    packed = pack_array(NESTED, cols)
    for k in range(0, n, 97):
        scalar = {"a": int(cols["a"][k]), "inner": {"x": int(cols["inner"]["x"][k]),
                  "y": int(cols["inner"]["y"][k]), "deep": {"q": int(cols["inner"]["deep"]["q"][k])}},
                  "wide": int(cols["wide"][k]), "s": -5}
        assert packed[k] == pack(NESTED, scalar)
    back = unpack_array(NESTED, packed)
    assert np.array_equal(back["a"], cols["a"].astype(np.uint64))
    assert np.array_equal(back["inner"]["y"], cols["inner"]["y"])
    assert back["inner"]["y"].dtype == np.int64
    assert list(back["wide"]) == list(cols["wide"])
    assert np.all(back["s"] == -5)
    flat = unpack_array(NESTED, packed, depth=1)
    assert flat["inner"].dtype == np.uint64
    # <= 64-bit payloads stay in numpy end to end.
    small = data.StructLayout({"a": 16, "b": 16, "sub": 1})
    p = pack_array(small, {"a": np.arange(10), "b": 7, "sub": np.arange(10) & 1}, as_numpy=True)
    assert p.dtype == np.uint64 and int(p[3]) == 3 | 7 << 16 | 1 << 32
    assert np.array_equal(unpack_array(small, p)["a"], np.arange(10))
    with pytest.raises(ValueError, match="do not fit"):
        pack_array(small, {"a": np.array([1 << 16])})


@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_pack_lanes_matches_pack_array(lanes):
    """Beats of several payloads: lane k of beat b is payload b * lanes + k, bit for bit as
    pack_array places it, also across 64-bit word boundaries (a 37-bit and a 66-bit payload,
    fields straddling words) and with a padded last beat; split_lanes gives them back."""
    rng = np.random.default_rng(lanes)
    n = 1001
    for shape in (data.StructLayout({"a": 16, "b": signed(5), "c": 16}),
                  data.StructLayout({"x": 32, "y": 1, "z": 33})):
        signs = {k: Shape.cast(f.shape).signed for k, f in shape}
        cols = {k: rng.integers(-(1 << (f.width - 1)) if signs[k] else 0,
                                1 << (f.width - signs[k]), n)
                for k, f in shape}
        one = pack_array(shape, cols)
        beats = pack_lanes(shape, cols, lanes)
        w = width(shape)
        assert len(beats) == -(-n // lanes)
        for i in range(len(beats) * lanes):
            src = min(i, n - 1) if i < n else (len(beats) - 1) * lanes
            assert (beats[i // lanes] >> (w * (i % lanes))) & ((1 << w) - 1) == one[src]
        if w <= 64:
            assert list(split_lanes(shape, beats, lanes, n)) == one


def test_layout_json_roundtrip():
    for layout in (NESTED, data.StructLayout({"a": 16, "b": 16, "sub": 1}), data.ArrayLayout(signed(3), 4),
                   data.UnionLayout({"f": 32, "h": 16})):
        again = layout_from_json(json.loads(json.dumps(layout_to_json(layout))))
        assert fields(again) == fields(layout)
        assert width(again) == width(layout)
    rng = random.Random(3)
    again = layout_from_json(json.loads(json.dumps(layout_to_json(NESTED))))
    for _ in range(50):
        bits = rng.getrandbits(width(NESTED))
        assert unpack(again, bits) == unpack(NESTED, bits)


# --- streams under Verilator ------------------------------------------------------------------

@pytest.mark.verilator
@pytest.mark.parametrize("gap,stall", [(0.0, 0.0), (0.5, 0.5), (0.1, 0.8)])
def test_fifo_loopback(gap, stall):
    sim = _sim(FifoLoop(), "fifo_loop")
    sim.run(TB, testcase="stream_loop", params={"n": 3000, "gap": gap, "stall": stall, "seed": 7})


@pytest.mark.verilator
def test_fifo_loopback_lazy_sink():
    _sim(FifoLoop(), "fifo_loop").run(TB, testcase="stream_loop",
                                      params={"n": 1000, "gap": 0.3, "stall": 0.3, "lazy": True})


@pytest.mark.verilator
@pytest.mark.parametrize("latency", [0, 1, 3])
def test_pipelined_op(latency):
    dut = AddSub(latency)
    sim = _sim(dut, f"addsub_l{latency}")
    if latency == 0:
        assert "clk" not in sim._verilog_text.split(");")[0]  # purely combinational: no clock port
    sim.run(TB, testcase="stream_loop", params={"n": 3000, "gap": 0.3, "stall": 0.4, "op": "addsub",
                                                "layout": layout_to_json(dut.operand_layout)})
    assert _result(sim)["clocked"] == (latency > 0)


@pytest.mark.verilator
def test_dict_payloads_through_nested_layout():
    layout = data.StructLayout({"x": 5, "inner": data.StructLayout({"y": signed(7), "z": 4}), "w": 48})
    sim = _sim(FifoLoop(width=width(layout)), "fifo_loop64")
    sim.run(TB, testcase="stream_dict_payloads", params={"layout": layout_to_json(layout)})


@pytest.mark.verilator
@pytest.mark.parametrize("bug,message", [("payload", "payload changed"), ("valid", "valid dropped")])
def test_stream_checker_catches_broken_dut(bug, message):
    sim = _sim(BrokenStage(bug), f"broken_{bug}")
    with pytest.raises(SimulationFailed) as info:
        sim.run(TB, testcase="stream_loop", params={"n": 2000, "gap": 0.2, "stall": 0.5})
    assert "StreamProtocolError" in str(info.value) and message in str(info.value)


@pytest.mark.verilator
def test_bench_assertions_show_their_values():
    """The benches' plain asserts are rewritten (flows.runner: COCOTB_REWRITE_ASSERTION_FILES
    names the benches and their helpers, not every module the run imports)."""
    sim = _sim(FifoLoop(), "fifo_loop")
    with pytest.raises(SimulationFailed) as info:
        sim.run(TB, testcase="plain_assert")
    assert "assert 3 == 4" in str(info.value)


@pytest.mark.verilator
def test_stream_throughput():
    """Transfers per second through StreamDriver -> FIFO -> StreamSink (reported, and a floor)."""
    sim = _sim(FifoLoop(), "fifo_loop")
    rates = {}
    for gap, stall in [(0.0, 0.0), (0.2, 0.2)]:
        sim.run(TB, testcase="stream_loop", params={"n": 50_000, "gap": gap, "stall": stall},
                name=f"throughput_{gap}_{stall}")
        r = json.loads((sim.last_run_dir / "result.json").read_text())
        rates[(gap, stall)] = r
        print(f"\nstream throughput gap={gap} stall={stall}: {r['transfers_per_s']:.0f} transfers/s, "
              f"{r['cycles_per_s']:.0f} cycles/s")
    # Generous floor (shared 2-core machines): the regressions are sized for ~50k/s.
    assert rates[(0.0, 0.0)]["transfers_per_s"] > 10_000


# --- TCDM model under Verilator ---------------------------------------------------------------

@pytest.mark.verilator
@pytest.mark.parametrize("stall", [0.0, 0.5, 0.9])
def test_tcdm_copy(stall):
    sim = _sim(TCDMCopy(), "tcdm_copy")
    sim.run(TB, testcase="tcdm_copy", params={"count": 64, "src": 0x1000, "dst": 0x1800,
                                              "stall": stall, "seed": 3})
    stats = _result(sim)["ports"][0]
    assert stats["reads"] == stats["writes"] == 64
    assert (stats["stall_cycles"] > 0) == (stall > 0)


@pytest.mark.verilator
def test_tcdm_copy_early_grant_mode_and_byte_enables():
    sim = _sim(TCDMCopy(), "tcdm_copy")
    sim.run(TB, testcase="tcdm_copy", params={"count": 40, "src": 0x1100, "dst": 0x1900, "stall": 0.5,
                                              "comb_gnt": False, "wbe": 0b0101, "seed": 4})


@pytest.mark.verilator
@pytest.mark.parametrize("width_", [128, 512])
def test_tcdm_two_wide_ports(width_):
    sim = _sim(TCDMCopy(data_width=width_, two_ports=True), f"tcdm_copy2_{width_}")
    nb = width_ // 8
    sim.run(TB, testcase="tcdm_copy", params={
        "count": 20, "src": 0x1000, "dst": 0x1000 + 32 * nb, "size": 64 * nb, "stall": 0.5,
        "ports": ["rd", "wr"], "wbe": int("10" * (nb // 2), 2), "seed": 5})
    res = _result(sim)["ports"]
    assert res[0]["reads"] == 20 and res[0]["writes"] == 0
    assert res[1]["writes"] == 20 and res[1]["reads"] == 0


@pytest.mark.verilator
def test_tcdm_out_of_range_recorded():
    sim = _sim(TCDMCopy(), "tcdm_copy")
    sim.run(TB, testcase="tcdm_copy", params={"count": 4, "src": 0x1000, "dst": 0x1FF8, "stall": 0.3,
                                              "expect_errors": "outside"})
    errors = _result(sim)["errors"]
    assert len(errors) == 2 and all("write at 0x200" in e for e in errors)
    sim.run(TB, testcase="tcdm_copy", params={"count": 2, "src": 0x1002, "dst": 0x1800,
                                              "expect_errors": "misaligned"})


@pytest.mark.verilator
@pytest.mark.parametrize("bug,message", [("addr", "request changed before gnt"),
                                         ("wdata", "request changed before gnt"),
                                         ("req", "req dropped before gnt")])
def test_tcdm_checker_catches_broken_master(bug, message):
    sim = _sim(TCDMCopy(bug=bug), f"tcdm_copy_bug_{bug}")
    with pytest.raises(SimulationFailed) as info:
        sim.run(TB, testcase="tcdm_copy", params={"count": 32, "src": 0x1000, "dst": 0x1800,
                                                  "stall": 0.7, "seed": 6})
    assert "TCDMProtocolError" in str(info.value) and message in str(info.value)


@pytest.mark.verilator
def test_tcdm_combinational_grant_chain():
    sim = _sim(ChainedPorts(), "tcdm_chain")
    sim.run(TB, testcase="tcdm_chain", params={"count": 50, "src": 0x1000, "dst": 0x1400})
