"""`make docs`: write the generated register-map headers, Python modules and Markdown and the
generated tables of docs/ (the one list: :mod:`flows.regmaps.catalog`).

    python -m scripts.regmaps                       # everything
    python -m scripts.regmaps hw.regmap.demo:DEMO   # chosen accelerator maps ("module:attribute")
    python -m scripts.regmaps --docs docs/regmaps --include build/include --pages docs --check

``--check`` writes nothing and fails when a file is missing or out of date (for CI).
"""

import sys

from flows.regmaps.catalog import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
