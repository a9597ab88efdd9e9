"""The cluster with its accelerators attached: :class:`AcceleratedCluster` = a :class:`Cluster`
plus the SoftEx engine (``hw.softex.SoftmaxEngine``) and the tensor unit (``hw.tensor.TensorUnit``).

Where each accelerator sits is decided once, in :data:`ACCELERATORS` (register-file slot on the
peripheral bus, event line of its done event, wide scratchpad port); ``flows.regmaps.cluster`` writes
the same numbers into ``system.h`` for the firmware (``flows/firmware.py`` generates it next to
``cluster_regs.h``, ``softex.h`` and ``tensor.h``), so no number is typed twice.

Each accelerator checks its pointers against the scratchpad window (``mem_base`` = SPM_BASE,
``mem_size`` = the scratchpad size) and decodes a 12-bit register window (offsets beyond its
map miss instead of aliasing).

    from hw.cluster.system import AcceleratedCluster
    top = AcceleratedCluster.from_config("default")     # hw/config.py: cluster, softex, tensor
"""

from collections import namedtuple

from amaranth import C, Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..params import check_choice, check_int
from .regs import ADDRESS_MAP, WINDOW
from .top import Cluster

__all__ = ["AccelSlot", "ACCELERATORS", "AcceleratedCluster", "buffer_align",
           "port_align"]

#: One accelerator's place in the cluster: register-file slot (base address
#: ACCEL_BASE + slot * ACCEL_STRIDE), event line of its done event, index of its wide port.
AccelSlot = namedtuple("AccelSlot", "name slot event port")

#: The accelerators of :class:`AcceleratedCluster`, in slot order. The single source of the
#: slot, event and port numbers (hardware wiring and ``system.h``).
ACCELERATORS = (
    AccelSlot("softex", slot=0, event=0, port=0),
    AccelSlot("tensor", slot=1, event=1, port=1),
)

TENSOR_ACC = ("fp32", "bf16")


def buffer_align():
    """Byte alignment that satisfies every named configuration's accelerator ports: the
    tensor unit's beat (2 * H * (P + 1) bytes: pointers and strides must be multiples of it)
    and the SoftEx beat (2 * lanes bytes: OUT_ADDR must sit at IN_ADDR's lane). Firmware that
    aligns its buffers and strides to it runs unchanged on every named configuration
    (hw.config.CONFIGS)."""
    from ..config import CONFIGS
    return max(port_align((c.tensor.rows, c.tensor.cols, c.tensor.pipes), c.softex.lanes)
               for c in CONFIGS.values())


def port_align(tensor, softex_lanes):
    """Byte alignment of accelerator buffers for one cluster: tensor = (L, H, P) -> its beat
    2 * H * (P + 1); the SoftEx beat 2 * lanes; at least 8 (a SoftEx state slot)."""
    _, h, pipes = tensor
    return max(8, 2 * h * (pipes + 1), 2 * softex_lanes)


class AcceleratedCluster(wiring.Component):
    """A :class:`Cluster` (``cores``, ``spm_kib``, ``banks``, ``imem_kib``, ``events``,
    ``imem_init`` as there) with the SoftEx engine of ``softex_lanes`` lanes (``softex_engine``:
    ``expp`` = hw.softex.SoftmaxEngine, ``lut_a`` / ``lut_b`` = hw.softex.LutSoftmaxEngine;
    ``softex_expp_latency``: the expp engine's ``expp_latency``, register stages of its
    exponential, 4 = one after its last multiply) and the ``tensor`` = (L, H, P) tensor unit
    (accumulation ``tensor_acc``) on the slots, event lines and wide ports of
    :data:`ACCELERATORS`. The ports are the Cluster's except ``tcdm``, ``accel`` and
    ``events`` (taken by the accelerators; unused event lines are held low).
    ``cluster``, ``softex`` and ``tensor`` are the sub-components."""

    def __init__(self, cores=1, spm_kib=64, *, banks=8, imem_kib=16, events=4, softex_lanes=8,
                 softex_engine="expp", softex_expp_latency=2, tensor=(4, 4, 3), tensor_acc="fp32",
                 imem_init=()):
        from ..config import SOFTEX_ENGINES
        from ..softex import build_engine
        from ..tensor import TensorUnit

        need = 1 + max(a.event for a in ACCELERATORS)
        check_int("events", events, min=need, max=32)
        if not isinstance(tensor, (tuple, list)) or len(tensor) != 3:
            raise ValueError(f"tensor must be a tuple (L, H, P), got {tensor!r}")
        check_choice("tensor_acc", tensor_acc, TENSOR_ACC)
        spm_base = ADDRESS_MAP["SPM_BASE"]
        spm_size = 1024 * check_int("spm_kib", spm_kib, min=1, max=1024)
        cfg_aw = (WINDOW - 1).bit_length()
        check_choice("softex_engine", softex_engine, SOFTEX_ENGINES)
        check_int("softex_expp_latency", softex_expp_latency, min=0, max=6)   # expp engine only
        mem = dict(mem_base=spm_base, mem_size=spm_size, cfg_addr_width=cfg_aw)
        self.softex = build_engine(softex_engine, softex_lanes,
                                   expp_latency=softex_expp_latency, **mem)
        self.tensor = TensorUnit(*tensor, tensor_acc, mem_base=spm_base, mem_size=spm_size,
                                 cfg_addr_width=cfg_aw)
        units = {"softex": self.softex, "tensor": self.tensor}
        widths = [0] * len(ACCELERATORS)
        for a in ACCELERATORS:
            widths[a.port] = len(units[a.name].tcdm.wdata)
        self.cluster = Cluster(cores, spm_kib, banks=banks, imem_kib=imem_kib, events=events,
                               wide_ports=widths, accel_slots=len(ACCELERATORS),
                               imem_init=imem_init)
        self.params = dict(cores=cores, spm_kib=spm_kib, banks=banks, imem_kib=imem_kib,
                           events=events, softex_lanes=softex_lanes,
                           softex_engine=softex_engine,
                           softex_expp_latency=softex_expp_latency, tensor=tuple(tensor),
                           tensor_acc=tensor_acc)
        sig = {k: v for k, v in self.cluster.signature.members.items()
               if k not in ("tcdm", "accel", "events")}
        super().__init__(sig)

    @classmethod
    def from_config(cls, config, **overrides):
        """The accelerated cluster of a named configuration (or Config): its catalogue entry
        ``cluster`` (hw.catalog: sections ``cluster``, ``softex`` and ``tensor``). ``overrides``:
        constructor arguments (e.g. ``cores=2``)."""
        from ..catalog import components
        spec = components(config)["cluster"]
        return cls(*spec.args, **{**spec.kwargs, **overrides})

    @property
    def regions(self):
        return self.cluster.regions

    def elaborate(self, platform):
        m = Module()
        c = self.cluster
        m.submodules.cluster = c
        units = {"softex": self.softex, "tensor": self.tensor}
        for name, u in units.items():
            m.submodules[name] = u
        events = [C(0, 1)] * c.n_events
        for a in ACCELERATORS:
            u = units[a.name]
            wiring.connect(m, getattr(c.accel, f"a{a.slot}"), u.cfg)
            wiring.connect(m, u.tcdm, getattr(c.tcdm, f"w{a.port}"))
            events[a.event] = u.done_event
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
