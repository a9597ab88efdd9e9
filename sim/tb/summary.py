"""Run totals of a cocotb module for ``sim.regressions`` (the ``make sim`` report).

The engine testbenches (softmax, tensor unit) check whole memory images job by job and stop a
test at its first failing check. :class:`RunSummary` adds up what they compared (``cases``:
output elements and state slots checked), how many checks failed (``mismatches``) and the
simulated cycles of every test, and rewrites ``summary.json`` in the run folder after every
update, so a failing run still leaves its numbers. ``run_id`` (from the parameters) lets
:func:`sim.regressions.run_regression` ignore a stale file.
"""

import json
from pathlib import Path

__all__ = ["RunSummary"]


class RunSummary:
    def __init__(self, params, path="summary.json"):
        self.path = Path(path)
        self.run_id = params.get("run_id")
        self.cases = 0
        self.mismatches = 0
        self._cycles = {}            # test name -> cycles so far

    @property
    def cycles(self):
        return sum(self._cycles.values())

    def checked(self, cases, ok=True):
        """Record one check of ``cases`` compared items; ``ok=False`` counts a mismatch."""
        self.cases += int(cases)
        self.mismatches += 0 if ok else 1
        self.write()

    def cycles_of(self, test, cycles):
        """The cycles a test has simulated so far (the latest value counts)."""
        self._cycles[test] = int(cycles)
        self.write()

    def write(self):
        self.path.write_text(json.dumps({"run_id": self.run_id, "cases": self.cases,
                                         "mismatches": self.mismatches,
                                         "cycles": self.cycles}))
