from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    # sentinel-cpu assembles its microcode with m5meta, which calls deprecated pyparsing names
    # at every elaboration: hundreds of identical warnings that hide real ones.
    for item in items:
        if _HERE in Path(item.fspath).parents:
            for module in ("m5meta", "m5expr", "pyparsing"):
                item.add_marker(pytest.mark.filterwarnings(f"ignore::DeprecationWarning:{module}"))
