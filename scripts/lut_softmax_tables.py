"""Table generator and optimiser of the two LUT softmax methods; writes ``hw/softex/lut_tables.py``.

    python -m scripts.lut_softmax_tables              # search, write the tables module
    python -m scripts.lut_softmax_tables --dry-run    # search and print only

Datapath and table layout: ``sim/golden/lut_softmax.py`` (the specification) and
``docs/lut_softmax.md``. The free parameters and how each table follows from them:

* method A: F (fraction bits of z = max - x), E (LUT1 width), c (row bits of D), G (LUT2
  fraction bits, E + G in {8, 16}: whole bytes).
  LUT1[k] = round((2^E - 1) e^(-k / 2^F)) for k = 0 .. while non-zero (the depth is the first k
  whose entry rounds to 0: beyond it the look-up gives 0);
  LUT2[r][e - 1] = round(e * 2^G / (1 + (r + 1/2) / 2^c)), r < 2^c, e = 1 .. 2^E - 1.
* method B: F, B (REXP width), c (COMP index bits), W (COMP width), B, W in {8, 16}.
  REXP[k] = round((2^B - 1) e^(-k / 2^F)) while non-zero; COMP[r] = round(2^W / (1 + (r + 1/2)
  / 2^c)), r < 2^c.

round() is half up on the float64 value (no value of these tables lies within 1e-6 of a tie,
checked at generation). Bytes are counted as entries times whole bytes per entry (ceil(width /
8)): what a byte-wide ROM holds.

The search evaluates every candidate of each method with the bit-exact golden model on
representative rows (seeded: random normal of scales 1, 2, 4; peaked; long n = 1024 / 2048;
masked) and scores it by the mean over the row classes of the mean L1 distance (sum of
absolute errors of the Q0.8 outputs against the float64 softmax of the BF16 row) plus the
maximum absolute error of the class (so that a coarse reciprocal cannot hide behind the many
tiny probabilities of long rows). The pair
(A, B) with the smallest sum of scores whose total table bytes are <= BUDGET is written.
"""

import argparse
import itertools
import math
import pathlib
import sys

import numpy as np
from rich.progress import track

from sim.golden import lut_softmax as L
from sim.golden.softmax import float_to_bf16, reference

BUDGET = 700
SEED = 20260505
OUT = pathlib.Path(__file__).resolve().parent.parent / "hw" / "softex" / "lut_tables.py"

A_SPACE = {"frac_bits": (2, 3, 4, 5), "e_bits": (3, 4, 5, 6, 7, 8), "row_bits": (0, 1, 2, 3, 4, 5),
           "entry_bytes": (1, 2)}
B_SPACE = {"frac_bits": (2, 3, 4, 5, 6), "u_bits": (8, 16), "comp_bits": (2, 3, 4, 5, 6, 7, 8),
           "comp_width": (8, 16)}


def _round(v):
    r = math.floor(v + 0.5)
    if abs(v - math.floor(v) - 0.5) < 1e-6:
        raise ValueError(f"table value {v!r} too close to a rounding tie")
    return int(r)


def _exp_table(width, frac_bits):
    top = (1 << width) - 1
    t = []
    k = 0
    while True:
        v = _round(top * math.exp(-k / (1 << frac_bits)))
        if v == 0:
            return tuple(t)
        t.append(v)
        k += 1


def build_a(frac_bits, e_bits, row_bits, entry_bytes):
    """Method A tables from its parameters (G = 8 * entry_bytes - E)."""
    G = 8 * entry_bytes - e_bits
    if G < 0:
        raise ValueError(f"e_bits must be <= 8 * entry_bytes, got {e_bits!r}")
    lut1 = _exp_table(e_bits, frac_bits)
    lut2 = tuple(tuple(_round(e * (1 << G) / (1 + (r + 0.5) / (1 << row_bits)))
                       for e in range(1, 1 << e_bits)) for r in range(1 << row_bits))
    return {"frac_bits": frac_bits, "e_bits": e_bits, "row_bits": row_bits, "lut2_frac": G,
            "lut1": lut1, "lut2": lut2}


def build_b(frac_bits, u_bits, comp_bits, comp_width):
    """Method B tables from its parameters."""
    rexp = _exp_table(u_bits, frac_bits)
    comp = tuple(_round((1 << comp_width) / (1 + (r + 0.5) / (1 << comp_bits)))
                 for r in range(1 << comp_bits))
    return {"frac_bits": frac_bits, "u_bits": u_bits, "comp_bits": comp_bits,
            "comp_width": comp_width, "rexp": rexp, "comp": comp}


def bytes_a(p):
    d = len(_exp_table(p["e_bits"], p["frac_bits"]))
    return d + (1 << p["row_bits"]) * ((1 << p["e_bits"]) - 1) * p["entry_bytes"]


def bytes_b(p):
    d = len(_exp_table(p["u_bits"], p["frac_bits"]))
    return d * p["u_bits"] // 8 + (1 << p["comp_bits"]) * p["comp_width"] // 8


# --------------------------------------------------------------------------------------------
# Representative rows
# --------------------------------------------------------------------------------------------

CLASSES = ("random", "peaked", "long", "masked")


def rows(seed=SEED, per_class=64, long_rows=16):
    """{class: [BF16 rows]}: deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = {c: [] for c in CLASSES}
    for i in range(per_class):
        n = int(rng.integers(8, 257))
        out["random"].append(float_to_bf16(rng.normal(0, (1, 2, 4)[i % 3], n)))
        n = int(rng.integers(8, 257))
        v = rng.normal(0, 1, n)
        v[rng.integers(n)] += rng.uniform(2, 8)
        out["peaked"].append(float_to_bf16(v))
        n = int(rng.integers(16, 257))
        v = rng.normal(0, 2, n)
        keep = rng.random(n) < rng.uniform(0.2, 0.8)
        keep[rng.integers(n)] = True
        x = float_to_bf16(v)
        x[~keep] = 0xFF80
        out["masked"].append(x)
    for i in range(long_rows):
        n = (1024, 2048)[i % 2]
        out["long"].append(float_to_bf16(rng.normal(0, (1, 3)[i % 2], n)))
    return out


def metrics(y8, p):
    """Per-row metrics of Q0.8 codes ``y8`` against the float64 softmax ``p``: L1 distance,
    mean and max absolute error, KL(p || q) with q = max(y8, 1/2) normalised, top-1 agreement
    (the exact argmax is among the maxima of y8)."""
    y = np.asarray(y8, np.float64) / 256.0
    err = np.abs(y - p)
    q = np.maximum(np.asarray(y8, np.float64), 0.5)
    q /= q.sum()
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] / q[nz])))
    top = bool(y[np.argmax(p)] == y.max())
    return {"l1": float(err.sum()), "mean": float(err.mean()), "max": float(err.max()),
            "kl": kl, "top1": top}


def _prep(row_sets, frac_values):
    """Reference probabilities and z arrays per fraction width (the front end is shared)."""
    prep = {}
    for cls, rs in row_sets.items():
        prep[cls] = []
        for x in rs:
            zs = {F: L.front_end(x, F)["z"] for F in frac_values}
            prep[cls].append((reference(x), zs))
    return prep


def _fast_a(t, z):
    e = L._lookup(t["lut1"], z)
    D = int(e.sum())
    p, k = L.lead_index(D, t["row_bits"])
    lut2 = np.asarray(t["lut2"][k], np.int64)
    v = np.where(e > 0, lut2[np.maximum(e - 1, 0)], 0)
    return np.minimum(L.rshr(v * 256, p + t["lut2_frac"]), 255)


def _fast_b(t, z):
    u = L._lookup(t["rexp"], z)
    S = int(u.sum())
    p, k = L.lead_index(S, t["comp_bits"])
    return np.minimum(L.rshr(u * int(t["comp"][k]), p + t["comp_width"] - 8), 255)


def score(tables, fast, prep):
    """Mean over the row classes of (mean L1 distance + maximum absolute error)."""
    per = []
    F = tables["frac_bits"]
    for cls in CLASSES:
        ms = [metrics(fast(tables, zs[F]), p) for p, zs in prep[cls]]
        per.append(np.mean([m["l1"] for m in ms]) + max(m["max"] for m in ms))
    return float(np.mean(per))


def candidates(space):
    keys = list(space)
    for vals in itertools.product(*(space[k] for k in keys)):
        yield dict(zip(keys, vals))


def search(budget=BUDGET, seed=SEED, progress=True):
    """Returns (params_a, params_b, scores) of the best pair under ``budget`` bytes."""
    it = (lambda xs, d: track(xs, description=d)) if progress else (lambda xs, d: xs)
    cand_a = [p for p in candidates(A_SPACE) if p["e_bits"] <= 8 * p["entry_bytes"]
              and not (p["entry_bytes"] == 2 and p["e_bits"] > 8)]
    cand_b = list(candidates(B_SPACE))
    min_b = min(bytes_b(p) for p in cand_b)
    min_a = min(bytes_a(p) for p in cand_a)
    cand_a = [p for p in cand_a if bytes_a(p) + min_b <= budget]
    cand_b = [p for p in cand_b if bytes_b(p) + min_a <= budget]
    prep = _prep(rows(seed), sorted(set(A_SPACE["frac_bits"]) | set(B_SPACE["frac_bits"])))
    sa = [(score(build_a(**p), _fast_a, prep), bytes_a(p), p)
          for p in it(cand_a, f"method A ({len(cand_a)} candidates)")]
    sb = [(score(build_b(**p), _fast_b, prep), bytes_b(p), p)
          for p in it(cand_b, f"method B ({len(cand_b)} candidates)")]
    best = None
    for a in sa:
        for b in sb:
            if a[1] + b[1] <= budget:
                key = (a[0] + b[0], a[1] + b[1])
                if best is None or key < best[0]:
                    best = (key, a, b)
    if best is None:
        raise ValueError(f"no pair of tables fits {budget} bytes")
    return best[1][2], best[2][2], {"a": best[1][0], "b": best[2][0], "n_a": len(sa),
                                    "n_b": len(sb), "sa": sa, "sb": sb}


# --------------------------------------------------------------------------------------------
# Emission
# --------------------------------------------------------------------------------------------

def _tuple(vals, per_line=16, indent=8):
    vals = list(vals)
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append(" " * indent + ", ".join(str(v) for v in vals[i:i + per_line]) + ",")
    return "(\n" + "\n".join(lines) + "\n" + " " * (indent - 4) + ")"


def emit(params_a, params_b):
    """Text of ``hw/softex/lut_tables.py`` for the chosen parameters."""
    a = build_a(**params_a)
    b = build_b(**params_b)
    a1, a2 = L.table_bytes_a(a)
    b1, b2 = L.table_bytes_b(b)
    if a1 + a2 != bytes_a(params_a) or b1 + b2 != bytes_b(params_b):
        raise AssertionError("byte count mismatch")
    lut2 = ",\n".join("        " + _tuple(r, indent=12) for r in a["lut2"])
    pa = ", ".join(f"{k}={v}" for k, v in params_a.items())
    pb = ", ".join(f"{k}={v}" for k, v in params_b.items())
    return f'''"""Tables of the two LUT softmax methods (sim/golden/lut_softmax.py, docs/lut_softmax.md).

GENERATED by scripts/lut_softmax_tables.py -- do not edit by hand. Reproduce with:

    python -m scripts.lut_softmax_tables

Search parameters: method A {pa}; method B {pb}.
Bytes are entries times whole bytes per entry (ceil(width / 8)).
"""

# Method A: e = LUT1[z] (E bits), D = sum e, k = c bits below D's leading one,
# y8 = sat255(rshr(LUT2[k][e - 1] * 256, p + G)).
A_FRAC_BITS = {a["frac_bits"]}
A_E_BITS = {a["e_bits"]}
A_ROW_BITS = {a["row_bits"]}
A_LUT2_FRAC = {a["lut2_frac"]}
A_LUT1 = {_tuple(a["lut1"], indent=4)}
A_LUT2 = (
{lut2},
)
A_LUT1_BYTES = {a1}
A_LUT2_BYTES = {a2}
A_BYTES = {a1 + a2}

# Method B: u = REXP[z] (B bits), S = sum u, k = c bits below S's leading one,
# y8 = sat255(rshr(u * COMP[k], p + W - 8)).
B_FRAC_BITS = {b["frac_bits"]}
B_U_BITS = {b["u_bits"]}
B_COMP_BITS = {b["comp_bits"]}
B_COMP_WIDTH = {b["comp_width"]}
B_REXP = {_tuple(b["rexp"], indent=4)}
B_COMP = {_tuple(b["comp"], indent=4)}
B_REXP_BYTES = {b1}
B_COMP_BYTES = {b2}
B_BYTES = {b1 + b2}

TOTAL_BYTES = {a1 + a2 + b1 + b2}

#: Parameters of the generator (scripts/lut_softmax_tables.py: build_a / build_b / emit).
PARAMS_A = {params_a!r}
PARAMS_B = {params_b!r}

METHOD_A = {{"frac_bits": A_FRAC_BITS, "e_bits": A_E_BITS, "row_bits": A_ROW_BITS,
            "lut2_frac": A_LUT2_FRAC, "lut1": A_LUT1, "lut2": A_LUT2}}
METHOD_B = {{"frac_bits": B_FRAC_BITS, "u_bits": B_U_BITS, "comp_bits": B_COMP_BITS,
            "comp_width": B_COMP_WIDTH, "rexp": B_REXP, "comp": B_COMP}}
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="search and print, do not write")
    ap.add_argument("--budget", type=int, default=BUDGET)
    args = ap.parse_args(argv)
    pa, pb, info = search(args.budget)
    text = emit(pa, pb)
    ns = {}
    exec(compile(text, str(OUT), "exec"), ns)
    print(f"method A: {pa}  score {info['a']:.5f}  bytes {ns['A_LUT1_BYTES']} + "
          f"{ns['A_LUT2_BYTES']} = {ns['A_BYTES']}  ({info['n_a']} candidates)")
    print(f"method B: {pb}  score {info['b']:.5f}  bytes {ns['B_REXP_BYTES']} + "
          f"{ns['B_COMP_BYTES']} = {ns['B_BYTES']}  ({info['n_b']} candidates)")
    print(f"total table bytes: {ns['TOTAL_BYTES']} (budget {args.budget})")
    for name, s in (("A", info["sa"]), ("B", info["sb"])):
        print(f"best method {name} candidates by score:")
        for sc, by, p in sorted(s, key=lambda t: (t[0], t[1]))[:5]:
            print(f"  {sc:.5f}  {by:4d} B  {p}")
    if not args.dry_run:
        OUT.write_text(text)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
