"""Entry point: `python -m scripts.synth` runs :func:`flows.synth.main` (see its module docstring)."""

import sys

from flows.synth import main

if __name__ == "__main__":
    sys.exit(main())
