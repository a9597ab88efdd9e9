"""The evaluation data of docs/model_accuracy.md, read from files that PyPI wheels ship
(nothing is fetched): the Lee corpus (50 news documents and the 50 x 50 matrix of human
similarity judgements), SimLex-999 and WordSim-353 word pairs, all from the test data of the
``gensim`` wheel (installed --no-deps by the Makefile; only its data files are read, gensim is
not imported), and the sentence set of the reference file (tests/data/minilm_reference.npz).
"""

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["lee_documents", "lee_similarities", "word_pairs", "reference_sentences"]

REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "data" / "minilm_reference.npz"


def _test_data():
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gensim wheel's test data is not installed: run `make venv` (or "
                           "`.venv/bin/pip install --no-deps gensim==4.4.0`)")
    return Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data"


def lee_documents():
    """The 50 documents of the Lee corpus (lee.cor), one string each."""
    return (_test_data() / "lee.cor").read_text(encoding="utf-8", errors="replace").splitlines()


def lee_similarities():
    """The mean human similarity (0 .. 1) of every pair of Lee documents, a symmetric 50 x 50
    matrix (the file holds its upper triangle)."""
    upper = np.loadtxt(_test_data() / "similarities0-1.txt")
    return np.triu(upper) + np.triu(upper, 1).T


def word_pairs(name):
    """``(pairs, scores)`` of ``simlex`` (SimLex-999) or ``wordsim`` (WordSim-353): word pairs
    and their mean human similarity."""
    files = {"simlex": "simlex999.txt", "wordsim": "wordsim353.tsv"}
    if name not in files:
        raise ValueError(f"name must be one of {', '.join(files)}, got {name!r}")
    pairs, scores = [], []
    for line in (_test_data() / files[name]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.split("\t")[:3]
        pairs.append((a, b))
        scores.append(float(score))
    return pairs, np.asarray(scores)


def reference_sentences():
    """The 24 sentences of the reference file."""
    return [str(s) for s in np.load(REFERENCE)["sentences"]]
