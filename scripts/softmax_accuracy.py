"""Accuracy of the softmax engines on adversarial rows (issue 21): prints the per-class table of
``sim.softmax_accuracy`` and writes it into ``docs/softmax.md`` (section "Accuracy on
adversarial rows", the generated section ``softmax accuracy`` of :mod:`flows.docs`).

    python -m scripts.softmax_accuracy              # every class, long rows included (~4 min)
    python -m scripts.softmax_accuracy --quick      # without the long (slow) classes (~1 min)
    python -m scripts.softmax_accuracy --before --label "..."
                                                    # also freeze the table as the "before" page
    python -m scripts.softmax_accuracy --from-json docs/softmax_accuracy_before.json
                                                    # render a saved table, no measurement

``--before`` writes ``docs/softmax_accuracy_before.md`` (the page) and
``docs/softmax_accuracy_before.json`` (the table): taken on the golden model before the pass-1
rewrite, they stay as they are; a later run puts a before/after table of the expp engine into
docs/softmax.md while the golden model differs from the one recorded there (its Git blob id).
Every run also writes the table it measured to ``build/softmax_accuracy.json``.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows import docs
from sim import softmax_accuracy as A

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "softmax.md"
BEFORE_MD = ROOT / "docs" / "softmax_accuracy_before.md"
BEFORE_JSON = ROOT / "docs" / "softmax_accuracy_before.json"
LAST_JSON = ROOT / "build" / "softmax_accuracy.json"
GOLDEN = ROOT / "sim" / "golden" / "softmax.py"
#: The generated section of docs/softmax.md (flows.docs markers).
SECTION = "softmax accuracy"
COMMAND = "python -m scripts.softmax_accuracy"


def golden_blob(path=GOLDEN):
    """Git blob id of the golden model's file (what ``git hash-object`` prints), so that a
    table names the exact model it measured."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def measure(slow=True, shuffles=A.SHUFFLES, progress=True):
    """Measure the suite, every shuffle run (also for rows where no bound needs it).

    Parameters
    ----------
    slow : bool
        Include the long (slow) classes.
    shuffles : int
        Random orders per row.
    progress : bool
        Show a progress bar (rich).

    Returns
    -------
    dict
        meta (golden_blob, shuffles, slow, cases, seconds, command) and rows (the table of
        :func:`sim.softmax_accuracy.accuracy_table`).
    """
    selected = A.cases(slow)
    t0 = time.perf_counter()
    rows = []
    columns = (TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("softmax accuracy", total=len(selected))
        for case in selected:
            bar.update(task, description=case.id)
            rows.append(A.evaluate(case, shuffles, always_shuffle=True))
            bar.advance(task)
    meta = {"golden_blob": golden_blob(), "shuffles": shuffles, "slow": slow,
            "cases": len(rows), "seconds": round(time.perf_counter() - t0, 1),
            "command": COMMAND + ("" if slow else " --quick")}
    return {"meta": meta, "rows": rows}


def _e(v, bold=False):
    if v is None:
        return "-"
    s = "0" if v == 0 else f"{v:.2e}".replace("e-0", "e-").replace("e+0", "e+")
    return f"**{s}**" if bold else s


def _classes(rows):
    seen, out = set(), []
    for r in rows:
        if r["class"] not in seen:
            seen.add(r["class"])
            out.append(r)
    return out


def _cell(text):
    return str(text).replace("|", "\\|")


def class_table(rows):
    """Markdown: class, n at L = 8 (or its first lane count), jobs, description."""
    n8 = {r["class"]: r["n"] for r in rows if r["lanes"] == 8}
    lines = ["| class | n (L = 8) | jobs | row |", "|---|---:|---:|---|"]
    for r in _classes(rows):
        slow = " (slow)" if all(q["slow"] for q in rows if q["class"] == r["class"]) else ""
        lines.append(f"| {r['class']}{slow} | {n8.get(r['class'], r['n']):,} | "
                     f"{r['chunks'] or 1} | {_cell(r['description'])} |")
    return "\n".join(lines)


def expp_table(rows):
    """Markdown: one line per class and lane count, both expp modes side by side; a value that
    breaks its bound is bold."""
    by = {(r["class"], r["lanes"], r["engine"]): r for r in rows if r["kind"] == "expp"}
    keys = []
    for r in rows:
        if r["kind"] == "expp" and (r["class"], r["lanes"]) not in keys:
            keys.append((r["class"], r["lanes"]))
    head = ["class", "L", "n"]
    slow = {(r["class"], r["lanes"]) for r in rows if r["slow"]}
    for m in A.EXPP_MODES:
        head += [f"{m}: \\|sum - 1\\|", "max rel", "shuffled", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|" + "---:|" * 4 * len(A.EXPP_MODES)]
    for cls, lanes in keys:
        mark = " (slow)" if (cls, lanes) in slow else ""
        cells = [cls + mark, str(lanes), f"{by[(cls, lanes, A.EXPP_MODES[0])]['n']:,}"]
        for m in A.EXPP_MODES:
            r = by.get((cls, lanes, m))
            if r is None:
                cells += ["-"] * 4
                continue
            bad = {v["bound"] for v in A.check(r)}
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
            cells += [_e(r["sum_err"], "sum" in bad), _e(r["max_rel"], "order" in bad),
                      _e(r["shuffled_max_rel"]), f"**{ratio}**" if "order" in bad else ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def lut_table(rows):
    """Markdown: the LUT engines per class (errors reported; the bound is order independence)."""
    by = {(r["class"], r["engine"]): r for r in rows if r["kind"] == "lut"}
    names = [r["class"] for r in _classes([r for r in rows if r["kind"] == "lut"])]
    head = ["class", "n"]
    for e in A.LUT_ENGINES:
        head += [f"{e}: \\|sum - 1\\|", "max rel", "max abs"]
    head.append("order independent")
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * 3 * len(A.LUT_ENGINES)
             + "---|"]
    for cls in names:
        rs = [by[(cls, e)] for e in A.LUT_ENGINES if (cls, e) in by]
        cells = [cls, f"{rs[0]['n']:,}"]
        for r in rs:
            cells += [_e(r["sum_err"]), _e(r["max_rel"]), _e(r["max_abs"])]
        cells.append("yes" if all(r["order_independent"] for r in rs) else "**no**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def before_after_table(before, rows):
    """Markdown: the expp engine's errors before -> now, per class, lanes and mode."""
    old = {r["case"]: r for r in before["rows"]}
    lines = ["| class | L | mode | \\|sum - 1\\| before | now | max rel before | now | "
             "ratio before | now |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        o = old.get(r["case"])
        if r["kind"] != "expp" or o is None:
            continue
        ratio = lambda x: "-" if x["ratio"] is None else f"{x['ratio']:.2f}"   # noqa: E731
        lines.append(f"| {r['class']} | {r['lanes']} | {r['engine']} | {_e(o['sum_err'])} | "
                     f"{_e(r['sum_err'])} | {_e(o['max_rel'])} | {_e(r['max_rel'])} | "
                     f"{ratio(o)} | {ratio(r)} |")
    return "\n".join(lines)


def _summary(rows):
    bad = A.violations(rows)
    cases = {v["case"] for v in bad}
    expp = [r for r in rows if r["kind"] == "expp"]
    return (f"{len(cases)} of {len(expp)} expp cases break a bound ({len(bad)} violations); "
            f"LUT rows order independent: "
            f"{sum(bool(r['order_independent']) for r in rows if r['kind'] == 'lut')} of "
            f"{sum(r['kind'] == 'lut' for r in rows)}.")


def body(data, before=None):
    """The generated Markdown of the section (without the markers).

    Parameters
    ----------
    data : dict
        A table as :func:`measure` returns it (or its JSON).
    before : dict or None
        A saved table of the model before the rewrite: adds the before/after table while the
        golden model differs from it.

    Returns
    -------
    str
    """
    meta, rows = data["meta"], data["rows"]
    label = f" ({meta['label']})" if meta.get("label") else ""
    out = [
        f"<!-- generated by `{meta['command']}`; do not edit -->", "",
        f"Issue 21's adversarial rows on the golden models (bit-exact with the RTL): "
        f"`sim/softmax_accuracy.py` (row classes, metrics, bounds), "
        f"`tests/softex/test_softmax_accuracy.py` (fails on a broken bound; long rows marked "
        f"slow), `{COMMAND}` (this section, {meta['cases']} cases in {meta['seconds']:.0f} s). "
        f"Golden model `sim/golden/softmax.py` blob `{meta['golden_blob'][:12]}`{label}.", "",
        "Each row against the float64 softmax p of its BF16 values: \\|sum - 1\\| = |sum(y) - 1| "
        "(BF16 outputs summed in float64); max rel = max |y - p| / p over outputs with "
        "p >= 2^-10 (- when there is none: long flat rows); shuffled = the median max rel of "
        f"{meta['shuffles']} seeded random orders of the same values (same engine, lanes, one "
        "job); ratio = max rel / shuffled. Bounds of the expp engine (both modes, every class "
        f"and lane count, split rows too): \\|sum - 1\\| <= {A.SUM_BOUND:.1%} and ratio <= "
        f"{A.ORDER_FACTOR}; **bold** = broken. Split rows run their chunks through a slot "
        "(ACC | SAVE, ACC | LOAD | SAVE, the last with DIV, then LOAD | DIV). Per-beat rows hold "
        "one value on all L lanes of a beat, so an ascending one raises the running max on "
        "every beat. The RTL runs short rows of these kinds (n <= 2048, one split through a "
        "slot) bit for bit against the golden model in both modes: test `adversarial_rows` of "
        "`sim/benches/softmax_tb.py` (`sim.softmax_accuracy.rtl_rows`).", "",
        "### Row classes", "", class_table(rows), "",
        "### expp engine", "", _summary(rows), "", expp_table(rows), "",
        "### LUT engines", "",
        "Q0.8 outputs (y8 / 256): an output of 2^-10 is a quarter of an LSB and a long flat row "
        "rounds to zeros, so the expp bounds do not apply; reported, with max abs = "
        "max |y - p|. Their one bound is exact order independence (integer sums after the max: "
        "every shuffle gives the permuted outputs bit for bit). No slots, so no split rows.",
        "", lut_table(rows),
    ]
    if before is not None:
        bmeta = before["meta"]
        blabel = f" ({bmeta['label']})" if bmeta.get("label") else ""
        out += ["", "### Before and after", ""]
        if bmeta["golden_blob"] == meta["golden_blob"]:
            out.append(f"These are the numbers of the golden model before the pass-1 rewrite, "
                       f"[softmax_accuracy_before.md](softmax_accuracy_before.md){blabel}.")
        else:
            out += [f"Before: golden model blob `{bmeta['golden_blob'][:12]}`{blabel}, "
                    f"[softmax_accuracy_before.md](softmax_accuracy_before.md); now: blob "
                    f"`{meta['golden_blob'][:12]}`.", "", before_after_table(before, rows)]
    return "\n".join(out) + "\n"


def before_page(data):
    meta = data["meta"]
    label = meta.get("label") or "the golden model before the pass-1 rewrite"
    return (f"# Softmax accuracy on adversarial rows: before\n\n"
            f"Generated by `{COMMAND} --before` (issue 21): the adversarial suite on {label}, "
            f"kept as it is for the before/after comparison of [softmax.md](softmax.md#accuracy-"
            f"on-adversarial-rows) (the measured table: `softmax_accuracy_before.json`).\n\n"
            + body(data))


def _load(path):
    return json.loads(Path(path).read_text())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="leave out the long (slow) classes")
    ap.add_argument("--shuffles", type=int, default=A.SHUFFLES, help="random orders per row")
    ap.add_argument("--before", action="store_true",
                    help="also write docs/softmax_accuracy_before.md and .json")
    ap.add_argument("--label", default=None, help="what the measured model is (recorded)")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="render this saved table instead of measuring")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    if args.from_json:
        data = _load(args.from_json)
    else:
        data = measure(slow=not args.quick, shuffles=args.shuffles)
        if args.label:
            data["meta"]["label"] = args.label
    before = None if args.before or not BEFORE_JSON.exists() else _load(BEFORE_JSON)
    block = body(data, before)
    print(block)
    for v in A.violations(data["rows"]):
        print(f"violation: {v['case']}: {v['message']}")
    if args.no_write:
        return 0
    if not args.from_json:
        LAST_JSON.parent.mkdir(parents=True, exist_ok=True)
        LAST_JSON.write_text(json.dumps(data, indent=1) + "\n")
    if args.before:
        BEFORE_JSON.write_text(json.dumps(data, indent=1) + "\n")
        BEFORE_MD.write_text(before_page(data))
        print(f"wrote {BEFORE_MD.relative_to(ROOT)} and {BEFORE_JSON.relative_to(ROOT)}")
        block = body(data, data)
    DOC.write_text(docs.splice(DOC.read_text(), SECTION, block))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
