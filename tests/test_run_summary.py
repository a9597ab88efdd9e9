"""sim/tb/summary.py: the totals the engine testbenches leave for the make sim report."""

import json

import cocotb.utils

from sim.tb.summary import RunSummary


def test_totals_rewritten_after_every_check(tmp_path, monkeypatch):
    now = [0]
    monkeypatch.setattr(cocotb.utils, "get_sim_time", lambda unit="step": now[0])
    s = RunSummary({"run_id": "abc"}, path=tmp_path / "summary.json")
    now[0] = 250                      # 25 cycles of 10 ns
    s.checked(100)
    first = json.loads((tmp_path / "summary.json").read_text())
    assert (first["run_id"], first["cases"], first["mismatches"], first["cycles"]) == ("abc", 100, 0, 25)
    now[0] = 1000
    s.checked(7, ok=False)
    d = json.loads((tmp_path / "summary.json").read_text())
    assert (d["cases"], d["mismatches"], d["cycles"]) == (107, 1, 100)
    assert d["sim_seconds"] >= first["sim_seconds"] >= 0
