"""Fault-injection taps: every register and memory of chosen parts of a design gets an injection
point, all driven by one narrow port (the generator option behind ``python -m flows verilog
--taps``, the fault campaigns of :mod:`sim.faults` and docs/fault_injection.md).

:class:`FaultTapped` wraps a component. It elaborates it, then rewrites the elaborated design:

- **Registers.** Every signal a selected module drives in a clocked domain (a flip-flop group:
  one Amaranth ``Signal``, all its bits) becomes a target. Its assignments are moved to a
  combinational ``<name>$next`` (the next state, defaulting to the held value), and the register
  takes ``next ^ flip`` (single-event upset: at the programmed cycle, one bit of the next state is
  inverted) or, for stuck-at faults, ``next`` with one bit forced to 0 or 1 for ``duration``
  cycles. Resets (the domain's and ``ResetInserter``'s) are unchanged.
- **Memories** (``lib.memory.Memory``: scratchpad banks, FIFOs, register files, instruction
  memory) get a read port and a write port: at the programmed cycle the stored word ``word`` gets
  bit ``bit`` inverted (read, invert, written at the clock edge). A functional write of the same
  word in that cycle is merged first, so the flip lands on the new value.

The port ``fault`` (:func:`fault_layout`, an input held for a run) says what to inject: ``kind``
(:class:`FaultKind`), ``target`` (id in the fault map), ``word`` (memories), ``bit``, ``cycle``
and ``duration`` (stuck-at). Cycles are counted from reset by the tap controller; ``fault_now``
outputs the count, so a testbench reads the cycle of any event in the same terms. Two more
outputs let a campaign tell a masked fault from a latent one: ``fault_digest``, a 64-bit digest of
every target register (each folded to 64 bits, rotated by a per-target amount, XORed: any
single-bit difference changes it), and ``fault_pending``, high while a flipped memory word has not
been written again.

:attr:`FaultTapped.fault_map` lists every target: ``id``, ``name`` (the Amaranth hierarchy below
the top and the signal's name), ``kind`` (``register`` / ``memory``), ``width`` (bits of a word),
``depth`` (words; 1 for registers), ``component`` (the first level of the hierarchy) and
``class``: :func:`classify`'s rule (control, datapath, accumulator, memory, checksum).

With no taps (the default everywhere) nothing is wrapped: the emitted Verilog is the same text.
"""

import enum
import fnmatch
import re

from amaranth import Cat, Const, Elaboratable, Module, Mux, Shape, Signal, unsigned
from amaranth.hdl import Fragment
from amaranth.hdl._ast import (Assign, Concat, Operator, Part, Print, Property, SignalDict, Slice,
                               Switch,
                               SwitchValue)
from amaranth.hdl._mem import MemoryInstance
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["FaultKind", "FaultTapped", "fault_layout", "classify", "CLASSES", "CYCLE_BITS",
           "DURATION_BITS", "DIGEST_BITS"]

CYCLE_BITS = 32
DURATION_BITS = 16
DIGEST_BITS = 64

#: Target classes, in report order.
CLASSES = ("control", "datapath", "accumulator", "memory", "checksum")


class FaultKind(enum.IntEnum):
    """What the ``fault`` port injects: nothing, a bit flip of the next state (memories: of the
    stored word) at ``cycle``, or one bit held at 0 / 1 for ``duration`` cycles from ``cycle``
    (registers only)."""
    NONE = 0
    FLIP = 1
    STUCK_0 = 2
    STUCK_1 = 3


def fault_layout(target_bits, word_bits, bit_bits):
    """The ``fault`` port's layout for the given field widths."""
    return data.StructLayout({
        "kind": unsigned(2),
        "target": unsigned(max(1, target_bits)),
        "word": unsigned(max(1, word_bits)),
        "bit": unsigned(max(1, bit_bits)),
        "cycle": unsigned(CYCLE_BITS),
        "duration": unsigned(DURATION_BITS),
    })


# Class rule: the target's name is split into words (at "_", ".", "$", digits and case
# changes); the first rule with a word of the signal's own name in its set wins. Memories are "memory"; registers of a register file (module words "rf", "regs") are
# "control"; a register no rule matches is "control" if it is one bit wide, else "datapath".
_CLASS_WORDS = (
    ("checksum", {"checksum", "abft", "residual", "syndrome", "parity", "crc"}),
    ("accumulator", {"acc", "accum", "accumulator", "sum", "sums", "partial", "denom",
                     "denominator"}),
    ("control", {
        "state", "fsm", "count", "counter", "cnt", "ctr", "ptr", "pointer", "valid", "ready",
        "busy", "idx", "index", "addr", "address", "beat", "beats", "phase", "pending", "start",
        "done", "level", "credit", "credits", "tag", "req", "request", "requested", "gnt",
        "grant", "ack", "stb", "cyc", "we", "be", "sel", "select", "mode", "cmd", "command",
        "op", "pc", "insn", "instr", "stall", "flush", "first", "last", "kill", "run", "running",
        "active", "enable", "en", "err", "error", "errors", "cause", "row", "rows", "col",
        "column", "tile", "step", "iter", "remaining", "left", "num", "len", "length", "head",
        "tail", "wait", "slot", "owner", "lock", "ctx", "context", "contexts", "irq", "event",
        "clear", "restart", "queued", "acquired", "received", "inner", "walk", "full", "empty",
        "read", "write", "rp", "wp", "stride", "dim", "part", "stale", "checked",
        "check", "has", "elems", "lanes", "lane", "bank", "port", "ptrs", "wrap", "count",
        "stage", "timer", "cycles", "mtvec", "mepc", "mcause", "csr", "priv"}),
)
_REGFILE_WORDS = {"rf", "regs", "regfile"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def _words(text):
    return [w.lower() for w in _WORD.findall(text)]


def classify(name, width, kind="register"):
    """The class of a target (the rule of docs/fault_injection.md, stated above :func:`_words`):
    ``memory``, ``checksum``, ``accumulator``, ``control`` or ``datapath``."""
    if kind == "memory":
        return "memory"
    module, _, leaf = name.rpartition(".")
    words = set(_words(leaf))
    for cls, vocabulary in _CLASS_WORDS:
        if words & vocabulary:
            return cls
    if set(_words(module)) & _REGFILE_WORDS:
        return "control"
    return "control" if width == 1 else "datapath"


def _rewrite_lhs(value, mapping):
    """``value`` (an assignment target) with the signals of ``mapping`` replaced."""
    if isinstance(value, Signal):
        return mapping.get(value, value)
    if isinstance(value, Slice):
        return Slice(_rewrite_lhs(value.value, mapping), value.start, value.stop)
    if isinstance(value, Part):
        return Part(_rewrite_lhs(value.value, mapping), value.offset, value.width, value.stride)
    if isinstance(value, Concat):
        return Concat([_rewrite_lhs(part, mapping) for part in value.parts])
    if isinstance(value, SwitchValue):
        return SwitchValue(value.test, [(patterns, _rewrite_lhs(v, mapping))
                                        for patterns, v in value.cases])
    if isinstance(value, Operator) and value.operator in ("u", "s"):
        return Operator(value.operator, [_rewrite_lhs(value.operands[0], mapping)])
    raise TypeError(f"fault taps: cannot rewrite the assignment target {value!r}")


def _rewrite(stmt, mapping, where):
    """A statement of a clocked domain, its targets replaced (to move it to comb)."""
    if isinstance(stmt, Assign):
        return Assign(_rewrite_lhs(stmt.lhs, mapping), stmt.rhs)
    if isinstance(stmt, Switch):
        return Switch(stmt.test, [(patterns, [_rewrite(s, mapping, where) for s in stmts], loc)
                                  for patterns, stmts, loc in stmt.cases], src_loc=stmt.src_loc)
    if isinstance(stmt, (Print, Property)):
        raise ValueError(f"fault taps: {where} has a clocked Print/Assert; taps cannot move it")
    raise TypeError(f"fault taps: unknown statement {stmt!r} in {where}")


def _xor_tree(values):
    """XOR of ``values`` as a balanced tree (a chain of thousands would be too deep)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] ^ values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def _selected(path, select):
    dotted = ".".join(path)
    return any(s == "" or dotted == s or dotted.startswith(s + ".") for s in select)


class _Target:
    def __init__(self, id, name, kind, width, depth, component, signal=None, memory=None):
        self.id, self.name, self.kind = id, name, kind
        self.width, self.depth, self.component = width, depth, component
        self.cls = classify(name, width, kind)
        self.signal, self.memory = signal, memory

    @property
    def bits(self):
        return self.width * self.depth

    def record(self):
        return {"id": self.id, "name": self.name, "kind": self.kind, "width": self.width,
                "depth": self.depth, "bits": self.bits, "component": self.component,
                "class": self.cls}


class FaultTapped(Elaboratable):
    """``component`` with fault-injection taps in the modules under ``select``.

    Parameters
    ----------
    component : wiring.Component
        The design (it is elaborated here, once).
    select : iterable of str
        Module paths below the top (``"tensor"``, ``"softex.lanes"``, ...) whose registers and
        memories, their submodules' included, get taps; ``""`` selects everything.
    classes : sequence of (str, str)
        ``(pattern, class)`` pairs that override :func:`classify` for the targets whose name
        matches the ``fnmatch`` pattern (the first match wins): what only the design knows,
        e.g. which pipeline registers hold a running sum.
    digest : bool
        Compute ``fault_digest`` (else it is 0: a faster model that cannot tell latent faults
        from masked ones).
    component_level : int
        How many levels of the module path name a target's ``component`` in the fault map
        (1: ``cluster``; 2: ``cluster.core0``, ``cluster.spm``).

    Members
    -------
    fault : ``In(fault_layout(...))``
        What to inject (held for the run).
    fault_now : ``Out(32)``
        Cycles since reset, the time base of ``fault.cycle``.
    fault_digest : ``Out(64)``
        Digest of every target register.
    fault_pending : ``Out(1)``
        A flipped memory word not yet overwritten.

    All of ``component``'s ports, under their names; other attributes (``regmap``, ...) are
    ``component``'s too. ``fault_map`` (list of dicts) describes the targets, ``layout`` the
    ``fault`` port.
    """

    def __init__(self, component, select=("",), *, component_level=1, digest=True,
                 classes=()):
        self.component = component
        self.select = tuple(select)
        if component_level < 1:
            raise ValueError(f"component_level must be >= 1, got {component_level}")
        self.component_level = component_level
        self.digest = digest
        self.classes = tuple(classes)
        for pattern, cls in self.classes:
            if cls not in CLASSES:
                raise ValueError(f"classes: {cls!r} (for {pattern!r}) is not one of "
                                 f"{', '.join(CLASSES)}")
        if not self.select:
            raise ValueError("select must name at least one module path ('' for all)")
        for name in ("fault", "fault_now", "fault_digest", "fault_pending"):
            if name in component.signature.members:
                raise ValueError(f"the component already has a port {name!r}")
        self._fragment = Fragment.get(component, None)
        self._targets = []
        self._registers = []          # (fragment, path, domain, signal, target)
        self._names = {}
        self._collect(self._fragment, ())
        if not self._targets:
            raise ValueError(f"select {self.select!r}: no register or memory under these paths")
        max_width = max(t.width for t in self._targets)
        max_depth = max(t.depth for t in self._targets)
        self.layout = fault_layout(ceil_log2(len(self._targets)), ceil_log2(max_depth),
                                   ceil_log2(max_width))
        self.signature = wiring.Signature({
            **dict(component.signature.members.items()),
            "fault": In(self.layout),
            "fault_now": Out(CYCLE_BITS),
            "fault_digest": Out(DIGEST_BITS),
            "fault_pending": Out(1),
        })
        self.fault = Signal(self.layout, name="fault")
        self.fault_now = Signal(CYCLE_BITS, name="fault_now")
        self.fault_digest = Signal(DIGEST_BITS, name="fault_digest")
        self.fault_pending = Signal(name="fault_pending")
        self._elaborated = False
        # Not the catalogue component it wraps (flows.emit.verilog_text must not reuse that
        # component's Verilog).
        self.catalog_record = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.component, name)

    @property
    def fault_map(self):
        return [t.record() for t in self._targets]

    @property
    def targets(self):
        """The targets with their Amaranth objects (``signal`` / ``memory``), for testbenches."""
        return list(self._targets)

    # -- collection ----------------------------------------------------------------------------
    def _collect(self, fragment, path):
        selected = _selected(path, self.select)
        component = ".".join(path[:self.component_level])
        if isinstance(fragment, MemoryInstance):
            if selected:
                width = Shape.cast(fragment._data.shape).width
                self._add(".".join(path), "memory", width, fragment._data.depth, component,
                          memory=fragment)
            return
        if selected:
            for domain, stmts in fragment.statements.items():
                if domain == "comb":
                    continue
                signals = sorted(stmts._lhs_signals(), key=lambda s: (s.name, s.duid))
                for signal in signals:
                    name = ".".join((*path, signal.name))
                    if name in self._names:
                        self._names[name] += 1
                        name = f"{name}${self._names[name]}"
                    else:
                        self._names[name] = 1
                    t = self._add(name, "register", len(signal), 1, component, signal=signal)
                    if t is not None:
                        self._registers.append((fragment, path, domain, signal, t))
        for index, (sub, name, _) in enumerate(fragment.subfragments):
            self._collect(sub, (*path, name if name is not None else f"U${index}"))

    def _add(self, name, kind, width, depth, component, **objects):
        if width == 0:
            return None
        target = _Target(len(self._targets), name, kind, width, depth, component, **objects)
        for pattern, cls in self.classes:
            if fnmatch.fnmatchcase(name, pattern):
                target.cls = cls
                break
        self._targets.append(target)
        return target

    # -- elaboration ---------------------------------------------------------------------------
    def elaborate(self, platform):
        if self._elaborated:
            raise RuntimeError("a FaultTapped design elaborates once (make a new one)")
        self._elaborated = True
        fault = self.fault
        max_width = max(t.width for t in self._targets)

        m = Module()
        now = Signal(CYCLE_BITS, name="now")
        m.d.sync += now.eq(Mux(now == (1 << CYCLE_BITS) - 1, now, now + 1))
        m.d.comb += self.fault_now.eq(now)
        flip = Signal(name="flip_now")
        stuck = Signal(name="stuck_now")
        end = fault.cycle + fault.duration
        m.d.comb += [
            flip.eq((fault.kind == FaultKind.FLIP) & (now == fault.cycle)),
            stuck.eq(fault.kind[1] & (now >= fault.cycle) & (now < end)),
        ]
        active = Signal(name="fault_active")
        m.d.comb += active.eq(flip | stuck)
        onehot = Signal(max_width, name="bit_mask")
        m.d.comb += onehot.eq(Const(1, max_width) << fault.bit)
        stuck_value = fault.kind == FaultKind.STUCK_1

        # Registers: next state through the flip / stuck masks.
        by_fragment = {}
        for fragment, path, domain, signal, target in self._registers:
            by_fragment.setdefault((id(fragment), domain), (fragment, path, domain, []))[3].append(
                (signal, target))
        digest_terms = []
        for fragment, path, domain, entries in by_fragment.values():
            mapping = SignalDict()
            for signal, target in entries:
                mapping[signal] = Signal(len(signal), name=f"{signal.name}$next")
            where = ".".join(path) or "the top module"
            moved = [_rewrite(stmt, mapping, where) for stmt in fragment.statements[domain]]
            fragment.statements[domain] = type(fragment.statements[domain])()
            fragment.add_statements("comb", [nxt.eq(sig) for sig, nxt in mapping.items()])
            fragment.add_statements("comb", moved)
            for signal, target in entries:
                nxt, w = mapping[signal], len(signal)
                hit = fault.target == target.id
                mask = onehot[:w]
                faulted = Mux(stuck, Mux(stuck_value, nxt | mask, nxt & ~mask), nxt ^ mask)
                # `active` first: in the cycles without a fault (nearly all), a simulator that
                # evaluates the selected operand only skips the target comparison.
                fragment.add_statements(domain, signal.eq(
                    Mux(active, Mux(hit, faulted, nxt), nxt)))
                digest_terms.append((signal, target.id))

        # Memories: read, invert, write back.
        pending = Signal(name="pending")
        pending_set, pending_clear = [], []
        for target in self._targets:
            if target.kind != "memory":
                continue
            mem = target.memory
            abits = ceil_log2(target.depth)
            addr = fault.word[:abits] if abits else Const(0, 0)
            rdata = Signal(target.width, name=f"mem{target.id}_word")
            mem.read_port(domain="comb", addr=addr, data=rdata, en=Const(1),
                          transparent_for=())
            merged = rdata
            written = Const(0)
            writes = list(mem._write_ports)
            domain = writes[0]._domain if writes else "sync"
            for wp in writes:
                same = wp._addr == addr
                g = wp._granularity
                merged = Cat(*(Mux(wp._en[i] & same, wp._data[i * g:(i + 1) * g],
                                   merged[i * g:(i + 1) * g])
                               for i in range(len(wp._en))))
                written = written | (same & wp._en.any())
            hit = Signal(name=f"mem{target.id}_flip")
            m.d.comb += hit.eq(Mux(flip, fault.target == target.id, 0))
            # As for registers: the merge is evaluated only in the cycle of a flip, the
            # comparisons that end `pending` only while it is set.
            mem.write_port(domain=domain, addr=addr,
                           data=Mux(flip, merged ^ onehot[:target.width], 0), en=hit)
            pending_set.append(hit)
            pending_clear.append(Mux(pending, (fault.target == target.id) & written, 0))
        if pending_set:
            clear = Cat(*pending_clear).any()
            with m.If(Cat(*pending_set).any()):
                m.d.sync += pending.eq(1)
            with m.Elif(clear):
                m.d.sync += pending.eq(0)
        m.d.comb += self.fault_pending.eq(pending)

        # The digest: each register folded to 64 bits, rotated by a per-target amount, XORed.
        terms = []
        for signal, tid in digest_terms:
            value = signal.as_unsigned()
            chunks = [value[lo:lo + DIGEST_BITS] for lo in range(0, len(value), DIGEST_BITS)]
            folded = _xor_tree([Cat(c, Const(0, DIGEST_BITS - len(c))) for c in chunks])
            terms.append(folded.rotate_left((tid * 7) % DIGEST_BITS))
        m.d.comb += self.fault_digest.eq(_xor_tree(terms) if terms and self.digest else 0)

        controller = Fragment.get(m, platform)
        self._fragment.add_subfragment(controller, "fault_taps")
        return self._fragment
