"""Constant bits of a signal that a process also writes.

Amaranth's own Yosys script (`proc` with its `proc_prune` step) moves such bits out of their
process, and write_verilog states them as a one-line `always @*` block that reads nothing: by
IEEE 1364 it never runs (Icarus leaves the bits x, Verilator 0). flows.emit converts with
`proc_prune` left out (flows.emit.YOSYS_SCRIPT), so the bits stay in their process, which
write_verilog's time-zero trigger evaluates at time zero. This checks the text, and the behaviour
under Verilator and Icarus Verilog (found or installed by flows.toolchain.icarus)."""

import re
import subprocess

import pytest
from amaranth import Cat, Const, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flows.emit import to_verilog
from flows.runner import VerilatorSim, emit_verilog


class ConstantBits(wiring.Component):
    """`o` = {2'b10, a}, the low bits overridden in a branch: the constant high bits are the
    ones proc_prune would take out of the process, as with the tensor CE's FMA operand flags."""
    a: In(2)
    o: Out(4)

    def elaborate(self, platform):
        m = Module()
        s = Signal(4)
        m.d.comb += s.eq(Cat(self.a, Const(0b10, 2)))
        with m.If(self.a[0]):
            m.d.comb += s[0:2].eq(0b11)
        m.d.comb += self.o.eq(s)
        return m


def expected(a):
    return (0b10 << 2) | (0b11 if a & 1 else a)


# ---- the text ----------------------------------------------------------------------------------

# write_verilog's two forms of a combinational `always @*`: a process (`always @* begin`, then a
# read of the module's time-zero trigger register) and a connection to a `reg` (`always @*` alone
# on its line, then one assignment): only the second can read nothing.
_ONE_LINE_ALWAYS = re.compile(r"^\s*always @\*\s*$", re.M)
_TRIGGER = re.compile(r"^\s*reg (\\\$auto\$verilog_backend\S+)\s+= 0;$", re.M)


def processes(text):
    """The `always @* begin ... end` blocks of ``text`` (one module) as lists of lines."""
    lines = text.split("\n")
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() == "always @* begin":
            indent = line[:len(line) - len(line.lstrip())]
            end = lines.index(indent + "end", i)
            blocks.append(lines[i:end + 1])
    return blocks


def test_amaranth_script_moves_the_constant_out_of_its_process():
    # The form that never runs, as Amaranth's own conversion writes it: if this fails, Amaranth
    # or its Yosys changed and flows.emit.YOSYS_SCRIPT's reason should be checked again.
    raw = verilog.convert(ConstantBits(), name="constant_bits", emit_src=False)
    assert "  always @*\n    o[3:2] = 2'h2;\n" in raw


def test_constant_bits_stay_in_their_process():
    text, _ = to_verilog(ConstantBits(), "constant_bits")
    assert not _ONE_LINE_ALWAYS.search(text)
    assert "always_comb" not in text
    [trigger] = _TRIGGER.findall(text)
    [process] = processes(text)
    assert process[1].strip() == f"if ({trigger} ) begin end"    # evaluated at time zero
    assert process[2].strip() == "o = { 2'h2, a };"               # the constant bits, inside
    # o is written by this block only.
    assert len(re.findall(r"^\s*o(\[[\d:]+\])? = ", text, re.M)) == 2   # o = ...; o[1:0] = ...;
    assert emit_verilog(ConstantBits(), "constant_bits") == text         # the simulators' text


# ---- the behaviour -----------------------------------------------------------------------------

@pytest.mark.verilator
def test_constant_bits_simulate_under_verilator():
    VerilatorSim.for_component(ConstantBits(), "constant_bits").run("sim.benches.constant_tb")


_ICARUS_TB = """
module tb;
  reg [1:0] a = 2'd{first};   // set before time zero: the design sees no change of `a` at first
  wire [3:0] o;
  integer i;
  constant_bits dut(.a(a), .o(o));
  initial begin
    #1 $display("a=%0d o=%b", a, o);
    for (i = 0; i < 4; i = i + 1) begin
      a = i;
      #1 $display("a=%0d o=%b", a, o);
    end
  end
endmodule
"""


def icarus_run(tmp_path, design, iverilog):
    compiler, runtime = iverilog
    (tmp_path / "design.v").write_text(design)
    (tmp_path / "tb.v").write_text(_ICARUS_TB.format(first=2))
    subprocess.run([compiler, "-g2005", "-s", "tb", "-o", "sim.vvp", "design.v", "tb.v"],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run([runtime, "-n", "sim.vvp"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    return re.findall(r"^a=(\d) o=([01xz]{4})$", out, re.M)


def test_constant_bits_simulate_under_icarus(tmp_path, iverilog):
    text, _ = to_verilog(ConstantBits(), "constant_bits")
    rows = icarus_run(tmp_path, text, iverilog)
    assert rows == [(str(a), f"{expected(a):04b}") for a in (2, 0, 1, 2, 3)]


def test_amaranth_script_form_never_runs_under_icarus(tmp_path, iverilog):
    # Why flows.emit does not use Amaranth's script as it is: the constant bits stay x.
    raw = verilog.convert(ConstantBits(), name="constant_bits", emit_src=False)
    rows = icarus_run(tmp_path, raw, iverilog)
    assert rows and all(o[:2] == "xx" for _, o in rows)
