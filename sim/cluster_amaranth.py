"""Run a firmware image on the cluster under the Amaranth simulator: the ELF's instruction
memory bytes become the memory's initial contents, the cores start at once, the mailbox bytes
are collected and the run ends at the exit code; a watchdog ends a run that never exits and
reports where the cores were."""

import time
from dataclasses import dataclass, field

from amaranth.sim import Simulator

from hw.cluster import Cluster
from hw.cluster.regs import ADDRESS_MAP
from flows.elf import load_elf


class Watchdog(AssertionError):
    pass


@dataclass
class RunResult:
    exit_code: int
    output: str
    cycles: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def cycles_per_second(self):
        return self.cycles / self.seconds if self.seconds else float("inf")


def imem_words(elf, imem_size):
    image = load_elf(elf)
    image.check_fits({"imem": (ADDRESS_MAP["IMEM_BASE"], imem_size),
                      "spm": (ADDRESS_MAP["SPM_BASE"], 1 << 28)})
    words = image.words(ADDRESS_MAP["IMEM_BASE"], imem_size)
    n = max(words) // 4 + 1 if words else 0
    return [words.get(4 * i, 0) for i in range(n)]


def run_amaranth(elf, *, cores=1, scratchpad_kib=16, banks=4, imem_kib=4, max_cycles=200_000,
                 event_pulses=None, probe=None, top=Cluster, **kwargs):
    """Run ``elf`` to its exit code. ``event_pulses``: optional ``{cycle: mask}`` pulses on the
    event lines. ``probe(ctx, dut, cycle)`` is called every cycle (after the edge) for extra checks.
    ``top``: the component class (a Cluster or a wrapper with the same ports)."""
    dut = top(cores, scratchpad_kib, banks=banks, imem_kib=imem_kib,
              imem_init=imem_words(elf, imem_kib * 1024), **kwargs)
    result = {}
    image = load_elf(elf)

    async def bench(ctx):
        out = bytearray()
        ctx.set(dut.fetch_enable, 1)
        for cycle in range(max_cycles):
            if event_pulses and cycle in event_pulses:
                ctx.set(dut.events, event_pulses[cycle])
            elif event_pulses:
                ctx.set(dut.events, 0)
            await ctx.tick()
            if ctx.get(dut.putc_valid):
                out.append(ctx.get(dut.putc_data))
            if probe is not None:
                probe(ctx, dut, cycle)
            if ctx.get(dut.exit_valid):
                result.update(code=ctx.get(dut.exit_code), out=out.decode(errors="replace"),
                              cycles=ctx.get(dut.cycles))
                return
        cluster = getattr(dut, "cluster", dut)
        where = ", ".join(f"core {c} at {image.describe(4 * ctx.get(core.datapath.pc.dat_r))}"
                          for c, core in enumerate(cluster.cores))
        raise Watchdog(f"no exit after {max_cycles} cycles; output so far: "
                       f"{out.decode(errors='replace')!r}; {where}")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t = time.perf_counter()
    sim.run()
    seconds = time.perf_counter() - t
    return RunResult(result["code"], result["out"], result["cycles"], seconds)
