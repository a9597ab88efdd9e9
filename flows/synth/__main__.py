"""``python -m flows.synth``: the same as ``python -m scripts.synth``."""

import sys

from .cli import main

sys.exit(main())
