"""The Python view of a register map: the same names and values as the C header.

:func:`constants` is the single list of generated names (the C header defines exactly these
macros, see :mod:`hw.regmap.cheader`); :func:`python_module` writes them as a standalone Python
module (no dependency on this project) with small encode/decode helpers, for host software and
tests outside the repository. Testbenches use :class:`sim.tb.regs.RegisterDriver`, which builds
the same constants from the description object.
"""

from .description import CAUSE_WIDTH

__all__ = ["constants", "python_module", "ACQUIRE_NONE_FREE", "ACQUIRE_LOCKED", "RUNNING_JOB_IDLE"]

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


_MODULE_TEMPLATE = '''\
"""Register map {name}: constants and field helpers (generated from its Python description by
hw.regmap.pydriver; do not edit). Same names and values as the C header {name}.h."""

{constants}

#: Register name -> byte offset.
OFFSETS = {offsets!r}
#: Register name -> {{field name: (shift, width)}} (empty for plain 32-bit registers).
FIELDS = {fields!r}
#: Register name -> {{field name: {{member: value}}}} for enum-valued fields.
ENUMS = {enums!r}
#: Error cause name -> code.
ERRORS = {errors!r}
#: Register name -> reset value.
RESETS = {resets!r}


def encode(register, **fields):
    """Value of ``register`` with the given fields (enum names accepted); other fields at reset."""
    value = RESETS[register]
    for name, v in fields.items():
        shift, width = FIELDS[register][name]
        if isinstance(v, str):
            v = ENUMS[register][name][v]
        if not 0 <= v < (1 << width):
            raise ValueError(f"{{register}}.{{name}} is {{width}} bits wide, got {{v}}")
        mask = ((1 << width) - 1) << shift
        value = (value & ~mask) | (v << shift)
    return value


def decode(register, value):
    """Dict of the field values of ``register`` in ``value``."""
    return {{name: (value >> shift) & ((1 << width) - 1)
            for name, (shift, width) in FIELDS[register].items()}}


def to_signed(value):
    """A 32-bit register value as a signed integer (ACQUIRE, RUNNING_JOB)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
'''


def python_module(regmap):
    """Text of a standalone Python module with the constants of ``regmap``."""
    consts = "\n".join(f"{k} = {_pyhex(k, v)}" for k, v in constants(regmap).items())
    return _MODULE_TEMPLATE.format(
        name=regmap.name,
        constants=consts,
        offsets={r.name: r.offset for r in regmap.registers},
        fields={r.name: {f.name: (f.offset, f.width) for f in r.fields} for r in regmap.registers},
        enums={r.name: {f.name: dict(f.enum) for f in r.fields if f.enum}
               for r in regmap.registers if any(f.enum for f in r.fields)},
        errors={e.name: e.code for e in regmap.error_causes},
        resets={r.name: r.reset for r in regmap.registers},
    )


def _pyhex(name, value):
    if value < 0 or name.endswith(("_WIDTH", "_SHIFT", "_N_CONTEXTS", "_CAUSE_WIDTH")):
        return str(value)
    return f"0x{value:X}"
