"""Generic cocotb regression of the arithmetic operators (hw/fp) against the golden models.

ONE test, driven by parameters (``sim.regressions`` builds them; ``load_params``):

- ``op``: add | mul | fma | compare | convert | scale | int_to_float | float_to_int, with its formats
  ``fmt`` / ``acc_fmt`` + ``mul_fmt`` / ``src_fmt`` + ``dst_fmt`` / ``width``;
- ``operand_layout`` / ``result_layout``: the component's layouts (``sim.tb.layout.layout_to_json``);
- ``random`` (random cases), ``corners`` (every pair / triple of corner values, for fma with
  every neg flag combination unless ``corner_neg`` = "rotate"), ``seed``;
- stalls: the first ``stress`` cases run with ``stress_gap`` / ``stress_stall``, the rest
  with ``gap`` / ``stall`` (probabilities of an input valid gap / an output ready stall);
- ``chunk``: cases per batch (bounds memory; the golden model runs per batch);
- ``run_id``: echoed in the result file;
- ``lanes_per_beat``: cases per beat (the DUT is ``hw.lanes.Lanes``, copies of the operator
  side by side; lane k of a beat is case k of its group). The last beat is padded with
  copies of its group's first case, whose extra results are dropped. ``stress`` counts beats.

Operand sets: unary ops are exhaustive where 16-bit inputs allow it (bf16 -> fp32: all 65,536
inputs; float_to_int: all 65,536 inputs x every int_bits code x both signednesses; scale: all
65,536 bf16 inputs x the exponents at the range edges, plus random (x, e);
int_to_float: every (q, int_bits, signed)); fp32 -> bf16 takes random and corner inputs plus
every bf16 pattern with the rounding-critical low halves; binary / ternary ops take random
cases from ``sim.golden.vectors`` plus every corner combination. Cases are shuffled (seeded),
pushed through the DUT under random stalls, and every result must equal the golden model bit
for bit. The first mismatches are logged with their operands in hex, and ``fp_result.json``
(cases, mismatches, cycles, ...) is written to the run folder, also when the test fails.
"""

import json
import time

import cocotb
import numpy as np

from hw.fp.format import float_format
from sim.golden import fp as G
from sim.golden import vectors as V
from sim.tb.clock import Ticker
from sim.tb.layout import layout_from_json, pack_lanes, split_lanes, unpack_array
from sim.tb.params import load_params
from sim.tb.stream import StreamDriver, StreamSink

RESULT_FILE = "fp_result.json"


def _fmt(name):
    return float_format(name)


def _bits_for(n):
    return int(n).bit_length()


def _concat(parts):
    """{name: array} dicts -> one dict of concatenated columns (as int64)."""
    keys = parts[0].keys()
    return {k: np.concatenate([np.asarray(p[k]).astype(np.int64) for p in parts]) for k in keys}


def _pair_corners(fmt):
    a, b = V.corner_pairs(fmt)
    return {"a": a, "b": b}


def build_cases(p, rng):
    """(operand columns, golden(columns) -> expected, {kind: count}) for the op in ``p``."""
    op = p["op"]
    n = int(p.get("random", 200_000))
    corners = bool(p.get("corners", True))
    parts, kinds = [], {}

    def add_part(kind, cols):
        size = len(next(iter(cols.values())))
        if size:
            parts.append(cols)
            kinds[kind] = kinds.get(kind, 0) + size

    if op == "add":
        fmt = _fmt(p["fmt"])
        if n:
            a, b, sub = V.add_operands(rng, n, fmt)
            add_part("random", {"a": a, "b": b, "sub": sub})
        if corners:
            c = _pair_corners(fmt)
            for sub in (0, 1):
                add_part("corner", {**c, "sub": np.full(len(c["a"]), sub)})

        def golden(c):
            return G.add(c["a"], c["b"], fmt, c["sub"])
    elif op == "mul":
        fmt = _fmt(p["fmt"])
        if n:
            a, b = V.mul_operands(rng, n, fmt)
            add_part("random", {"a": a, "b": b})
        if corners:
            add_part("corner", _pair_corners(fmt))

        def golden(c):
            return G.mul(c["a"], c["b"], fmt)
    elif op == "fma":
        mf, af = _fmt(p.get("mul_fmt", "bf16")), _fmt(p["acc_fmt"])
        if n:
            a, b, c, nab, nc = V.fma_operands(rng, n, mf, af)
            add_part("random", {"a": a, "b": b, "c": c, "neg_ab": nab, "neg_c": nc})
        if corners:
            a, b, c = V.corner_triples(mf, af)
            if p.get("corner_neg", "all") == "all":
                for nab in (0, 1):
                    for nc in (0, 1):
                        add_part("corner", {"a": a, "b": b, "c": c, "neg_ab": np.full(len(a), nab),
                                            "neg_c": np.full(len(a), nc)})
            else:  # every triple once, the neg flags rotating through their 4 combinations
                k = np.arange(len(a))
                add_part("corner", {"a": a, "b": b, "c": c, "neg_ab": k & 1, "neg_c": (k >> 1) & 1})

        def golden(c):
            return G.fma(c["a"], c["b"], c["c"], mf, af, c["neg_ab"], c["neg_c"])
    elif op == "compare":
        fmt = _fmt(p["fmt"])
        if n:
            a, b = V.random_pairs(rng, n, fmt)
            add_part("random", {"a": a, "b": b})
        if corners:
            add_part("corner", _pair_corners(fmt))

        def golden(c):
            return G.compare(c["a"], c["b"], fmt)
    elif op == "convert":
        sf, df = _fmt(p["src_fmt"]), _fmt(p["dst_fmt"])
        if sf.width <= 16 and p.get("exhaustive", True):
            add_part("exhaustive", {"x": np.arange(1 << sf.width)})
        else:
            if n:
                add_part("random", {"x": V.convert_operands(rng, n, sf, df)})
            if corners:
                add_part("corner", {"x": np.array(V.corner_values(sf), dtype=np.int64)})
            if sf.width == 32 and df.width == 16 and p.get("bf16_grid", True):
                # every bf16 pattern with the low halves that decide rounding
                hi = np.arange(1 << 16, dtype=np.int64) << 16
                for low in (0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF):
                    add_part("grid", {"x": hi | low})

        def golden(c):
            return G.convert(c["x"], sf, df)
    elif op == "scale":
        fmt = _fmt(p.get("fmt", "bf16"))
        e_bits = int(p.get("exp_width", 8))
        lo, hi = -(1 << (e_bits - 1)), (1 << (e_bits - 1)) - 1
        edges = [e for e in (lo, lo + 1, -fmt.bias - fmt.precision, -fmt.bias, -fmt.precision - 1,
                             -fmt.precision, -2, -1, 0, 1, 2, fmt.precision, fmt.bias, hi - 1, hi)
                 if lo <= e <= hi]
        if fmt.width <= 16:
            x, e = np.meshgrid(np.arange(1 << fmt.width), sorted(set(edges)), indexing="ij")
            add_part("exhaustive", {"x": x.ravel(), "e": e.ravel()})
        if n:
            add_part("random", {"x": V.random_bits(rng, n, fmt), "e": rng.integers(lo, hi + 1, n)})

        def golden(c):
            return G.scale(c["x"], c["e"], fmt)
    elif op in ("int_to_float", "float_to_int"):
        width = int(p.get("width", 8))
        fmt = _fmt(p.get("fmt", "bf16"))
        codes = np.arange(1 << _bits_for(width))
        if op == "int_to_float":
            q, ib, sg = np.meshgrid(np.arange(1 << width), codes, (0, 1), indexing="ij")
            add_part("exhaustive", {"q": q.ravel(), "int_bits": ib.ravel(), "signed": sg.ravel()})

            def golden(c):
                return G.int_to_float(c["q"], width, c["int_bits"], c["signed"], fmt)
        else:
            if fmt.width <= 16:
                x, ib, sg = np.meshgrid(np.arange(1 << fmt.width), codes, (0, 1), indexing="ij")
                add_part("exhaustive", {"x": x.ravel(), "int_bits": ib.ravel(), "signed": sg.ravel()})
            else:
                x = np.concatenate([V.random_bits(rng, n, fmt), np.array(V.corner_values(fmt))])
                add_part("random", {"x": x, "int_bits": rng.integers(0, len(codes), len(x)),
                                    "signed": rng.integers(0, 2, len(x))})

            def golden(c):
                return G.float_to_int(c["x"], width, c["int_bits"], c["signed"], fmt)
    else:
        raise ValueError(f"unknown op {op!r}")
    cols = _concat(parts)
    return cols, golden, kinds


def _hex_cols(cols, i):
    return ", ".join(f"{k}={int(v[i]):#x}" for k, v in cols.items())


def _compare(got, expected):
    """Boolean mismatch mask of unpacked results against the golden model's output."""
    if isinstance(expected, dict):
        bad = np.zeros(len(next(iter(expected.values()))), dtype=bool)
        for k, e in expected.items():
            bad |= got[k].astype(np.int64) != np.asarray(e).astype(np.int64)
        return bad
    return got.astype(np.int64) != np.asarray(expected).astype(np.int64)


def _fmt_result(res, i):
    if isinstance(res, dict):
        return "{" + ", ".join(f"{k}={int(v[i]):#x}" for k, v in res.items()) + "}"
    return f"{int(res[i]):#x}"


@cocotb.test()
async def fp_regression(dut):
    p = load_params()
    seed = int(p.get("seed", 1))
    rng = np.random.default_rng(seed)
    operand_layout = layout_from_json(p["operand_layout"])
    result_layout = layout_from_json(p["result_layout"])
    result_depth = 1 if "fields" in p["result_layout"] and p["op"] == "compare" else 0
    label = p.get("name", p["op"])

    t_start = time.perf_counter()
    cols, golden, kinds = build_cases(p, rng)
    total = len(next(iter(cols.values())))
    perm = rng.permutation(total)
    cols = {k: v[perm] for k, v in cols.items()}
    dut._log.info("%s: %d cases (%s), latency %s", label, total,
                  ", ".join(f"{k} {v}" for k, v in kinds.items()), p.get("latency", "?"))

    summary = {"name": label, "op": p["op"], "run_id": p.get("run_id"), "cases": 0,
               "planned_cases": total, "kinds": kinds, "mismatches": 0, "cycles": 0,
               "first_mismatches": [], "complete": False}
    ticker = await Ticker(dut).start()
    drv = StreamDriver(dut, "i", seed=seed + 1)
    sink = StreamSink(dut, "o", seed=seed + 2)
    lanes = int(p.get("lanes_per_beat", 1))
    stress = min(int(p.get("stress", 20_000)) * lanes, total)
    chunk = int(p.get("chunk", 1 << 17))
    bounds = [0] + ([stress] if stress else []) + list(range(stress + chunk, total, chunk)) + [total]
    bounds = sorted(set(bounds))
    sim_seconds = 0.0
    try:
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            heavy = lo < stress
            drv.gap = float(p.get("stress_gap", 0.3) if heavy else p.get("gap", 0.05))
            sink.stall = float(p.get("stress_stall", 0.5) if heavy else p.get("stall", 0.05))
            part = {k: v[lo:hi] for k, v in cols.items()}
            drv.replace(pack_lanes(operand_layout, part, lanes))
            sink.take(count=-(-(hi - lo) // lanes))
            t0 = time.perf_counter()
            summary["cycles"] += await ticker.run(drv, sink)
            sim_seconds += time.perf_counter() - t0
            got = unpack_array(result_layout,
                               split_lanes(result_layout, sink.take(count=0), lanes, hi - lo),
                               depth=result_depth)
            expected = golden(part)
            bad = np.flatnonzero(_compare(got, expected))
            summary["cases"] += hi - lo
            summary["mismatches"] += len(bad)
            for i in bad[: max(0, 10 - len(summary["first_mismatches"]))]:
                text = (f"{_hex_cols(part, i)}: got {_fmt_result(got, i)} "
                        f"expected {_fmt_result(expected, i)}")
                summary["first_mismatches"].append(text)
                dut._log.error("%s mismatch: %s", label, text)
        # Nothing may come out beyond one result per case.
        sink.count = None
        drain = [0]

        def drained():
            drain[0] += 1
            return drain[0] >= 16 + int(p.get("latency") or 0)
        summary["cycles"] += await ticker.run(sink, until=drained)
        extra = sink.take()
        assert not extra, f"{label}: {len(extra)} results beyond the {total} cases, e.g. {extra[0]:#x}"
        summary["complete"] = True
    finally:
        summary["seconds"] = time.perf_counter() - t_start
        summary["sim_seconds"] = sim_seconds
        summary["transfers_per_s"] = summary["cases"] / sim_seconds if sim_seconds else 0.0
        with open(RESULT_FILE, "w") as f:
            json.dump(summary, f, indent=1)
    dut._log.info("%s: %d cases, %d mismatches, %d cycles, %.1f s (%.0f cases/s through the DUT)",
                  label, summary["cases"], summary["mismatches"], summary["cycles"],
                  summary["seconds"], summary["transfers_per_s"])
    assert summary["mismatches"] == 0, (
        f"{label}: {summary['mismatches']} of {summary['cases']} results differ from the golden "
        "model; first: " + "; ".join(summary["first_mismatches"][:5]))
    assert sink.stall_cycles > 0 or total < 100, "no output stall was exercised"
