"""The plan of a `make synth` run: one :class:`Unit` per item, target and latency (and the
harness alone per item and target)."""

from dataclasses import dataclass, field
from pathlib import Path

from hw.catalog import components
from hw.config import get_config
from hw.params import check_int
from hw.synth_harness import passthrough_like

from ..toolchain import BUILD
from .items import DEFAULT_SEEDS, SYNTH_LIST, SynthItem
from .targets import TARGETS, Target

__all__ = ["Unit", "plan", "pnr_options", "clock_mhz", "nextpnr_command"]


@dataclass
class Unit:
    """One synthesis run: a harness-wrapped component (or the harness alone) on one target.

    Attributes
    ----------
    target : Target
    component : str
        Row name (the item's label).
    latency : int, None or "harness"
        The latency built (None: as configured; "harness": the harness alone).
    factory : callable
        ``() ->`` the component to wrap.
    seeds : tuple of int
        nextpnr seeds.
    out : Path
        Its folder (netlist, logs, ``seed<n>/``).
    router, freq_mhz, nextpnr_args
        nextpnr's router (None: its default), clock constraint (None: the target's) and
        further options.
    top : str
        Verilog top module name, set by :func:`~flows.synth.runs.prepare`.
    spread_brams : bool
        Block RAMs on evenly spaced sites (:mod:`flows.synth.placement`).
    result : dict
        Filled by :func:`~flows.synth.runs.run_unit`.
    """
    target: Target
    component: str
    latency: object
    factory: object
    seeds: tuple
    out: Path
    router: str = None
    freq_mhz: float = None
    nextpnr_args: tuple = ()
    top: str = ""
    spread_brams: bool = False
    result: dict = field(default_factory=dict)

    @property
    def netlist(self):
        """The netlist nextpnr reads, in ``out``."""
        return "netlist_spread.json" if self.spread_brams else "netlist.json"

    @property
    def label(self):
        """``<target>/<component>/<L<latency>|configured|harness>``."""
        lat = {"harness": "harness", None: "configured"}.get(self.latency, f"L{self.latency}")
        return f"{self.target.name}/{self.component}/{lat}"


def pnr_options(unit, router=None):
    """nextpnr's placer and router options for ``unit`` (``router`` overrides its own)."""
    router = router or unit.router
    return (("--router", router) if router else ()) + tuple(unit.nextpnr_args)


def clock_mhz(unit):
    """The clock constraint ``unit`` is placed and routed at."""
    return unit.freq_mhz or unit.target.freq_mhz


def nextpnr_command(unit, seed, *, router=None, extra=()):
    """nextpnr's arguments for one seed of a unit.

    Parameters
    ----------
    unit : Unit
    seed : int
    router : str, optional
        Overrides the unit's router.
    extra : sequence of str
        Further options, before the log options.

    Returns
    -------
    list of str
        The arguments without the executable, for a run in a folder beside the unit's
        netlist (``seed<n>/``).
    """
    return [*unit.target.nextpnr_args, *pnr_options(unit, router), "--json", f"../{unit.netlist}",
            "--freq", f"{clock_mhz(unit):g}", "--seed", str(seed), "--timing-allow-fail", *extra,
            "-l", "nextpnr.log", "-q"]


def plan(items=None, *, config="default", targets=None, seeds=None,
         out=BUILD / "synth", latencies=None, harness=True):
    """The units of a run.

    Parameters
    ----------
    items : list of SynthItem, optional
        What to synthesise (default :data:`SYNTH_LIST`).
    config : str
        The configuration whose catalogue the items come from (unless an item names its own).
    targets, seeds : sequence, optional
        Target names and nextpnr seeds for every item, overriding each item's own (None: each
        item's, else every target and :data:`DEFAULT_SEEDS`).
    out : path
        The folder the units' folders go under (``<target>/<item>/<lat<L>|configured|harness>``).
    latencies : sequence of int, optional
        Latency sweep for every item, overriding each item's.
    harness : bool
        Also a unit per item and target that synthesises the harness alone (same port widths,
        targets and seeds).

    Returns
    -------
    list of Unit

    Raises
    ------
    ValueError
        On an unknown configuration, component or target, or a seed or latency out of range.
    """
    config = get_config(config)
    catalogues = {None: components(config)}
    seeds = _checked_seeds(seeds)
    targets = _checked_targets(targets)
    units = []
    for item in SYNTH_LIST if items is None else items:
        if not isinstance(item, SynthItem):
            raise ValueError(f"items must be SynthItem instances, got {item!r}")
        if item.config not in catalogues:
            catalogues[item.config] = components(item.config)
        units += _item_units(item, _spec(catalogues[item.config], item.component),
                             targets=targets, seeds=seeds, out=out, latencies=latencies,
                             harness=harness)
    return units


def _checked_seeds(seeds):
    if seeds is None:
        return None
    seeds = tuple(check_int("seed", s, min=0) for s in seeds)
    if not seeds:
        raise ValueError("seeds must list at least one nextpnr seed")
    return seeds


def _checked_targets(targets):
    if targets is None:
        return None
    targets = tuple(targets)
    if not targets:
        raise ValueError("targets must list at least one target")
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"unknown target {t!r}; targets: {', '.join(TARGETS)}")
    return targets


def _spec(specs, component):
    if component not in specs:
        raise ValueError(f"unknown component {component!r}; components: {', '.join(specs)}")
    return specs[component]


def _item_units(item, spec, *, targets, seeds, out, latencies, harness):
    """The units of one ``item`` built from the catalogue entry ``spec``."""
    lats = latencies if latencies is not None else item.latencies
    if lats is None:
        lats = (spec.latency,)
    limits = getattr(spec.constructor, "LATENCY", None)   # an operator's own range
    for lat in lats:
        if lat is not None:
            if limits is not None:
                limits.check("latency", lat)
            else:
                check_int("latency", lat, min=0)
    item_seeds = seeds or item.seeds or DEFAULT_SEEDS
    pnr = dict(router=item.router, freq_mhz=item.freq_mhz, nextpnr_args=item.nextpnr_args,
               spread_brams=item.spread_brams)
    units = []
    for t in targets or item.targets or tuple(TARGETS):
        target = TARGETS[t]
        for lat in lats:
            units.append(Unit(target, item.label, lat, _factory(spec, lat, item.params),
                              item_seeds, Path(out) / t / item.label / _folder(lat), **pnr))
        if harness:
            component = _factory(spec, lats[0], item.params)
            units.append(Unit(target, item.label, "harness",
                              lambda c=component: passthrough_like(c()), item_seeds,
                              Path(out) / t / item.label / "harness", **pnr))
    return units


def _folder(latency):
    return f"lat{latency}" if latency is not None else "configured"


def _factory(spec, latency, params):
    """``() ->`` the component ``spec`` at ``latency`` (None: as configured) with the
    constructor overrides ``params``."""
    kwargs = {**({} if latency is None else {"latency": latency}), **dict(params)}
    return lambda: spec(**kwargs)
