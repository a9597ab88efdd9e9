"""Generated views of a register-map description (:mod:`hw.regmap.description`): the C header
(:mod:`.cheader`), the standalone Python constants module (:mod:`.pydriver`) and the Markdown
documentation (:mod:`.markdown`); the same three for the cluster's own registers and accelerator
slots (:mod:`.cluster`). :mod:`.catalog` is the one list of everything generated (used by the
firmware build and `make docs`)."""

from .cheader import c_header
from .cluster import cluster_header, system_header
from .markdown import markdown
from .pydriver import python_module

__all__ = ["c_header", "cluster_header", "system_header", "markdown", "python_module"]
