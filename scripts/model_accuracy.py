"""all-MiniLM-L6-v2 on the accelerator's numerics against fp32 (docs/model_accuracy.md).

    python -m scripts.model_accuracy                 # every numerics choice, 2 Dask workers
    python -m scripts.model_accuracy --only default --workers 0   # added to the choices run before
    python -m scripts.model_accuracy --render        # the page from docs/model_accuracy.json

For each choice: embedding cosine to fp32 (mean and minimum over the 50 Lee documents and the
24 reference sentences), Pearson and Spearman correlation of the Lee documents' cosine
similarities with the human judgements, Spearman on WordSim-353 and SimLex-999 (each word
embedded as a text), and nearest-neighbour agreement with fp32 among the Lee documents (top-1,
and the overlap of the top-5 sets).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from flows.docs import splice
from sim.models.datasets import lee_documents, lee_similarities, reference_sentences, word_pairs
from sim.models.minilm import FloatNumerics, MiniLM
from sim.models.numerics import AcceleratorNumerics

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "model_accuracy.json"
HEAD_DATA = ROOT / "docs" / "model_accuracy_head.json"
PAGE = ROOT / "docs" / "model_accuracy.md"

#: The numerics choices: name -> AcceleratorNumerics arguments (the default cluster's 4 lanes).
CHOICES = {
    "default": {},
    "expp softex mode": dict(expp_mode="softex"),
    "bf16 accumulation": dict(acc="bf16"),
    "LUT softmax A": dict(engine="lut_a"),
    "LUT softmax B": dict(engine="lut_b"),
    "softmax in chunks of 16": dict(chunk=16),
    # the expp GELU unit (gelu_method "expp"; the default is the table, correctly rounded)
    "GELU K=3": dict(gelu_terms=3),
    "GELU K=4": dict(gelu_terms=4),
    "GELU K=5": dict(gelu_terms=5),
    "GELU K=6": dict(gelu_terms=6),
}
#: The goal for the default numerics (issue 24).
GOAL = dict(mean_cosine=0.999, lee_pearson_gap=0.005)


def pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def ranks(v):
    """Ranks 1 .. n of ``v``, ties sharing their mean rank."""
    v = np.asarray(v, dtype=np.float64)
    r = np.empty(len(v))
    r[np.argsort(v, kind="mergesort")] = np.arange(1, len(v) + 1)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=r) / counts)[inverse]


def spearman(a, b):
    return pearson(ranks(np.asarray(a)), ranks(np.asarray(b)))


def embeddings(numerics):
    """Every text the study needs, embedded with ``numerics``."""
    model = MiniLM()
    docs, sentences = lee_documents(), reference_sentences()
    words = sorted({w for name in ("wordsim", "simlex") for pair in word_pairs(name)[0]
                    for w in pair})
    t0 = time.perf_counter()
    out = dict(lee=model.embed(docs, numerics), sentences=model.embed(sentences, numerics),
               words=dict(zip(words, model.embed(words, numerics))))
    out["seconds"] = time.perf_counter() - t0
    return out


def metrics(e, reference):
    """The study's numbers for embeddings ``e`` against the fp32 ``reference``'s."""
    cos = np.concatenate([np.sum(e[k] * reference[k], axis=1) for k in ("lee", "sentences")])
    human = lee_similarities()
    iu = np.triu_indices(len(human), 1)
    sim = e["lee"] @ e["lee"].T
    row = dict(mean_cosine=float(cos.mean()), min_cosine=float(cos.min()),
               lee_pearson=pearson(sim[iu], human[iu]), lee_spearman=spearman(sim[iu], human[iu]))
    for name in ("wordsim", "simlex"):
        pairs, scores = word_pairs(name)
        got = [float(e["words"][a] @ e["words"][b]) for a, b in pairs]
        row[name] = spearman(np.asarray(got), scores)
    ref_sim = reference["lee"] @ reference["lee"].T
    np.fill_diagonal(sim, -np.inf)
    np.fill_diagonal(ref_sim, -np.inf)
    top, ref_top = np.argsort(-sim, axis=1)[:, :5], np.argsort(-ref_sim, axis=1)[:, :5]
    row["nn_top1"] = float(np.mean(top[:, 0] == ref_top[:, 0]))
    row["nn_top5"] = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top, ref_top)]))
    row["seconds"] = e["seconds"]
    return row


def _run_choice(name):
    numerics = FloatNumerics(np.float32) if name == "fp32" else AcceleratorNumerics(
        **CHOICES[name])
    return name, embeddings(numerics)


def study(names, workers):
    names = ["fp32"] + [n for n in names if n != "fp32"]
    if workers:
        from dask.distributed import Client, LocalCluster, as_completed
        from rich.progress import Progress
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster) as client, Progress() as bar:
            task = bar.add_task("numerics choices", total=len(names))
            results = {}
            for future in as_completed(client.map(_run_choice, names, pure=False)):
                name, e = future.result()
                results[name] = e
                bar.advance(task)
                bar.console.print(f"{name}: {e['seconds']:.0f} s")
    else:
        results = dict(_run_choice(n) for n in names)
    reference = results["fp32"]
    rows = {name: dict(numerics=("float32 throughout, as PyTorch" if name == "fp32"
                                 else AcceleratorNumerics(**CHOICES[name]).name),
                       **metrics(results[name], reference)) for name in names}
    return dict(rows=rows, goal=GOAL, texts=dict(lee=len(reference["lee"]),
                                                 sentences=len(reference["sentences"]),
                                                 words=len(reference["words"])))


def head_text(h):
    if not h:
        return "(not measured yet: python -m scripts.model_accuracy --rtl-head)\n"
    stages = ", ".join(f"{k} {v:,}" for k, v in h["stages"].items())
    return (f"Sentence: \"{h['sentence']}\" ({h['tokens']} tokens), layer {h['layer']}, head "
            f"{h['head']} (d = {h['head_dim']}), on the {h['config']} cluster "
            f"({h['shape']}): O {'bit-exact' if h['bit_exact'] else 'NOT bit-exact'} against "
            f"the golden model; against fp32 (float64 attention of the same fp32 Q, K, V) the "
            f"largest error is {h['max_abs_error']:.4f} and the mean {h['mean_abs_error']:.5f} "
            f"(outputs up to {h['max_abs_output']:.3f}); {h['cycles']:,} cycles ({stages}).\n")


def table(data):
    rows = data["rows"]
    fp32 = rows["fp32"]
    out = ["| numerics | mean cosine | min cosine | Lee Pearson | Lee Spearman | WordSim | "
           "SimLex | NN top-1 | NN top-5 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        out.append(f"| {name} ({r['numerics']}) | {r['mean_cosine']:.5f} | "
                   f"{r['min_cosine']:.5f} | {r['lee_pearson']:.4f} | {r['lee_spearman']:.4f} | "
                   f"{r['wordsim']:.4f} | {r['simlex']:.4f} | {r['nn_top1']:.2f} | "
                   f"{r['nn_top5']:.2f} |")
    d = rows.get("default")
    if d:
        gap = abs(d["lee_pearson"] - fp32["lee_pearson"])
        ok = d["mean_cosine"] >= GOAL["mean_cosine"] and gap <= GOAL["lee_pearson_gap"]
        out += ["", f"Goal for the default numerics: mean cosine >= {GOAL['mean_cosine']} "
                f"(measured {d['mean_cosine']:.5f}) and Lee Pearson within "
                f"{GOAL['lee_pearson_gap']} of fp32 (measured gap {gap:.4f}): "
                f"{'met' if ok else 'missed'}."]
        misses = [n for n, r in rows.items() if n != "fp32" and (
            r["mean_cosine"] < GOAL["mean_cosine"]
            or abs(r["lee_pearson"] - fp32["lee_pearson"]) > GOAL["lee_pearson_gap"])]
        out.append("Choices that miss it: " + (", ".join(misses) if misses else "none") + ".")
    missing = [n for n in CHOICES if n not in rows]
    if missing:
        out.append("Not run yet (`python -m scripts.model_accuracy` runs every choice): "
                   + ", ".join(missing) + ".")
    return "\n".join(out) + "\n"


def plot(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = {n: r for n, r in data["rows"].items() if n != "fp32"}
    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].barh(names, [1 - rows[n]["mean_cosine"] for n in names], color="tab:blue",
                 label="1 - mean cosine")
    axes[0].barh(names, [1 - rows[n]["min_cosine"] for n in names], color="tab:blue",
                 alpha=0.35, label="1 - min cosine")
    axes[0].axvline(1 - GOAL["mean_cosine"], color="k", ls="--", lw=1, label="goal (mean)")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("distance of the embeddings from fp32")
    axes[0].legend(fontsize=8)
    fp32 = data["rows"]["fp32"]["lee_pearson"]
    axes[1].barh(names, [rows[n]["lee_pearson"] - fp32 for n in names], color="tab:orange")
    for x in (-GOAL["lee_pearson_gap"], GOAL["lee_pearson_gap"]):
        axes[1].axvline(x, color="k", ls="--", lw=1)
    axes[1].set_xlabel(f"Lee Pearson minus fp32's ({fp32:.4f})")
    axes[1].set_yticks([])
    fig.suptitle("all-MiniLM-L6-v2 on the accelerator's numerics")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def render():
    data = json.loads(DATA.read_text()) if DATA.exists() else {}
    head = json.loads(HEAD_DATA.read_text()) if HEAD_DATA.exists() else None
    text = PAGE.read_text()
    if "rows" in data:
        text = splice(text, "accuracy table", table(data))
    PAGE.write_text(splice(text, "rtl head", head_text(head)))
    if "rows" not in data:
        return
    plot(data, ROOT / "docs" / "model_accuracy.png")
    print(f"wrote {PAGE.relative_to(ROOT)} and docs/model_accuracy.png")


#: The real head run through the RTL: a reference sentence, a layer and a head of it.
RTL_HEAD = dict(sentence=19, layer=0, head=0, config="default")


def rtl_head(sentence=RTL_HEAD["sentence"], layer=RTL_HEAD["layer"], head=RTL_HEAD["head"],
             config=RTL_HEAD["config"]):
    """One attention head of MiniLM on a real sentence through the RTL: Q, K, V of ``head`` in
    ``layer`` from the fp32 model, rounded to BF16, run as attention.c on ``config``'s cluster
    (the API, rtl backend) and by the golden model: bit-exact; errors against fp32."""
    from api import Accelerator
    model = MiniLM()
    text = reference_sentences()[sentence]
    ids = model.tokens(text)
    d = model.hidden // model.heads
    q, k, v = model.head_inputs(text, layer, head)
    s = q.astype(np.float64) @ k.T.astype(np.float64) / np.sqrt(d)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    want = (p / p.sum(axis=1, keepdims=True)) @ v.astype(np.float64)
    with Accelerator(config, backend="rtl") as rtl, Accelerator(config, backend="golden") as g:
        o, stats = rtl.attention(q, k, v)
        og, _ = g.attention(q, k, v)
    err = np.abs(o.astype(np.float64) - want)
    return dict(config=config, sentence=text, tokens=int(len(ids)), layer=layer, head=head,
                head_dim=d, bit_exact=bool(np.array_equal(o.view(np.uint32), og.view(np.uint32))),
                max_abs_error=float(err.max()), mean_abs_error=float(err.mean()),
                max_abs_output=float(np.abs(want).max()), cycles=stats.cycles,
                stages=stats.stages, shape=stats.plan)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m scripts.model_accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=sorted(CHOICES), default=None)
    ap.add_argument("--workers", type=int, default=2, help="Dask workers (0: none)")
    ap.add_argument("--render", action="store_true", help="only the page, from the JSON")
    ap.add_argument("--rtl-head", action="store_true",
                    help="only the real head through the RTL (RTL_HEAD), into the JSON")
    args = ap.parse_args(argv)
    if args.rtl_head:
        head = rtl_head()
        HEAD_DATA.write_text(json.dumps(head, indent=1) + "\n")
        print(json.dumps(head, indent=1))
    elif not args.render:
        data = study(args.only or list(CHOICES), args.workers)
        if args.only and DATA.exists():          # keep the choices run before, in CHOICES' order
            rows = {**json.loads(DATA.read_text())["rows"], **data["rows"]}
            data["rows"] = {n: rows[n] for n in ["fp32", *CHOICES] if n in rows}
        DATA.write_text(json.dumps(data, indent=1) + "\n")
        print(table(data))
    render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
