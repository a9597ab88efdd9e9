# amaranth: UnusedElaboratable=no
"""The loader enters the cluster through core 0's path (an arbiter in front of core 0's
demultiplexer) and keeps its own identity there: it may write the instruction memory, its
bus errors name master ``cores``, and it reaches the scratchpad and the registers while core 0
runs a program that keeps the same path busy (every access granted eventually, read data
exactly one cycle after the grant)."""

import random

from amaranth.sim import Simulator

from hw.cluster import Cluster
from hw.cluster.regs import ADDRESS_MAP, MAP
from flows.firmware import FIRMWARE, build

from sim.cluster_amaranth import imem_words

SPM, PERIPH = ADDRESS_MAP["SPM_BASE"], ADDRESS_MAP["PERIPH_BASE"]
BUS_ERROR = PERIPH + MAP["BUS_ERROR"].offset
BUS_ERROR_ADDR = PERIPH + MAP["BUS_ERROR_ADDR"].offset
MASTER = next(f for f in MAP["BUS_ERROR"].fields if f.name == "MASTER")


def test_loader_through_core0_path():
    cores, imem_kib = 2, 4
    elf = build([FIRMWARE / "tests" / "spin.c"])
    dut = Cluster(cores, 16, banks=4, imem_kib=imem_kib,
                  imem_init=imem_words(elf, imem_kib * 1024))
    rng = random.Random(6)
    stats = {"waits": 0, "accesses": 0}

    async def access(ctx, addr, we=0, data=0):
        ctx.set(dut.loader.req, 1)
        ctx.set(dut.loader.addr, addr)
        ctx.set(dut.loader.we, we)
        ctx.set(dut.loader.be, 0xF)
        ctx.set(dut.loader.wdata, data)
        for _ in range(64):
            _, _, granted = await ctx.tick().sample(dut.loader.gnt)
            if granted:
                break
            stats["waits"] += 1
        else:
            raise AssertionError(f"loader: no grant for {addr:#x}")
        stats["accesses"] += 1
        ctx.set(dut.loader.req, 0)
        if we:
            return None
        assert ctx.get(dut.loader.rvalid), f"no read data one cycle after the grant ({addr:#x})"
        value = ctx.get(dut.loader.rdata)
        await ctx.tick()
        assert not ctx.get(dut.loader.rvalid)
        return value

    async def bench(ctx):
        # The cores run (core 0 fetches through its own imem port, and its mailbox writes use
        # the path the loader shares) while the loader works.
        ctx.set(dut.fetch_enable, 1)
        await ctx.tick().repeat(200)
        spm = {}
        for i in range(40):
            addr = SPM + 4 * rng.randrange(1024, 2048)      # away from .data, .bss and stacks
            spm[addr] = rng.getrandbits(32)
            await access(ctx, addr, 1, spm[addr])
            if i % 4 == 0:
                await ctx.tick().repeat(1 + rng.randrange(3))
        for addr, value in spm.items():
            assert await access(ctx, addr) == value
        # Writes to the instruction memory are the loader's right (a core's are bus errors).
        top = 4 * (imem_kib * 256 - 1)
        await access(ctx, top, 1, 0x1234_5678)
        assert await access(ctx, top) == 0x1234_5678
        await access(ctx, BUS_ERROR, 1)                            # clear
        assert await access(ctx, BUS_ERROR) == 0
        # An unmapped address: granted, reads 0, recorded with the loader as master ``cores``.
        assert await access(ctx, 0x3000_0010) == 0
        report = await access(ctx, BUS_ERROR)
        assert report & 1 and not report & 2, hex(report)
        assert (report >> MASTER.offset) & ((1 << MASTER.width) - 1) == cores
        assert await access(ctx, BUS_ERROR_ADDR) == 0x3000_0010
        done.append(True)

    async def mailbox(ctx):
        async for _, _, valid, byte in ctx.tick().sample(dut.putc_valid, dut.putc_data):
            if done:
                break
            if valid:
                out.append(byte)

    done, out = [], bytearray()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(mailbox, background=True)
    sim.run()
    # Core 0 shared the path (the loader waited for it) and made progress meanwhile: its
    # fetches and its mailbox writes went through the same arbiter.
    assert stats["waits"] > 0 and stats["accesses"] >= 70
    assert sorted(out) == sorted(b"spin\n" * cores)          # both cores printed
