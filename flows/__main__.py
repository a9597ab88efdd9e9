"""Command line of the generator.

    python -m flows verilog --config default --out build/rtl      # emit + lint every component
    python -m flows verilog --config paper --list                 # what would be emitted
    python -m flows verilog --config tiny --only fma_fp32 --set arith.fma_latency=4
    python -m flows verilog --config tiny --only cluster --taps cluster:softex,tensor  # + faults
    python -m flows configs                                       # the named configurations
    python -m flows synth [options]                            # = python -m scripts.synth
"""

import argparse
import json
import sys
import time
from pathlib import Path

from hw.catalog import components
from hw.config import CONFIGS, config_names, get_config

from .emit import LintError, emit
from .synth import main as synth_main


def _parse_sets(items):
    overrides = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes section.field=value, got {item!r}")
        try:
            overrides[key.strip()] = int(value, 0)
        except ValueError:
            raise ValueError(f"--set {key}: value must be an integer, got {value!r}") from None
    return overrides


def _select(specs, only):
    if not only:
        return specs
    unknown = [n for n in only if n not in specs]
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(map(repr, unknown))}; "
                         f"components: {', '.join(specs)}")
    return {n: specs[n] for n in specs if n in only}


def cmd_verilog(args):
    config = get_config(args.config, **_parse_sets(args.set))
    specs = _select(components(config), args.only)
    if args.list:
        width = max(map(len, specs), default=0)
        for name, spec in specs.items():
            params = ", ".join(f"{k}={v}" for k, v in spec.params.items() if k != "class")
            print(f"{name:<{width}}  {spec.params['class']}({params})  {spec.description}")
        return 0

    out = Path(args.out)
    taps = {}
    for item in args.taps or ():
        name, _, paths = item.partition(":")
        taps[name] = tuple(p.strip() for p in paths.split(",")) if paths else ("",)
    print(f"config {config.name}: emitting {len(specs)} component(s) into {out}/")
    start = time.monotonic()
    try:
        manifest = emit(specs, out, config=config, do_lint=not args.no_lint, jobs=args.jobs,
                        taps=taps)
    except LintError as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"(files are in {out}/; lint waivers are listed in flows/emit.py WAIVERS)",
              file=sys.stderr)
        return 1
    lint = manifest["lint"]
    status = "lint skipped" if lint is None else "verilator lint passed"
    print(f"{status}; wrote {out / 'names.json'} and {out / 'manifest.json'} "
          f"in {time.monotonic() - start:.1f} s")
    return 0


def cmd_configs(args):
    if args.json:
        print(json.dumps({n: c.to_dict() for n, c in CONFIGS.items()}, indent=1))
        return 0
    for name, config in CONFIGS.items():
        sections = "; ".join(
            f"{s}: " + ", ".join(f"{k}={v}" for k, v in getattr(config, s).to_dict().items())
            for s in config.sections())
        print(f"{name}: {sections}")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "synth":
        return synth_main(argv[1:])


    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("verilog", help="emit Verilog, names.json and manifest.json, then lint")
    p.add_argument("--config", default="default",
                   help=f"named configuration ({', '.join(config_names())}); default: default")
    p.add_argument("--out", default="build/rtl", help="output folder (default: build/rtl)")
    p.add_argument("--list", action="store_true", help="list the components and exit")
    p.add_argument("--only", nargs="+", metavar="NAME", help="emit only these components")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a configuration field (repeatable)")
    p.add_argument("--taps", action="append", metavar="NAME[:PATH,...]",
                   help="fault-injection taps in component NAME (in the modules under the "
                        "given paths; default everywhere) and its fault map NAME.faults.json")
    p.add_argument("--no-lint", action="store_true", help="skip the Verilator lint")
    p.add_argument("--jobs", type=int, default=2, help="parallel lint jobs (default: 2)")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("configs", help="print the named configurations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_configs)

    sub.add_parser("synth", help="synthesis report (same as python -m scripts.synth; "
                                 "see python -m flows synth --help)")

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
