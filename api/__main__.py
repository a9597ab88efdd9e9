"""The API's command line: one operation on random or .npy inputs, its result summary and
cycles (docs/api.md).

    python -m api run softmax --n 1024 --config tiny
    python -m api run matmul --m 64 --n 48 --k 32 --backend golden
    python -m api run attention --seq 64 --head-dim 16
    python -m api run gemm --inputs a.npy b.npy c.npy --out z.npy
    python -m api tutorial                 # docs/api.md's tutorial (--write-docs: into it)
"""

import argparse
import sys

import numpy as np

from hw.config import CONFIGS

from . import ACCUMULATORS, GEMM_OPS, SOFTMAX_MODES, Accelerator

#: Operations and the names of their inputs.
OPERATIONS = {"softmax": ("x",), "gelu": ("x",), "matmul": ("a", "b"), "gemm": ("a", "b", "c"),
              "attention": ("q", "k", "v")}


def random_inputs(op, args, rng):
    """Normal inputs of the sizes the options give."""
    def normal(*shape):
        return rng.normal(0.0, args.scale, shape).astype(np.float32)
    if op in ("softmax", "gelu"):
        return [normal(args.rows, args.n)]
    if op == "attention":
        return [normal(args.seq, args.head_dim) for _ in range(3)]
    a, b = normal(args.m, args.k), normal(args.k, args.n)
    return [a, b] + ([normal(args.m, args.n)] if op == "gemm" else [])


def summary(name, value):
    v = np.asarray(value, np.float64)
    finite = v[np.isfinite(v)]
    text = f"{name}: shape {tuple(v.shape)}, dtype {np.asarray(value).dtype}"
    if finite.size:
        text += (f", min {finite.min():.6g}, max {finite.max():.6g}, mean {finite.mean():.6g}")
    if finite.size < v.size:
        text += f", {v.size - finite.size} not finite"
    return text


def run_tutorial(write_docs):
    """Run the tutorial; with ``write_docs`` splice its code and output into docs/api.md."""
    import contextlib
    import inspect
    import io
    import textwrap
    from pathlib import Path

    from flows.docs import splice

    from .tutorial import tutorial
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tutorial()
    print(out.getvalue(), end="")
    if write_docs:
        page = Path(__file__).resolve().parent.parent / "docs" / "api.md"
        body = textwrap.dedent("".join(inspect.getsourcelines(tutorial)[0][1:]))
        text = splice(page.read_text(), "tutorial code", f"```python\n{body}```\n")
        text = splice(text, "tutorial output",
                      "`python -m api tutorial`:\n\n"
                      f"```\n{out.getvalue()}```\n")
        page.write_text(text)
        print(f"wrote {page}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m api", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one operation")
    r.add_argument("op", choices=OPERATIONS)
    r.add_argument("--config", default="default", choices=sorted(CONFIGS))
    r.add_argument("--backend", default="rtl", choices=("rtl", "golden"))
    r.add_argument("--inputs", nargs="*", default=None, metavar="NPY",
                   help="the operands as .npy files, in the operation's order (default: random)")
    r.add_argument("--out", default=None, metavar="NPY", help="write the result here")
    r.add_argument("--rows", type=int, default=1, help="softmax, gelu: rows (random inputs)")
    r.add_argument("--n", type=int, default=1024, help="softmax, gelu: row length; matmul, "
                                                         "gemm: columns of the result")
    r.add_argument("--m", type=int, default=64, help="matmul, gemm: rows of the result")
    r.add_argument("--k", type=int, default=64, help="matmul, gemm: the inner dimension")
    r.add_argument("--seq", type=int, default=64, help="attention: sequence length")
    r.add_argument("--head-dim", type=int, default=16, help="attention: head dimension")
    r.add_argument("--scale", type=float, default=1.0, help="random inputs: their deviation")
    r.add_argument("--seed", type=int, default=1, help="random inputs: their seed")
    r.add_argument("--mode", default="expp", choices=SOFTMAX_MODES, help="softmax: the engine")
    r.add_argument("--acc", default="fp32", choices=ACCUMULATORS, help="matmul, gemm")
    r.add_argument("--gemm-op", default="gemm", choices=GEMM_OPS, help="gemm: the operation")
    t = sub.add_parser("tutorial", help="run docs/api.md's tutorial")
    t.add_argument("--write-docs", action="store_true",
                   help="put the tutorial's code and output into docs/api.md")
    args = ap.parse_args(argv)
    if args.cmd == "tutorial":
        return run_tutorial(args.write_docs)

    op, names = args.op, OPERATIONS[args.op]
    if args.inputs is not None:
        if len(args.inputs) != len(names):
            ap.error(f"{op} takes {len(names)} input(s) ({', '.join(names)}), "
                     f"got {len(args.inputs)}")
        inputs = [np.load(path) for path in args.inputs]
    else:
        inputs = random_inputs(op, args, np.random.default_rng(args.seed))
    kwargs = {}
    if op in ("matmul", "gemm"):
        kwargs["acc"] = args.acc
    if op == "gemm":
        kwargs["op"] = args.gemm_op
    if op == "softmax":
        kwargs["mode"] = args.mode
    with Accelerator(args.config, backend=args.backend) as acc:
        result, stats = getattr(acc, op)(*inputs, **kwargs)
    for name, value in zip(names, inputs):
        print(summary(name, value))
    print(summary("result", result))
    print(stats)
    if args.out:
        np.save(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
