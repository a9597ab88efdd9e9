"""scripts/bench_sim.py without simulating: the page it renders from its results (every row with
its build time, cycles, median speed and runs; a failed row says so), the folder names of its
builds, and the committed docs/sim_speed.md is the rendering of the committed JSON."""

import json

from flows.docs import section
from scripts.bench_sim import DOC, JSON, _row, _slug, render

RESULTS = {
    "date": "2026-12-06",
    "machine": {"cpu": "x86_64", "cores": 2},
    "load": {"system": {"date": "2026-12-06 12:35", "before": [0.1, 0.2, 0.3],
                        "after": [0.4, 0.5, 0.6]}},
    "system": {"design": "default accelerated cluster, attention head 128 x 16",
               "emit_seconds": 24.2,
               "rows": [{"label": "compiled harness, -O3", "cycles": 159536,
                         "cycles_per_second": 258329.4, "runs": [223790, 258329, 266334],
                         "build_seconds": 34.4},
                        {"label": "Amaranth simulator", "cycles": 3000,
                         "cycles_per_second": 373.2, "runs": [373], "build_seconds": None,
                         "note": "first 3,000 cycles after the load"}]},
    "batch": [{"job": "tiny head", "per_second": {"1": 16.6, "2": 29.4}}],
}


def test_render_tables():
    text = render(RESULTS)
    assert "| compiled harness, -O3 | 34 | 159,536 | 258,329 | 223,790, 258,329, 266,334 |  |" in text
    assert "| Amaranth simulator | - | 3,000 | 373 | 373 | first 3,000 cycles after the load |" in text
    assert "| tiny head | 16.6 | 29.4 |" in text
    assert "- system: 2026-12-06 12:35, [0.1, 0.2, 0.3] -> [0.4, 0.5, 0.6]" in text
    assert "Verilog emission" in text and "24 s" in text


def test_failed_row_is_reported():
    def broken():
        raise RuntimeError("no compiler")
    row = _row("cocotb bench", broken)
    assert row["cycles_per_second"] is None and "RuntimeError: no compiler" in row["note"]
    text = render({**RESULTS, "system": {**RESULTS["system"], "rows": [row]}})
    assert "| cocotb bench | - | - | - |  | failed: RuntimeError: no compiler |" in text


def test_build_folder_names_have_no_spaces():
    assert _slug("cocotb bench, --public-flat-rw, -O0 (cocotb runner's recipe)") == \
        "cocotb_bench_public_flat_rw_O0_cocotb_runner_s_recipe"


def test_committed_page_renders_the_committed_results():
    page = section(DOC.read_text(), "sim speed")
    assert render(json.loads(JSON.read_text())).strip() in page
