# amaranth: UnusedElaboratable=no
"""flows.native: the compiled harness. The registering wrapper (text), then small designs
compiled with it: exact cycles of port access and stepping; the C++ TCDM memory serving a
master (reads, writes, byte enables, grant stalls, read data exactly one cycle after the
grant), with the port's responses direct or registered (written a cycle ahead); a bus master
on a slave port, direct or through the registered request path (no access lost or repeated);
bad arguments rejected with the name of what is wrong."""

import numpy as np
import pytest
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flows.native import NativeBuild, registering_wrapper, top_ports
from hw.bus import TCDMSignature

WORDS = 40


class Copier(wiring.Component):
    """Copies ``count`` words from ``src`` to ``dst`` adding 1 to each: read, wait for the read
    data (which must come exactly one cycle after the grant, else ``err``), write. Without
    stalls a word takes 3 cycles."""

    def __init__(self):
        super().__init__({"start": In(1), "src": In(32), "dst": In(32), "count": In(16),
                          "busy": Out(1), "err": Out(1), "granted": Out(32),
                          "tcdm": Out(TCDMSignature(addr_width=32, data_width=32))})

    def elaborate(self, platform):
        m = Module()
        i = Signal(16)
        data = Signal(32)
        bus = self.tcdm
        with m.If(bus.req & bus.gnt):
            m.d.sync += self.granted.eq(self.granted + 1)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += i.eq(0)
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [self.busy.eq(1), bus.req.eq(1), bus.addr.eq(self.src + 4 * i),
                             bus.be.eq(0xF)]
                with m.If(bus.gnt):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(bus.rvalid):
                    m.d.sync += data.eq(bus.rdata + 1)
                    m.next = "WRITE"
                with m.Else():
                    m.d.sync += self.err.eq(1)
                    m.next = "IDLE"
            with m.State("WRITE"):
                m.d.comb += [self.busy.eq(1), bus.req.eq(1), bus.we.eq(1), bus.be.eq(0xF),
                             bus.addr.eq(self.dst + 4 * i), bus.wdata.eq(data)]
                with m.If(bus.gnt):
                    m.d.sync += i.eq(i + 1)
                    with m.If(i + 1 == self.count):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ"
        return m


class WordStore(wiring.Component):
    """A 64-word memory on a TCDM slave port that refuses every third request cycle; counts the
    granted writes and reads."""

    def __init__(self):
        super().__init__({"bus": In(TCDMSignature(addr_width=32, data_width=32)),
                          "writes": Out(32), "reads": Out(32)})

    def elaborate(self, platform):
        m = Module()
        from amaranth.lib.memory import Memory
        m.submodules.mem = mem = Memory(shape=32, depth=64, init=[])
        rd, wr = mem.read_port(), mem.write_port(granularity=8)
        phase = Signal(range(3))
        bus = self.bus
        m.d.comb += bus.gnt.eq(bus.req & (phase != 2))
        with m.If(bus.req):
            m.d.sync += phase.eq(Mux(phase == 2, 0, phase + 1))
        take = bus.req & bus.gnt
        m.d.comb += [rd.addr.eq(bus.addr[2:8]), wr.addr.eq(bus.addr[2:8]), wr.data.eq(bus.wdata),
                     bus.rdata.eq(rd.data)]
        with m.If(take & bus.we):
            m.d.comb += wr.en.eq(bus.be)
            m.d.sync += self.writes.eq(self.writes + 1)
        with m.If(take & ~bus.we):
            m.d.sync += self.reads.eq(self.reads + 1)
        m.d.sync += bus.rvalid.eq(take & ~bus.we)
        return m


_BUILDS = {}


def _build(component_cls, name, **kwargs):
    key = (name, repr(sorted(kwargs.items())))
    if key not in _BUILDS:
        _BUILDS[key] = NativeBuild.for_component(component_cls(), name, **kwargs)
    return _BUILDS[key]


# --- the wrapper, as text ---------------------------------------------------------------------

VERILOG = """module t(clk, rst, go, x, y);
  input clk;
  input rst;
  input go;
  input [7:0] x;
  output [7:0] y;
endmodule
"""


def test_top_ports_and_wrapper():
    assert top_ports(VERILOG, "t") == [("input", 1, "clk"), ("input", 1, "rst"),
                                       ("input", 1, "go"), ("input", 8, "x"),
                                       ("output", 8, "y")]
    text = registering_wrapper(VERILOG, "t", "t_native", registered=("rst", "x"))
    assert "always @(posedge clk) rst__q <= rst;" in text
    assert "reg [7:0] x__q = 0;" in text
    assert "t dut(.clk(clk), .rst(rst__q), .go(go), .x(x__q), .y(y));" in text


def test_wrapper_rejects_unknown_inputs():
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        registering_wrapper(VERILOG, "t", "w", registered=("nope",))
    with pytest.raises(ValueError, match="y"):
        registering_wrapper(VERILOG, "t", "w", registered=("y",))      # an output
    with pytest.raises(ValueError, match="no module"):
        top_ports(VERILOG, "other")


def test_bad_build_options():
    with pytest.raises(ValueError, match="cxx_opt"):
        NativeBuild(VERILOG, "t", cxx_opt="-O9")
    with pytest.raises(ValueError, match="pgo"):
        NativeBuild(VERILOG, "t", pgo=True, registered_inputs=()).build()


# --- compiled designs -------------------------------------------------------------------------

def _copy(model, mem, src, dst, n, max_cycles=100_000):
    model["src"], model["dst"], model["count"] = src, dst, n
    model["start"] = 1
    model.step(1)
    model["start"] = 0
    model.step(1)                                    # the FSM has left IDLE (start registered)
    start = model.cycle
    cycles, hit = model.run_until("busy", 0, max_cycles)
    assert hit
    return model.cycle - start


@pytest.mark.verilator
@pytest.mark.parametrize("registered", [False, True], ids=["direct", "registered"])
def test_memory_serves_a_master(registered):
    build = _build(Copier, "copier", registered_inputs=("rst", "start", "src", "dst", "count"),
                   registered_memories=("tcdm__",) if registered else ())
    for stall in (0.0, 0.5):
        with build.open() as model:
            model.reset()
            mem = model.memory(0x1000, 4096)
            mem.attach("tcdm__", stall=stall, seed=3)
            words = np.random.default_rng(1).integers(0, 2 ** 32 - 1, WORDS, dtype=np.uint32)
            mem.write(0x1000, words)
            cycles = _copy(model, mem, 0x1000, 0x1800, WORDS)
            got = np.frombuffer(mem.read(0x1800, 4 * WORDS), np.uint32)
            assert np.array_equal(got, words + 1)
            assert model["err"] == 0
            stats = mem.stats()[0]
            assert stats["grants"] == 2 * WORDS == model["granted"]
            assert stats["errors"] == 0
            if stall == 0:
                assert cycles == 3 * WORDS and stats["stall_cycles"] == 0
            else:
                assert cycles == 3 * WORDS + stats["stall_cycles"] and stats["stall_cycles"] > 10


@pytest.mark.verilator
def test_memory_reports_out_of_range_accesses():
    with _build(Copier, "copier").open() as model:
        model.reset()
        mem = model.memory(0x1000, 256)
        mem.attach("tcdm__")
        _copy(model, mem, 0x1000, 0x1100, 2)          # writes past the end
        assert mem.stats()[0]["errors"] == 2 and mem.stats()[0]["first_error_addr"] == 0x1100
        with pytest.raises(IndexError, match="outside"):
            mem.read(0x10F0, 32)
        with pytest.raises(KeyError, match="no TCDM master port 'nope__'"):
            mem.attach("nope__")
        with pytest.raises(ValueError, match="stall"):
            mem.attach("tcdm__", stall=1.0)
        with pytest.raises(KeyError, match="no port 'srcx'"):
            model["srcx"]


@pytest.mark.verilator
@pytest.mark.parametrize("registered", [False, True], ids=["direct", "registered"])
def test_bus_master(registered):
    build = _build(WordStore, "word_store", registered_buses=("bus__",) if registered else ())
    with build.open() as model:
        model.reset()
        bus = model.bus("bus__")
        values = [(0x9E3779B9 * (i + 1)) & 0xFFFF_FFFF for i in range(32)]
        c0 = model.cycle
        bus.write_words([4 * i for i in range(32)], values)
        write_cycles = model.cycle - c0
        assert [bus.read(4 * i) for i in range(32)] == values
        bus.write(8, 0xAABBCCDD, be=0b0101)
        assert bus.read(8) == (values[2] & 0xFF00FF00) | 0x00BB00DD
        # Every access granted exactly once, none repeated: the design counted them.
        assert model["writes"] == 33 and model["reads"] == 33
        # One cycle per write, plus the refused cycles (every third request cycle: after each
        # pair of grants but the last), plus one per access when the request path is
        # registered (the design sees each request a cycle after the master drives it).
        assert write_cycles == 32 * (2 if registered else 1) + 15
        bus.write_words([0, 4], [1, 2], verify=True)
        with pytest.raises(KeyError, match="no TCDM slave port"):
            model.bus("other__")


@pytest.mark.verilator
def test_snapshot_restores_the_whole_state():
    """A snapshot taken mid-copy (design registers, memory contents, the port's pending read
    and stall generator, the cycle count) restored any number of times gives the same run as
    continuing from it the first time; a snapshot of another model, or one taken before a
    memory port was added, is refused."""
    build = _build(Copier, "copier", registered_inputs=("rst", "start", "src", "dst", "count"))
    with build.open() as model, build.open() as other:
        model.reset()
        mem = model.memory(0x1000, 4096)
        mem.attach("tcdm__", stall=0.4, seed=5)
        words = np.arange(WORDS, dtype=np.uint32) * 7
        mem.write(0x1000, words)
        model["src"], model["dst"], model["count"] = 0x1000, 0x1800, WORDS
        model["start"] = 1
        model.step(2)
        model["start"] = 0
        model.step(37)                                  # in the middle of the copy
        snap = model.snapshot()
        ends = []
        for _ in range(3):
            model.restore(snap)
            cycles, hit = model.run_until("busy", 0, 10_000)
            assert hit
            ends.append((model.cycle, mem.stats()[0]["stall_cycles"], model["granted"],
                         bytes(mem.read(0x1800, 4 * WORDS))))
            mem.write(0x1800, np.zeros(WORDS, np.uint32))  # undone by the next restore
        assert ends[0] == ends[1] == ends[2]
        assert np.array_equal(np.frombuffer(ends[0][3], np.uint32), words + 1)
        with pytest.raises(ValueError, match="not a snapshot of this model"):
            other.restore(snap)
        early = other.snapshot()
        other.memory(0x1000, 64)
        with pytest.raises(ValueError, match="memory ports were added"):
            other.restore(early)


@pytest.mark.verilator
def test_profile_guided_build(tmp_path):
    """pgo=True: the profile workload runs on an instrumented model, which writes a profile;
    the final library is compiled with it (not instrumented) and computes the same."""
    from flows.native import _library
    ran = []

    def workload(model):
        model.reset()
        mem = model.memory(0x1000, 4096)
        mem.attach("tcdm__")
        mem.write(0x1000, np.arange(WORDS, dtype=np.uint32))
        _copy(model, mem, 0x1000, 0x1800, WORDS)
        ran.append(np.frombuffer(mem.read(0x1800, 4 * WORDS), np.uint32).copy())

    build = NativeBuild.for_component(Copier(), "copier_pgo", pgo=True, build_root=tmp_path)
    with pytest.raises(ValueError, match="profile workload"):
        build.build()
    build.build(profile=workload)
    assert len(ran) == 1 and np.array_equal(ran[0], np.arange(WORDS) + 1)
    assert "profile workload:" in (build.build_dir / "build.log").read_text()
    assert any(build.build_dir.glob("*.gcda"))
    assert _library(build.library).sim_profile_dump() == 0       # not instrumented
    with build.open() as model:
        workload(model)
    assert np.array_equal(ran[1], ran[0])
