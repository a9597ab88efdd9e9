"""cocotb tests of the demo register file (tests/regmap/test_regfile_verilator.py builds it).

The DUT is the register file behind a wrapper whose ``stall`` input withholds the grant. A
:class:`~sim.tb.fake_accelerator.FakeAccelerator` answers on the accelerator side (stepped at every
falling edge), a :class:`~sim.tb.bus.TCDMMonitor` checks the bus protocol, and the test bodies
drive the registers through :class:`~sim.tb.regs.RegisterDriver` on a :class:`~sim.tb.bus.TCDMMaster`
with random request gaps. Params: n_contexts, seed, n_jobs, gap_prob, stall_prob.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from hw.regmap.demo import demo_map
from sim.tb.bus import TCDMMaster, TCDMMonitor
from sim.tb.params import load_params
from sim.tb.layout import pack
from sim.tb.regs import RegisterDriver
from sim.tb.fake_accelerator import FakeAccelerator, demo_error_of, demo_random_job

P = load_params()
N_CONTEXTS = P.get("n_contexts", 2)
SEED = P.get("seed", 1)
RM = demo_map(n_contexts=N_CONTEXTS)


class Env:
    def __init__(self, dut, seed, *, gap_prob=None, stall_prob=None, **accel_kwargs):
        self.dut = dut
        self.rng = random.Random(seed)
        self.acc = FakeAccelerator(RM, rng=random.Random(seed + 1), **accel_kwargs)
        self.gap_prob = P.get("gap_prob", 0.3) if gap_prob is None else gap_prob
        self.stall_prob = P.get("stall_prob", 0.3) if stall_prob is None else stall_prob
        self.master = TCDMMaster(dut, rng=random.Random(seed + 2), gap_prob=self.gap_prob)
        self.drv = RegisterDriver(self.master, RM)
        self.monitor = TCDMMonitor(dut)

    async def start(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.stall.value = 0
        dut.done.value = 0
        dut.error.value = 0
        dut.counters.value = 0
        dut.bus__req.value = 0
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        cocotb.start_soon(self._accelerator())
        cocotb.start_soon(self._stalls())
        cocotb.start_soon(self.monitor.run())
        await RisingEdge(dut.clk)

    async def _accelerator(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            done, error, counters = self.acc.step(
                start=int(dut.start.value), clear=int(dut.clear.value), busy=int(dut.busy.value),
                event=int(dut.done_event.value), job=int(dut.job.value))
            dut.done.value = done
            dut.error.value = error
            dut.counters.value = pack(RM.counter_layout, counters)

    async def _stalls(self):
        rng = random.Random(self.rng.random())
        while True:
            await RisingEdge(self.dut.clk)
            self.dut.stall.value = int(rng.random() < self.stall_prob)

    async def event(self):
        await RisingEdge(self.dut.done_event)


@cocotb.test()
async def reset_values(dut):
    env = Env(dut, SEED)
    await env.start()
    d = env.drv
    for r in RM.registers:
        if r.access not in ("wo", "rs"):
            assert await d.read(r.name) == r.reset, r.name
    assert await d.running_job() == -1
    assert env.acc.jobs == [] and env.master.wait_cycles > 0 or env.stall_prob == 0


@cocotb.test()
async def acquire_lock(dut):
    env = Env(dut, SEED + 10)
    await env.start()
    d = env.drv
    env.acc.hold = True
    for k in range(N_CONTEXTS):
        assert await d.try_acquire() == k
        assert await d.try_acquire() == -2
        await d.write("IN_ADDR", 0x100 * (k + 1))
        await d.trigger()
    assert await d.try_acquire() == -1
    assert (await d.status())["QUEUED"] == (1 << N_CONTEXTS) - 1
    env.acc.hold = False
    await d.wait_done(0)
    assert await d.try_acquire() == 0
    await d.trigger()
    await d.wait_done()
    assert [j.values["IN_ADDR"] for j in env.acc.finished] == \
        [0x100 * (k + 1) for k in range(N_CONTEXTS)] + [0x100 * N_CONTEXTS]
    assert len(env.acc.events) == N_CONTEXTS + 1


@cocotb.test()
async def random_job_stream(dut):
    """Random jobs back to back (some invalid) under random gaps and stalls: the accelerator
    sees the programmed jobs in order; events, ERROR, STATUS and counters as predicted."""
    n_jobs = P.get("n_jobs", 60)
    env = Env(dut, SEED + 20, error_of=demo_error_of,
              duration=lambda v: env.rng.choice([0, 1, 3, 8, 25]))
    await env.start()
    d, rng = env.drv, env.rng
    template = {r.name: r.reset for r in RM.job_registers}
    expected, ids = [], []
    for k in range(n_jobs):
        job = demo_random_job(rng)
        ids.append(await d.program(job))
        for name, value in job.items():
            template[name] = RM[name].encode(**value) if isinstance(value, dict) else value
        expected.append(dict(template))
        if rng.random() < 0.1:
            await d.wait_done(event=env.event if rng.random() < 0.5 else None)
    await d.wait_done()
    await ClockCycles(dut.clk, 2)
    assert ids == [k % N_CONTEXTS for k in range(n_jobs)]
    seen = env.acc.finished
    assert [j.values for j in seen] == expected
    assert [j.event_cycle for j in seen] == [j.done_cycle + 1 for j in seen]
    failing = [(i, j) for i, j in enumerate(seen) if j.error]
    assert failing, "the stream should contain invalid jobs"
    i, first = failing[0]
    assert await d.error() == {"CAUSE": first.error, "JOB": ids[i], "OVERFLOW": int(len(failing) > 1)}
    st = await d.status()
    assert st["LAST_ERROR"] == int(seen[-1].error != 0) and st["BUSY"] == 0
    c = await d.counters()
    assert c == {k: env.acc.expected_counter(seen[-1], k) for k in c}
    assert env.monitor.granted_reads == env.master.reads
    dut._log.info("%d jobs, %d bus reads, %d writes, %d cycles without grant", n_jobs,
                  env.master.reads, env.master.writes, env.master.wait_cycles)
    assert env.stall_prob == 0 or env.master.wait_cycles > 0


@cocotb.test()
async def soft_clear_mid_job(dut):
    env = Env(dut, SEED + 30, duration=lambda v: 2)
    await env.start()
    d = env.drv
    env.acc.hold = True
    await d.program(IN_ADDR=0x100, BIAS=9)
    if N_CONTEXTS > 1:
        await d.program(IN_ADDR=0x200)         # queued behind the running job
    await ClockCycles(dut.clk, 5)
    assert env.acc.active is not None
    await d.soft_clear()
    await ClockCycles(dut.clk, 2)
    assert len(env.acc.clears) == 1 and env.acc.jobs[0].aborted
    env.acc.hold = False
    await ClockCycles(dut.clk, 10)
    assert len(env.acc.jobs) == 1 and env.acc.events == []
    assert await d.status() == {"BUSY": 0, "ACQUIRED": 0, "LAST_ERROR": 0, "ERROR": 0, "QUEUED": 0}
    for r in RM.job_registers:
        assert await d.read(r.name) == r.reset, r.name
    assert await d.program(IN_ADDR=0x300) == 0
    await d.wait_done()
    assert env.acc.finished[-1].values["IN_ADDR"] == 0x300 and len(env.acc.events) == 1


@cocotb.test()
async def errors_and_counters(dut):
    env = Env(dut, SEED + 40, error_of=demo_error_of, duration=lambda v: 6, inc_prob=0.8)
    await env.start()
    d = env.drv
    await d.program(IN_ADDR=0x101)                 # BAD_ADDR
    await d.wait_done(event=env.event)
    assert await d.error() == {"CAUSE": d.const.DEMO_ERR_BAD_ADDR, "JOB": 0, "OVERFLOW": 0}
    await d.program(IN_ADDR=0x100, LENGTH={"ELEMS": 16})
    await d.wait_done()
    c = await d.counters()
    assert c["JOB_CYCLES"] == 7
    assert c == {k: env.acc.expected_counter(env.acc.finished[-1], k) for k in c}
    assert (await d.status())["ERROR"] == 1
    await d.clear_error()
    assert await d.error() == {"CAUSE": 0, "JOB": 0, "OVERFLOW": 0}
    assert len(env.acc.events) == 2
