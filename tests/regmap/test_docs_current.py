"""The generated documentation is current: every Markdown page of docs/regmaps and every
generated table of a hand-written page (docs/cluster.md) equals what `make docs` would write
now. A failure here means a description changed without `make docs` (python -m scripts.regmaps).
Also: the marker splicing of :mod:`flows.docs` and the one list of :mod:`flows.regmaps.catalog`."""

import pytest

from flows import docs
from flows.firmware import generated_headers
from flows.regmaps.catalog import ROOT, artefacts, update


def test_docs_are_current(tmp_path):
    tracked = [a for a in artefacts() if a.kind in ("doc", "section")]
    stale = update(tracked, docs=ROOT / "docs" / "regmaps", include=tmp_path,
                   pages=ROOT / "docs", check=True)
    assert not stale, f"out of date (run make docs): {', '.join(map(str, stale))}"


def test_one_list_for_firmware_and_docs():
    arts = artefacts()
    names = [a.name for a in arts if a.kind == "header"]
    assert sorted(generated_headers()) == sorted(names)
    assert {"cluster_regs.h", "system.h", "softex.h", "tensor.h", "demo.h"} <= set(names)
    # Every register map (the cluster's included) has its header, Python module and page.
    by_kind = {k: {a.name for a in arts if a.kind == k} for k in ("header", "driver", "doc")}
    for m in ("demo", "softex", "tensor", "cluster"):
        assert f"{m}_regs.py" in by_kind["driver"] and f"{m}.md" in by_kind["doc"], m
        assert f"{m}.h" in by_kind["header"] or f"{m}_regs.h" in by_kind["header"], m
    sections = {(a.name, a.section) for a in arts if a.kind == "section"}
    assert sections == {("cluster.md", "cluster registers"), ("cluster.md", "configurations")}


PAGE = """# Page
Prose before.
<!-- generated: table one (make docs) -->
| old |
<!-- end generated -->
Prose between.
<!-- generated: table two -->
<!-- end generated -->
Prose after.
"""


def test_splice_keeps_the_prose():
    text = docs.splice(PAGE, "table one", "| new |\n| rows |")
    assert docs.section(text, "table one") == "| new |\n| rows |\n"
    assert docs.section(text, "table two") == ""
    assert text.replace("| new |\n| rows |\n", "| old |\n") == PAGE
    assert docs.splice(text, "table one", "| old |\n") == PAGE
    with pytest.raises(docs.MarkerError):
        docs.splice(PAGE, "table three", "x")
    with pytest.raises(docs.MarkerError):
        docs.splice(PAGE.replace("<!-- end generated -->\nProse after", "Prose after"),
                    "table two", "x")
    with pytest.raises(docs.MarkerError):          # "table" is not "table one"
        docs.section(PAGE, "table")


def test_stale_table_is_found_and_rewritten(tmp_path):
    page = (ROOT / "docs" / "cluster.md").read_text()
    (tmp_path / "cluster.md").write_text(page.replace("| 0x14 | EXIT | wo |", "| 0x14 | EXIT | rw |")
                                         .replace("| tiny | 1 |", "| tiny | 3 |"))
    sections = [a for a in artefacts() if a.kind == "section"]
    dirs = dict(docs=tmp_path, include=tmp_path, pages=tmp_path)
    assert update(sections, check=True, **dirs) == [tmp_path / "cluster.md"]
    assert update(sections, log=lambda _: None, **dirs) == []
    assert (tmp_path / "cluster.md").read_text() == page
    assert update(sections, check=True, **dirs) == []
    (tmp_path / "cluster.md").write_text(page.replace("<!-- generated: configurations", "<!-- x"))
    with pytest.raises(SystemExit, match="configurations"):
        update(sections, check=True, **dirs)
