# amaranth: UnusedElaboratable=no
"""`make verilog`: configurations, catalogue, Verilog + names.json + manifest, Verilator lint."""

import hashlib
import json

import pytest
from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.lib import data

from flows.__main__ import main as hw_main
from hw.catalog import ComponentSpec, component, components
from hw.config import CONFIGS, ArithConfig, Config, SoftExConfig, TensorConfig, get_config
from flows.emit import LintError, convert, emit
from hw.fp.format import BF16, FP32
from hw.pipeline import PipelinedOp


# ---- stand-in components (independent of hw.fp) -------------------------------------------

class _Inc(Elaboratable):
    def __init__(self):
        self.a = Signal(8)
        self.y = Signal(8)

    def elaborate(self, platform):
        m = Module()
        x = Signal(8, name="x")
        m.d.comb += [x.eq(self.a + 1), self.y.eq(x ^ 3)]
        return m


class StandInFMA(PipelinedOp):
    """FMA-shaped operands and result, toy datapath using every input bit; one submodule."""
    N_CUTS = 2

    def __init__(self, latency=2, use_all=True):
        self.use_all = use_all
        super().__init__(data.StructLayout({
            "a": BF16.layout, "b": BF16.layout, "c": FP32.layout, "neg_ab": 1, "neg_c": 1,
        }), FP32.layout, latency=latency)

    def datapath(self, m, pipe, ops):
        m.submodules.inc = inc = _Inc()
        m.d.comb += inc.a.eq(ops.a.exp ^ ops.b.exp)
        prod = Signal(16, name="prod")
        m.d.comb += prod.eq(Cat(ops.a.frac, 1) * Cat(ops.b.frac, 1))
        flags = Cat(ops.a.sign, ops.b.sign, ops.neg_ab, ops.neg_c) if self.use_all else 0
        prod, c = pipe.cut(prod ^ flags, ops.c)
        total = Signal(32, name="total")
        m.d.comb += total.eq(c.as_value() + (prod << inc.y[:3]))
        return pipe.cut(total)


SPECS = {
    "fma_l2": lambda: StandInFMA(2),
    "fma_l0": lambda: StandInFMA(0),
}


# ---- emission ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("rtl")
    manifest = emit(SPECS, out, config=get_config("tiny"), log=None)
    return out, manifest


def test_files_written(emitted):
    out, manifest = emitted
    for name in SPECS:
        text = (out / f"{name}.v").read_text()
        assert f"module {name}(" in text
        rec = manifest["components"][name]
        assert rec["sha256"] == hashlib.sha256((out / f"{name}.v").read_bytes()).hexdigest()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert on_disk["config"] == "tiny"
    assert on_disk["parameters"]["arith"]["fma_latency"] == CONFIGS["tiny"].arith.fma_latency


def test_lint_recorded(emitted):
    _, manifest = emitted
    lint = manifest["lint"]
    assert lint["passed"] and "-Wall" in lint["flags"]
    # Amaranth output does trigger the waived warnings; they are counted, with reasons.
    assert lint["waived"]["fma_l2"].get("PROCASSINIT", 0) > 0
    assert set(lint["waivers"]) >= {"UNUSEDSIGNAL", "DECLFILENAME", "PROCASSINIT"}


def test_names_json(emitted):
    out, _ = emitted
    names = json.loads((out / "names.json").read_text())
    entry = names["fma_l2"]
    ports = entry["ports"]
    assert ports["i.payload"]["verilog"] == "i__payload"
    assert ports["i.payload"]["width"] == 16 + 16 + 32 + 2
    assert ports["i.payload"]["fields"]["i.payload.a.exp"] == "i__payload[14:7]"
    assert ports["i.payload"]["fields"]["i.payload.neg_c"] == "i__payload[65]"
    assert ports["o.payload"]["direction"] == "output"
    assert ports["clk"]["role"] == "clock" and ports["rst"]["role"] == "reset"
    signals = entry["signals"]
    assert signals["prod"] == "fma_l2.prod"
    assert signals["stage0_0"] == "fma_l2.stage0_0"          # pipeline register (hw/pipeline.py)
    assert signals["stage0_1.exp"] == "fma_l2.stage0_1.exp"  # layout field of a register
    assert signals["inc.x"] == "fma_l2.inc.x"                # submodule signal
    assert entry["modules"] == {"inc": "fma_l2.inc"}
    assert entry["src"]["stage0_0"].startswith("hw/pipeline.py:")
    # Every name in the map is declared in the Verilog.
    text = (out / "fma_l2.v").read_text()
    for hier in signals.values():
        assert hier.split(".", 2)[-1].split(".")[0] in text
    # Combinational version: no clock, no registers.
    assert "clk" not in names["fma_l0"]["ports"]
    assert not any(k.startswith("stage") for k in names["fma_l0"]["signals"])


def test_duplicate_signal_names_are_disambiguated():
    class Dup(PipelinedOp):
        N_CUTS = 0

        def __init__(self):
            super().__init__(8, 8, latency=1)

        def datapath(self, m, pipe, x):
            a, b = Signal(8, name="t"), Signal(8, name="t")
            m.d.comb += [a.eq(x + 1), b.eq(a ^ x)]
            return b

    _, entry = convert(Dup(), "dup")
    keys = [k for k in entry["signals"] if k.startswith("t")]
    assert sorted(keys) == ["t", "t$2"]
    assert len({entry["signals"][k] for k in keys}) == 2


def test_unused_input_fails_lint(tmp_path):
    with pytest.raises(LintError) as info:
        emit({"bad": lambda: StandInFMA(1, use_all=False)}, tmp_path, log=None)
    text = str(info.value)
    assert "i__payload" in text and "i.payload.neg_c" in text
    # The files are still written for inspection.
    assert (tmp_path / "bad.v").exists() and (tmp_path / "names.json").exists()


def test_stale_files_removed(tmp_path):
    emit(SPECS, tmp_path, log=None, do_lint=False)
    emit({"fma_l0": SPECS["fma_l0"]}, tmp_path, log=None, do_lint=False)
    assert not (tmp_path / "fma_l2.v").exists()
    assert (tmp_path / "fma_l0.v").exists()


# ---- the real catalogue (its emission and lint: tests/flows/test_verilog2005.py) -------------

def test_catalog_contents():
    specs = components("default")
    assert list(specs) == ["add_bf16", "add_fp32", "mul_bf16", "fma_bf16", "fma_fp32",
                           "compare_bf16", "cvt_fp32_bf16", "cvt_bf16_fp32", "scale_bf16",
                           "int8_to_bf16",
                           "bf16_to_int8", "expp_x4", "gelu_x2", "gelu_expp_x2",
                           "softex_softmax_x4",
                           "softex_lut_a_x4", "softex_lut_b_x4", "tensor_2x2x3", "cluster"]
    # The block rows of `make synth` come from `large`: the same blocks, twice as wide.
    assert [n for n in components("large") if n not in specs] == [
        "expp_x8", "gelu_x4", "gelu_expp_x4", "softex_softmax_x8", "softex_lut_a_x8", "softex_lut_b_x8",
        "tensor_4x4x3"]
    assert specs["fma_fp32"].latency == CONFIGS["default"].arith.fma_latency
    assert specs["fma_fp32"].replace(latency=0).latency == 0
    # The fixed-point width names the casts.
    wide = components(get_config("tiny", **{"arith.fixed_width": 12}))
    assert "int12_to_bf16" in wide and "bf16_to_int12" in wide
    with pytest.raises(ValueError, match="unknown component 'nope'; components: add_bf16"):
        component("default", "nope")


def test_spec_overrides_latency():
    spec = components("default")["fma_bf16"]
    built = [spec(), spec(latency=0)]
    for c in built:
        c._MustUse__silence = True   # built only to inspect their parameters
    assert built[0].latency == CONFIGS["default"].arith.fma_latency
    assert built[1].latency == 0


def test_spec_constructor_checked():
    with pytest.raises(ValueError, match="constructor must be a component class or function"):
        ComponentSpec("hw.fp.FPAdd")


def test_spec_merges_dict_arguments():
    spec = components("tiny")["cluster"].replace(softex={"engine": "lut_b"})
    assert spec.kwargs["softex"] == {**get_config("tiny").softex.to_dict(), "engine": "lut_b"}


# ---- configurations ----------------------------------------------------------------------------

def test_named_configs():
    assert list(CONFIGS) == ["tiny", "default", "large", "paper"]
    paper = get_config("paper")
    assert (paper.cluster.cores, paper.cluster.scratchpad_kib) == (8, 256)
    assert (paper.tensor.rows, paper.tensor.cols, paper.softex.lanes) == (24, 8, 16)
    assert json.loads(json.dumps(paper.to_dict()))["tensor"] == {"rows": 24, "cols": 8, "pipes": 3}
    with pytest.raises(Exception):
        paper.cluster.cores = 4          # frozen


def test_unknown_config_lists_names():
    with pytest.raises(ValueError, match=r"unknown configuration 'huge'; configurations: "
                                         r"tiny, default, large, paper"):
        get_config("huge")


@pytest.mark.parametrize("make,message", [
    (lambda: ArithConfig(fma_latency=-1), r"arith\.fma_latency must be an integer in \[0, 16\]"),
    (lambda: ArithConfig(add_latency=1.5), r"arith\.add_latency must be an integer"),
    (lambda: ArithConfig(fixed_width=40), r"arith\.fixed_width must be an integer in \[2, 16\]"),
    (lambda: TensorConfig(rows=0), r"tensor\.rows must be an integer in \[1, 64\]"),
    (lambda: SoftExConfig(engine="lut_c"),
     r"softex\.engine must be one of 'expp', 'lut_a', 'lut_b', got 'lut_c'"),
    (lambda: get_config("default", **{"softex.engine": 2}), r"softex\.engine must be one of"),
    (lambda: get_config("paper", **{"cluster.cores": 9}),
     r"cluster\.cores must be an integer in \[1, 8\], got 9"),
    (lambda: get_config("tiny", **{"cluster.scratchpad_kib": 48}),
     r"cluster\.scratchpad_kib must be a power of two in \[1, 1024\], got 48"),
    (lambda: get_config("tiny", **{"cluster.events": 1}),
     r"cluster\.events must be an integer in \[2, 32\], got 1"),
    (lambda: get_config("tiny", **{"softex.lanes": 6}),
     r"softex\.lanes must be one of 4, 8, 16, 32, got 6"),
    (lambda: get_config("tiny", **{"softex.expp_latency": 7}),
     r"softex\.expp_latency must be an integer in \[0, 6\], got 7"),
    (lambda: get_config("tiny", **{"softex.gelu_latency": 16}),
     r"softex\.gelu_latency must be an integer in \[0, 15\], got 16"),
    (lambda: get_config("tiny", **{"tensor.cols": 3}),
     r"tensor: cols \* \(pipes \+ 1\) = H \* \(P \+ 1\) must be a power of two"),
    (lambda: get_config("tiny", **{"arith.nope": 1}), r"unknown configuration field 'arith\.nope'"),
    (lambda: get_config("tiny", **{"nope.x": 1}), r"unknown configuration section 'nope'"),
    (lambda: Config(name="bad name"), r"name must be an identifier"),
    (lambda: Config(name="x", arith=TensorConfig()), r"arith must be a ArithConfig"),
])
def test_invalid_config(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_ranges_are_the_components():
    """One range per parameter: each configuration section checks its fields against the very
    objects the component it configures checks its arguments with."""
    from hw.cluster import Cluster
    from hw.cluster.system import AcceleratedCluster
    from hw.fp.fixed import IntToFloat
    from hw.softex import ENGINE_PARAMETERS, SoftmaxEngine
    from hw.tensor.geometry import TensorGeometry
    from hw.config import ClusterConfig
    assert ClusterConfig.PARAMETERS is AcceleratedCluster.PARAMETERS
    assert AcceleratedCluster.PARAMETERS["cores"] is Cluster.PARAMETERS["cores"]
    assert SoftExConfig.PARAMETERS is ENGINE_PARAMETERS
    assert ENGINE_PARAMETERS["expp_latency"] is SoftmaxEngine.EXPP_LATENCY
    assert ENGINE_PARAMETERS["gelu_latency"].inner is SoftmaxEngine.GELU_LATENCY
    assert TensorConfig.PARAMETERS is TensorGeometry.PARAMETERS
    assert ArithConfig.PARAMETERS["fma_latency"] is PipelinedOp.LATENCY
    assert ArithConfig.PARAMETERS["fixed_width"] is IntToFloat.WIDTH
    # ... and the sections' fields are the constructor arguments of the same names.
    for name in ("tiny", "default", "large", "paper"):
        config = get_config(name)
        spec = components(config)["cluster"]
        assert spec.kwargs == {**config.cluster.to_dict(), "softex": config.softex.to_dict(),
                               "tensor": config.tensor.to_dict()}


# ---- command line ----------------------------------------------------------------------------

def test_cli_verilog(tmp_path, capsys):
    out = tmp_path / "rtl"
    assert hw_main(["verilog", "--config", "tiny", "--out", str(out),
                    "--only", "cvt_bf16_fp32", "--set", "arith.convert_latency=2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["components"]) == ["cvt_bf16_fp32"]
    assert manifest["components"]["cvt_bf16_fp32"]["parameters"]["latency"] == 2
    assert "lint passed" in capsys.readouterr().out


def test_cli_list(capsys):
    assert hw_main(["verilog", "--config", "paper", "--list"]) == 0
    out = capsys.readouterr().out
    assert "fma_fp32" in out and "hw.fp.FPFMA(acc_fmt=fp32" in out


@pytest.mark.parametrize("argv,message", [
    (["verilog", "--config", "huge", "--list"], "unknown configuration 'huge'"),
    (["verilog", "--set", "arith.fma_latency=99", "--list"], "arith.fma_latency must be"),
    (["verilog", "--set", "arith.fma_latency", "--list"], "--set takes section.field=value"),
    (["verilog", "--only", "nope", "--list"], "unknown component(s) 'nope'"),
])
def test_cli_errors(argv, message, capsys):
    assert hw_main(argv) == 2
    assert message in capsys.readouterr().err
