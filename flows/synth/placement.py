"""Block RAM placement for nextpnr-ecp5: fix a netlist's block RAMs to evenly spaced sites.

Why: left alone, nextpnr's placers put all of a cluster's block RAMs side by side in one or
two of the ECP5-85F's four block RAM rows, and the logic that reads and writes them piles up
around that row: the scratchpad interconnect's routing congestion (docs/cluster.md, "Where the
congestion is"). Fixing every block RAM to an evenly spaced site spreads that logic over the
device. The block RAMs are dealt out in name order, so the halves of a bank, consecutive banks
and the words of one memory stay neighbours.

The sites are not typed in: :func:`bram_sites` asks nextpnr. A netlist of one block RAM gives
the device's count (the utilisation report), one of that many block RAMs every site's BEL
name; the list is cached per device.
"""

import hashlib
import json
import re
from pathlib import Path

__all__ = ["BRAM_CELL", "probe_netlist", "bram_sites", "serpentine", "spread", "constrain",
           "constrain_file"]

# The ECP5 block RAM primitive the probe places (the target's other block RAM cell types,
# flows.synth.targets.TARGETS["ecp5"].brams, take the same sites).
BRAM_CELL = "DP16KD"
_WIDTH = 18


def probe_netlist(count):
    """A Yosys-style JSON netlist of ``count`` chained DP16KD (each one's read data is the next
    one's write data), nothing else: nextpnr places it in seconds."""
    bits = iter(range(2, 1 << 30))
    clk, addr = next(bits), [next(bits) for _ in range(10)]
    data = [next(bits) for _ in range(_WIDTH)]
    ports = {"clk": {"direction": "input", "bits": [clk]},
             "a": {"direction": "input", "bits": addr},
             "d": {"direction": "input", "bits": data}}
    width = format(_WIDTH, "032b")
    cells = {}
    for i in range(count):
        out = [next(bits) for _ in range(_WIDTH)]
        conn = {"CLKA": [clk], "CEA": ["1"], "WEA": ["1"], "OCEA": ["1"], "RSTA": ["0"]}
        conn.update({f"ADA{j}": [addr[j - 4]] if j >= 4 else ["0"] for j in range(14)})
        conn.update({f"DIA{j}": [data[j]] for j in range(_WIDTH)})
        dirs = {k: "input" for k in conn}
        conn.update({f"DOA{j}": [out[j]] for j in range(_WIDTH)})
        dirs.update({f"DOA{j}": "output" for j in range(_WIDTH)})
        cells[f"ram{i}"] = {"hide_name": 0, "type": BRAM_CELL, "attributes": {},
                            "parameters": {"DATA_WIDTH_A": width, "DATA_WIDTH_B": width},
                            "port_directions": dirs, "connections": conn}
        data = out
    ports["q"] = {"direction": "output", "bits": data}
    return {"creator": "flows.synth.placement", "modules": {"top": {
        "attributes": {"top": format(1, "032b")}, "ports": ports, "cells": cells,
        "netnames": {}}}}


def _place(run, args, workdir, count):
    """Place a probe netlist of ``count`` block RAMs (``run(cmd, cwd)`` runs nextpnr);
    ``(log text, placed netlist)``."""
    (workdir / "probe.json").write_text(json.dumps(probe_netlist(count)))
    for f in ("probe.log", "placed.json"):
        (workdir / f).unlink(missing_ok=True)
    run([*args, "--json", "probe.json", "--no-route", "--write", "placed.json",
         "-l", "probe.log", "-q"], workdir)
    placed = workdir / "placed.json"
    return (workdir / "probe.log").read_text(), \
        json.loads(placed.read_text()) if placed.exists() else None


def bram_sites(run, args, workdir):
    """Every block RAM site (nextpnr BEL name, ``X<x>/Y<y>/EBR<n>``) of the device that
    nextpnr ``args`` select, asking nextpnr; cached in ``workdir/sites.json`` (keyed by
    ``args``)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "sites.json"
    key = hashlib.sha256(json.dumps(list(args)).encode()).hexdigest()
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["sites"]
    log, _ = _place(run, args, workdir, 1)
    found = re.search(rf"{BRAM_CELL}:\s*1/\s*(\d+)", log)
    if not found:
        raise RuntimeError(f"nextpnr reported no {BRAM_CELL} count in {workdir / 'probe.log'}")
    total = int(found.group(1))
    _, placed = _place(run, args, workdir, total)
    sites = sorted(c["attributes"]["NEXTPNR_BEL"] for c in placed["modules"]["top"]["cells"]
                   .values() if c["type"] == BRAM_CELL)
    if len(set(sites)) != total:
        raise RuntimeError(f"nextpnr placed {len(set(sites))} distinct sites for {total} "
                           f"block RAMs ({workdir / 'placed.json'})")
    cache.write_text(json.dumps({"key": key, "sites": sites}, indent=0) + "\n")
    return sites


def _xy(bel):
    found = re.fullmatch(r"X(\d+)/Y(\d+)/\w+", bel)
    if not found:
        raise ValueError(f"not an ECP5 BEL name: {bel!r}")
    return int(found.group(1)), int(found.group(2))


def serpentine(sites):
    """``sites`` in rows (by Y), left to right in the first row, right to left in the next and
    so on: neighbours in the list are neighbours on the device, also across row ends."""
    rows = {}
    for s in sites:
        x, y = _xy(s)
        rows.setdefault(y, []).append((x, s))
    order = []
    for k, y in enumerate(sorted(rows)):
        order += [s for _, s in sorted(rows[y], reverse=bool(k % 2))]
    return order


def _natural(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def spread(names, sites):
    """``{name: site}``: ``names`` in natural order (bank2 before bank10) on evenly spaced
    ``sites`` (in :func:`serpentine` order), the i-th of n at the middle of the i-th of n equal
    stretches."""
    names = sorted(names, key=_natural)
    if len(names) > len(sites):
        raise ValueError(f"{len(names)} block RAMs do not fit {len(sites)} sites")
    order = serpentine(sites)
    n, s = len(names), len(order)
    return {name: order[(2 * i + 1) * s // (2 * n)] for i, name in enumerate(names)}


def constrain(netlist, sites, cell_types, match=""):
    """Fix the cells of the Yosys JSON ``netlist`` (a dict, changed in place) whose type is in
    ``cell_types`` (the target's block RAMs) and whose names ``match`` (a regular expression,
    searched) to the sites of :func:`spread`, with the ``BEL`` attribute nextpnr honours; the
    assignment. Other block RAMs stay free."""
    tops = [m for m in netlist["modules"].values()
            if int(str(m.get("attributes", {}).get("top", "0")), 2)]
    if len(tops) != 1:
        raise ValueError(f"the netlist must have one top module, it has {len(tops)}")
    cells = tops[0]["cells"]
    rams = [name for name, c in cells.items()
            if c["type"] in cell_types and re.search(match, name)]
    assignment = spread(rams, sites)
    for name, bel in assignment.items():
        cells[name].setdefault("attributes", {})["BEL"] = bel
    return assignment


def constrain_file(netlist_path, sites_path):
    """:func:`constrain` on a Yosys JSON netlist file, rewritten in place, with the sites and
    block RAM cell types of ``sites_path`` (JSON: ``{"sites": [...], "cells": [...]}``); the
    assignment is written beside the netlist (``<netlist>.brams.json``) and returned. The step a
    board build runs between Yosys and nextpnr (:class:`flows.board.BramSpread`)."""
    netlist_path = Path(netlist_path)
    spec = json.loads(Path(sites_path).read_text())
    netlist = json.loads(netlist_path.read_text())
    assignment = constrain(netlist, spec["sites"], tuple(spec["cells"]))
    netlist_path.write_text(json.dumps(netlist))
    netlist_path.with_suffix(".brams.json").write_text(json.dumps(assignment, indent=0) + "\n")
    return assignment
