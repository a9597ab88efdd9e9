"""Write the generated documentation and headers of register maps (behind `make docs`).

    python -m scripts.regmaps                       # every map in REGMAPS
    python -m scripts.regmaps hw.regmap.demo:DEMO   # chosen maps ("module:attribute")
    python -m scripts.regmaps --docs docs/regmaps --include build/include --check

For each map ``<name>``: ``<docs>/<name>.md`` (Markdown), ``<include>/<name>.h`` (C header) and
``<include>/<name>_regs.py`` (standalone Python constants). ``--check`` writes nothing and fails
when a file is missing or out of date (for CI).
"""

import argparse
import importlib
import inspect
import sys
from pathlib import Path

from flows.regmaps import c_header, markdown, python_module
from hw.regmap import RegisterMap

ROOT = Path(__file__).resolve().parent.parent

#: The maps `make docs` generates ("module:attribute", the attribute a RegisterMap or a
#: function returning one). Add each accelerator's map here.
REGMAPS = [
    "hw.regmap.demo:DEMO",
    "hw.softex.regmap:softex_map",
    "hw.tensor.regmap:tensor_map",
]


def load(spec):
    module, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"regmap spec must be module:attribute, got {spec!r}")
    obj = getattr(importlib.import_module(module), attr)
    if inspect.isfunction(obj):
        obj = obj()
    if not isinstance(obj, RegisterMap):
        raise SystemExit(f"{spec} is not a RegisterMap")
    return obj


def outputs(regmap, docs, include):
    return {
        Path(docs) / f"{regmap.name}.md": markdown(regmap),
        Path(include) / f"{regmap.name}.h": c_header(regmap),
        Path(include) / f"{regmap.name}_regs.py": python_module(regmap),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("maps", nargs="*", help="module:attribute of RegisterMaps (default: REGMAPS)")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "regmaps"))
    ap.add_argument("--include", default=str(ROOT / "build" / "include"))
    ap.add_argument("--check", action="store_true", help="fail if a file is missing or stale")
    args = ap.parse_args(argv)
    maps = [load(s) for s in (args.maps or REGMAPS)]
    names = [m.name for m in maps]
    if len(set(names)) != len(names):
        raise SystemExit(f"two register maps share a name: {names}")
    stale = []
    for regmap in maps:
        for path, text in outputs(regmap, args.docs, args.include).items():
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path}")
    if stale:
        print("out of date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
