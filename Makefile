# make run   : create .venv, install seqlab, train the default char LM (python -m seqlab model=lstm task=charlm)
# make test  : create .venv, install seqlab and the example plugins, run the default (fast) test suite
# make test-slow : the slow tests (longer training, DDP, sweeps)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.seqlab-installed

.PHONY: install run test test-slow lint bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: a local CPU build where one exists, so no other (multi-GB) torch is pulled in
	$(PIP) install -q torch==2.13.0 || $(PIP) install -q "torch>=2.2"
	$(PIP) install -q -e ".[dev,slurm,optuna,tensorboard]"
	for p in plugins/*/; do [ -f $$p/pyproject.toml ] && $(PIP) install -q $$p || exit 1; done
	touch $(STAMP)

install: $(STAMP)

# about 4.5 minutes on a quiet 2-core CPU (budget=quick); longer: make run ARGS="budget=long" (README, Quick start)
run: install
	$(PY) -m seqlab model=lstm task=charlm $(ARGS)

# every core (pytest-xdist; a test file stays on one worker, so a module's trained model is trained once), and the
# slowest tests named at the end
test: install
	$(PY) -m pytest -q -n auto --dist loadfile --durations=15 $(ARGS)

test-slow: install
	$(PY) -m pytest -q -m slow --durations=15 $(ARGS)

lint: install
	$(VENV)/bin/ruff check seqlab plugins tests benchmarks hydra_plugins
	$(VENV)/bin/ruff format --check seqlab plugins tests benchmarks hydra_plugins

clean:
	rm -rf $(VENV) build *.egg-info
