"""docs/api.md's tutorial, run as written: ``python -m api tutorial`` prints what it prints
(``--write-docs`` puts its code and its output into the page)."""


def tutorial():
    import numpy as np
    from api import Accelerator

    rng = np.random.default_rng(2026)
    with Accelerator("tiny", backend="rtl") as acc:    # backend="golden": the same results
        # 1. A softmax of one row of 1,000 logits (classifier outputs: a few large, most small).
        logits = rng.normal(0.0, 3.0, 1000).astype(np.float32)
        p, stats = acc.softmax(logits)
        exact = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        print(f"softmax: top class {p.argmax()} (float64: {exact.argmax()}), "
              f"p = {p.max():.4f} (float64 {exact.max():.4f}), sum {p.sum():.4f}")
        print(f"  {stats}")

        # 2. A GEMM, Z = A B + C, larger than the scratchpad: split into jobs for you.
        a = rng.normal(size=(96, 64)).astype(np.float32)
        b = rng.normal(size=(64, 80)).astype(np.float32)
        c = rng.normal(size=(96, 80)).astype(np.float32)
        z, stats = acc.gemm(a, b, c)
        err = np.abs(z - (a @ b + c)).max()
        print(f"gemm: 96 x 80 x 64, largest difference from float32 {err:.3f}")
        print(f"  {stats}")

        # 3. A causal attention head (a decoder's): query i sees keys 0 .. i.
        q, k, v = (rng.normal(size=(64, 16)).astype(np.float32) for _ in range(3))
        o, stats = acc.attention(q, k, v, causal=True)
        s = np.where(np.tri(64, dtype=bool), q @ k.T / 4, -np.inf)
        w = np.exp(s - s.max(axis=1, keepdims=True))
        ref = (w / w.sum(axis=1, keepdims=True)) @ v
        print(f"attention: 64 x 16, causal, largest difference from float64 "
              f"{np.abs(o - ref).max():.4f}")
        print(f"  {stats}")
