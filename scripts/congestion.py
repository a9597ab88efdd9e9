"""Entry point: `python -m scripts.congestion` runs :func:`flows.congestion.main` (see its module docstring)."""

import sys

from flows.congestion import main

if __name__ == "__main__":
    sys.exit(main())
