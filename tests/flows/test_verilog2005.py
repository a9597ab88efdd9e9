"""`make verilog` writes plain Verilog-2005 (IEEE 1364-2005) that any standard tool accepts.

Every component of the `tiny` and `default` configurations (the catalogue, hw.catalog) is emitted
as `make verilog` does and must pass Verilator's lint as Verilog-2005 (flows.emit.LINT_FLAGS:
`--default-language 1364-2005`, where SystemVerilog keywords such as `always_comb` are syntax
errors), have no combinational block that could read nothing (write_verilog's one-line
`always @*`), and compile with Icarus `iverilog -g2005` (found on PATH or installed from the
distribution by flows.toolchain.icarus)."""

import json
import re
import subprocess

import pytest

from flows.emit import LINT_FLAGS, lint, verilog_modules
from flows.emit import emit
from hw.catalog import components
from hw.config import get_config

CONFIGS = ("tiny", "default")


@pytest.fixture(scope="module", params=CONFIGS)
def emitted(request, tmp_path_factory):
    config = get_config(request.param)
    out = tmp_path_factory.mktemp(f"rtl_{request.param}")
    manifest = emit(components(config), out, config=config, log=None)   # raises LintError
    return out, manifest


def test_lint_flags_are_verilog_2005():
    i = LINT_FLAGS.index("--default-language")
    assert LINT_FLAGS[i + 1] == "1364-2005"


def test_lint_rejects_systemverilog(tmp_path):
    # The form the emitted SoftEx engine, tensor unit and cluster used to contain fails; the
    # same module in Verilog-2005 passes.
    module = ("module m(a, o);\n  input a;\n  wire a;\n  output [1:0] o;\n  reg [1:0] o;\n"
              "  always @* begin\n    o[0] = a;\n    {}\n  end\nendmodule\n")
    for name, stmt in (("sv", "end\n  always_comb begin\n    o[1] = 1'h1;"),
                       ("v2005", "o[1] = 1'h1;")):
        path = tmp_path / f"{name}.v"
        path.write_text(module.replace("module m(", f"module {name}(").format(stmt))
        report = lint(path, name)
        assert report.ok == (name == "v2005"), report.errors


def test_catalog_names_and_manifest(emitted, request):
    """names.json lists every component with its ports' fields; the manifest its parameters."""
    out, manifest = emitted
    config = get_config(request.node.callspec.params["emitted"])
    names = json.loads((out / "names.json").read_text())
    assert set(names) == set(components(config))
    assert names["fma_fp32"]["ports"]["i.payload"]["fields"]["i.payload.c.exp"] \
        == "i__payload[62:55]"
    assert manifest["components"]["fma_fp32"]["parameters"] == {
        "class": "hw.fp.FPFMA", "acc_fmt": "fp32", "mul_fmt": "bf16",
        "latency": config.arith.fma_latency}


def test_every_component_lints_as_verilog_2005(emitted):
    out, manifest = emitted
    assert manifest["lint"]["passed"]
    assert manifest["lint"]["flags"] == list(LINT_FLAGS)
    assert set(manifest["lint"]["waived"]) == set(manifest["components"])


_TRIGGER = re.compile(r"^\s*reg (\\\$auto\$verilog_backend\S+)\s+= 0;$", re.M)


def test_every_combinational_block_runs_at_time_zero(emitted):
    """Each `always @*` is a process that first reads its module's time-zero trigger register
    (`reg \\$auto$verilog_backend... = 0;`): no one-line `always @*` that may read nothing."""
    out, manifest = emitted
    checked = 0
    for rec in manifest["components"].values():
        text = (out / rec["file"]).read_text()
        assert not re.search(r"\balways_(comb|ff|latch)\b", text), rec["file"]
        lines = text.split("\n")
        for module, (first, last, _) in verilog_modules(text).items():
            body = "\n".join(lines[first - 1:last])
            triggers = _TRIGGER.findall(body)
            for i, line in enumerate(lines[first - 1:last], first):
                if re.match(r"\s*always @\*", line):
                    where = f"{rec['file']}:{i} ({module})"
                    assert line.strip() == "always @* begin", f"{where}: {line.strip()!r}"
                    assert len(triggers) == 1, where
                    assert lines[i].strip() == f"if ({triggers[0]} ) begin end", where
                    checked += 1
    assert checked > 0


def test_every_component_compiles_under_icarus(emitted, tmp_path, iverilog):
    out, manifest = emitted
    compiler, _ = iverilog
    failures = []
    for name, rec in manifest["components"].items():
        proc = subprocess.run(
            [compiler, "-g2005", "-s", name, "-o", str(tmp_path / f"{name}.vvp"),
             str(out / rec["file"])], capture_output=True, text=True)
        messages = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or messages:
            failures.append(f"{name}: exit {proc.returncode}\n{messages[:2000]}")
    assert not failures, "\n".join(failures)
