"""What `make synth` synthesises: :class:`SynthItem` and the default list, :data:`SYNTH_LIST`.

The synthesis figures of these items (cells, Fmax, tool time) stand in docs/synth.md; what they
mean for the cluster in docs/cluster.md, "Synthesis (ECP5-85F)".
"""

import re
from dataclasses import dataclass

from hw.config import get_config
from hw.params import check_int

from .targets import ROUTERS, TARGETS

__all__ = ["SynthItem", "SYNTH_LIST", "DEFAULT_SEEDS", "item_for"]


@dataclass(frozen=True)
class SynthItem:
    """One entry of the synthesis list.

    ``latencies``: latency sweep (None = the component as configured). ``targets``: names in
    :data:`TARGETS` this component is synthesised for (None = every requested target; a block
    too large for the iCE40 UP5K lists ``("ecp5",)``). ``seeds``: its nextpnr seeds (None = the
    run's seeds, :data:`DEFAULT_SEEDS`). ``plan(targets=..., seeds=...)`` and the CLI's
    ``--target`` / ``--seeds`` override them, as ``latencies=`` / ``--latency`` do the sweep.
    ``router``: nextpnr's router for this item; router2 routes a congested, large block (the
    tensor unit) in a fraction of router1's time. ``params`` / ``name``: a variant
    of the component, built with these constructor overrides and reported as ``name``.
    ``freq_mhz`` / ``nextpnr_args``: this item's clock constraint and further nextpnr options
    (a nearly full device routes only with a constraint near what it reaches, see SYNTH_LIST).
    ``config``: the configuration whose component catalogue the item comes from (None = the
    run's, ``--config``); a variant of another configuration needs a ``name``.
    ``spread_brams``: fix the block RAMs to evenly spaced sites before placement
    (:mod:`flows.synth.placement`; ECP5 only), against the routing congestion of a design whose
    logic piles up around one block RAM row.

    Raises
    ------
    ValueError
        On a field of the wrong type or out of range, naming the field.
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
        """The item's row and folder name: ``name``, else ``component``."""
        return self.name or self.component

    def __post_init__(self):
        # The checks run in this order: a value wrong in two ways names the first.
        self._normalise("params", _params_tuple(self.params))
        _check_variant(self.params, self.config, self.name)
        _check_spread_brams(self.spread_brams, self.targets)
        _check_router(self.router)
        _check_freq(self.freq_mhz)
        self._normalise("nextpnr_args", _nextpnr_args_tuple(self.nextpnr_args))
        _check_component(self.component)
        self._normalise("latencies", _latencies_tuple(self.latencies))
        self._normalise("targets", _targets_tuple(self.targets))
        self._normalise("seeds", _seeds_tuple(self.seeds))

    def _normalise(self, field_name, value):
        object.__setattr__(self, field_name, value)


def _params_tuple(params):
    if isinstance(params, dict):
        params = tuple(sorted(params.items()))
    if not isinstance(params, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
        raise ValueError(f"params must be a dict of constructor arguments, got {params!r}")
    return params


def _check_variant(params, config, name):
    if (params or config is not None) and not name:
        raise ValueError("name must be given for a variant with params or a config (its "
                         "rows and folders must not be mistaken for the component's)")
    if config is not None:
        get_config(config)         # ValueError listing the configuration names
    if name is not None and (not isinstance(name, str)
                             or not re.fullmatch(r"[a-z][a-z0-9_]*", name)):
        raise ValueError(f"name must be a lower-case identifier, got {name!r}")


def _check_spread_brams(spread_brams, targets):
    if not isinstance(spread_brams, bool):
        raise ValueError(f"spread_brams must be True or False, got {spread_brams!r}")
    if spread_brams and targets != ("ecp5",):
        raise ValueError("spread_brams needs targets=('ecp5',): block RAM sites are only "
                         "known for the ECP5")


def _check_router(router):
    if router not in (None, *ROUTERS):
        raise ValueError(f"router must be one of {', '.join(ROUTERS)} (or None), "
                         f"got {router!r}")


def _check_freq(freq_mhz):
    if freq_mhz is not None and (isinstance(freq_mhz, bool) or not isinstance(
            freq_mhz, (int, float)) or not 0 < freq_mhz <= 1000):
        raise ValueError(f"freq_mhz must be a number in (0, 1000] (or None), got {freq_mhz!r}")


def _nextpnr_args_tuple(args):
    if isinstance(args, str) or not isinstance(args, (tuple, list)) \
            or not all(isinstance(a, str) for a in args):
        raise ValueError(f"nextpnr_args must be a tuple of strings, got {args!r}")
    return tuple(args)


def _check_component(component):
    if not isinstance(component, str) or not component:
        raise ValueError(f"component must be a non-empty string, got {component!r}")


def _latencies_tuple(latencies):
    if latencies is None:
        return None
    lats = _int_tuple("latencies", latencies)
    if not lats:
        raise ValueError("latencies must list at least one latency (or be None)")
    for lat in lats:
        check_int("latencies", lat, min=0)     # the upper bound: the operator's LATENCY
    return lats


def _targets_tuple(targets):
    if targets is None:
        return None
    if isinstance(targets, str) or not isinstance(targets, (tuple, list)):
        raise ValueError(f"targets must be a tuple of target names, got {targets!r}")
    if not targets:
        raise ValueError("targets must list at least one target (or be None)")
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"targets: unknown target {t!r}; targets: {', '.join(TARGETS)}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"targets lists a target twice: {targets!r}")
    return tuple(targets)


def _seeds_tuple(seeds):
    if seeds is None:
        return None
    seeds = _int_tuple("seeds", seeds)
    if not seeds:
        raise ValueError("seeds must list at least one nextpnr seed (or be None)")
    for s in seeds:
        check_int("seeds", s, min=0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds lists a seed twice: {seeds!r}")
    return seeds


def _int_tuple(name, value):
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of integers, got {value!r}")
    return tuple(value)


# Place and route of the clusters: the static placer, then router1 (router2 does not converge
# on them; docs/cluster.md, "Routing the large clusters").
_LARGE_CLUSTER_PNR = dict(targets=("ecp5",), seeds=(1,), router="router1",
                          nextpnr_args=("--placer", "static"))

# The tensor unit and the SoftEx engines: too large for an iCE40 UP5K; one seed, router2 (it
# routes a congested, large block in a fraction of router1's time).
_LARGE_BLOCK = dict(targets=("ecp5",), seeds=(1,), router="router2")

# The default list of `make synth`. Each latency costs one Yosys run and `seeds` nextpnr runs
# per target (each row's tool time: the last column of docs/synth.md), so keep the sweep short.
# The tensor unit and the SoftEx engine do not fit an iCE40 UP5K: ECP5 only, one seed (their
# place and route takes far longer than an FMA's).
SYNTH_LIST = [
    SynthItem("fma_fp32", latencies=(0, 3, 4, 9)),
    SynthItem("fma_bf16", latencies=(0, 3, 4, 9)),
    # The blocks at the sizes of the configuration `large` (the block benchmarks' sizes; the
    # default cluster has them at half the width).
    SynthItem("tensor_4x4x3", config="large", name="tensor_4x4x3", **_LARGE_BLOCK),
    SynthItem("softex_softmax_x8", config="large", name="softex_softmax_x8", **_LARGE_BLOCK),
    # The engine's two GELU units (docs/gelu.md): the table (the default) and the sum of expp
    # terms of the SoftEx paper, and the engine with the latter.
    SynthItem("gelu_x4", config="large", name="gelu_x4", **_LARGE_BLOCK),
    SynthItem("gelu_expp_x4", config="large", name="gelu_expp_x4", **_LARGE_BLOCK),
    SynthItem("softex_softmax_x8", config="large", params={"gelu_method": "expp"},
              name="softex_softmax_gelu_expp_x8", **_LARGE_BLOCK),
    # The expp engine without its GELU unit: the like-for-like comparison with the LUT engines
    # (GELU's share of the SoftEx's multipliers: docs/softmax.md, "Synthesis (ECP5-85F)").
    SynthItem("softex_softmax_x8", config="large", params={"gelu": False},
              name="softex_softmax_nogelu_x8", **_LARGE_BLOCK),
    SynthItem("softex_lut_a_x8", config="large", name="softex_lut_a_x8", **_LARGE_BLOCK),
    SynthItem("softex_lut_b_x8", config="large", name="softex_lut_b_x8", **_LARGE_BLOCK),
    # The default cluster (2 cores, SoftEx expp L = 4 with GELU, tensor unit 2 x 2 x 3; its
    # share of the ECP5-85F: docs/cluster.md, "Synthesis (ECP5-85F)"). Its block RAMs are
    # spread over the device (flows.synth.placement): left alone, the placers stack them in
    # one row and routing congests around it (router2 did not converge on the larger clusters
    # even with the spread).
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, spread_brams=True),
    # The default cluster with the Flash-ABFT checker (docs/abft.md): the area and Fmax of the
    # protection, beside the row above.
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, spread_brams=True, params={"abft": True},
              name="cluster_abft"),
    # The cluster of the configuration `large` (SoftEx L = 8, tensor unit 4 x 4 x 3): larger
    # than the ECP5-85F, so its row gives cell counts and "does not fit".
    SynthItem("cluster", config="large", name="cluster_large", targets=("ecp5",), seeds=(1,),
              router="router2"),
    # The `large` cluster with the LUT-B engine and a 2 x 4 x 3 tensor unit (the same 256-bit
    # port and interconnect). Router1 routed it on one placement and stalled in its tail on
    # another (docs/cluster.md, "Routing the large clusters").
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, spread_brams=True, config="large",
              params={"softex": {"engine": "lut_b"}, "tensor": {"rows": 2, "cols": 4, "pipes": 3}}, name="cluster_lut_b_2x4x3"),
    # The `tiny` configuration's cluster with the LUT-B engine: small enough to route in every
    # `make synth` (its tool time: docs/synth.md), so every run has a placed-and-routed cluster
    # Fmax (bus, interconnect, both accelerators and a core on one clock).
    SynthItem("cluster", **_LARGE_CLUSTER_PNR, config="tiny",
              params={"softex": {"engine": "lut_b"}}, name="cluster_tiny_lut_b"),
]
DEFAULT_SEEDS = (1, 2, 3)


def item_for(label):
    """The :data:`SYNTH_LIST` item of a row.

    Parameters
    ----------
    label : str
        A row name (:attr:`SynthItem.label`) or a catalogue component name.

    Returns
    -------
    SynthItem
        The list's item whose row is ``label``, else the catalogue component of that name as
        configured (``--component`` and :func:`~flows.synth.summary.describe` look rows up
        alike).
    """
    return next((i for i in SYNTH_LIST if i.label == label), None) or SynthItem(label)
