"""Simulation speed of Amaranth's own Python simulator (:class:`amaranth.sim.Simulator`).

The two functions report simulated clock cycles per wall-clock second, for the benchmark table
that compares the Amaranth simulator with Verilator:

- :func:`amaranth_system_rate`: a cluster top running a firmware ELF. The ELF is loaded word by
  word through the ``loader`` port (as :mod:`sim.benches.cluster_tb` does, without the read-back),
  then ``fetch_enable`` is raised and the cluster runs until its exit code or a cycle budget.
- :func:`amaranth_block_rate`: a register-file accelerator (tensor unit or SoftEx engine) running
  one job. A process models a single-cycle memory on its ``tcdm`` master port; the job is
  programmed through the ``cfg`` port and runs until ``done_event`` or a cycle budget.

Only the run is timed (:func:`time.perf_counter`): elaboration, loading and programming are not.
The testbench does as little Python work per cycle as possible (one ``ctx.tick()`` and one or two
``ctx.get``), so the figure is that of the simulator itself.
"""

import random
import time

import numpy as np
from amaranth.sim import Simulator

from sim.tb.bus import AmaranthTCDMMaster
from sim.tb.regs import RegisterDriver

from .system import LoadImage

__all__ = ["amaranth_system_rate", "amaranth_block_rate"]


def _rate(cycles, seconds):
    return cycles / seconds if seconds > 0 else float("inf")


def amaranth_system_rate(component, elf, *, imem_size, spm_size, cycles):
    """Cycles per second of the Amaranth simulator on a cluster running ``elf``.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        A cluster top (:class:`hw.cluster.Cluster`, an AcceleratedCluster, ...) with the ports
        ``loader``, ``fetch_enable``, ``putc_valid``/``putc_data`` and ``exit_valid``/``exit_code``.
    elf : str or path-like
        The firmware image.
    imem_size, spm_size : int
        Sizes in bytes of the instruction memory and of the scratchpad.
    cycles : int
        Cycle budget after ``fetch_enable``; the run ends earlier at the exit code.

    Returns
    -------
    dict
        ``cycles`` (simulated after ``fetch_enable``), ``seconds`` (wall clock of that run),
        ``cycles_per_second``, ``load_cycles``, ``load_seconds``, ``exited`` (bool),
        ``exit_code`` (None if not exited) and ``output`` (the mailbox bytes, decoded).
    """
    image = LoadImage(elf, imem_size, spm_size)
    words = dict(zip(image.addrs.tolist(), image.words.tolist()))
    dut = component
    result = {}

    async def bench(ctx):
        loader = AmaranthTCDMMaster(ctx, dut.loader)
        t0 = time.perf_counter()
        for addr, word in words.items():
            await loader.write(addr, word)
        load_seconds = time.perf_counter() - t0
        out = bytearray()
        exited = False
        ctx.set(dut.fetch_enable, 1)
        n = 0
        t1 = time.perf_counter()
        while n < cycles:
            await ctx.tick()
            n += 1
            if ctx.get(dut.putc_valid):
                out.append(ctx.get(dut.putc_data))
            if ctx.get(dut.exit_valid):
                exited = True
                break
        seconds = time.perf_counter() - t1
        result.update(cycles=n, seconds=seconds, cycles_per_second=_rate(n, seconds),
                      load_cycles=loader.writes + loader.wait_cycles, load_seconds=load_seconds,
                      exited=exited, exit_code=ctx.get(dut.exit_code) if exited else None,
                      output=out.decode(errors="replace"))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return result


def amaranth_block_rate(component, registers, *, mem_base, mem_size, preload=(), cycles,
                        stall=0.0, seed=0):
    """Cycles per second of the Amaranth simulator on one job of a register-file accelerator.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The accelerator (:class:`hw.tensor.top.TensorUnit`, a SoftEx engine, ...) with a ``cfg``
        TCDM slave port, a ``tcdm`` master port, ``done_event`` and a ``regmap`` attribute.
    registers : dict
        The job: ``{register name: int or {field: value}}``, written by
        :meth:`sim.tb.regs.RegisterDriver.program` (acquire, writes, trigger).
    mem_base, mem_size : int
        Byte address and size of the memory modelled on the ``tcdm`` port.
    preload : iterable of (int, bytes)
        ``(byte address, data)`` written into the memory before the run.
    cycles : int
        Cycle budget after programming; the run ends earlier at ``done_event``.
    stall : float
        Probability that the memory withholds its grant in a cycle (0: always granted).
    seed : int
        Seed of the stall pattern.

    Returns
    -------
    dict
        ``cycles`` (simulated after programming), ``seconds``, ``cycles_per_second``, ``done``
        (bool) and ``memory`` (the numpy uint8 array of the memory after the run, at
        ``mem_base``).
    """
    dut = component
    width = len(dut.tcdm.wdata) // 8
    full = (1 << width) - 1
    mem = np.zeros(mem_size, np.uint8)
    for addr, data in preload:
        data = np.frombuffer(bytes(data), np.uint8)
        mem[addr - mem_base:addr - mem_base + len(data)] = data
    rng = random.Random(seed)
    tcdm = dut.tcdm
    result = {}

    async def memory(ctx):
        granted, rvalid = 1, 0
        ctx.set(tcdm.gnt, 1)
        async for *_, req, addr, we, be, wdata in ctx.tick().sample(
                tcdm.req, tcdm.addr, tcdm.we, tcdm.be, tcdm.wdata):
            if rvalid:
                rvalid = 0
                ctx.set(tcdm.rvalid, 0)
            if req and granted:
                a = addr - mem_base
                if not 0 <= a <= mem_size - width:
                    raise ValueError(f"tcdm access at {addr:#x} outside the memory")
                if not we:
                    rvalid = 1
                    ctx.set(tcdm.rvalid, 1)
                    ctx.set(tcdm.rdata, int.from_bytes(mem[a:a + width].tobytes(), "little"))
                elif be == full:
                    mem[a:a + width] = np.frombuffer(wdata.to_bytes(width, "little"), np.uint8)
                else:
                    for b in range(width):
                        if (be >> b) & 1:
                            mem[a + b] = (wdata >> (8 * b)) & 0xFF
            if stall:
                granted = int(rng.random() >= stall)
                ctx.set(tcdm.gnt, granted)

    async def bench(ctx):
        drv = RegisterDriver(AmaranthTCDMMaster(ctx, dut.cfg), dut.regmap)
        await drv.program(registers)
        done = False
        n = 0
        t = time.perf_counter()
        while n < cycles:
            await ctx.tick()
            n += 1
            if ctx.get(dut.done_event):
                done = True
                break
        seconds = time.perf_counter() - t
        result.update(cycles=n, seconds=seconds, cycles_per_second=_rate(n, seconds), done=done,
                      memory=mem)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(memory)
    sim.add_testbench(bench)
    sim.run()
    return result
