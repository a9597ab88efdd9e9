"""`make synth`: Yosys + nextpnr (YoWASP wheels) on iCE40 UP5K and ECP5-85F.

For every selected component and pipeline latency, the component is wrapped in
:class:`hw.synth_harness.SynthHarness` (serial-in shift register -> component -> capture
register -> MISR -> one output pin; 4 pins in all), synthesised with ``synth_ice40 -dsp`` /
``synth_ecp5``, and placed and routed with several nextpnr seeds at a fixed target clock. Cells
come from ``stat -json``; Fmax and utilisation from nextpnr's ``--report``. The harness alone
(around a logic-free component with the same port widths) is synthesised too, and its cost is
subtracted from the reported LUT/FF numbers and shown separately.

    python -m scripts.synth                                  # the default list (SYNTH_LIST)
    python -m scripts.synth --component fma_fp32 --latency 3 --target ice40 --seeds 1
    python -m scripts.synth --list

Results: ``docs/synth.json``, ``docs/synth.md``; logs and netlists under
``build/synth/<target>/<component>/lat<L>/`` (``harness/`` for the harness alone). A unit whose
Verilog, script and tool versions are unchanged is not rerun (``--force`` reruns it).

Adding a block: append ``SynthItem("<catalog name>", latencies=(...))`` to :data:`SYNTH_LIST`
(``latencies=None`` synthesises the configured component as is; ``targets=("ecp5",)`` and
``seeds=(1,)`` restrict a large block to ECP5 and one nextpnr seed; ``--target`` / ``--seeds``
override them for every component).

The modules, one concern each (each imports only those above it):

- :mod:`.targets`: the devices and their tool arguments and cell types (:data:`TARGETS`);
- :mod:`.items`: what to synthesise (:class:`SynthItem`, :data:`SYNTH_LIST`);
- :mod:`.units`: the plan of a run (:class:`Unit`, :func:`plan`) and each unit's nextpnr
  arguments;
- :mod:`.tools`: finding and running Yosys and nextpnr, their versions;
- :mod:`.keys`: the cache keys of results, netlists and seeds;
- :mod:`.reports`: reading the tools' reports (cell counts, Fmax, utilisation);
- :mod:`.placement`: block RAMs fixed to evenly spaced ECP5 sites;
- :mod:`.runs`: running a unit (:func:`run_unit`) and a plan (:func:`run`);
- :mod:`.summary`: the report's rows and ``synth.md`` / ``synth.json``;
- :mod:`.cli`: the command line (:func:`main`).
"""

from ..toolchain import ROOT
from .cli import main
from .items import DEFAULT_SEEDS, SYNTH_LIST, SynthItem, item_for
from .keys import nextpnr_key, spread_key, unit_key, yosys_key
from .reports import cell_counts, fmax_and_path, overused_resources, register_name, utilisation
from .runs import place_and_route, pnr_netlist, prepare, run, run_unit, synthesise
from .summary import describe, earlier_rows, row_order, summarise, write_report
from .targets import ROUTERS, TARGETS, Target
from .tools import SynthError, run_tool, tool_path, tool_versions
from .units import Unit, clock_mhz, nextpnr_command, plan, pnr_options

__all__ = [
    "ROOT", "Target", "TARGETS", "ROUTERS", "SynthItem", "SYNTH_LIST", "DEFAULT_SEEDS",
    "item_for", "Unit", "plan", "pnr_options", "clock_mhz", "nextpnr_command", "SynthError",
    "tool_path", "tool_versions", "run_tool", "unit_key", "yosys_key", "spread_key",
    "nextpnr_key", "cell_counts", "fmax_and_path", "register_name", "utilisation",
    "overused_resources", "prepare", "synthesise", "pnr_netlist", "place_and_route",
    "run_unit", "run", "summarise", "row_order", "earlier_rows", "describe", "write_report",
    "main",
]
