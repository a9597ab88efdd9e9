"""Tables generated into hand-written documentation pages.

A generated table sits between two marker comments; the prose around it is the page's own:

    <!-- generated: cluster registers (make docs) -->
    | ... the table ... |
    <!-- end generated -->

:func:`splice` replaces what is between the markers, :func:`section` reads it back. The tables
(which page, which marker, which function) are entries of the one list of generated files,
:mod:`flows.regmaps.catalog`, so `make docs` writes them and ``make docs`` ``--check`` /
``tests/regmap/test_docs_current.py`` notice a stale one. This module holds the renderers that
are not register maps: :func:`config_table` (the named configurations, :data:`hw.config.CONFIGS`).
"""

import re

from hw.config import CONFIGS

__all__ = ["MarkerError", "splice", "section", "config_table"]

_END = "<!-- end generated -->"


class MarkerError(ValueError):
    """A page lacks the markers of a generated section (or has them twice)."""


def _find(text, name):
    start = re.compile(rf"^<!-- generated: {re.escape(name)}\b[^\n]*-->\n", re.M)
    found = list(start.finditer(text))
    if len(found) != 1:
        raise MarkerError(f"expected one '<!-- generated: {name} ... -->' line, found {len(found)}")
    begin = found[0].end()
    end = text.find(_END, begin)
    if end < 0:
        raise MarkerError(f"'<!-- generated: {name} -->' has no '{_END}' after it")
    return begin, end


def section(text, name):
    """The text between the markers of section ``name`` of a page (MarkerError if absent)."""
    begin, end = _find(text, name)
    return text[begin:end]


def splice(text, name, body):
    """``text`` with section ``name`` replaced by ``body`` (MarkerError if the markers are
    missing)."""
    begin, end = _find(text, name)
    if body and not body.endswith("\n"):
        body += "\n"
    return text[:begin] + body + text[end:]


def config_table():
    """The named configurations (:data:`hw.config.CONFIGS`) as a Markdown table: the cluster,
    SoftEx and tensor-unit sizes."""
    out = ["| configuration | cores | scratchpad | banks | instruction memory | event lines | "
           "SoftEx engine | SoftEx lanes | SoftEx expp stages | tensor unit |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in CONFIGS.items():
        cl, sx, t = c.cluster, c.softex, c.tensor
        stages = sx.expp_latency if sx.engine == "expp" else "-"
        out.append(f"| {name} | {cl.cores} | {cl.scratchpad_kib} KiB | {cl.banks} | "
                   f"{cl.imem_kib} KiB | {cl.events} | {sx.engine} | {sx.lanes} | {stages} | "
                   f"{t.rows} x {t.cols} x {t.pipes} |")
    return "\n".join(out) + "\n"
