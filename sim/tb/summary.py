"""Run totals of a cocotb module for ``sim.regressions`` (the ``make sim`` report).

The engine testbenches (softmax, tensor unit) check whole memory images job by job and stop a
test at its first failing check. :class:`RunSummary` adds up what they compared (``cases``:
output elements and state slots checked), how many checks failed (``mismatches``) and the
simulated cycles so far (simulation time over the clock period: cocotb's time runs on across
the tests of one run), and rewrites ``summary.json`` in the run folder after every check, so a
failing run still leaves its numbers. ``run_id`` (from the parameters) lets
:func:`sim.regressions.run_regression` ignore a stale file.
"""

import json
import time
from pathlib import Path

import cocotb.utils

__all__ = ["RunSummary"]


class RunSummary:
    def __init__(self, params, path="summary.json", period_ns=10):
        self.path = Path(path)
        self.run_id = params.get("run_id")
        self.period_ns = period_ns   # the Ticker's default clock period
        self.cases = 0
        self.mismatches = 0
        self._t0 = time.perf_counter()     # module import: the simulator is running

    @property
    def cycles(self):
        # through the module attribute, so that a test can stand in for the simulator's clock
        return int(cocotb.utils.get_sim_time("ns") // self.period_ns)

    def checked(self, cases, ok=True):
        """Record one check of ``cases`` compared items; ``ok=False`` counts a mismatch."""
        self.cases += int(cases)
        self.mismatches += 0 if ok else 1
        self.write()

    def write(self):
        self.path.write_text(json.dumps({"run_id": self.run_id, "cases": self.cases,
                                         "mismatches": self.mismatches,
                                         "cycles": self.cycles,
                                         "sim_seconds": time.perf_counter() - self._t0}))
