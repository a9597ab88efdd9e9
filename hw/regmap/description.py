"""The description of an accelerator register map: one Python object from which the register
file (:mod:`hw.regmap.regfile`), the list of generated constant names (:func:`constants`), and in
the tool flows the C header (:mod:`flows.regmaps.cheader`), the Python driver constants
(:mod:`flows.regmaps.pydriver`, :mod:`sim.tb.regs`) and the Markdown documentation
(:mod:`flows.regmaps.markdown`) are all generated.

A map has two parts:

* the *control* registers, identical for every accelerator (HWPE programming model): TRIGGER,
  ACQUIRE, STATUS, RUNNING_JOB, SOFT_CLEAR, ERROR, JOB_CYCLES, then one read-only register per
  declared performance :class:`Counter`;
* the *job* registers (:class:`Register` made of :class:`Field`), from :attr:`RegisterMap.job_base`
  (0x40 unless there are more than 9 counters) on, one copy per job context.

All registers are 32 bits wide and word aligned; offsets are byte offsets from the base of the
register file. The exact behaviour of every control register is in :data:`SEMANTICS` (which
the Markdown generator copies into the documentation).
"""

import copy
import enum as _pyenum
import keyword
import re

from amaranth import unsigned
from amaranth.lib import data
from amaranth.lib import enum as am_enum

from ..params import check_int

__all__ = ["Field", "Register", "Counter", "ErrorCause", "RegisterMap", "constants",
           "ACCESS", "CAUSE_WIDTH", "CONTROL_NAMES", "JOB_BASE", "SEMANTICS",
           "ACQUIRE_NONE_FREE", "ACQUIRE_LOCKED", "RUNNING_JOB_IDLE"]

#: Width of an error cause code (the ``error`` input of the register file and ERROR.CAUSE).
CAUSE_WIDTH = 8
#: Byte offset of the first job register when the counters fit below it.
JOB_BASE = 0x40
#: Byte offset of the first user performance counter.
_COUNTER_BASE = 0x1C

#: Access modes and their meaning (also the legend of the Markdown table).
ACCESS = {
    "rw": "read/write",
    "ro": "read-only (writes ignored)",
    "wo": "write-only: a write of any value (any byte enabled) acts; reads return 0",
    "rs": "read with side effect (test-and-set); writes ignored",
    "rc": "read-only; a write of any value clears it",
}

_C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic
    _Generic _Noreturn _Static_assert _Thread_local bool true false NULL
""".split())
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(what, name):
    """Return ``name`` if it is a C identifier usable in C, Python and Verilog; else ValueError."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"{what} must be a C identifier ([A-Za-z_][A-Za-z0-9_]*), got {name!r}")
    if name.startswith("_"):
        raise ValueError(f"{what} must not start with an underscore (reserved in C), got {name!r}")
    if name in _C_KEYWORDS or keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{what} must not be a C or Python keyword, got {name!r}")
    return name


def _check_unique(what, names):
    """Names must be unique ignoring case (C macros are upper case, functions lower case)."""
    seen = {}
    for name in names:
        key = name.upper()
        if key in seen:
            raise ValueError(f"duplicate {what} name {name!r} (clashes with {seen[key]!r}; "
                             f"names are compared ignoring case)")
        seen[key] = name


def _check_doc(what, doc):
    if not isinstance(doc, str):
        raise ValueError(f"doc of {what} must be a string, got {doc!r}")
    return doc


class Field:
    """A bit field of a register.

    ``offset=None`` places the field just above the previous field of the register (or at bit 0).
    ``enum`` is an optional dict ``{name: value}``, a Python :class:`enum.Enum` subclass with
    integer values, or an Amaranth ``lib.enum`` class; its names become C macros and the field's
    shape in the register file's ``job`` view becomes an Amaranth enum.
    ``reset`` is an integer (or an enum name/member) and must fit ``width``.
    """

    def __init__(self, name, width, *, offset=None, reset=0, doc="", enum=None):
        self.name = check_name("field name", name)
        self.width = check_int(f"width of field {name}", width, min=1, max=32)
        if offset is not None:
            offset = check_int(f"offset of field {name}", offset, min=0, max=31)
        self.offset = offset
        self.doc = _check_doc(f"field {name}", doc)
        self._enum_class = None
        self.enum = self._normalise_enum(enum)
        self.reset = self._normalise_value(reset, "reset")
        self._shape = None

    def _normalise_enum(self, enum):
        if enum is None:
            return None
        if isinstance(enum, type) and issubclass(enum, _pyenum.Enum):
            self._enum_class = enum
            items = [(m.name, m.value) for m in enum]
        elif isinstance(enum, dict):
            self._enum_class = None
            items = list(enum.items())
        else:
            raise ValueError(f"enum of field {self.name} must be a dict {{name: value}} or an "
                             f"Enum class, got {enum!r}")
        if not items:
            raise ValueError(f"enum of field {self.name} must have at least one member")
        for k, v in items:
            check_name(f"enum member of field {self.name}", k)
            check_int(f"value of enum member {self.name}.{k}", v, min=0, max=(1 << self.width) - 1)
        _check_unique(f"enum member of field {self.name}", [k for k, _ in items])
        values = {}
        for k, v in items:
            if v in values:
                raise ValueError(f"enum members {values[v]!r} and {k!r} of field {self.name} "
                                 f"have the same value {v}")
            values[v] = k
        return {k: int(v) for k, v in items}

    def _normalise_value(self, value, what):
        if isinstance(value, _pyenum.Enum):
            value = value.name if self.enum is not None and value.name in self.enum else value.value
        if isinstance(value, str):
            if self.enum is None or value not in self.enum:
                allowed = f"one of {', '.join(self.enum)}" if self.enum else "an integer"
                raise ValueError(f"{what} of field {self.name} must be {allowed}, got {value!r}")
            value = self.enum[value]
        return check_int(f"{what} of field {self.name}", value, min=0, max=(1 << self.width) - 1)

    def encode(self, value):
        """Integer code of ``value`` (an int, an enum member name, or an enum member)."""
        return self._normalise_value(value, "value")

    @property
    def mask(self):
        """Mask of the field in its register (bits in place)."""
        return ((1 << self.width) - 1) << self.offset

    @property
    def msb(self):
        return self.offset + self.width - 1

    @property
    def shape(self):
        """Shape of the field in the ``job`` view: unsigned, or an Amaranth enum of the width."""
        if self._shape is None:
            if self.enum is None:
                self._shape = unsigned(self.width)
            elif (self._enum_class is not None and isinstance(self._enum_class, am_enum.EnumType)
                  and self._enum_class.as_shape() == unsigned(self.width)):
                self._shape = self._enum_class
            else:
                ns = am_enum.EnumType.__prepare__(self.name, (am_enum.Enum,))
                for k, v in self.enum.items():
                    ns[k] = v
                self._shape = am_enum.EnumType(self.name, (am_enum.Enum,), ns,
                                               shape=unsigned(self.width))
        return self._shape

    def __repr__(self):
        return f"Field({self.name!r}, {self.width}, offset={self.offset})"


class Register:
    """A 32-bit register.

    ``fields=None`` makes a plain register: one 32-bit value (an address, a length ...), ``reset``
    gives its reset value. With fields, the register's reset value is made of the fields' resets
    and the bits outside every field are reserved: they read as 0 and ignore writes.

    ``access`` is one of :data:`ACCESS`; job registers are always ``"rw"`` (the other modes are
    used by the control registers that :class:`RegisterMap` adds).
    """

    def __init__(self, name, fields=None, *, doc="", reset=0, access="rw"):
        self.name = check_name("register name", name)
        self.doc = _check_doc(f"register {name}", doc)
        if access not in ACCESS:
            raise ValueError(f"access of register {name} must be one of {', '.join(ACCESS)}, "
                             f"got {access!r}")
        self.access = access
        self.offset = None  # byte offset, assigned by RegisterMap
        if fields is None:
            self.plain = True
            self.fields = []
            self._reset = check_int(f"reset of register {name}", reset, min=0, max=0xFFFF_FFFF)
        else:
            self.plain = False
            fields = list(fields)
            if not fields:
                raise ValueError(f"register {name} must have at least one field (or fields=None "
                                 f"for a plain 32-bit register)")
            for f in fields:
                if not isinstance(f, Field):
                    raise ValueError(f"fields of register {name} must be Field objects, got {f!r}")
            if reset != 0:
                raise ValueError(f"register {name} has fields: give reset values per field, "
                                 f"not reset={reset!r}")
            if len({id(f) for f in fields}) != len(fields):
                raise ValueError(f"register {name} lists the same Field object twice")
            _check_unique(f"field (in register {name})", [f.name for f in fields])
            self._place(fields)
            self.fields = fields

    def _place(self, fields):
        next_free = 0
        owner = [None] * 32
        for f in fields:
            if f.offset is None:
                f.offset = next_free
            if f.offset + f.width > 32:
                raise ValueError(f"field {f.name} of register {self.name} (bits {f.offset}.."
                                 f"{f.offset + f.width - 1}) does not fit in 32 bits")
            for bit in range(f.offset, f.offset + f.width):
                if owner[bit] is not None:
                    raise ValueError(f"field {f.name} of register {self.name} overlaps field "
                                     f"{owner[bit]} at bit {bit}")
                owner[bit] = f.name
            next_free = f.offset + f.width

    @property
    def reset(self):
        if self.plain:
            return self._reset
        value = 0
        for f in self.fields:
            value |= f.reset << f.offset
        return value

    @property
    def mask(self):
        """Implemented bits (1 = bit belongs to a field)."""
        if self.plain:
            return 0xFFFF_FFFF
        value = 0
        for f in self.fields:
            value |= f.mask
        return value

    @property
    def field(self):
        return {f.name: f for f in self.fields}

    @property
    def layout(self):
        """Shape of this register in the ``job`` view: unsigned(32) for a plain register, else a
        StructLayout of the fields in bit order (reserved bits left out)."""
        if self.plain:
            return unsigned(32)
        return data.StructLayout({f.name: f.shape for f in sorted(self.fields, key=lambda f: f.offset)})

    def encode(self, value=None, **fields):
        """Register value from an integer or from field values (the others keep their reset)."""
        if value is not None:
            if fields:
                raise ValueError(f"give either a value or fields for register {self.name}, not both")
            return check_int(f"value of register {self.name}", value, min=0, max=0xFFFF_FFFF)
        if self.plain:
            raise ValueError(f"register {self.name} has no fields; give a value")
        result = self.reset
        for k, v in fields.items():
            if k not in self.field:
                raise ValueError(f"register {self.name} has no field {k!r} (fields: "
                                 f"{', '.join(self.field)})")
            f = self.field[k]
            result = (result & ~f.mask) | (f.encode(v) << f.offset)
        return result

    def decode(self, value):
        """Dict of field values (plain register: ``{name: value}``)."""
        if self.plain:
            return {self.name: value}
        return {f.name: (value >> f.offset) & ((1 << f.width) - 1) for f in self.fields}

    def __repr__(self):
        off = "?" if self.offset is None else f"0x{self.offset:02X}"
        return f"Register({self.name!r} @ {off})"


class Counter:
    """A performance counter: the register file adds the ``counters.<name>`` input of
    ``inc_width`` bits to the counter every cycle a job runs."""

    def __init__(self, name, doc="", *, inc_width=1):
        self.name = check_name("counter name", name)
        self.doc = _check_doc(f"counter {name}", doc)
        self.inc_width = check_int(f"inc_width of counter {name}", inc_width, min=1, max=16)

    def __repr__(self):
        return f"Counter({self.name!r})"


class ErrorCause:
    """An error cause: the accelerator puts ``code`` on its ``error`` input with ``done``."""

    def __init__(self, name, code, doc=""):
        self.name = check_name("error cause name", name)
        self.code = check_int(f"code of error cause {name}", code, min=1, max=(1 << CAUSE_WIDTH) - 1)
        self.doc = _check_doc(f"error cause {name}", doc)

    def __repr__(self):
        return f"ErrorCause({self.name!r}, {self.code})"


CONTROL_NAMES = ("TRIGGER", "ACQUIRE", "STATUS", "RUNNING_JOB", "SOFT_CLEAR", "ERROR", "JOB_CYCLES")

#: The register-level semantics, in Markdown; copied into every generated map document.
SEMANTICS = """\
### Programming model (HWPE)

1. Optionally write SOFT_CLEAR.
2. Read ACQUIRE until it returns a job id >= 0: that context is now locked for programming by
   the reader. -1 means every context holds a queued job (wait for a done event); -2 means a
   context is already acquired and not yet triggered (somebody is programming).
3. Write the job registers (they address the acquired context).
4. Write TRIGGER: the context is committed and queued. Jobs start in trigger order, the next one
   in the cycle after the previous job's `done`, so the core can program context n+1 while job n runs.
5. Wait for the done event (or poll STATUS), then read ERROR and the counters.

### Semantics of the control registers

- **Job contexts.** There are {n_contexts} contexts, used in ring order; the job id returned by
  ACQUIRE is the context index (0..{last_ctx}). A context is *free* when it holds no queued or
  running job and is not acquired.
- **ACQUIRE** (read, test-and-set): returns -2 (0xFFFFFFFE) while a context is acquired; else -1
  (0xFFFFFFFF) when no context is free; else the index of the next context in ring order, which
  it locks. The acquired context starts as a copy of the most recently triggered context (the
  reset values after reset or soft clear), so only the registers that change between jobs need
  writing.
- **Job registers**: writes go to the acquired context and are ignored while no context is
  acquired; reads return the acquired context or, when none is acquired, the most recently
  triggered one. Byte enables are honoured; reserved bits (outside every field) read as 0.
- **TRIGGER** (write): commits and queues the acquired context; ignored when none is acquired.
  The job starts (`start` pulse) in the next cycle if the accelerator is idle.
- **STATUS**: BUSY (a job is running or queued), ACQUIRED, LAST_ERROR (the most recently
  finished job reported an error), ERROR (ERROR.CAUSE is not 0), QUEUED (one bit per context:
  it holds a triggered job that has not finished; the running job included).
- **RUNNING_JOB**: the context index of the running job, -1 (0xFFFFFFFF) when none runs.
- **SOFT_CLEAR** (write): aborts everything. The accelerator gets a one-cycle `clear` pulse
  in the next cycle; every context is freed and reset to its reset values, the acquisition lock is
  released, ERROR, STATUS and the counters read 0. A running job is abandoned: no done event for
  it, and a `done` from the accelerator at or after the clear is ignored.
- **ERROR** (sticky, write clears): CAUSE holds the cause code of the *first* job that ended with
  an error since ERROR was last cleared (0 = no error), JOB the context index of that job;
  later jobs do not overwrite it (OVERFLOW is set when another job fails meanwhile). Reading
  has no side effect; writing any value clears the register, as does SOFT_CLEAR.
- **Done event**: the `done_event` output pulses for one cycle for every finished job, whether it
  succeeded or failed (a failing job never hangs the core), one cycle after the accelerator's
  `done`; STATUS, ERROR and the counters are already updated in that cycle.
- **Performance counters** (JOB_CYCLES and the declared counters, read-only): latched per job.
  While a job runs, each counter accumulates its increment input; the total is copied into the
  register when the job finishes, so a register always reads the value of the most recently
  finished job (unchanged while the next job runs). Counting restarts from 0 at every job start.
  Counters saturate at {counter_max}. JOB_CYCLES counts the cycles from the `start` pulse to
  the `done` pulse, both included.
- **Addresses**: byte offsets from the register file's base; the two low address bits are
  ignored (word access); unmapped offsets read 0 and ignore writes.
"""


class RegisterMap:
    """A complete accelerator register map.

    ``name`` prefixes every generated C name (upper case for macros, lower case for functions).
    ``n_contexts`` (1..4) is the number of job contexts; ``counter_width`` (1..32) the width of
    the performance counters (narrower counters save flip-flops; they saturate at 2**width - 1).
    """

    def __init__(self, name, job_registers, *, counters=(), error_causes=(), doc="",
                 n_contexts=2, counter_width=32):
        self.name = check_name("register map name", name)
        self.doc = _check_doc(f"register map {name}", doc)
        self.n_contexts = check_int("n_contexts", n_contexts, min=1, max=4)
        self.counter_width = check_int("counter_width", counter_width, min=1, max=32)
        # Copies: the map assigns offsets, and the caller's objects may be reused elsewhere.
        self.job_registers = [copy.copy(r) for r in job_registers]
        self.counters = list(counters)
        self.error_causes = list(error_causes)
        for r in self.job_registers:
            if not isinstance(r, Register):
                raise ValueError(f"job_registers must be Register objects, got {r!r}")
            if r.access != "rw":
                raise ValueError(f"job register {r.name} must have access 'rw', got {r.access!r}")
        if not self.job_registers:
            raise ValueError(f"register map {name} needs at least one job register")
        for c in self.counters:
            if not isinstance(c, Counter):
                raise ValueError(f"counters must be Counter objects, got {c!r}")
        for e in self.error_causes:
            if not isinstance(e, ErrorCause):
                raise ValueError(f"error_causes must be ErrorCause objects, got {e!r}")
        _check_unique("error cause", [e.name for e in self.error_causes])
        codes = {}
        for e in self.error_causes:
            if e.code in codes:
                raise ValueError(f"error causes {codes[e.code]} and {e.name} have the same code {e.code}")
            codes[e.code] = e.name
        for r in self.job_registers:
            if r.name.upper() in CONTROL_NAMES:
                raise ValueError(f"job register name {r.name!r} is reserved for a control register")
        for c in self.counters:
            if c.name.upper() in CONTROL_NAMES:
                raise ValueError(f"counter name {c.name!r} is reserved for a control register")
        _check_unique("register/counter", [r.name for r in self.job_registers]
                      + [c.name for c in self.counters])

        self.control_registers = self._control_registers()
        self.counter_registers = []
        offset = _COUNTER_BASE
        for c in self.counters:
            reg = Register(c.name, doc=c.doc or f"performance counter {c.name}", access="ro")
            reg.offset = offset
            reg.counter = c
            self.counter_registers.append(reg)
            offset += 4
        self.job_base = JOB_BASE if offset <= JOB_BASE else (offset + 0x3F) & ~0x3F
        offset = self.job_base
        for r in self.job_registers:
            r.offset = offset
            offset += 4
        self.size = offset
        self.registers = self.control_registers + self.counter_registers + self.job_registers
        self.by_name = {r.name: r for r in self.registers}
        self.by_offset = {r.offset: r for r in self.registers}
        # Building the generated names checks that none of them collide.
        constants(self)

    def _control_registers(self):
        n = self.n_contexts
        cw = self.counter_width
        regs = [
            Register("TRIGGER", access="wo",
                     doc="Write: commit the acquired context and queue its job (ignored when no "
                         "context is acquired)."),
            Register("ACQUIRE", access="rs",
                     doc="Read: test-and-set. Returns the job id (context index) of a free "
                         "context and locks it for programming; -1 if no context is free, -2 if "
                         "a context is already acquired and not yet triggered."),
            Register("STATUS", access="ro", doc="Accelerator and context status.", fields=[
                Field("BUSY", 1, doc="A job is running or queued."),
                Field("ACQUIRED", 1, doc="A context is acquired and not yet triggered."),
                Field("LAST_ERROR", 1, doc="The most recently finished job ended with an error."),
                Field("ERROR", 1, doc="ERROR.CAUSE is not 0 (sticky until ERROR is cleared)."),
                Field("QUEUED", n, offset=8,
                      doc="Bit i: context i holds a triggered job that has not finished "
                          "(running or waiting)."),
            ]),
            Register("RUNNING_JOB", access="ro", reset=0xFFFF_FFFF,
                     doc="Context index of the running job; -1 (0xFFFFFFFF) when no job runs."),
            Register("SOFT_CLEAR", access="wo",
                     doc="Write: abort the running job, free every context, reset the job "
                         "registers, ERROR and the counters; pulses `clear` to the accelerator."),
            Register("ERROR", access="rc",
                     doc="Sticky error report: the first job that failed since the last clear. "
                         "A write of any value clears it.", fields=[
                Field("CAUSE", CAUSE_WIDTH, doc="Cause code of the first failing job (0 = no error)."),
                Field("JOB", 4, offset=8, doc="Context index of that job."),
                Field("OVERFLOW", 1, offset=31,
                      doc="Another job failed while CAUSE was already set (its cause is lost)."),
            ]),
            Register("JOB_CYCLES", access="ro",
                     doc=f"Cycles of the most recently finished job, `start` to `done` inclusive "
                         f"(latched at job end, saturates at 2**{cw}-1)."),
        ]
        for i, r in enumerate(regs):
            r.offset = 4 * i
        assert tuple(r.name for r in regs) == CONTROL_NAMES
        return regs

    # -- views used by the generators ------------------------------------------------------

    @property
    def prefix(self):
        """Prefix of the generated C macros."""
        return self.name.upper()

    @property
    def job_layout(self):
        """StructLayout of the ``job`` output: one member per job register."""
        return data.StructLayout({r.name: r.layout for r in self.job_registers})

    @property
    def counter_layout(self):
        """StructLayout of the ``counters`` input: one increment per counter."""
        return data.StructLayout({c.name: unsigned(c.inc_width) for c in self.counters})

    @property
    def counter_max(self):
        return (1 << self.counter_width) - 1

    @property
    def semantics(self):
        return SEMANTICS.format(n_contexts=self.n_contexts, last_ctx=self.n_contexts - 1,
                                counter_max=f"2**{self.counter_width}-1 ({self.counter_max:#x})")

    def __getitem__(self, name):
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"register map {self.name} has no register {name!r}") from None

    def __contains__(self, name):
        return name in self.by_name

    def __iter__(self):
        return iter(self.registers)

    def __repr__(self):
        return f"RegisterMap({self.name!r}, {len(self.job_registers)} job registers)"


#: ACQUIRE result when every context holds a queued job.
ACQUIRE_NONE_FREE = -1
#: ACQUIRE result when a context is already acquired and not yet triggered.
ACQUIRE_LOCKED = -2
#: RUNNING_JOB value when no job runs.
RUNNING_JOB_IDLE = -1


def constants(regmap):
    """Ordered dict ``{C macro name: integer value}`` of every constant of ``regmap``.

    Names (P is the map name in upper case):

    - ``P_N_CONTEXTS``, ``P_JOB_BASE``, ``P_SIZE`` (bytes spanned), ``P_COUNTER_MAX``,
      ``P_ACQUIRE_NONE_FREE`` (-1), ``P_ACQUIRE_LOCKED`` (-2), ``P_RUNNING_JOB_IDLE`` (-1)
    - per register R: ``P_R_OFFSET``, ``P_R_RESET``
    - per field F of R: ``P_R_F_SHIFT``, ``P_R_F_WIDTH``, ``P_R_F_MASK`` (in place), ``P_R_F_RESET``
    - per enum member E of F: ``P_R_F_E``
    - per error cause C: ``P_ERR_C``, plus ``P_ERR_NONE`` (0)

    Raises ValueError when two generated names collide.
    """
    p = regmap.prefix
    out = {}
    origin = {}

    def put(name, value, what):
        key = name.upper()
        if key in out:
            raise ValueError(f"register map {regmap.name}: generated name {key} of {what} "
                             f"collides with the one of {origin[key]}; rename one of them")
        out[key] = value
        origin[key] = what

    put(f"{p}_N_CONTEXTS", regmap.n_contexts, "the map")
    put(f"{p}_JOB_BASE", regmap.job_base, "the map")
    put(f"{p}_SIZE", regmap.size, "the map")
    put(f"{p}_COUNTER_MAX", regmap.counter_max, "the map")
    put(f"{p}_CAUSE_WIDTH", CAUSE_WIDTH, "the map")
    put(f"{p}_ACQUIRE_NONE_FREE", ACQUIRE_NONE_FREE, "the map")
    put(f"{p}_ACQUIRE_LOCKED", ACQUIRE_LOCKED, "the map")
    put(f"{p}_RUNNING_JOB_IDLE", RUNNING_JOB_IDLE, "the map")
    put(f"{p}_ERR_NONE", 0, "the map")
    for e in regmap.error_causes:
        put(f"{p}_ERR_{e.name}", e.code, f"error cause {e.name}")
    for r in regmap.registers:
        put(f"{p}_{r.name}_OFFSET", r.offset, f"register {r.name}")
        put(f"{p}_{r.name}_RESET", r.reset, f"register {r.name}")
        for f in r.fields:
            what = f"field {r.name}.{f.name}"
            put(f"{p}_{r.name}_{f.name}_SHIFT", f.offset, what)
            put(f"{p}_{r.name}_{f.name}_WIDTH", f.width, what)
            put(f"{p}_{r.name}_{f.name}_MASK", f.mask, what)
            put(f"{p}_{r.name}_{f.name}_RESET", f.reset, what)
            for k, v in (f.enum or {}).items():
                put(f"{p}_{r.name}_{f.name}_{k}", v, f"enum member {r.name}.{f.name}.{k}")
    return out
