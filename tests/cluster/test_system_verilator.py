# amaranth: UnusedElaboratable=no
"""The accelerated cluster (hw.cluster.system.AcceleratedCluster: cores + SoftEx + tensor unit)
under Verilator, running offload firmware end to end: every accelerator output read back from
the scratchpad and compared bit for bit with the golden models; the software softmax compared
bit for bit with its Python model and with float64 within its stated bound; misprogrammed jobs
seen by the firmware with their error causes.

One Verilator build for every test: the tiny configuration (SoftEx 4 lanes, tensor 2 x 2 x 1,
16 KiB scratchpad in 4 banks) with 2 cores, so that the multi-core program runs too. Cycle
counts are printed (pytest -s) and kept in build/system_tests.json."""

import json
import re

import numpy as np
import pytest

from sim.offload import (ALIGN, SW_REL_BOUND, build_app, gemm_inputs, padded, run_program,
                         softex_softmax_mismatches, softmax_inputs, stride_for, sw_softmax,
                         system_sim)

CONFIG, OVERRIDES = "tiny", dict(cores=2)
_CYCLES = {}


def _sim():
    return system_sim(CONFIG, **OVERRIDES)


def _record(key, value):
    from flows.toolchain import BUILD
    _CYCLES[key] = value
    path = BUILD / "system_tests.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(_CYCLES)
    path.write_text(json.dumps(old, indent=1))
    print(f"{key}: {value}")


def _symbols(elf):
    from flows.elf import load_elf
    return load_elf(elf).symbols


def test_header_numbers_come_from_the_table():
    from flows.regmaps import system_header as c_header
    from hw.cluster.system import ACCELERATORS
    from flows.firmware import generated_headers
    text = generated_headers()["system.h"]
    assert text == c_header()
    for a in ACCELERATORS:
        n = a.name.upper()
        assert f"#define SYS_{n}_SLOT  {a.slot}\n" in text
        assert f"#define SYS_{n}_BASE  0x{0x2000_1000 + 0x1000 * a.slot:08X}u\n" in text
        assert f"#define SYS_{n}_EVENT {a.event}\n" in text
    assert f"#define SYS_BUF_ALIGN {ALIGN}\n" in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(events=1), r"events must be an integer in \[2, 32\], got 1"),
    (dict(tensor={"depth": 4}), r"tensor takes the keys rows, cols, pipes, acc; got depth"),
    (dict(tensor={"acc": "fp16"}), r"acc must be one of"),
    (dict(softex={"lanes": 3}), r"lanes must be one of"),
    (dict(softex={"expp_latency": 7}), r"expp_latency must be an integer in \[0, 6\], got 7"),
    (dict(softex={"engine": "lut_c"}), r"engine must be one of 'expp', 'lut_a', 'lut_b'"),
    (dict(tensor={"cols": 3}), r"H \* \(P \+ 1\) must be a power of two"),
    (dict(scratchpad_kib=0), r"scratchpad_kib must be an integer in \[1, 1024\], got 0"),
])
def test_parameters_checked(kwargs, message):
    from hw.cluster.system import AcceleratedCluster
    with pytest.raises(ValueError, match=message):
        AcceleratedCluster(**{**dict(cores=1, scratchpad_kib=16, banks=4, imem_kib=8,
                                     softex={"lanes": 4},
                                     tensor={"rows": 2, "cols": 2, "pipes": 1}), **kwargs})


@pytest.mark.verilator
@pytest.mark.parametrize("job_rows", [1, 3, 4])      # a job per row; 3 + a 1-row leftover; one job
def test_softmax_offload_bit_exact(job_rows):
    sim, params = _sim()
    rows, n = 4, 99                          # packed rows of odd length: lane offsets 0, 3, 2, 1
    lanes = params["softex"]["lanes"]
    x = softmax_inputs(rows, n, seed=11)
    elf = build_app("softmax_offload.c", {"sx_in": x, "sx_out": x.size},
                    dict(ROWS=rows, N=n, JOB_ROWS=job_rows))
    r = run_program(sim, params, elf, {"sx_out": 2 * x.size})
    assert r["exit_code"] == 0, r
    bad, offsets = softex_softmax_mismatches(x, r.array("sx_out").reshape(rows, n),
                                             _symbols(elf)["sx_in"], lanes)
    assert not bad, f"rows differ from the golden model (row: first columns): {bad}"
    assert len(offsets) > 1
    cyc = int(re.search(r"cycles (\d+)", r["output"]).group(1))
    _record(f"softex_softmax_{rows}x{n}_jobs_of_{job_rows}_cycles", cyc)
    _record(f"sim_seconds_softmax_offload_jobs_of_{job_rows}", round(r["seconds"], 2))


@pytest.mark.verilator
def test_gemm_offload_bit_exact():
    from hw.tensor.regmap import TensorOp
    from sim.golden.gemm import gemm
    sim, params = _sim()
    m, n, k = 6, 10, 12                  # leftovers in every dimension of the 2 x 2 x 1 array
    X, W, Y = gemm_inputs(m, n, k, seed=5)
    xs, ws, zs = stride_for(k), stride_for(n), stride_for(n)
    zwords = m * zs // 2
    elf = build_app("gemm_offload.c",
                    {"gx": padded(X, xs), "gw": padded(W, ws), "gy": padded(Y, zs),
                     "gz": zwords, "gz2": zwords},
                    dict(GM=m, GN=n, GK=k, GXS=xs, GWS=ws, GZS=zs))
    r = run_program(sim, params, elf, {"gz": 2 * zwords, "gz2": 2 * zwords})
    assert r["exit_code"] == 0, r
    assert np.array_equal(r.array("gz"), padded(gemm(X, W, op=TensorOp.MATMUL), zs))
    assert np.array_equal(r.array("gz2"), padded(gemm(X, W, Y, op=TensorOp.GEMM), zs))
    _record(f"tensor_matmul_gemm_{m}x{n}x{k}_cycles",
            int(re.search(r" cycles (\d+)", r["output"]).group(1)))


def _sw_run(sim, params, x, cores):
    rows, n = x.shape
    elf = build_app("softmax_sw.c", {"sx_in": x, "sw_out": x.size},
                    dict(ROWS=rows, N=n, USE_CORES=cores), sw_lib=True)
    r = run_program(sim, params, elf, {"sw_out": 2 * x.size})
    assert r["exit_code"] == 0, r
    return r.array("sw_out").reshape(rows, n), int(re.search(r"cycles (\d+)", r["output"]).group(1))


@pytest.mark.verilator
def test_software_softmax_one_and_all_cores():
    # The software softmax touches no accelerator: it runs on the plain 2-core cluster of
    # test_cluster_verilator.py (a model ~50x faster than the one with the accelerators), and a
    # small case shows the accelerated cluster gives the same outputs in the same cycles.
    from sim.golden.softmax import bf16_to_float, reference

    from .test_cluster_verilator import CFG, _sim as plain_sim
    plain = plain_sim()
    rows, n = 4, 40
    x = softmax_inputs(rows, n, seed=12)
    want = np.stack([sw_softmax(row) for row in x])
    ref = np.stack([reference(row) for row in x])
    y = bf16_to_float(want)
    assert np.all(np.abs(y - ref) <= SW_REL_BOUND * ref + 2.0 ** -126)
    cycles = {}
    for cores in (1, CFG["cores"]):
        got, cycles[cores] = _sw_run(plain, CFG, x, cores)
        assert np.array_equal(got, want)
        _record(f"software_softmax_{rows}x{n}_{cores}core_cycles", cycles[cores])
    assert cycles[CFG["cores"]] < 0.6 * cycles[1]

    sim, params = _sim()
    assert params["cores"] == CFG["cores"]
    xs = x[:2, :12]
    got_acc, c_acc = _sw_run(sim, params, xs, 0)
    got_plain, c_plain = _sw_run(plain, CFG, xs, 0)
    assert np.array_equal(got_acc, np.stack([sw_softmax(row) for row in xs]))
    assert np.array_equal(got_acc, got_plain) and c_acc == c_plain, (c_acc, c_plain)


@pytest.mark.verilator
def test_misprogrammed_jobs_report_causes():
    from hw.softex.regmap import softex_map
    from hw.tensor.regmap import tensor_map
    from flows.firmware import FIRMWARE, build
    sim, params = _sim()
    elf = build([FIRMWARE / "apps" / "offload_errors.c"])
    r = run_program(sim, params, elf, {})
    causes = {f"{u} {c}": int(v) for u, c, v in re.findall(r"(\w+) (\w+) cause (\d+)", r["output"])}
    sx = {c.name: c.code for c in softex_map().error_causes}
    tu = {c.name: c.code for c in tensor_map().error_causes}
    assert causes == {"softex zero_length": sx["BAD_LENGTH"], "softex odd_pointer": sx["BAD_ALIGN"],
                      "softex outside_spm": sx["BAD_ADDR"], "tensor zero_k": tu["BAD_DIM"],
                      "tensor misaligned_x": tu["BAD_ALIGN"], "softex good": 0}, r["output"]
    assert r["exit_code"] == 0, r
