"""Parameters handed from pytest (VerilatorSim.run(params=...)) to a cocotb test module."""

import json
import os

__all__ = ["load_params"]


def load_params():
    path = os.environ.get("TB_PARAMS")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)
