# amaranth: UnusedElaboratable=no
"""hw.faults: a tap flips exactly the named bit at the named cycle (registers and memory words),
stuck-at holds the bit for exactly its cycles, a tapped design with no fault programmed behaves
as the untapped one, and taps off leave the emitted Verilog as it was.

Each check runs the design twice in Amaranth's simulator with the same inputs, once with no
fault and once with one, recording every target (all registers, every memory word) after every
clock edge, and compares the two records."""

import random

import pytest
from amaranth import Cat, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.faults import FaultKind, FaultTapped, classify

CYCLES = 40


class _Sub(wiring.Component):
    i: In(8)
    o: Out(8)

    def elaborate(self, platform):
        m = Module()
        state = Signal(3, init=5)
        m.d.sync += state.eq(state + self.i[:3])
        m.d.comb += self.o.eq(Cat(state, self.i[3:]))
        return m


class _Toy(wiring.Component):
    """Registers written whole, in slices, in switch cases and through a Cat; a register of a
    module under ResetInserter; a memory with a write and a read port."""
    i: In(8)
    o: Out(8)

    def elaborate(self, platform):
        m = Module()
        count = Signal(5)
        acc = Signal(16, init=0x1234)
        pipe = Signal(8)
        flag = Signal()
        m.d.sync += [count.eq(count + 1), flag.eq(count[:3] == 7)]
        with m.If(count[0]):
            m.d.sync += acc[:8].eq(acc[:8] + self.i)
        with m.Else():
            m.d.sync += acc[8:].eq(acc[8:] ^ self.i)
        with m.Switch(count[1:3]):
            with m.Case(0):
                m.d.sync += pipe.eq(self.i)
            with m.Default():
                m.d.sync += Cat(pipe[4:], pipe[:4]).eq(pipe)
        m.submodules.sub = sub = ResetInserter(flag)(_Sub())
        m.submodules.mem = mem = Memory(shape=8, depth=8, init=[3, 1, 4, 1, 5, 9, 2, 6])
        wp, rp = mem.write_port(), mem.read_port()
        m.d.comb += [sub.i.eq(self.i ^ pipe), wp.addr.eq(count[:3]),
                     wp.data.eq(self.i ^ acc[:8]), wp.en.eq(count[3]), rp.addr.eq(count[1:4])]
        m.d.comb += self.o.eq(rp.data ^ pipe ^ acc[8:] ^ sub.o)
        return m


def _record(fault, inputs, design=_Toy):
    """Per clock edge: (fault_now, {target id: value}, output); memories as tuples of words."""
    dut = FaultTapped(design())
    records = []

    async def bench(ctx):
        ctx.set(dut.fault, dut.layout.const(fault))
        for value in inputs:
            ctx.set(dut.i, value)
            await ctx.tick()
            state = {}
            for t in dut.targets:
                if t.kind == "register":
                    state[t.id] = ctx.get(t.signal)
                else:
                    state[t.id] = tuple(ctx.get(t.memory._data[w]) for w in range(t.depth))
            records.append((ctx.get(dut.fault_now), state, ctx.get(dut.o)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return dut, records


def _fault(kind, target=0, word=0, bit=0, cycle=0, duration=0):
    return dict(kind=int(kind), target=target, word=word, bit=bit, cycle=cycle,
                duration=duration)


@pytest.fixture(scope="module")
def golden():
    inputs = [random.Random(i).randrange(256) for i in range(CYCLES)]
    return inputs, _record(_fault(FaultKind.NONE), inputs)


def test_fault_map_lists_every_register_and_memory(golden):
    dut, _ = golden[1]
    names = {t["name"]: t for t in dut.fault_map}
    assert set(names) == {"acc", "count", "flag", "pipe", "sub.state", "mem"}
    assert names["mem"]["kind"] == "memory" and names["mem"]["depth"] == 8
    assert names["mem"]["bits"] == 64 and names["acc"]["width"] == 16
    assert [t["id"] for t in dut.fault_map] == list(range(len(names)))
    assert names["acc"]["class"] == "accumulator" and names["count"]["class"] == "control"
    assert names["pipe"]["class"] == "datapath" and names["mem"]["class"] == "memory"


def test_no_fault_is_the_untapped_design(golden):
    inputs, (_, records) = golden
    plain = _Toy()
    outputs = []

    async def bench(ctx):
        for value in inputs:
            ctx.set(plain.i, value)
            await ctx.tick()
            outputs.append(ctx.get(plain.o))

    sim = Simulator(plain)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert outputs == [o for _, _, o in records]
    assert [now for now, _, _ in records] == list(range(1, CYCLES + 1))


def _diff(a, b):
    """{target id: xor of the two values (memories: {word: xor})} where they differ."""
    out = {}
    for tid, va in a.items():
        vb = b[tid]
        if isinstance(va, tuple):
            words = {w: x ^ y for w, (x, y) in enumerate(zip(va, vb)) if x != y}
            if words:
                out[tid] = words
        elif va != vb:
            out[tid] = va ^ vb
    return out


@pytest.mark.parametrize("trial", range(24))
def test_a_flip_changes_exactly_the_named_bit_at_the_named_cycle(golden, trial):
    inputs, (dut, records) = golden
    rng = random.Random(trial)
    target = dut.targets[trial % len(dut.targets)]
    word = rng.randrange(target.depth)
    bit = rng.randrange(target.width)
    cycle = rng.randrange(2, CYCLES - 4)
    _, faulty = _record(_fault(FaultKind.FLIP, target.id, word, bit, cycle), inputs)
    for (now, gold, _), (_, bad, _) in zip(records, faulty):
        diff = _diff(gold, bad)
        if now <= cycle:
            assert diff == {}, f"cycle {now}: state differs before the fault"
        elif now == cycle + 1:
            expect = {word: 1 << bit} if target.kind == "memory" else 1 << bit
            assert diff == {target.id: expect}, f"{target.name} bit {bit} at cycle {cycle}"
            break


@pytest.mark.parametrize("kind", [FaultKind.STUCK_0, FaultKind.STUCK_1])
def test_stuck_at_holds_the_bit_for_its_cycles(golden, kind):
    inputs, (dut, records) = golden
    target = next(t for t in dut.targets if t.name == "count")
    cycle, duration, bit = 9, 6, 1
    _, faulty = _record(_fault(kind, target.id, 0, bit, cycle, duration), inputs)
    value = 1 if kind == FaultKind.STUCK_1 else 0
    for (now, gold, _), (_, bad, _) in zip(records, faulty):
        if now <= cycle:
            assert gold == bad
        elif now <= cycle + duration:
            assert (bad[target.id] >> bit) & 1 == value, f"cycle {now}"
    # Released afterwards: the counter counts on from wherever the fault left it.
    last = faulty[cycle + duration + 2][1][target.id]
    assert faulty[cycle + duration + 3][1][target.id] == (last + 1) % 32


def test_a_memory_flip_lands_on_a_word_written_in_its_cycle(golden):
    inputs, (dut, records) = golden
    mem = next(t for t in dut.targets if t.kind == "memory")
    # count[3] enables the write of word count[:3]: the edge of cycle 8 (count == 8) writes
    # word 0. Record k is the state after edge k.
    cycle, word = 8, 0
    _, faulty = _record(_fault(FaultKind.FLIP, mem.id, word, 5, cycle), inputs)
    gold = records[cycle][1][mem.id]                    # the record after the edge of `cycle`
    bad = faulty[cycle][1][mem.id]
    assert records[cycle][0] == cycle + 1
    assert records[cycle - 1][1][mem.id][word] != gold[word], "the word is written then"
    assert bad[word] == gold[word] ^ (1 << 5)


def test_select_limits_the_targets():
    dut = FaultTapped(_Toy(), select=("sub",))
    assert [t["name"] for t in dut.fault_map] == ["sub.state"]
    with pytest.raises(ValueError, match="no register or memory"):
        FaultTapped(_Toy(), select=("nothing",))


@pytest.mark.parametrize("name,width,cls", [
    ("rf.contexts.ctx0_COMMAND", 32, "control"), ("array.ce0_0_acc_d0", 32, "accumulator"),
    ("x_buffer.current0", 64, "datapath"), ("array.x_staged0_1", 16, "datapath"),
    ("array.align0_3", 1, "control"), ("fsm_state", 3, "control"),
    ("abft.checksum_q", 32, "checksum"), ("lanes.sum_slot", 32, "accumulator")])
def test_class_rule(name, width, cls):
    assert classify(name, width) == cls


@pytest.mark.verilator
def test_generator_option(tmp_path):
    """emit(taps=...): the tapped component's Verilog (linted) and fault map; the others, and
    every component without the option, are the text emitted without it."""
    import json

    from flows.emit import emit, to_verilog

    specs = {"toy": _Toy, "sub": _Sub}
    emit(specs, tmp_path / "plain", log=None)
    emit(specs, tmp_path / "taps", log=None, taps={"toy": ("",)})
    plain = {n: (tmp_path / "plain" / f"{n}.v").read_text() for n in specs}
    assert plain["toy"] == to_verilog(_Toy(), "toy")[0]
    assert (tmp_path / "taps" / "sub.v").read_text() == plain["sub"]
    assert (tmp_path / "taps" / "toy.v").read_text() != plain["toy"]
    fmap = json.loads((tmp_path / "taps" / "toy.faults.json").read_text())
    assert [t["name"] for t in fmap["targets"]] == [t["name"]
                                                    for t in FaultTapped(_Toy()).fault_map]
    assert set(fmap["port"]) == {"kind", "target", "word", "bit", "cycle", "duration"}
    assert not (tmp_path / "plain" / "toy.faults.json").exists()
    with pytest.raises(ValueError, match="unknown component"):
        emit(specs, tmp_path / "x", log=None, taps={"nothing": ("",)})


def test_tapped_verilog_is_cached_with_its_fault_map(tmp_path, monkeypatch):
    """flows.emit.tapped_verilog_text: the second call for an unchanged catalogue component
    reads the text and the fault map back instead of elaborating, and they equal the first
    call's (the layout too, rebuilt from the map); another select is another entry."""
    from flows import emit
    from hw.catalog import build
    monkeypatch.setattr(emit, "VERILOG_CACHE", tmp_path)
    options = dict(component_level=1, classes=(("acc*", "accumulator"),))
    first = emit.tapped_verilog_text(build("tiny", "fma_bf16"), "tapped_fma", ("",), **options)
    assert len(list(tmp_path.glob("tapped_fma-tapped-*.v"))) == 1
    monkeypatch.setattr(emit, "FaultTapped", None)        # a second elaboration would fail
    again = emit.tapped_verilog_text(build("tiny", "fma_bf16"), "tapped_fma", ("",), **options)
    assert again[0] == first[0] and again[1] == first[1] and again[2] == first[2]
    with pytest.raises(TypeError):                        # not cached: elaborates
        emit.tapped_verilog_text(build("tiny", "fma_bf16"), "tapped_fma", ("stage0",),
                                 **options)
