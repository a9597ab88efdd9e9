"""A synthesis harness: any component behind one serial input pin and one serial output pin.

The arithmetic units have far more I/O bits (the FP32 FMA: 68 in, 34 out) than small FPGA
packages have pins (iCE40 UP5K SG48: 39). Synthesising them bare also lets the tools treat the
I/O as unconstrained paths. :class:`SynthHarness` instead puts the component between registers:

::

    sin --> [ shift register, N_in bits ] --> every input member of the component
                                               (i.payload, i.valid, o.ready, ...)
    every output member (o.payload, o.valid, i.ready, ...) --> [ capture register, N_out ]
        --> [ MISR: misr <= {misr[N_out-2:0], shift[N_in-1]} ^ capture ] --> misr[N_out-1] --> sout

- Every input bit is controllable (from the shift register) and every output bit observable
  (through the capture register and the multiple-input signature register), so synthesis can
  remove nothing of the component.
- Timing is register to register: shift register -> component -> capture register (or the
  component's own pipeline registers in between). The harness' own paths are one LUT deep
  (the MISR XOR), so they never set Fmax unless the component is trivial.
- The shift register's last bit feeds the MISR, so the whole chain stays live whatever the
  component reads; the harness' cost is therefore the same for every component with the same
  port widths: N_in + 2 * N_out flip-flops and about N_out 2-input XORs.
  :func:`passthrough_like` builds a logic-free component with the same signature to measure it.
- The shift register has no reset (it is a data path); capture register and MISR reset with
  the domain, so synthesis cannot merge them with the shift register.

Bit order: inputs are packed LSB first in signature order (:attr:`SynthHarness.inputs` gives
each member's offset); :meth:`SynthHarness.serial_bits` returns the bits to present on ``sin``,
one per clock cycle, most significant first, so that after ``N_in`` cycles the shift register
holds the packed vector.
"""

from amaranth import Cat, Const, Elaboratable, Module, Signal
from amaranth.hdl import _ast
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SynthHarness", "PassThrough", "passthrough_like", "flat_members"]


def flat_members(component):
    """``(inputs, outputs)``: lists of ``(path, value)`` of the component's signature members
    (``path`` dotted as in names.json, ``value`` a plain Value)."""
    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"expected a wiring.Component, got {component!r}")
    inputs, outputs = [], []
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, _ast.ValueCastable):
            value = value.as_value()
        (inputs if member.flow == In else outputs).append((".".join(map(str, path)), value))
    return inputs, outputs


class SynthHarness(wiring.Component):
    """Wraps ``dut`` (a wiring.Component) between a serial-in shift register and a serial-out
    MISR; ``tie`` optionally holds some input members constant (``{"o.ready": 1}``) instead
    of loading them from the shift register.

    Ports: ``sin`` (in), ``sout`` (out), plus ``clk``/``rst`` of the ``sync`` domain.
    """

    def __init__(self, dut, *, tie=None):
        inputs, outputs = flat_members(dut)
        tie = dict(tie or {})
        names = [p for p, _ in inputs]
        for path, value in tie.items():
            if path not in names:
                raise ValueError(f"tie: {path!r} is not an input member of the component; "
                                 f"inputs: {', '.join(names)}")
            width = len(dict(inputs)[path])
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not 0 <= value < (1 << width):
                raise ValueError(f"tie[{path!r}] must be an integer in [0, {(1 << width) - 1}], "
                                 f"got {value!r}")
        self.dut = dut
        self.tie = tie
        self.inputs = []         # (path, offset, width) in the shift register
        offset = 0
        for path, value in inputs:
            if path in tie:
                continue
            self.inputs.append((path, offset, len(value)))
            offset += len(value)
        self.outputs = []        # (path, offset, width) in the capture register
        o = 0
        for path, value in outputs:
            self.outputs.append((path, o, len(value)))
            o += len(value)
        self.in_width = offset
        self.out_width = o
        if self.in_width == 0:
            raise ValueError("the component has no (untied) input bits to drive")
        if self.out_width == 0:
            raise ValueError("the component has no output bits to observe")
        self._in_values = dict(inputs)
        self._out_values = dict(outputs)
        super().__init__({"sin": In(1), "sout": Out(1)})

    # Harness cost, from the structure (what passthrough_like measures after synthesis).
    @property
    def flip_flops(self):
        return self.in_width + 2 * self.out_width

    def pack(self, values):
        """The shift-register vector for ``{path: int}`` (missing members are 0)."""
        unknown = set(values) - {p for p, _, _ in self.inputs}
        if unknown:
            raise ValueError(f"not loadable input members: {', '.join(sorted(unknown))}")
        vector = 0
        for path, offset, width in self.inputs:
            value = values.get(path, 0)
            if not 0 <= value < (1 << width):
                raise ValueError(f"{path} must be in [0, {(1 << width) - 1}], got {value}")
            vector |= value << offset
        return vector

    def unpack_outputs(self, vector):
        """``{path: int}`` of the output members in a capture-register value."""
        return {p: (vector >> o) & ((1 << w) - 1) for p, o, w in self.outputs}

    def serial_bits(self, vector):
        """Bits to present on ``sin``, first to last, so the shift register ends at ``vector``."""
        n = self.in_width
        if not 0 <= vector < (1 << n):
            raise ValueError(f"vector must be in [0, 2**{n} - 1], got {vector}")
        return [(vector >> (n - 1 - k)) & 1 for k in range(n)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut

        shift = Signal(self.in_width, reset_less=True)
        if self.in_width == 1:
            m.d.sync += shift.eq(self.sin)
        else:
            m.d.sync += shift.eq(Cat(self.sin, shift[:-1]))
        for path, offset, width in self.inputs:
            m.d.comb += self._in_values[path].eq(shift[offset:offset + width])
        for path, value in self.tie.items():
            m.d.comb += self._in_values[path].eq(Const(value, len(self._in_values[path])))

        capture = Signal(self.out_width)
        m.d.sync += capture.eq(Cat(*(self._out_values[p] for p, _, _ in self.outputs)))

        misr = Signal(self.out_width)
        feed = shift[-1]
        if self.out_width == 1:
            m.d.sync += misr.eq(feed ^ capture)
        else:
            m.d.sync += misr.eq(Cat(feed, misr[:-1]) ^ capture)
        m.d.comb += self.sout.eq(misr[-1])
        self.shift, self.capture, self.misr = shift, capture, misr
        return m


class PassThrough(wiring.Component):
    """A logic-free component with a given signature: output bit k is input bit k mod N_in.

    Wrapped in :class:`SynthHarness` it measures the harness alone (exactly when the component
    has no more output than input bits; otherwise synthesis may merge duplicated capture bits
    and slightly underestimate the harness).
    """

    def __init__(self, signature):
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        inputs, outputs = flat_members(self)
        flat = Cat(*(v for _, v in inputs))
        k = 0
        for _, value in outputs:
            bits = [flat[(k + j) % len(flat)] for j in range(len(value))]
            m.d.comb += value.eq(Cat(*bits))
            k += len(value)
        return m


def _silence_unused(obj, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen or not isinstance(obj, Elaboratable):
        return
    seen.add(id(obj))
    obj._MustUse__silence = True
    for value in vars(obj).values():
        for v in (value if isinstance(value, (list, tuple)) else (value,)):
            _silence_unused(v, seen)


def passthrough_like(component):
    """A :class:`PassThrough` with the same port members (widths, directions) as ``component``."""
    inputs, outputs = flat_members(component)
    # Only its port widths are used: it is never elaborated, which is intended (nor are the
    # sub-components it builds in its constructor, e.g. the tensor unit's register file).
    _silence_unused(component)
    if not inputs:
        raise ValueError("the component has no input bits")
    members = {}
    for path, value in inputs:
        members[path.replace(".", "__")] = In(len(value))
    for path, value in outputs:
        members[path.replace(".", "__")] = Out(len(value))
    return PassThrough(wiring.Signature(members))
