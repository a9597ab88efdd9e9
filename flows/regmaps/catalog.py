"""The one list of generated register-map files and documentation tables.

:func:`artefacts` lists every file (or marked table) generated from the hardware descriptions;
the firmware build (:func:`flows.firmware.generated_headers`, the ``"header"`` entries) and
`make docs` (:func:`main`, behind ``python -m scripts.regmaps``) both read it, so a map added
to :data:`ACCELERATOR_MAPS` gets its C header, Python module and Markdown page everywhere.

Kinds, and where `make docs` puts them:

- ``header``: C header (``<map>.h``, ``cluster_regs.h``, ``system.h``), in ``build/include/``;
- ``driver``: standalone Python constants (``<map>_regs.py``, ``cluster_regs.py``), next to them;
- ``doc``: Markdown page (``<map>.md``, ``cluster.md``), in ``docs/regmaps/``;
- ``section``: a table between marker comments of a hand-written page in ``docs/``
  (:mod:`flows.docs`).

    python -m scripts.regmaps                       # everything (make docs)
    python -m scripts.regmaps hw.regmap.demo:DEMO   # chosen accelerator maps ("module:attribute")
    python -m scripts.regmaps --check               # write nothing; fail if a file is stale
"""

import argparse
import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hw.regmap import RegisterMap

from .. import docs as _docs
from . import cluster as _cluster
from .cheader import c_header
from .markdown import markdown
from .pydriver import python_module

__all__ = ["ACCELERATOR_MAPS", "KINDS", "Artefact", "artefacts", "headers", "load", "update",
           "main"]

ROOT = Path(__file__).resolve().parents[2]

#: The accelerators' register maps (``module:attribute``, the attribute a
#: :class:`~hw.regmap.RegisterMap` or a function returning one). Add each accelerator's map here.
ACCELERATOR_MAPS = (
    "hw.regmap.demo:DEMO",
    "hw.softex.regmap:softex_map",
    "hw.tensor.regmap:tensor_map",
    "hw.abft.regmap:abft_map",
)

#: Kinds of generated artefact and the directory argument of :func:`update` each goes to.
KINDS = {"header": "include", "driver": "include", "doc": "docs", "section": "pages"}


@dataclass(frozen=True)
class Artefact:
    """One generated file: ``kind`` (a key of :data:`KINDS`), ``name`` (file name in its
    directory; for a section, the page), ``render()`` its text, ``section`` the marker name of a
    section, ``source`` what it is generated from."""
    kind: str
    name: str
    render: Callable[[], str]
    source: str
    section: str = ""

    def path(self, dirs):
        return Path(dirs[KINDS[self.kind]]) / self.name


def load(spec):
    """The RegisterMap named by ``"module:attribute"`` (SystemExit if it is not one)."""
    module, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"regmap spec must be module:attribute, got {spec!r}")
    obj = getattr(importlib.import_module(module), attr)
    if inspect.isfunction(obj):
        obj = obj()
    if not isinstance(obj, RegisterMap):
        raise SystemExit(f"{spec} is not a RegisterMap")
    return obj


def _map_artefacts(spec):
    rm = load(spec)
    return [Artefact("header", f"{rm.name}.h", lambda: c_header(rm), spec),
            Artefact("driver", f"{rm.name}_regs.py", lambda: python_module(rm), spec),
            Artefact("doc", f"{rm.name}.md", lambda: markdown(rm), spec)]


def _cluster_table():
    return "\n".join(_cluster.register_table()) + "\n"


def artefacts(maps=None):
    """Every generated artefact, in a fixed order: the accelerator maps (``maps``, specs as in
    :data:`ACCELERATOR_MAPS`; when given, only theirs), then the cluster's registers and
    accelerator slots, then the tables of docs/cluster.md."""
    out = [a for spec in (maps or ACCELERATOR_MAPS) for a in _map_artefacts(spec)]
    if maps:
        return out
    regs, system = "hw.cluster.regs", "hw.cluster.system:ACCELERATORS"
    out += [Artefact("header", "cluster_regs.h", _cluster.cluster_header, regs),
            Artefact("header", "system.h", _cluster.system_header, system),
            Artefact("header", "abft_layout.h", _cluster.abft_layout_header,
                     "hw.abft.layout"),
            Artefact("driver", "cluster_regs.py", _cluster.python_module, f"{regs}, {system}"),
            Artefact("doc", "cluster.md", _cluster.markdown, f"{regs}, {system}"),
            Artefact("section", "cluster.md", _cluster_table, regs, "cluster registers"),
            Artefact("section", "cluster.md", _docs.config_table, "hw.config:CONFIGS",
                     "configurations")]
    return out


def headers():
    """``{file name: text}`` of every generated C header (what the firmware includes)."""
    return {a.name: a.render() for a in artefacts() if a.kind == "header"}


def update(arts, *, docs, include, pages, check=False, log=print):
    """Write the artefacts ``arts`` whose files are missing or differ (sections: spliced into
    their pages, which must exist and have the markers) and return ``[]``; with ``check``
    write nothing and return the paths that are missing or stale."""
    dirs = {"docs": docs, "include": include, "pages": pages}
    paths = [a.path(dirs) for a in arts if a.kind != "section"]
    if len(set(paths)) != len(paths):
        raise SystemExit(f"two generated files share a name: {sorted(map(str, paths))}")
    texts = {}                    # path -> new text; sections of one page applied in turn
    for a in arts:
        path = a.path(dirs)
        if a.kind != "section":
            texts[path] = a.render()
            continue
        if path not in texts:
            if not path.exists():
                raise SystemExit(f"{path}: page of the generated section {a.section!r} is missing")
            texts[path] = path.read_text()
        try:
            texts[path] = _docs.splice(texts[path], a.section, a.render())
        except _docs.MarkerError as e:
            raise SystemExit(f"{path}: {e}") from None
    stale = [p for p, t in texts.items() if not p.exists() or p.read_text() != t]
    if check:
        return stale
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(texts[p])
        log(f"wrote {p}")
    return []


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write the generated register-map headers, Python "
                                 "modules and Markdown, and the generated tables of docs/.")
    ap.add_argument("maps", nargs="*",
                    help="module:attribute of RegisterMaps (default: everything of artefacts())")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "regmaps"), help="Markdown pages")
    ap.add_argument("--include", default=str(ROOT / "build" / "include"),
                    help="C headers and Python modules")
    ap.add_argument("--pages", default=str(ROOT / "docs"),
                    help="hand-written pages with generated sections")
    ap.add_argument("--check", action="store_true", help="fail if a file is missing or stale")
    args = ap.parse_args(argv)
    stale = update(artefacts(args.maps or None), docs=args.docs, include=args.include,
                   pages=args.pages, check=args.check)
    if stale:
        print("out of date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0
