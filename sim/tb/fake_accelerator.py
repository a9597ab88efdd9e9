"""A cycle-stepped fake accelerator for register-file tests (shared by the Amaranth-simulator
tests and the cocotb testbench): it checks the register file's accelerator-side outputs
(start/busy/clear/event/job) against the contract and records what it saw as the scoreboard."""

import random

from hw.regmap.demo import DemoOp
from sim.tb.layout import unpack

__all__ = ["FakeAccelerator", "JobRecord", "demo_error_of", "demo_random_job", "job_values"]


def job_values(regmap, nested):
    """{register: 32-bit value} from the nested dict of the ``job`` view."""
    out = {}
    for r in regmap.job_registers:
        v = nested[r.name]
        if r.plain:
            out[r.name] = v
        else:
            out[r.name] = sum(v[f.name] << f.offset for f in r.fields)
    return out


class JobRecord:
    def __init__(self, start_cycle, values, duration, error):
        self.start_cycle = start_cycle
        self.values = values          # {register: value} seen on `job` at start
        self.duration = duration      # cycles after start until done (0 = done in start cycle)
        self.error = error
        self.counts = {}
        self.done_cycle = None
        self.aborted = False          # cleared before (or in the cycle of) its done
        self.event_cycle = None

    def __repr__(self):
        return (f"JobRecord(start={self.start_cycle}, done={self.done_cycle}, error={self.error}, "
                f"aborted={self.aborted}, values={self.values})")


class FakeAccelerator:
    """Call :meth:`step` once per cycle with the register file's outputs of that cycle; it
    returns ``(done, error, counters)`` to drive in that cycle.

    ``duration(values)`` and ``error_of(values)`` decide each job's length and cause code;
    ``inc_prob`` is the probability of a counter increment per cycle (random amounts).
    ``hold`` (settable) keeps the running job from finishing while True.
    """

    def __init__(self, regmap, *, rng=None, duration=None, error_of=None, inc_prob=0.5):
        self.regmap = regmap
        self.rng = rng or random.Random(1)
        self.duration = duration or (lambda values: self.rng.randint(0, 6))
        self.error_of = error_of or (lambda values: 0)
        self.inc_prob = inc_prob
        self.cycle = 0
        self.active = None
        self.hold = False
        self.jobs = []
        self.clears = []
        self.events = []
        self.errors = []   # protocol violations (also raised)

    def _fail(self, msg):
        msg = f"cycle {self.cycle}: {msg}"
        self.errors.append(msg)
        raise AssertionError(msg)

    def step(self, *, start, clear, busy, event, job):
        rm = self.regmap
        if event:
            self.events.append(self.cycle)
            done_prev = [j for j in self.jobs if j.done_cycle == self.cycle - 1 and not j.aborted]
            if len(done_prev) != 1:
                self._fail("event without a done in the previous cycle")
            done_prev[0].event_cycle = self.cycle
        else:
            for j in self.jobs:
                if j.done_cycle == self.cycle - 1 and not j.aborted:
                    if not clear:
                        self._fail(f"no event one cycle after done of {j}")
                    j.aborted = True   # done and soft clear in the same cycle: clear wins
        if clear:
            self.clears.append(self.cycle)
            if self.active is not None:
                self.active.aborted = True
                self.active = None
        if start:
            if self.active is not None:
                self._fail("start while a job is running")
            values = job_values(rm, unpack(rm.job_layout, job))
            self.active = JobRecord(self.cycle, values, self.duration(values), self.error_of(values))
            self.active.counts = {"JOB_CYCLES": 0, **{c.name: 0 for c in rm.counters}}
            self.jobs.append(self.active)
        elif self.active is not None:
            now = job_values(rm, unpack(rm.job_layout, job))
            if now != self.active.values:
                self._fail(f"job view changed while running: {self.active.values} -> {now}")
        if bool(busy) != (self.active is not None):
            self._fail(f"busy={busy} but a job is {'' if self.active else 'not '}running")

        done, error, counters = 0, 0, {}
        j = self.active
        if j is not None:
            j.counts["JOB_CYCLES"] += 1
            for c in rm.counters:
                inc = 0
                if self.rng.random() < self.inc_prob:
                    inc = self.rng.randint(1, (1 << c.inc_width) - 1)
                counters[c.name] = inc
                j.counts[c.name] += inc
            if not self.hold and self.cycle - j.start_cycle >= j.duration:
                done, error = 1, j.error
                j.done_cycle = self.cycle
                self.active = None
        elif self.rng.random() < 0.3:
            # Noise while idle: increments and stray done pulses must be ignored.
            for c in rm.counters:
                counters[c.name] = self.rng.randint(0, (1 << c.inc_width) - 1)
            done, error = self.rng.random() < 0.5, self.rng.randint(0, 255)
        self.cycle += 1
        return int(done), error, counters

    @property
    def finished(self):
        return [j for j in self.jobs if j.done_cycle is not None and not j.aborted]

    def expected_counter(self, record, name):
        return min(record.counts[name], self.regmap.counter_max)


def demo_error_of(values):
    """The demo accelerator's validation of a job (see hw.regmap.demo)."""
    if values["IN_ADDR"] & 3 or values["OUT_ADDR"] & 3:
        return 1  # BAD_ADDR
    if values["LENGTH"] & 0xFFFFF == 0:
        return 2  # BAD_LENGTH
    if values["COMMAND"] & 7 not in {m.value for m in DemoOp}:
        return 7  # BAD_OP
    return 0


def demo_random_job(rng, bad_prob=0.2):
    """Random register values for the demo map (dict of name -> int or field dict); sometimes bad."""
    bad = rng.random() < bad_prob
    job = {
        "IN_ADDR": rng.randrange(0, 1 << 32, 4),
        "OUT_ADDR": rng.randrange(0, 1 << 32, 4),
        "LENGTH": {"ELEMS": rng.randint(1, (1 << 20) - 1)},
        "COMMAND": {"OP": rng.choice(list(DemoOp)).name, "LAST": rng.getrandbits(1),
                    "INT8_OUT": rng.getrandbits(1), "SCALE": rng.getrandbits(16)},
        "BIAS": rng.getrandbits(32),
    }
    if bad:
        kind = rng.randrange(3)
        if kind == 0:
            job["IN_ADDR"] |= rng.randint(1, 3)
        elif kind == 1:
            job["LENGTH"] = {"ELEMS": 0}
        else:
            job["COMMAND"]["OP"] = rng.choice([4, 6, 7])
    # Sometimes leave registers out: they inherit the previous job's value (copy on acquire).
    for name in ("BIAS", "OUT_ADDR"):
        if rng.random() < 0.25:
            del job[name]
    return job
