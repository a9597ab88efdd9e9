"""Register-map descriptions: layout (offsets, fields), resets, encode/decode, validation."""

import enum

import pytest
from amaranth.lib import enum as am_enum

from hw.regmap import Counter, ErrorCause, Field, Register, RegisterMap
from hw.regmap.demo import DEMO, DemoOp, demo_map


def test_control_offsets():
    offs = {r.name: r.offset for r in DEMO.registers}
    assert offs == {"TRIGGER": 0x00, "ACQUIRE": 0x04, "STATUS": 0x08, "RUNNING_JOB": 0x0C,
                    "SOFT_CLEAR": 0x10, "ERROR": 0x14, "JOB_CYCLES": 0x18,
                    "STALL_CYCLES": 0x1C, "ELEMS_DONE": 0x20,
                    "IN_ADDR": 0x40, "OUT_ADDR": 0x44, "LENGTH": 0x48, "COMMAND": 0x4C, "BIAS": 0x50}
    assert DEMO.job_base == 0x40 and DEMO.size == 0x54
    assert DEMO["STATUS"].field["QUEUED"].width == 2
    assert demo_map(n_contexts=4)["STATUS"].field["QUEUED"].width == 4


def test_auto_field_offsets_and_resets():
    cmd = DEMO["COMMAND"]
    assert [(f.name, f.offset, f.width) for f in cmd.fields] == [
        ("OP", 0, 3), ("LAST", 4, 1), ("INT8_OUT", 5, 1), ("SCALE", 16, 16)]
    assert cmd.reset == 0x3F80_0000
    assert cmd.mask == 0xFFFF_0037
    assert cmd.encode(OP="RELU", LAST=1) == 0x3F80_0013
    assert cmd.encode(OP=DemoOp.EXP) == 0x3F80_0005
    assert cmd.decode(0x1234_0025) == {"OP": 5, "LAST": 0, "INT8_OUT": 1, "SCALE": 0x1234}
    assert DEMO["RUNNING_JOB"].reset == 0xFFFF_FFFF


def test_many_counters_move_the_job_base():
    rm = RegisterMap("big", [Register("A")], counters=[Counter(f"C{i}") for i in range(12)])
    assert rm["C11"].offset == 0x1C + 4 * 11 and rm.job_base == 0x80 and rm["A"].offset == 0x80
    rm = RegisterMap("fits", [Register("A")], counters=[Counter(f"C{i}") for i in range(9)])
    assert rm.job_base == 0x40


def test_enum_kinds():
    class AmOp(am_enum.Enum, shape=2):
        X = 0
        Y = 3

    class PyOp(enum.Enum):
        X = 0
        Y = 3

    for e in (AmOp, PyOp, {"X": 0, "Y": 3}):
        f = Field("OP", 2, enum=e, reset="Y")
        assert f.enum == {"X": 0, "Y": 3} and f.reset == 3
        assert [m.name for m in f.shape] == ["X", "Y"] and f.shape.as_shape().width == 2
    assert Field("OP", 2, enum=AmOp).shape is AmOp
    assert Field("OP", 4, enum=AmOp).shape is not AmOp   # widened: a new enum of 4 bits


def test_registers_are_not_shared_between_maps():
    regs = [Register("A"), Register("B", fields=[Field("X", 3)])]
    m1 = RegisterMap("m1", regs)
    m2 = RegisterMap("m2", regs, counters=[Counter(f"C{i}") for i in range(10)])
    assert m1["A"].offset == 0x40 and m2["A"].offset == 0x80
    assert regs[0].offset is None


@pytest.mark.parametrize("make,match", [
    (lambda: Field("1X", 3), "field name"),
    (lambda: Field("int", 3), "keyword"),
    (lambda: Field("class", 3), "keyword"),
    (lambda: Field("_X", 3), "underscore"),
    (lambda: Field("X", 0), "width of field X"),
    (lambda: Field("X", 33), "width of field X"),
    (lambda: Field("X", 3, offset=32), "offset of field X"),
    (lambda: Field("X", 3, reset=8), "reset of field X"),
    (lambda: Field("X", 2, enum={"A": 4}), "value of enum member X.A"),
    (lambda: Field("X", 2, enum={"A": 1, "B": 1}), "same value"),
    (lambda: Field("X", 2, enum={"A": 1, "a": 2}), "duplicate enum member"),
    (lambda: Field("X", 2, enum={}), "at least one member"),
    (lambda: Field("X", 2, enum=[1, 2]), "enum of field X"),
    (lambda: Field("X", 2, enum={"A": 1}, reset="B"), "reset of field X must be one of A"),
    (lambda: Register("R", fields=[Field("A", 20), Field("B", 13)]), "B of register R .* does not fit"),
    (lambda: Register("R", fields=[Field("A", 4, offset=30)]), "does not fit in 32 bits"),
    (lambda: Register("R", fields=[Field("A", 8), Field("B", 4, offset=4)]), "B of register R overlaps field A at bit 4"),
    (lambda: Register("R", fields=[Field("A", 1), Field("a", 1)]), "duplicate field"),
    (lambda: Register("R", fields=[]), "at least one field"),
    (lambda: Register("R", fields=[Field("A", 1)], reset=1), "per field"),
    (lambda: Register("R", access="xx"), "access of register R"),
    (lambda: Register("R", reset=1 << 32), "reset of register R"),
    (lambda: Counter("C", inc_width=0), "inc_width of counter C"),
    (lambda: ErrorCause("E", 0), "code of error cause E"),
    (lambda: ErrorCause("E", 256), "code of error cause E"),
    (lambda: RegisterMap("m", []), "at least one job register"),
    (lambda: RegisterMap("m", [Register("A")], n_contexts=0), "n_contexts"),
    (lambda: RegisterMap("m", [Register("A")], n_contexts=5), r"n_contexts must be an integer in \[1, 4\]"),
    (lambda: RegisterMap("m", [Register("A")], counter_width=33), "counter_width"),
    (lambda: RegisterMap("m-1", [Register("A")]), "register map name"),
    (lambda: RegisterMap("m", [Register("A"), Register("a")]), "duplicate register/counter name 'a'"),
    (lambda: RegisterMap("m", [Register("A")], counters=[Counter("A")]), "duplicate register/counter"),
    (lambda: RegisterMap("m", [Register("STATUS")]), "reserved for a control register"),
    (lambda: RegisterMap("m", [Register("A")], counters=[Counter("JOB_CYCLES")]), "reserved"),
    (lambda: RegisterMap("m", [Register("A", access="ro")]), "must have access 'rw'"),
    (lambda: RegisterMap("m", [Register("A")], error_causes=[ErrorCause("E", 1), ErrorCause("F", 1)]),
     "same code 1"),
    (lambda: RegisterMap("m", [Register("A")], error_causes=[ErrorCause("E", 1), ErrorCause("E", 2)]),
     "duplicate error cause"),
    # Generated C names must not collide: enum member MASK of field F -> M_R_F_MASK twice.
    (lambda: RegisterMap("m", [Register("R", fields=[Field("F", 2, enum={"MASK": 1})])]),
     "M_R_F_MASK .* collides"),
    (lambda: RegisterMap("m", [Register("R_F", fields=[Field("X", 1)]),
                               Register("R", fields=[Field("F_X", 1)])]), "collides"),
    (lambda: RegisterMap("m", [Field("A", 1)]), "must be Register objects"),
])
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_field_encode_errors():
    cmd = DEMO["COMMAND"]
    with pytest.raises(ValueError, match="no field"):
        cmd.encode(NOPE=1)
    with pytest.raises(ValueError, match="value of field SCALE"):
        cmd.encode(SCALE=1 << 16)
    with pytest.raises(ValueError, match="either a value or fields"):
        cmd.encode(1, OP=1)
    with pytest.raises(ValueError, match="has no fields"):
        DEMO["IN_ADDR"].encode(OP=1)
    assert cmd.encode(OP=6) == 0x3F80_0006      # integer codes outside the enum are allowed
