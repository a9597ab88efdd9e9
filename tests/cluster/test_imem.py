# amaranth: UnusedElaboratable=no
"""The instruction memory under the Amaranth simulator, against a dictionary model: random
reads from every core port and random loader reads and byte writes at once. The loader shares
core 0's RAM port and has priority; the other cores are always granted; a core write is
dropped and pulses ``bad_write`` in its grant cycle; read data follows one cycle after a
granted read, and ports without a read that cycle see ``rvalid`` low and zero data."""

import random

import pytest
from amaranth.sim import Simulator

from hw.cluster.imem import InstructionMemory

WORDS = 64


@pytest.mark.parametrize("n_ports", [1, 2, 3])
def test_ports_against_model(n_ports):
    rng = random.Random(n_ports)
    init = [rng.getrandbits(32) for _ in range(WORDS // 2)]
    dut = InstructionMemory(WORDS, n_ports, init=init)
    mem = {a: (init[a] if a < len(init) else 0) for a in range(WORDS)}
    counts = {"loader_writes": 0, "core0_refused": 0, "core_reads": 0, "bad_writes": 0}

    async def bench(ctx):
        expect = {}                 # port name -> word expected this cycle (read last cycle)
        for _ in range(1500):
            ld_req = rng.random() < 0.3
            ld_we = rng.random() < 0.5
            ld_addr = rng.randrange(WORDS)
            ld_be = rng.randrange(16)
            ld_data = rng.getrandbits(32)
            ctx.set(dut.loader.req, ld_req)
            ctx.set(dut.loader.we, ld_we)
            ctx.set(dut.loader.addr, ld_addr * 4)
            ctx.set(dut.loader.be, ld_be)
            ctx.set(dut.loader.wdata, ld_data)
            cores = []
            for i in range(n_ports):
                p = dut.port(i)
                req, we, addr = rng.random() < 0.7, rng.random() < 0.05, rng.randrange(WORDS)
                ctx.set(p.req, req)
                ctx.set(p.we, we)
                ctx.set(p.addr, addr * 4)
                cores.append((req, we, addr))

            # Responses to last cycle's reads (registered, so stable before this tick).
            for name, port in [("loader", dut.loader)] + [(i, dut.port(i)) for i in range(n_ports)]:
                if name in expect:
                    assert ctx.get(port.rvalid) == 1
                    assert ctx.get(port.rdata) == expect[name], f"port {name}"
                else:
                    assert ctx.get(port.rvalid) == 0
                    assert ctx.get(port.rdata) == 0
            expect = {}

            assert ctx.get(dut.loader.gnt) == ld_req
            for i, (req, we, addr) in enumerate(cores):
                granted = req and not (i == 0 and ld_req)
                assert ctx.get(dut.port(i).gnt) == granted, f"port {i}"
                assert ctx.get(dut.bad_write[i]) == (granted and we), f"port {i}"
                counts["core0_refused"] += i == 0 and req and ld_req
                counts["bad_writes"] += granted and we
                if granted and not we:
                    expect[i] = mem[addr]
                    counts["core_reads"] += 1
            if ld_req and not ld_we:
                expect["loader"] = mem[ld_addr]
            await ctx.tick()
            if ld_req and ld_we:
                mask = sum(0xFF << (8 * b) for b in range(4) if ld_be >> b & 1)
                mem[ld_addr] = (mem[ld_addr] & ~mask) | (ld_data & mask)
                counts["loader_writes"] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert min(counts.values()) > 10, counts
