# amaranth: UnusedElaboratable=no
"""The generated register file under the Amaranth simulator: reset values, ACQUIRE/TRIGGER
semantics, two contexts back to back, soft clear, errors, counters, bus behaviour."""

import random

import pytest

from hw.regmap import RegisterFile
from hw.regmap.demo import DEMO, DemoOp, demo_map
from sim.tb.regs import to_signed

from .harness import run
from sim.tb.fake_accelerator import demo_error_of, demo_random_job

RESETS = {r.name: r.reset for r in DEMO.registers}


def test_signature():
    rf = RegisterFile(DEMO)
    members = rf.signature.members
    for name in ("bus", "job", "start", "busy", "clear", "done", "error", "done_event", "counters"):
        assert name in members
    assert rf.bus.addr.shape().width == rf.addr_width == 7
    # The running job's view, field by field, enum fields as Amaranth enums.
    assert rf.job.COMMAND.OP.shape().__name__ == "OP"
    assert rf.job.LENGTH.ELEMS.shape().width == 20
    with pytest.raises(ValueError, match="addr_width"):
        RegisterFile(DEMO, addr_width=4)
    with pytest.raises(ValueError, match="regmap"):
        RegisterFile("demo")


def test_reset_values_and_unmapped():
    async def body(env):
        d = env.drv
        for r in DEMO.registers:
            if r.access in ("wo",):
                assert await env.master.read(r.offset) == 0, r.name
            elif r.access != "rs":
                assert await d.read(r.name) == r.reset, r.name
        assert await d.running_job() == -1
        # Unmapped offsets inside the aperture read 0 and ignore writes.
        for off in (0x24, 0x3C, DEMO.size, 0x7C):
            await env.master.write(off, 0xFFFF_FFFF)
            assert await env.master.read(off) == 0
        # Low address bits are ignored (word access).
        assert await env.master.read(DEMO["COMMAND"].offset + 2) == RESETS["COMMAND"]
        assert not env.acc.jobs
    run(DEMO, body)


@pytest.mark.parametrize("n_contexts", [1, 2, 3, 4])
def test_acquire_lock_and_ring_order(n_contexts):
    rm = demo_map(n_contexts=n_contexts)

    async def body(env):
        d = env.drv
        env.acc.hold = True                       # no job finishes until released
        ids = []
        for k in range(n_contexts):
            job = await d.try_acquire()
            assert job == k
            assert await d.try_acquire() == -2    # locked until triggered
            assert (await d.status())["ACQUIRED"] == 1
            await d.write("IN_ADDR", 0x1000 * (k + 1))
            await d.trigger()
            ids.append(job)
            assert (await d.status())["ACQUIRED"] == 0
        assert await d.try_acquire() == -1        # every context holds a job
        st = await d.status()
        assert st["QUEUED"] == (1 << n_contexts) - 1 and st["BUSY"] == 1
        assert await d.running_job() == 0
        assert await d.try_acquire() == -1        # -1 does not lock
        # Writes without an acquired context must not touch the queued (or running) jobs.
        await d.write("IN_ADDR", 0xBAD0)
        await env.master.write(DEMO["LENGTH"].offset, 0xFFFF, be=0b0011)
        env.acc.hold = False
        await env.wait_event()
        # The first finished context is free again and is the next one in ring order.
        assert await d.try_acquire() == 0
        assert await d.try_acquire() == -2
        await d.trigger()
        await d.wait_done()
        seen = [j.values["IN_ADDR"] for j in env.acc.finished]
        assert seen == [0x1000 * (k + 1) for k in range(n_contexts)] + [0x1000 * n_contexts]
        assert all(j.values["LENGTH"] == 0 for j in env.acc.finished)
        assert len(env.acc.events) == n_contexts + 1
    run(rm, body)


def test_writes_and_trigger_ignored_without_acquire():
    async def body(env):
        d = env.drv
        await d.write("IN_ADDR", 0x1234)
        await d.trigger()
        await env.cycles(5)
        assert await d.read("IN_ADDR") == 0
        st = await d.status()
        assert st["BUSY"] == 0 and st["QUEUED"] == 0
        assert not env.acc.jobs
        # Writes to read-only registers are ignored.
        for name in ("STATUS", "RUNNING_JOB", "JOB_CYCLES", "STALL_CYCLES"):
            await env.master.write(DEMO[name].offset, 0x5A5A_5A5A)
            assert await d.read(name) == RESETS[name]
        await env.master.write(DEMO["ACQUIRE"].offset, 0)
        assert (await d.status())["ACQUIRED"] == 0
    run(DEMO, body)


def test_copy_on_acquire_byte_enables_and_reserved_bits():
    async def body(env):
        d = env.drv
        env.acc.hold = True
        assert await d.acquire() == 0
        await d.write("IN_ADDR", 0x1111_2222)
        await env.master.write(DEMO["OUT_ADDR"].offset, 0xAABB_CCDD, be=0b0101)
        assert await d.read("OUT_ADDR") == 0x00BB_00DD
        await d.write("LENGTH", 0xFFFF_FFFF)      # reserved bits dropped
        assert await d.read("LENGTH") == 0x000F_FFFF
        await d.write("COMMAND", OP="RELU", LAST=1)
        assert await d.read_fields("COMMAND") == {"OP": 3, "LAST": 1, "INT8_OUT": 0, "SCALE": 0x3F80}
        await d.write_field("COMMAND", "SCALE", 0x4000)
        await env.master.write(DEMO["BIAS"].offset, 0x77, be=0)  # no byte enabled: no write
        await d.trigger()
        # Context 1 starts as a copy of context 0: only changed registers need writing.
        assert await d.acquire() == 1
        assert await d.read("IN_ADDR") == 0x1111_2222
        assert await d.read_fields("COMMAND") == {"OP": 3, "LAST": 1, "INT8_OUT": 0, "SCALE": 0x4000}
        await d.write("IN_ADDR", 0x3333_0000)
        await d.trigger()
        # With nothing acquired, reads show the most recently triggered context.
        assert await d.read("IN_ADDR") == 0x3333_0000
        env.acc.hold = False
        await d.wait_done()
        v0, v1 = (j.values for j in env.acc.finished)
        assert v0 == {"IN_ADDR": 0x1111_2222, "OUT_ADDR": 0x00BB_00DD, "LENGTH": 0xF_FFFF,
                      "COMMAND": 0x4000_0013, "BIAS": 0}
        assert v1 == dict(v0, IN_ADDR=0x3333_0000)
    run(DEMO, body)


def test_start_timing_and_back_to_back():
    """Job n+1 is programmed while job n runs and starts in the cycle after job n's done."""
    durations = iter([30, 3, 0, 5])

    async def body(env):
        d = env.drv
        j0 = await d.program(IN_ADDR=0x100, LENGTH={"ELEMS": 1})
        start_cycle = env.acc.cycle
        j1 = await d.program(IN_ADDR=0x200, COMMAND={"OP": "ADD"})
        assert (j0, j1) == (0, 1)
        assert env.acc.jobs[0].done_cycle is None   # ctx 1 programmed while job 0 runs
        assert await d.running_job() == 0
        await d.wait_done(j0)
        j2 = await d.program(IN_ADDR=0x300)
        j3 = await d.program(IN_ADDR=0x400)
        assert (j2, j3) == (0, 1)
        await d.wait_done()
        jobs = env.acc.finished
        assert [j.values["IN_ADDR"] for j in jobs] == [0x100, 0x200, 0x300, 0x400]
        assert [j.values["COMMAND"] & 7 for j in jobs] == [0, DemoOp.ADD, DemoOp.ADD, DemoOp.ADD]
        assert jobs[0].start_cycle <= start_cycle
        for a, b in zip(jobs, jobs[1:]):
            if b.start_cycle > a.done_cycle + 1:
                # b was triggered after a finished: it started one cycle after its trigger.
                continue
            assert b.start_cycle == a.done_cycle + 1
        assert jobs[1].start_cycle == jobs[0].done_cycle + 1
        assert [j.event_cycle for j in jobs] == [j.done_cycle + 1 for j in jobs]
    run(DEMO, body, duration=lambda v: next(durations))


def test_trigger_to_start_latency():
    async def body(env):
        d = env.drv
        await d.acquire()
        await d.trigger()
        await env.until(lambda: env.acc.jobs)
        # start pulses in the cycle after the granted TRIGGER write.
        assert env.acc.jobs[0].start_cycle == env.writes_to("TRIGGER")[0] + 1
        await d.wait_done()
        assert env.acc.jobs[0].event_cycle == env.acc.jobs[0].done_cycle + 1
    run(DEMO, body, duration=lambda v: 2)


def test_soft_clear_mid_job():
    async def body(env):
        d = env.drv
        env.acc.hold = True
        await d.program(IN_ADDR=0x100, BIAS=7)
        assert await d.acquire() == 1             # context 1 acquired, being programmed
        await d.write("IN_ADDR", 0x200)
        await env.cycles(4)
        assert env.acc.active is not None
        await d.soft_clear()
        await env.cycles(1)
        assert env.acc.clears == [env.writes_to("SOFT_CLEAR")[0] + 1]
        assert env.acc.jobs[0].aborted and env.acc.active is None
        env.acc.hold = False                      # a late done from the accelerator is ignored
        await d.trigger()                         # the lock was released: ignored
        await env.cycles(10)
        assert len(env.acc.jobs) == 1
        assert env.acc.events == []
        st = await d.status()
        assert st == {"BUSY": 0, "ACQUIRED": 0, "LAST_ERROR": 0, "ERROR": 0, "QUEUED": 0}
        assert await d.running_job() == -1
        for r in DEMO.job_registers + DEMO.counter_registers:
            assert await d.read(r.name) == r.reset, r.name
        # Everything works again, from context 0, from the reset values.
        assert await d.program(IN_ADDR=0x300) == 0
        await d.wait_done()
        assert env.acc.finished[-1].values == dict(
            {r.name: r.reset for r in DEMO.job_registers}, IN_ADDR=0x300)
        assert len(env.acc.events) == 1
    run(DEMO, body, duration=lambda v: 1)


def test_soft_clear_in_done_cycle():
    """A SOFT_CLEAR granted in the cycle of done wins: no event, nothing latched."""
    async def body(env):
        d = env.drv
        env.acc.hold = True
        await d.program(IN_ADDR=0x100, LENGTH={"ELEMS": 0})
        await env.cycles(3)
        # Release the job so that done coincides with the granted SOFT_CLEAR write.
        env.acc.hold = False
        await d.soft_clear()
        await env.cycles(3)
        assert env.acc.jobs[0].done_cycle == env.writes_to("SOFT_CLEAR")[0]
        assert env.acc.events == [] and env.acc.jobs[0].aborted
        assert (await d.error())["CAUSE"] == 0
        assert await d.read("JOB_CYCLES") == 0
    run(DEMO, body, error_of=demo_error_of, duration=lambda v: 0)


def test_errors_sticky_first_cause():
    async def body(env):
        d = env.drv
        await d.program(IN_ADDR=0x100, LENGTH={"ELEMS": 4})
        await d.wait_done()
        assert await d.error() == {"CAUSE": 0, "JOB": 0, "OVERFLOW": 0}
        assert (await d.status())["LAST_ERROR"] == 0
        job = await d.program(LENGTH={"ELEMS": 0})                 # BAD_LENGTH, context 1
        await d.wait_done()
        assert job == 1
        assert await d.error() == {"CAUSE": d.const.DEMO_ERR_BAD_LENGTH, "JOB": 1, "OVERFLOW": 0}
        st = await d.status()
        assert st["LAST_ERROR"] == 1 and st["ERROR"] == 1
        assert len(env.acc.events) == 2                           # failed jobs raise the event too
        await d.program(LENGTH={"ELEMS": 3}, IN_ADDR=0x102)         # BAD_ADDR
        await d.wait_done()
        assert await d.error() == {"CAUSE": d.const.DEMO_ERR_BAD_LENGTH, "JOB": 1, "OVERFLOW": 1}
        await d.program(IN_ADDR=0x100)                              # ok
        await d.wait_done()
        st = await d.status()
        assert st["LAST_ERROR"] == 0 and st["ERROR"] == 1          # sticky
        assert (await d.error())["CAUSE"] == d.const.DEMO_ERR_BAD_LENGTH   # reads do not clear
        await d.clear_error()
        assert await d.error() == {"CAUSE": 0, "JOB": 0, "OVERFLOW": 0}
        assert (await d.status())["ERROR"] == 0
        await d.program(COMMAND={"OP": 6})                          # BAD_OP, context 0
        await d.wait_done()
        assert await d.error() == {"CAUSE": d.const.DEMO_ERR_BAD_OP, "JOB": 0, "OVERFLOW": 0}
        assert len(env.acc.events) == 5
    run(DEMO, body, error_of=demo_error_of)


def test_counters_latched_per_job():
    durations = iter([9, 40, 2])

    async def body(env):
        d = env.drv
        await d.program(IN_ADDR=0x100)
        await d.wait_done()
        first = env.acc.finished[0]
        c = await d.counters()
        assert c == {k: env.acc.expected_counter(first, k) for k in c}
        assert c["JOB_CYCLES"] == 10
        await d.program(IN_ADDR=0x200)
        await env.cycles(10)
        assert await d.counters() == c                # unchanged while the next job runs
        await d.wait_done()
        second = env.acc.finished[1]
        c2 = await d.counters()
        assert c2 == {k: env.acc.expected_counter(second, k) for k in c2}
        assert c2["JOB_CYCLES"] == 41 and c2["STALL_CYCLES"] > 0 and c2["ELEMS_DONE"] > c2["STALL_CYCLES"]
        await d.program(IN_ADDR=0x300)
        await d.wait_done()
        assert (await d.counters())["JOB_CYCLES"] == 3  # restarted from 0
    run(DEMO, body, duration=lambda v: next(durations), inc_prob=0.7)


def test_counters_saturate():
    rm = demo_map(counter_width=4)

    async def body(env):
        d = env.drv
        await d.program(IN_ADDR=0x100)
        await d.wait_done()
        c = await d.counters()
        rec = env.acc.finished[0]
        assert rec.counts["JOB_CYCLES"] == 21 and rec.counts["ELEMS_DONE"] > 15
        assert c == {"JOB_CYCLES": 15, "STALL_CYCLES": min(rec.counts["STALL_CYCLES"], 15),
                     "ELEMS_DONE": 15}
        assert d.const.DEMO_COUNTER_MAX == 15
    run(rm, body, duration=lambda v: 20, inc_prob=0.9)


def test_event_wait_and_done_in_start_cycle():
    async def body(env):
        d = env.drv
        for k in range(3):
            await d.program(IN_ADDR=0x100 * k)
            await d.wait_done(event=env.wait_event)
            assert await d.read("JOB_CYCLES") == 1
        assert [j.event_cycle - j.start_cycle for j in env.acc.finished] == [1, 1, 1]
    run(DEMO, body, duration=lambda v: 0)


@pytest.mark.parametrize("n_contexts,seed,gap_prob", [(2, 1, 0.0), (2, 2, 0.5), (1, 3, 0.3),
                                                      (3, 4, 0.3), (4, 5, 0.6)])
def test_random_job_stream(n_contexts, seed, gap_prob):
    """Random jobs (some invalid, some registers left to inherit), random durations, random bus
    gaps: the accelerator sees exactly the programmed jobs in trigger order, one event each, and
    ERROR/STATUS/counters end as a reference model predicts."""
    rm = demo_map(n_contexts=n_contexts)
    rng = random.Random(seed)
    n_jobs = 40

    async def body(env):
        d = env.drv
        template = {r.name: r.reset for r in rm.job_registers}
        expected, ids = [], []
        for k in range(n_jobs):
            job = demo_random_job(rng)
            ids.append(await d.program(job))
            for name, value in job.items():
                template[name] = rm[name].encode(**value) if isinstance(value, dict) else value
            expected.append(dict(template))
            if rng.random() < 0.1:
                await d.wait_done()
        await d.wait_done()
        assert ids == [k % n_contexts for k in range(n_jobs)]
        seen = env.acc.finished
        assert [j.values for j in seen] == expected
        assert [j.event_cycle for j in seen] == [j.done_cycle + 1 for j in seen]
        assert len(env.acc.events) == n_jobs
        failing = [(i, j) for i, j in enumerate(seen) if j.error]
        err = await d.error()
        if failing:
            i, first = failing[0]
            assert err == {"CAUSE": first.error, "JOB": ids[i], "OVERFLOW": int(len(failing) > 1)}
        else:
            assert err == {"CAUSE": 0, "JOB": 0, "OVERFLOW": 0}
        st = await d.status()
        assert st["LAST_ERROR"] == int(seen[-1].error != 0) and st["BUSY"] == 0
        c = await d.counters()
        assert c == {k: env.acc.expected_counter(seen[-1], k) for k in c}

    run(rm, body, seed=seed, gap_prob=gap_prob, error_of=demo_error_of,
        duration=lambda v: rng.choice([0, 1, 2, 5, 17]))


def test_driver_rejects_misuse():
    async def body(env):
        d = env.drv
        with pytest.raises(ValueError, match="not writable"):
            await d.write("STATUS", 1)
        with pytest.raises(ValueError, match="write-only"):
            await d.read("TRIGGER")
        with pytest.raises(ValueError, match="no field"):
            await d.write("COMMAND", NOPE=1)
        with pytest.raises(ValueError, match="OP"):
            await d.write("COMMAND", OP="DIVIDE")
        with pytest.raises(KeyError):
            await d.read("NOPE")
        assert to_signed(await env.master.read(DEMO["RUNNING_JOB"].offset)) == -1
    run(DEMO, body)
