"""sim.faults.report: summaries of campaign rows, and the committed baseline (docs/faults/) is
consistent: every CSV has its campaign's runs, the outcome counts recomputed from the rows are
the summary's, and docs/fault_injection.md's results section is the rendering of the committed
summaries."""

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from flows.docs import section
from sim.faults.outcomes import OUTCOMES
from sim.faults.report import markdown, summarize

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "faults"


def _campaign(outcomes):
    fmap = [dict(id=0, name="a.x", bits=8, width=8, depth=1, component="a",
                 **{"class": "control"}),
            dict(id=1, name="b.mem", bits=64, width=8, depth=8, component="b",
                 **{"class": "memory"})]
    rows = [dict(run=i, target=i % 2, name=fmap[i % 2]["name"], cls=fmap[i % 2]["class"],
                 component=fmap[i % 2]["component"], outcome=o, max_ulp=None)
            for i, o in enumerate(outcomes)]
    return dict(name="t", target={}, seed=1, runs=len(rows), golden={"cycles": 10},
                fault_map=fmap, rows=rows, seconds=1.0, workers=0, runs_per_second=len(rows))


def test_summary_counts_and_ranks():
    s = summarize(_campaign(["masked", "hang", "sdc-critical", "hang", "latent", "hang"]))
    assert s["runs"] == 6 and s["outcomes"]["hang"]["count"] == 3
    assert sum(r["count"] for r in s["outcomes"].values()) == 6
    assert s["failures"]["count"] == 4 and s["failures"]["bound"] is None
    assert [t["name"] for t in s["top"]] == ["b.mem", "a.x"]          # 3 failures, then 1
    assert s["by_class"]["memory"]["runs"] == 3 and s["by_class"]["control"]["bits"] == 8
    clean = summarize(_campaign(["masked"] * 10))
    assert clean["failures"]["bound"] == pytest.approx(0.3) and clean["top"] == []
    with pytest.raises(ValueError):
        summarize(_campaign([]))


def test_write_keeps_the_source(tmp_path):
    """write(source=...): what the campaign ran on is in the written summary."""
    from sim.faults.report import load, write
    source = dict(commit="0123456789abcdef", modified=False)
    write(_campaign(["masked", "hang"]), tmp_path, source=source)
    assert load(tmp_path / "t.json")["summary"]["source"] == source
    write(_campaign(["masked"]), tmp_path / "plain")
    assert "source" not in load(tmp_path / "plain" / "t.json")["summary"]


def _committed():
    return sorted(DOCS.glob("*.json"))


def test_the_baseline_is_committed():
    names = {p.stem for p in _committed()}
    assert {"tensor_default", "softmax_default", "lut_softmax_b_default",
            "attention_tiny"} <= names


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
def test_committed_rows_match_their_summary(path):
    record = json.loads(path.read_text())
    with gzip.open(DOCS / record["rows"], "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    s = record["summary"]
    assert len(rows) == s["runs"] == record["runs"] >= 10_000
    assert [int(r["run"]) for r in rows] == list(range(len(rows)))
    counts = Counter(r["outcome"] for r in rows)
    assert set(counts) <= set(OUTCOMES)
    assert {o: counts.get(o, 0) for o in OUTCOMES} == {o: v["count"]
                                                      for o, v in s["outcomes"].items()}


def test_page_is_the_rendering_of_the_committed_summaries():
    from scripts.faults import BASELINE, _path
    summaries = [json.loads(_path(n).read_text())["summary"] for n in BASELINE
                 if _path(n).exists()]
    page = (ROOT / "docs" / "fault_injection.md").read_text()
    assert section(page, "fault campaigns").strip() == markdown(summaries).strip()
