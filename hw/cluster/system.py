"""The cluster with its accelerators attached: :class:`AcceleratedCluster` = a :class:`Cluster`
plus the SoftEx engine (``hw.softex.SoftmaxEngine``) and the tensor unit (``hw.tensor.TensorUnit``).

Where each accelerator sits is decided once, in :data:`ACCELERATORS` (register-file slot on the
peripheral bus, event line of its done event, wide scratchpad port); ``flows.regmaps.cluster`` writes
the same numbers into ``system.h`` for the firmware (``flows/firmware.py`` generates it next to
``cluster_regs.h``, ``softex.h`` and ``tensor.h``), so no number is typed twice.

Each accelerator checks its pointers against the scratchpad window (``mem_base`` = SPM_BASE,
``mem_size`` = the scratchpad size) and decodes a 12-bit register window (offsets beyond its
map miss instead of aliasing).

    from hw.catalog import build
    top = build("default", "cluster")     # hw/config.py's sections cluster, softex, tensor
"""

from collections import namedtuple

from amaranth import C, Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..abft import AbftUnit
from ..abft.unit import SoftexSnoop
from ..params import Range
from ..softex import build_engine
from ..tensor import TensorUnit
from .regs import ADDRESS_MAP, WINDOW
from .top import Cluster

__all__ = ["AccelSlot", "ACCELERATORS", "ABFT_SLOT", "AcceleratedCluster", "port_align",
           "SOFTEX_DEFAULTS", "TENSOR_DEFAULTS", "ABFT_DEFAULTS"]

#: One accelerator's place in the cluster: register-file slot (base address
#: ACCEL_BASE + slot * ACCEL_STRIDE), event line of its done event, index of its wide port.
AccelSlot = namedtuple("AccelSlot", "name slot event port")

#: The accelerators of :class:`AcceleratedCluster`, in slot order. The single source of the
#: slot, event and port numbers (hardware wiring and ``system.h``).
ACCELERATORS = (
    AccelSlot("softex", slot=0, event=0, port=0),
    AccelSlot("tensor", slot=1, event=1, port=1),
)

#: Where the Flash-ABFT checker (``abft`` option) sits: after the accelerators it watches. It
#: has no wide port of its own: its requests share SoftEx's (:class:`hw.abft.unit.SoftexSnoop`).
ABFT_SLOT = AccelSlot("abft", slot=2, event=2, port=None)

#: The SoftEx engine and tensor unit an :class:`AcceleratedCluster` gets when its ``softex`` /
#: ``tensor`` arguments leave a key out.
SOFTEX_DEFAULTS = dict(engine="expp", lanes=8, expp_latency=2, gelu_method="table",
                       gelu_latency=None)
TENSOR_DEFAULTS = dict(rows=4, cols=4, pipes=3, acc="fp32")
#: The largest head the checker of an ``abft`` cluster checks, when ``abft`` leaves a key out
#: (:class:`hw.abft.AbftUnit`).
ABFT_DEFAULTS = dict(max_seq=256, max_head_dim=64, max_rows=32, max_tiles=64)


def _arguments(name, given, defaults):
    """``defaults`` updated with the dict ``given``; ValueError naming an unknown key."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{name} takes the keys {', '.join(defaults)}; got {', '.join(unknown)}")
    return {**defaults, **given}

def port_align(tensor, softex):
    """Byte alignment of accelerator buffers for one cluster (``tensor`` and ``softex`` as
    :class:`AcceleratedCluster` takes them): the tensor unit's beat 2 * cols * (pipes + 1), the
    SoftEx beat 2 * lanes, at least 8 (a SoftEx state slot)."""
    return max(8, 2 * tensor["cols"] * (tensor["pipes"] + 1), 2 * softex["lanes"])


class AcceleratedCluster(wiring.Component):
    """A :class:`Cluster` with the SoftEx engine and the tensor unit attached on the register
    slots, event lines and wide ports of :data:`ACCELERATORS`.

    Parameters
    ----------
    cores, scratchpad_kib, banks, imem_kib, events, imem_init, spm_init :
        As :class:`Cluster` (``events`` must cover every accelerator's event line).
    softex : dict
        Arguments of :func:`hw.softex.build_engine`: ``engine`` (``expp`` = SoftmaxEngine,
        ``lut_a`` / ``lut_b`` = LutSoftmaxEngine), ``lanes``, ``expp_latency``, ``gelu_method``
        and ``gelu_latency`` (the expp engine's exponential stages, GELU unit and its stages).
        Missing keys take :data:`SOFTEX_DEFAULTS`.
    tensor : dict
        Arguments of :class:`hw.tensor.TensorUnit`: ``rows``, ``cols``, ``pipes``, ``acc``.
        Missing keys take :data:`TENSOR_DEFAULTS`.
    abft : bool or dict
        Add the Flash-ABFT checker (:class:`hw.abft.AbftUnit`, docs/abft.md) on
        :data:`ABFT_SLOT`: the tensor unit gets its check tap, SoftEx's port goes through the
        checker's snoop. A dict sets the largest head it checks (keys of
        :data:`ABFT_DEFAULTS`). Off (the default): no logic, the Verilog is unchanged.

    The names are those of the configuration's sections (:mod:`hw.config`), so the catalogue
    passes them through unchanged.

    Members
    -------
    The :class:`Cluster`'s ports except ``tcdm``, ``accel`` and ``events`` (taken by the
    accelerators; unused event lines are held low). ``cluster``, ``softex`` and ``tensor`` are
    the sub-components; ``params`` the complete arguments.
    """

    PARAMETERS = {**Cluster.PARAMETERS,
                  "events": Range(1 + max(a.event for a in ACCELERATORS), 32)}

    def __init__(self, cores=1, scratchpad_kib=64, *, banks=8, imem_kib=16, events=4,
                 softex=None, tensor=None, abft=False, imem_init=(), spm_init=()):
        self.PARAMETERS["events"].check("events", events)
        softex = _arguments("softex", softex, SOFTEX_DEFAULTS)
        tensor = _arguments("tensor", tensor, TENSOR_DEFAULTS)
        if abft is True:
            abft = {}
        if abft is not False and abft is not None and not isinstance(abft, dict):
            raise ValueError(f"abft must be True, False or a dict of {', '.join(ABFT_DEFAULTS)}, "
                             f"got {abft!r}")
        abft = None if abft in (False, None) else _arguments("abft", abft, ABFT_DEFAULTS)
        if abft is not None and events < ABFT_SLOT.event + 1:
            raise ValueError(f"events must be at least {ABFT_SLOT.event + 1} with abft (its done "
                             f"event is line {ABFT_SLOT.event}), got {events}")
        if abft is not None and softex["lanes"] < 2:
            raise ValueError(f"softex lanes must be at least 2 with abft (the checker's 32-bit "
                             f"requests share SoftEx's port), got {softex['lanes']}")
        spm_base = ADDRESS_MAP["SPM_BASE"]
        spm_size = 1024 * self.PARAMETERS["scratchpad_kib"].check("scratchpad_kib",
                                                                  scratchpad_kib)
        bus = dict(mem_base=spm_base, mem_size=spm_size, cfg_addr_width=(WINDOW - 1).bit_length())
        self.softex = build_engine(**softex, **bus)
        self.tensor = TensorUnit(**tensor, **bus, check_tap=abft is not None)
        units = {"softex": self.softex, "tensor": self.tensor}
        self.slots = list(ACCELERATORS)
        self.abft = None
        if abft is not None:
            self.abft = AbftUnit(self.tensor.g, softex["lanes"], **abft, **bus)
            units["abft"] = self.abft
            self.slots.append(ABFT_SLOT)
        self.units = units
        ported = [a for a in self.slots if a.port is not None]
        widths = [0] * len(ported)
        for a in ported:
            widths[a.port] = len(units[a.name].tcdm.wdata)
        self.cluster = Cluster(cores, scratchpad_kib, banks=banks, imem_kib=imem_kib,
                               events=events, wide_ports=widths, accel_slots=len(self.slots),
                               imem_init=imem_init, spm_init=spm_init)
        self.params = dict(cores=cores, scratchpad_kib=scratchpad_kib, banks=banks,
                           imem_kib=imem_kib, events=events, softex=softex, tensor=tensor)
        if abft is not None:
            self.params["abft"] = abft
        sig = {k: v for k, v in self.cluster.signature.members.items()
               if k not in ("tcdm", "accel", "events")}
        super().__init__(sig)

    @property
    def regions(self):
        return self.cluster.regions

    def elaborate(self, platform):
        m = Module()
        c = self.cluster
        m.submodules.cluster = c
        units = self.units
        for name, u in units.items():
            m.submodules[name] = u
        events = [C(0, 1)] * c.n_events
        for a in self.slots:
            u = units[a.name]
            wiring.connect(m, getattr(c.accel, f"a{a.slot}"), u.cfg)
            events[a.event] = u.done_event
            if a.port is None:
                continue                      # the checker: through the snoop below
            port = getattr(c.tcdm, f"w{a.port}")
            if a.name == "softex" and self.abft is not None:
                snoop = m.submodules.softex_snoop = SoftexSnoop(len(u.tcdm.addr),
                                                                len(u.tcdm.wdata))
                wiring.connect(m, u.tcdm, snoop.accel)
                wiring.connect(m, snoop.xbar, port)
                chk = self.abft
                wiring.connect(m, chk.tcdm, snoop.checker)
                m.d.comb += [chk.softex_req.eq(snoop.req), chk.softex_seen.eq(snoop.seen), chk.softex_addr.eq(snoop.addr),
                             chk.softex_we.eq(snoop.we), chk.softex_be.eq(snoop.be),
                             chk.softex_wdata.eq(snoop.wdata), chk.softex_rvalid.eq(snoop.rvalid),
                             chk.softex_rdata.eq(snoop.rdata), snoop.hold.eq(chk.softex_hold)]
            else:
                wiring.connect(m, u.tcdm, port)
        if self.abft is not None:
            m.d.comb += [self.abft.tap.eq(self.tensor.tap),
                         self.tensor.tap_ready.eq(self.abft.tap_ready)]
        m.d.comb += c.events.eq(Cat(*events))
        for name, member in self.signature.members.items():
            port, inner = getattr(self, name), getattr(c, name)
            if member.is_signature:
                if member.flow == In:
                    wiring.connect(m, wiring.flipped(port), inner)
                else:
                    wiring.connect(m, inner, wiring.flipped(port))
            elif member.flow == In:
                m.d.comb += inner.eq(port)
            else:
                m.d.comb += port.eq(inner)
        return m
