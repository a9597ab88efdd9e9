"""Weight scaling against bit flips in stored weights (docs/weight_scaling.md).

    python -m scripts.weight_scaling --model digits            # minutes
    python -m scripts.weight_scaling --model minilm --workers 2 # about two hours
    python -m scripts.weight_scaling --rtl --ber 1e-4 # the tensor unit reads them (W_EXP)
    python -m scripts.weight_scaling --render

For each storage format, bit-error rate and scaling (none; c = t / max|W| per layer; its power
of two), ``--trials`` independent trials (seeded), each: every faulted layer's weights scaled,
encoded, flipped, decoded, unscaled (sim.models.weight_faults), then the model evaluated. t per
format is searched first (``--search-trials`` trials at BER 1e-4 over its ``t_grid``, best mean
metric). Faulted: the digits MLP's two weight matrices; MiniLM's 36 linear weight matrices (the
embeddings, biases and layer norms stay fault-free). Metrics: digits top-1 on 497 held-out
images; MiniLM: mean embedding cosine to the fault-free fp32 model (Lee documents and the
reference sentences) and Lee Pearson. Means with 95 % intervals (t distribution) over trials.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from flows.docs import splice
from sim.models.weight_faults import FORMATS, stored, t_grid

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "weight_scaling"
PAGE = ROOT / "docs" / "weight_scaling.md"
BERS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
SCALINGS = ("none", "scaled", "power of two")
#: The paper's headline: +54.4 top-1 points for 8-bit Q2.5 ResNet50 at BER 1e-4.
PAPER_GAIN = 54.4


class Digits:
    name = "digits"
    metrics = ("top1",)

    def __init__(self):
        from sim.models.digits import digits, train_mlp
        self.weights = train_mlp()
        _, _, self.x, self.y = digits()

    def layers(self):
        return [0, 2]

    def evaluate(self, faulted):
        from sim.models.digits import top1
        w = list(self.weights)
        for i, value in faulted.items():
            w[i] = value
        return dict(top1=top1(w, self.x, self.y))


class MiniLMTask:
    name = "minilm"
    metrics = ("cosine", "lee_pearson")

    def __init__(self):
        from sim.models.datasets import lee_documents, lee_similarities, reference_sentences
        from sim.models.minilm import FloatNumerics, MiniLM
        self.model = MiniLM()
        self.numerics = FloatNumerics(np.float32)
        self.texts = lee_documents() + reference_sentences()
        self.human = lee_similarities()
        self.clean = self.model.weights
        self.reference = self.model.embed(self.texts, self.numerics)

    def layers(self):
        return [k for k, v in self.clean.items() if k.startswith("encoder.") and v.ndim == 2]

    def evaluate(self, faulted):
        self.model.weights = {**self.clean, **{k: v.astype(np.float32) for k, v in
                                               faulted.items()}}
        try:
            with np.errstate(all="ignore"):
                e = self.model.embed(self.texts, self.numerics)
        finally:
            self.model.weights = self.clean
        e = np.nan_to_num(e, nan=0.0, posinf=0.0, neginf=0.0)
        cos = np.sum(e * self.reference, axis=1)
        lee = e[:50] @ e[:50].T
        iu = np.triu_indices(50, 1)
        a, b = lee[iu], self.human[iu]
        pearson = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 else 0.0
        return dict(cosine=float(cos.mean()), lee_pearson=pearson)


TASKS = {"digits": Digits, "minilm": MiniLMTask}


def trial(task, fmt, ber, scaling, t, seed):
    """One trial: every faulted layer stored and read back, the model evaluated."""
    rng = np.random.default_rng(seed)
    weights = task.weights if task.name == "digits" else task.clean
    faulted, flips = {}, 0
    for name in task.layers():
        w = np.asarray(weights[name], dtype=np.float64)
        faulted[name], n = stored(w, fmt, ber, rng, t=None if scaling == "none" else t,
                                  power_of_two=scaling == "power of two")
        flips += n
    return dict(task.evaluate(faulted), flips=flips)


def interval(values):
    """Mean and 95 % interval (t distribution) of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), float(v.mean()), float(v.mean())
    t975 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31,
            10: 2.26}.get(len(v), 2.0)
    half = t975 * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


_TASK = {}


def _point(args):
    name, fmt, ber, scaling, t, trials, seed = args
    if name not in _TASK:
        _TASK[name] = TASKS[name]()
    task = _TASK[name]
    rows = [trial(task, fmt, ber, scaling, t, [seed, i]) for i in range(trials)]
    return dict(fmt=fmt, ber=ber, scaling=scaling, t=t, trials=trials, seed=seed,
                flips=float(np.mean([r["flips"] for r in rows])),
                **{m: interval([r[m] for r in rows]) for m in task.metrics})


def _map(points, workers, label):
    from rich.progress import Progress
    if not workers:
        out = []
        with Progress() as bar:
            task = bar.add_task(label, total=len(points))
            for p in points:
                out.append(_point(p))
                bar.advance(task)
        return out
    from dask.distributed import Client, LocalCluster, as_completed
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client, Progress() as bar:
        task = bar.add_task(label, total=len(points))
        futures = client.map(_point, points, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out = [None] * len(points)
        for f in as_completed(futures):
            out[index[f.key]] = f.result()
            bar.advance(task)
        return out


def sweep(name, formats, bers, trials, search_trials, workers, seed):
    metric = TASKS[name].metrics[0]
    search = [(name, fmt, 1e-4, scaling, t, search_trials, seed + 1)
              for fmt in formats for scaling in SCALINGS[1:] for t in t_grid(fmt)]
    found = _map(search, workers, f"{name}: searching t")
    best = {}
    for r in found:
        key = (r["fmt"], r["scaling"])
        if key not in best or r[metric][0] > best[key][metric][0]:
            best[key] = r
    points = [(name, fmt, ber, scaling, best[(fmt, scaling)]["t"] if scaling != "none" else None,
               trials, seed) for fmt in formats for ber in bers for scaling in SCALINGS]
    rows = _map(points, workers, f"{name}: {len(points)} points x {trials} trials")
    return dict(model=name, metric=metric, trials=trials, seed=seed, bers=list(bers),
                formats=list(formats), t={f"{f} {s}": best[(f, s)]["t"] for f, s in best},
                search=found, rows=rows)


def table(data):
    m = data["metric"]
    out = [f"{data['model']}: {m}, mean [95 % interval] over {data['trials']} trials "
           f"(seed {data['seed']}); t per format and scaling: "
           + ", ".join(f"{k} {v:g}" for k, v in data["t"].items()) + ".", "",
           "| format | scaling | " + " | ".join(f"BER {b:g}" for b in data["bers"]) + " |",
           "|---|---|" + "---:|" * len(data["bers"])]
    for fmt in data["formats"]:
        for scaling in SCALINGS:
            cells = []
            for b in data["bers"]:
                r = next(r for r in data["rows"] if r["fmt"] == fmt and r["scaling"] == scaling
                         and r["ber"] == b)
                mean, lo, hi = r[m]
                cells.append(f"{mean:.4f} [{lo:.4f}, {hi:.4f}]")
            out.append(f"| {fmt} | {scaling} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = data["metric"]
    fig, axes = plt.subplots(1, len(data["formats"]), figsize=(3.2 * len(data["formats"]), 3.2),
                             sharey=True)
    for ax, fmt in zip(np.atleast_1d(axes), data["formats"]):
        for scaling in SCALINGS:
            rows = sorted((r for r in data["rows"] if r["fmt"] == fmt and r["scaling"] == scaling),
                          key=lambda r: r["ber"])
            x = [r["ber"] for r in rows]
            ax.errorbar(x, [r[m][0] for r in rows],
                        yerr=[[r[m][0] - r[m][1] for r in rows], [r[m][2] - r[m][0] for r in rows]],
                        marker="o", ms=3, capsize=2, label=scaling)
        ax.set_xscale("log")
        ax.set_title(fmt)
        ax.set_xlabel("bit-error rate")
    np.atleast_1d(axes)[0].set_ylabel(m)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(f"{data['model']}: weights stored with and without scaling")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


#: The RTL run (part 6 of issue 24): MiniLM's layer-0 query weights (384 x 384) applied to a
#: reference sentence (the one of docs/model_accuracy.md's RTL head), on the default cluster's
#: tensor unit.
RTL_RUN = dict(layer="encoder.layer.0.attention.self.query.weight", sentence=19,
               config="default", fmt="bf16")


def rtl_study(ber, trials, seed, *, t=None, numpy_trials=30, search_trials=3):
    """One MiniLM layer's weights stored in BF16 in the simulated scratchpad, unscaled and
    scaled by a power of two (c = 2^s from ``t``, by default searched for this layer at this
    BER in numpy, ``search_trials`` trials per t), every stored bit flipped with probability
    ``ber`` there (:attr:`api.backends.RtlBackend.w_faults`, the same flips for both), and
    the product X W^T of a real sentence's embedding output run on the tensor unit with
    W_EXP = -s. Checks Z bit for bit against
    the golden model on the faulty words, and measures the model with the weights the tensor
    unit read (MiniLM metrics of :class:`MiniLMTask`), plus ``numpy_trials`` more trials of
    the same layer in numpy alone."""
    from api import Accelerator
    from sim.golden.fp import scale as bf16_scale
    from sim.golden.gemm import gemm_float
    from sim.golden.softmax import bf16_to_float, float_to_bf16
    from sim.models.datasets import reference_sentences
    from sim.models.weight_faults import encode, flip_bits, layer_scale
    from rich.progress import Progress

    fmt, name = RTL_RUN["fmt"], RTL_RUN["layer"]
    task = MiniLMTask()
    model = task.model
    w = np.asarray(task.clean[name], np.float64).T                  # K x N: x @ W.T
    search = []
    if t is None:   # t for this layer at this BER, in numpy (the whole model's search saturates)
        with Progress() as bar:
            grid = t_grid(fmt)
            job = bar.add_task(f"searching t for the layer at BER {ber:g}", total=len(grid))
            for candidate in grid:
                values = []
                for i in range(search_trials):
                    rng = np.random.default_rng([seed + 2, i])
                    faulted, _ = stored(w.T, fmt, ber, rng, t=candidate, power_of_two=True)
                    values.append(task.evaluate({name: faulted})[task.metrics[0]])
                search.append(dict(t=candidate, **{task.metrics[0]: interval(values)}))
                bar.advance(job)
        t = max(search, key=lambda r: r[task.metrics[0]][0])["t"]
    text = reference_sentences()[RTL_RUN["sentence"]]
    x = model.hidden_states(model.tokens(text), task.numerics)[0]
    x_bits = np.asarray(float_to_bf16(x.astype(np.float64).ravel()), np.uint16).reshape(x.shape)
    shift = int(np.log2(layer_scale(w, t, power_of_two=True)))
    words = {"none": encode(w, fmt), "power of two": encode(w * 2.0 ** shift, fmt)}
    w_exp = {"none": 0, "power of two": -shift}
    clean_z = bf16_to_float(gemm_float(x_bits, words["none"]))

    def flips(rng):   # the XOR pattern of one trial's flips, and their number
        return flip_bits(np.zeros(w.shape, np.uint16), fmt, ber, rng)

    def measure(scaling, mask):
        read = bf16_scale(words[scaling] ^ mask, w_exp[scaling], fmt)   # what the unit reads
        return task.evaluate({name: bf16_to_float(read).T})

    rows = {s: [] for s in words}
    mismatches, cycles = 0, {s: [] for s in words}
    with Accelerator(RTL_RUN["config"], backend="rtl") as acc, Progress() as bar:
        job = bar.add_task(f"RTL: {trials} trials x 2 at BER {ber:g}", total=2 * trials)
        for i in range(trials):
            mask, count = flips(np.random.default_rng([seed, i]))
            for scaling in words:
                acc.backend.w_faults = lambda found, cols, m=mask: found ^ m[:, cols]
                z, stats = acc.matmul(x_bits, words[scaling], w_exp=w_exp[scaling])
                acc.backend.w_faults = None
                want = gemm_float(x_bits, words[scaling] ^ mask, w_exp=w_exp[scaling])
                mismatches += int(np.count_nonzero(z != want))
                cycles[scaling].append(stats.cycles)
                zf = bf16_to_float(z)
                with np.errstate(all="ignore"):
                    rel = float(np.linalg.norm(np.nan_to_num(zf - clean_z, nan=1e300,
                                                             posinf=1e300, neginf=1e300))
                                / np.linalg.norm(clean_z))
                rows[scaling].append(dict(measure(scaling, mask), flips=count,
                                          z_relative_error=min(rel, 1e300)))
                bar.advance(job)
    numpy_rows = {s: [] for s in words}
    for i in range(numpy_trials):
        mask, _ = flips(np.random.default_rng([seed + 1, i]))
        for scaling in words:
            numpy_rows[scaling].append(measure(scaling, mask))

    def summary(values):
        return {m: interval([r[m] for r in values]) for m in task.metrics}

    return dict(layer=name, sentence=text, tokens=int(x.shape[0]), fmt=fmt, ber=ber, t=t,
                shift=shift, trials=trials, numpy_trials=numpy_trials, seed=seed,
                config=RTL_RUN["config"], z_mismatches=mismatches,
                cycles={s: int(np.median(c)) for s, c in cycles.items()},
                rtl={s: dict(summary(r), z_relative_error_median=float(np.median(
                    [v["z_relative_error"] for v in r])), flips=float(np.mean(
                        [v["flips"] for v in r]))) for s, r in rows.items()},
                numpy={s: summary(r) for s, r in numpy_rows.items()}, search=search,
                runs={s: r for s, r in rows.items()})


def rtl_table(data):
    def cell(v):
        return f"{v[0]:.4f} [{v[1]:.4f}, {v[2]:.4f}]"

    out = [f"Layer `{data['layer']}` (384 x 384 weights, {data['fmt']}) on \"{data['sentence']}\" "
           f"({data['tokens']} tokens) on the {data['config']} cluster's tensor unit; BER "
           f"{data['ber']:g}, t = {data['t']:g}"
           + (f" (the best of {len(data['search'])} powers of two for this layer at this BER "
              "in numpy)" if data.get("search") else "")
           + f"; W stored times 2^{data['shift']}, read with "
           f"W_EXP = {-data['shift']}. {data['trials']} RTL trials per scaling with the same "
           f"flips for both (seed {data['seed']}), {data['numpy_trials']} more in numpy alone. "
           f"Z against the golden model on the faulty words: {data['z_mismatches']} values "
           f"differ. Median cycles per product: {data['cycles']['none']:,} unscaled, "
           f"{data['cycles']['power of two']:,} with W_EXP.", "",
           "| scaling | run | flips | cosine | Lee Pearson | relative error of the layer's output "
           "(median) |", "|---|---|---:|---:|---:|---:|"]
    for s in ("none", "power of two"):
        r, n = data["rtl"][s], data["numpy"][s]
        out.append(f"| {s} | RTL | {r['flips']:.0f} | {cell(r['cosine'])} | "
                   f"{cell(r['lee_pearson'])} | {r['z_relative_error_median']:.3g} |")
        out.append(f"| {s} | numpy | | {cell(n['cosine'])} | {cell(n['lee_pearson'])} | |")
    return "\n".join(out) + "\n"


def render():
    text = PAGE.read_text()
    for name in TASKS:
        path = OUT / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            text = splice(text, f"{name} table", table(data))
            plot(data, OUT / f"{name}.png")
    if (OUT / "minilm_rtl.json").exists():
        text = splice(text, "rtl table", rtl_table(json.loads((OUT / "minilm_rtl.json").read_text())))
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m scripts.weight_scaling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(TASKS), default="digits")
    ap.add_argument("--formats", nargs="*", choices=list(FORMATS), default=list(FORMATS))
    ap.add_argument("--bers", nargs="*", type=float, default=list(BERS))
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--search-trials", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--rtl", action="store_true",
                    help="the RTL run: one MiniLM layer's stored weights flipped in the "
                         "simulated scratchpad, unscaled by the tensor unit (W_EXP)")
    ap.add_argument("--ber", type=float, default=1e-4, help="--rtl: the bit-error rate")
    ap.add_argument("--t", type=float, default=None,
                    help="--rtl: t (default: searched for the layer at --ber)")
    ap.add_argument("--numpy-trials", type=int, default=30,
                    help="--rtl: trials of the same layer in numpy alone")
    args = ap.parse_args(argv)
    if args.rtl:
        data = rtl_study(args.ber, args.trials, args.seed, t=args.t,
                         numpy_trials=args.numpy_trials)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "minilm_rtl.json").write_text(json.dumps(data, indent=1) + "\n")
        print(rtl_table(data))
    elif not args.render:
        data = sweep(args.model, args.formats, args.bers, args.trials, args.search_trials,
                     args.workers, args.seed)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{args.model}.json").write_text(json.dumps(data, indent=1) + "\n")
        print(table(data))
    render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
