"""Reading the tools' reports: cell counts from Yosys' ``stat -json``, Fmax, critical path and
utilisation from nextpnr's ``--report``, the over-used resources from nextpnr's log."""

import re
from pathlib import Path

__all__ = ["cell_counts", "fmax_and_path", "register_name", "utilisation", "overused_resources"]

# The suffixes nextpnr appends to the net name a cell is named after.
_CELL_SUFFIX = re.compile(r"_SB_|_TRELLIS_|_DFFLC|_LC\Z")
# what a tool appends to the net a logic cell was named after (multipliers, carry chains, LUTs)
_LOGIC_SUFFIX = re.compile(r"_(?:MULT18X18D|ALU54|CCU2C|LUT4|PFUMX|L6MUX21|SB_LUT4|SB_CARRY)")


def cell_counts(stat, target, top):
    """The cells of a Yosys ``stat -json`` report, counted for ``target``.

    Parameters
    ----------
    stat : dict
        The parsed ``stat.json``.
    target : Target
        Its cell types say what counts as a LUT, flip-flop, DSP or block RAM.
    top : str
        The top module, when the report has no ``design`` total.

    Returns
    -------
    dict
        ``cells`` (cell type -> count) and the ``luts`` (LUT4 equivalents), ``ffs``, ``dsps``
        and ``brams`` totals.
    """
    modules = stat.get("modules", {})
    design = stat.get("design") or modules.get("\\" + top) or next(iter(modules.values()))
    cells = {k: v for k, v in design["num_cells_by_type"].items() if not k.startswith("$scope")}
    ff = re.compile(target.ffs + r"\Z")
    return {
        "cells": cells,
        "luts": sum(cells.get(c, 0) * w for c, w in target.luts.items()),
        "ffs": sum(n for c, n in cells.items() if ff.match(c)),
        "dsps": sum(cells.get(c, 0) for c in target.dsps),
        "brams": sum(cells.get(c, 0) for c in target.brams),
    }


def register_name(cell):
    """A readable register name for a critical-path end point.

    A heuristic: nextpnr names cells after the net they drive. The harness's registers are
    ``harness in`` / ``harness out``; ``?`` when the net only has a Yosys-generated name.
    """
    name = _CELL_SUFFIX.split(cell)[0]
    if name.startswith("dut."):
        name = name[4:]
    if name == "shift" or name.startswith("port$") \
            or (name.split("_")[0] in ("i", "o") and "__" in name):
        return "harness in"      # the shift register drives the component's input ports
    if name in ("capture", "misr", "sout"):
        return "harness out"
    return name if name and "$" not in name else "?"


def fmax_and_path(report):
    """Fmax and critical path of a nextpnr ``--report``.

    Parameters
    ----------
    report : dict
        The parsed ``report.json``.

    Returns
    -------
    fmax : float or None
        The lowest achieved frequency (MHz) over the clocks (None: no clock).
    path : list of str or None
        :func:`register_name` of the start and end of the first register-to-register
        critical path.
    """
    fmax = {k: v for k, v in report.get("fmax", {}).items() if "PACKER_GND" not in k}
    achieved = [v["achieved"] for v in fmax.values()]
    path = None
    for cp in report.get("critical_paths", []):
        if _is_register_path(cp):
            path = [register_name(cp["path"][0]["from"]["cell"]),
                    register_name(cp["path"][-1]["to"]["cell"])]
            through = _logic_names(cp["path"])
            if path[0] == "?" and through:
                path[0] = f"near {through[0]}"
            if path[1] == "?" and through:
                path[1] = f"near {through[-1]}"
            break
    return (min(achieved) if achieved else None), path


def _logic_names(segments):
    """The readable names of the logic cells a critical path goes through, in order, each once:
    the net a cell was named after, without the tool's suffixes (``prod`` for
    ``dut.prod_MULT18X18D_P9_A7_LUT4_Z``)."""
    names = []
    for segment in segments:
        if segment.get("type") != "logic":
            continue
        name = _LOGIC_SUFFIX.split(_CELL_SUFFIX.split(segment["to"]["cell"])[0])[0]
        name = name[4:] if name.startswith("dut.") else name
        if name and "$" not in name and name not in names:
            names.append(name)
    return names


def _is_register_path(cp):
    return cp.get("from", "").startswith("posedge") and cp.get("to", "").startswith("posedge") \
        and "PACKER_GND" not in cp["from"] + cp["to"] and bool(cp.get("path"))


def utilisation(report):
    """``{resource: used}`` of a nextpnr ``--report``, the resources in use only."""
    return {k: v["used"] for k, v in report.get("utilization", {}).items() if v.get("used")}


def overused_resources(log):
    """The resources nextpnr found over-used, from its log.

    Returns
    -------
    str
        ``'<cell type> <used>/<available>'`` for every over-used resource of the utilisation
        lines that precede an 'Unable to place' error, comma-separated; '' when the log shows
        no such failure.
    """
    text = Path(log).read_text(errors="replace") if Path(log).exists() else ""
    if "no BELs remaining" not in text and "Unable to place" not in text:
        return ""
    over = [f"{name} {used}/{avail}" for name, used, avail in
            re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text) if int(used) > int(avail)]
    return ", ".join(dict.fromkeys(over)) or "placement failed: no free site"
