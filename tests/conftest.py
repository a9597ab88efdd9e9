"""Settings of the whole test suite (every xdist worker imports this first).

The compiled simulators the tests build (``flows.native``: the clusters of the system and
fault-injection tests, the blocks alone) are compiled at C++ -O1 here, not at the -O3 of
``make sim`` and the benchmarks: most tests run a few thousand to a few hundred thousand
cycles, so a fresh clone spends more time compiling than simulating (docs/sim_speed.md,
"make test"). ``SIM_CXX_OPT`` set in the environment still wins; the models' behaviour and
cycle counts do not depend on it.
"""

import os

os.environ.setdefault("SIM_CXX_OPT", "-O1")
