# amaranth: UnusedElaboratable=no
"""`make synth` plumbing: plan validation, report assembly, and one real iCE40 run (< 60 s)."""

import json

import pytest
from amaranth.lib import data

from hw.pipeline import PipelinedOp
from flows.synth import (TARGETS, SynthItem, Unit, describe, earlier_rows, main,
                         overused_resources, plan, row_order, run_unit, summarise, write_report)


class AddOp(PipelinedOp):
    """Tiny stand-in: 8-bit a + b, registered."""
    N_CUTS = 1

    def __init__(self, latency=1):
        super().__init__(data.StructLayout({"a": 8, "b": 8}), 9, latency=latency)

    def datapath(self, m, pipe, ops):
        return pipe.cut(ops.a + ops.b)


def test_ice40_smoke(tmp_path):
    """Yosys + nextpnr on a tiny component through the harness; numbers are parsed."""
    unit = Unit(TARGETS["ice40"], "add8", 1, lambda: AddOp(1), (1,), tmp_path / "add8")
    r = run_unit(unit)
    assert r["luts"] > 8 and r["ffs"] >= 18 + 2 * 11   # harness: 18 in + 2 x 11 out
    assert r["dsps"] == 0 and r["brams"] == 0
    assert r["cells"]["SB_LUT4"] == r["luts"]
    assert 10 < r["fmax_best_mhz"] < 1000 and r["fmax_median_mhz"] == r["fmax_best_mhz"]
    assert r["utilisation"]["SB_IO"] == 4                    # clk, rst, sin, sout
    assert (tmp_path / "add8" / "seed1" / "report.json").exists()
    assert (tmp_path / "add8" / "yosys.log").exists()
    # Unchanged unit: reused, not rerun.
    again = run_unit(Unit(TARGETS["ice40"], "add8", 1, lambda: AddOp(1), (1,), tmp_path / "add8"))
    assert again.get("cached") and again["luts"] == r["luts"]
    # A new seed list reruns the unit, but not the seed that has its report already.
    log = tmp_path / "add8" / "seed1" / "nextpnr.log"
    stamp = log.stat().st_mtime_ns
    more = run_unit(Unit(TARGETS["ice40"], "add8", 1, lambda: AddOp(1), (1, 2),
                         tmp_path / "add8"))
    assert not more.get("cached") and set(more["seeds"]) == {"1", "2"}
    assert log.stat().st_mtime_ns == stamp
    assert more["seeds"]["1"]["fmax_mhz"] == r["seeds"]["1"]["fmax_mhz"]
    # Other nextpnr options (a clock constraint of the unit) do rerun it.
    slow = run_unit(Unit(TARGETS["ice40"], "add8", 1, lambda: AddOp(1), (1,), tmp_path / "add8",
                         freq_mhz=12))
    assert log.stat().st_mtime_ns != stamp and slow["clock_target_mhz"] == 12
    report = json.loads((tmp_path / "add8" / "seed1" / "report.json").read_text())
    assert {round(f["constraint"]) for f in report["fmax"].values()} == {12}


def test_plan_default_list():
    units = plan(seeds=(1, 2))
    labels = [u.label for u in units]
    assert "ice40/fma_fp32/L3" in labels and "ecp5/fma_bf16/L0" in labels
    assert "ice40/fma_fp32/harness" in labels
    # FMAs: 2 components x (4 latencies + harness) x 2 targets; tensor unit, the SoftEx engines
    # (expp, expp with the expp GELU, expp without GELU, LUT A, LUT B), the two GELU units and
    # the cluster (with the expp engine, the same with the Flash-ABFT checker, the large one,
    # with LUT-B and a 2 x 4 x 3 tensor unit, and the tiny configuration's with LUT-B): (as
    # configured + harness) on ECP5
    assert len(units) == 20 + 13 * 2 and all(u.seeds == (1, 2) for u in units)
    assert "ecp5/gelu_x4/L2" in labels and "ecp5/gelu_expp_x4/L15" in labels
    assert "ecp5/cluster/configured" in labels and "ecp5/cluster_abft/configured" in labels
    assert "ecp5/cluster_lut_b_2x4x3/configured" in labels
    assert "ecp5/cluster_tiny_lut_b/configured" in labels
    assert "ecp5/tensor_4x4x3/configured" in labels and "ice40/tensor_4x4x3/configured" \
        not in labels


def test_plan_item_targets_and_seeds():
    """Per-item targets and seeds (the default list's large blocks: ECP5, one seed); plan's
    targets= / seeds= override them, like latencies= overrides the sweep. plan() only."""
    units = {u.label: u for u in plan()}
    assert units["ecp5/tensor_4x4x3/configured"].seeds == (1,)
    assert units["ecp5/tensor_4x4x3/harness"].seeds == (1,)
    assert units["ecp5/softex_softmax_x8/configured"].seeds == (1,)
    assert units["ecp5/softex_softmax_x8/configured"].latency is None
    assert units["ecp5/softex_lut_b_x8/configured"].router == "router2"
    assert units["ecp5/softex_lut_b_x8/configured"].freq_mhz is None
    item = SynthItem("fma_bf16", latencies=(3,), freq_mhz=16, nextpnr_args=["--threads", "1"])
    assert {(u.freq_mhz, u.nextpnr_args) for u in plan([item])} == {(16, ("--threads", "1"))}
    assert not any(l.startswith("ice40/tensor") or l.startswith("ice40/softex") for l in units)
    assert units["ice40/fma_fp32/L3"].seeds == (1, 2, 3)          # DEFAULT_SEEDS
    assert units["ecp5/fma_bf16/harness"].seeds == (1, 2, 3)

    items = [SynthItem("fma_bf16", latencies=[2, 3], targets=["ice40"], seeds=[4, 5])]
    assert items[0].latencies == (2, 3) and items[0].targets == ("ice40",)
    assert items[0].seeds == (4, 5)
    labels = [(u.label, u.seeds) for u in plan(items)]
    assert labels == [("ice40/fma_bf16/L2", (4, 5)), ("ice40/fma_bf16/L3", (4, 5)),
                      ("ice40/fma_bf16/harness", (4, 5))]
    over = plan(items, targets=("ecp5",), seeds=(7,))
    assert [(u.label, u.seeds) for u in over] == [
        ("ecp5/fma_bf16/L2", (7,)), ("ecp5/fma_bf16/L3", (7,)), ("ecp5/fma_bf16/harness", (7,))]
    # Neither given: every target, DEFAULT_SEEDS.
    routed = plan([SynthItem("fma_bf16", latencies=(3,), router="router2")], targets=["ecp5"])
    assert {u.router for u in routed} == {"router2"}      # the harness is routed alike
    assert {(u.target.name, u.seeds) for u in plan([SynthItem("fma_bf16", latencies=(3,))])} \
        == {("ice40", (1, 2, 3)), ("ecp5", (1, 2, 3))}


@pytest.mark.parametrize("kwargs,message", [
    ({"targets": ("xilinx",)}, r"targets: unknown target 'xilinx'; targets: ice40, ecp5"),
    ({"targets": ()}, r"targets must list at least one target"),
    ({"targets": "ecp5"}, r"targets must be a tuple of target names, got 'ecp5'"),
    ({"targets": ("ecp5", "ecp5")}, r"targets lists a target twice"),
    ({"seeds": ()}, r"seeds must list at least one nextpnr seed"),
    ({"seeds": (-1,)}, r"seeds must be an integer >= 0, got -1"),
    ({"seeds": (1.5,)}, r"seeds must be an integer >= 0, got 1.5"),
    ({"seeds": 1}, r"seeds must be a tuple of integers, got 1"),
    ({"seeds": (1, 1)}, r"seeds lists a seed twice"),
    ({"latencies": (-1,)}, r"latencies must be an integer >= 0, got -1"),
    ({"latencies": ()}, r"latencies must list at least one latency"),
    ({"latencies": 3}, r"latencies must be a tuple of integers, got 3"),
    ({"router": "router3"}, r"router must be one of router1, router2 \(or None\), got 'router3'"),
    ({"freq_mhz": 0}, r"freq_mhz must be a number in \(0, 1000\] \(or None\), got 0"),
    ({"freq_mhz": "16"}, r"freq_mhz must be a number in \(0, 1000\] \(or None\), got '16'"),
    ({"nextpnr_args": "--seed 2"}, r"nextpnr_args must be a tuple of strings, got '--seed 2'"),
    ({"nextpnr_args": ("--placer-heap-beta", 0.7)}, r"nextpnr_args must be a tuple of strings"),
    ({"spread_brams": 1}, r"spread_brams must be True or False, got 1"),
    ({"spread_brams": True}, r"spread_brams needs targets=\('ecp5',\)"),
    ({"spread_brams": True, "targets": ("ice40",)}, r"spread_brams needs targets=\('ecp5',\)"),
])
def test_synth_item_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthItem("fma_bf16", **kwargs)


def test_synth_item_invalid_component():
    with pytest.raises(ValueError, match=r"component must be a non-empty string"):
        SynthItem("")
    with pytest.raises(ValueError, match=r"items must be SynthItem instances"):
        plan(["fma_bf16"])


def test_cli_list_item_targets(capsys):
    """--list shows the per-item targets/seeds; --target/--seeds override them."""
    assert main(["--component", "tensor_4x4x3", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [l.split()[:3] for l in out] == [["ecp5/tensor_4x4x3/configured", "seeds", "1"],
                                             ["ecp5/tensor_4x4x3/harness", "seeds", "1"]]
    assert main(["--component", "fma_bf16", "--latency", "3", "--target", "ecp5", "--seeds",
                 "2", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [l.split()[:3] for l in out] == [["ecp5/fma_bf16/L3", "seeds", "2"],
                                             ["ecp5/fma_bf16/harness", "seeds", "2"]]


@pytest.mark.parametrize("kwargs,message", [
    ({"items": [SynthItem("nope")]}, r"unknown component 'nope'; components: add_bf16"),
    ({"targets": ("xilinx",)}, r"unknown target 'xilinx'; targets: ice40, ecp5"),
    ({"seeds": ()}, r"seeds must list at least one"),
    ({"seeds": (-1,)}, r"seed must be an integer >= 0"),
    ({"targets": ()}, r"targets must list at least one target"),
    ({"latencies": (17,)}, r"latency must be an integer in \[0, 16\]"),
    ({"config": "huge"}, r"unknown configuration 'huge'"),
])
def test_plan_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan(**kwargs)


def test_cli_invalid(capsys):
    assert main(["--component", "nope", "--list"]) == 2
    assert "unknown component 'nope'" in capsys.readouterr().err


def _fake(component, latency, target, luts, ffs, fmax):
    return {"component": component, "latency": latency, "target": target, "device": "d",
            "clock_target_mhz": 48, "luts": luts, "ffs": ffs, "dsps": 1 if latency != "harness"
            else 0, "brams": 0, "fmax_best_mhz": fmax, "fmax_median_mhz": fmax,
            "seeds": {"1": {"fmax_mhz": fmax}}, "critical_path": ["align0_1", "normal2_0"],
            "utilisation": {}, "yosys_s": 1.0, "nextpnr_s": 2.0,
            "harness": {"in_bits": 68, "out_bits": 34, "flip_flops": 136}}


def test_report_subtracts_harness(tmp_path):
    results = [_fake("fma_fp32", 3, "ice40", 2000, 500, 16.1),
               _fake("fma_fp32", 0, "ice40", 1900, 140, 9.5),
               _fake("fma_fp32", "harness", "ice40", 35, 136, 300.0)]
    rows = summarise(results)
    assert [r["latency"] for r in rows] == [0, 3]
    assert rows[1]["luts"] == 2000 - 35 and rows[1]["ffs"] == 500 - 136
    assert rows[1]["total_with_harness"]["luts"] == 2000
    assert rows[1]["harness"]["luts"] == 35
    write_report(rows, results, {"ecp5/x/L1": "nextpnr failed\nERROR: too big"}, docs=tmp_path,
                 seeds=(1,), jobs=1, elapsed=12.0, config="default")
    md = (tmp_path / "synth.md").read_text()
    assert "| fma_fp32 | 3 | ice40 | 1965 | 364 | 1 | 0 | 16.1 | 16.1 | align0_1 -> normal2_0 " \
           "| 35 / 136 |" in md
    assert "failed: ERROR: too big" in md
    assert "| harness LUTs / FFs | seeds | Yosys + nextpnr (min) |" in md
    assert "| 35 / 136 | 1 | 0.1 |" in md                 # seed 1, 3 s of tool time
    assert "- `fma_fp32`: fused a*b+c, bf16 operands, fp32 accumulator" in md
    data_ = json.loads((tmp_path / "synth.json").read_text())
    assert data_["rows"][0]["component"] == "fma_fp32" and data_["failures"]


def test_overfull_names_the_resources(tmp_path):
    """A design larger than the device is reported with the over-used resources."""
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: Device utilisation:\n"
                   "Info: \t          MULT18X18D:     183/    156   117%\n"
                   "Info: \t        TRELLIS_COMB:   63123/  83640    75%\n"
                   "ERROR: Unable to place cell 'dut.x', no BELs remaining to implement cell "
                   "type 'MULT18X18D'\n")
    assert overused_resources(log) == "MULT18X18D 183/156"
    log.write_text("ERROR: something else\n")
    assert overused_resources(log) == ""


def test_synth_item_variant():
    """A variant: constructor overrides under its own name (rows, folders, CLI)."""
    item = SynthItem("fma_bf16", latencies=(2,), targets=("ecp5",), params={"latency": 2},
                     name="fma_bf16_variant")
    assert item.params == (("latency", 2),) and item.label == "fma_bf16_variant"
    units = plan([item])
    assert {u.component for u in units} == {"fma_bf16_variant"}
    assert all("fma_bf16_variant" in str(u.out) for u in units)
    built = units[0].factory()
    built._MustUse__silence = True
    assert built.latency == 2
    with pytest.raises(ValueError, match="name must be given for a variant"):
        SynthItem("fma_bf16", params={"latency": 1})
    with pytest.raises(ValueError, match="name must be a lower-case identifier"):
        SynthItem("fma_bf16", params={"latency": 1}, name="Bad name")
    with pytest.raises(ValueError, match="params must be a dict"):
        SynthItem("fma_bf16", params=[1, 2], name="x")


def test_partial_run_keeps_earlier_rows(tmp_path):
    """--component X replaces X's rows and keeps the other components' rows and harness runs."""
    def row(component, latency="configured", target="ecp5"):
        return {"component": component, "latency": latency, "target": target}
    old = {"rows": [row("fma_bf16", 2), row("tensor_4x4x3")],
           "harness_runs": [row("fma_bf16", "harness"), row("tensor_4x4x3", "harness")]}
    path = tmp_path / "synth.json"
    path.write_text(json.dumps(old))
    kept, harness = earlier_rows(path, [row("tensor_4x4x3")],
                                 [row("tensor_4x4x3"), row("tensor_4x4x3", "harness")])
    assert [r["component"] for r in kept] == ["fma_bf16"] and kept[0]["earlier_run"]
    assert [h["component"] for h in harness] == ["fma_bf16"]
    # a new sweep of fma_bf16 on ecp5 drops its latency 2 there, which the sweep no longer has
    kept, harness = earlier_rows(path, [row("fma_bf16", 3)], [row("fma_bf16", 3)])
    assert [r["component"] for r in kept] == ["tensor_4x4x3"]
    assert earlier_rows(tmp_path / "missing.json", [], []) == ([], [])
    # Kept and new rows are reported in one order (target, component, latency), whichever
    # run made them.
    mixed = [row("tensor_4x4x3"), row("fma_bf16", 3, "ice40"), row("cluster"), row("fma_bf16", 2),
             row("fma_bf16", None)]
    assert [(r["target"], r["component"], r["latency"]) for r in sorted(mixed, key=row_order)] \
        == [("ice40", "fma_bf16", 3), ("ecp5", "cluster", "configured"),
            ("ecp5", "fma_bf16", None), ("ecp5", "fma_bf16", 2),
            ("ecp5", "tensor_4x4x3", "configured")]


def test_item_from_another_configuration():
    """SynthItem.config takes the component from that configuration's catalogue (the default
    list's tiny cluster), needs a name, and names the configurations when unknown."""
    units = {u.label: u for u in plan()}
    tiny = units["ecp5/cluster_tiny_lut_b/configured"].factory()
    default = units["ecp5/cluster/configured"].factory()
    large = units["ecp5/cluster_large/configured"].factory()
    pick = lambda c: (c.params["cores"], c.params["banks"], c.params["softex"]["engine"],
                      c.params["softex"]["lanes"],
                      tuple(c.params["tensor"][k] for k in ("rows", "cols", "pipes")))
    assert pick(tiny) == (1, 4, "lut_b", 4, (2, 2, 1))
    assert pick(default) == (2, 16, "expp", 4, (2, 2, 3))
    assert pick(large) == (2, 16, "expp", 8, (4, 4, 3))
    with pytest.raises(ValueError, match="name must be given"):
        SynthItem("cluster", config="tiny")
    with pytest.raises(ValueError, match="unknown configuration 'huge'; configurations: tiny"):
        SynthItem("cluster", config="huge", name="cluster_huge")


def test_describe_rows():
    """synth.md says what every row is: the catalogue's description, the variant's
    configuration and its constructor overrides ("-" for a name no catalogue has)."""
    assert describe("cluster_tiny_lut_b") == (
        "cluster: 1 core, 16 KiB scratchpad in 4 banks, SoftEx (expp, 4 lanes, expp latency 2) "
        "and tensor unit (2x2x1) (configuration `tiny`); overridden: `softex={'engine': 'lut_b'}`")
    assert describe("softex_softmax_nogelu_x8").endswith("; overridden: `gelu=False`")
    assert describe("tensor_4x4x3") == ("tensor unit, 4x4x3 BF16 array, fp32 accumulation "
                                        "(configuration `large`)")
    assert describe("no_such_block") == "-"
    assert describe("cluster_lut_b_2x4x3").endswith(
        "; block RAMs fixed to evenly spaced sites (`flows.synth.placement`)")


def test_critical_path_names_are_readable():
    """Register names come from the cells; a generated one (``$``) is replaced by the nearest
    logic the path goes through, and the harness's input ports read as such."""
    from flows.synth.reports import fmax_and_path

    def seg(kind, cell):
        return {"type": kind, "from": {"cell": cell}, "to": {"cell": cell}, "delay": 0.1}

    path = [seg("clk-to-q", "dut.$auto$ff.cc:266$1_TRELLIS_FF_Q"),
            seg("logic", "dut.prod_MULT18X18D_P9_A7_LUT4_Z"),
            seg("logic", "dut.$abc$123_LUT4_Z"),
            seg("logic", "dut.top_exp_CCU2C_S0"),
            seg("setup", "dut.$auto$ff.cc:266$2_TRELLIS_FF_Q")]
    report = {"fmax": {"clk": {"achieved": 80.0}},
              "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": path}]}
    assert fmax_and_path(report) == (80.0, ["near prod", "near top_exp"])
    path[0] = seg("clk-to-q", "dut.port$1210$0_TRELLIS_FF_Q_11")
    path[-1] = seg("setup", "dut.exp0_2_TRELLIS_FF_Q_3")
    assert fmax_and_path(report) == (80.0, ["harness in", "exp0_2"])
