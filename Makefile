# fairkit: `make demo` runs the main job on the Bias Lab, `make test` runs every check. Both set up .venv first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export FAIRKIT_DATA ?= $(CURDIR)/runs/data

.PHONY: install demo test test-slow test-torch-floor readme bench bench-sweep clean

$(STAMP): settings.ini setup.py constraints-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]" -c constraints-dev.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	if [ -d .git ]; then $(BIN)/nbdev_install_hooks >/dev/null; fi  # Jupyter saves and git merges keep notebooks clean
	touch $(STAMP)

install: $(STAMP)

# ERM vs resampling vs GroupDRO (3 seeds, 2 cells at a time) on a Bias Lab shortcut scenario, then the paired
# report against ERM (printed, and runs/demo/report.html).
demo: install
	$(BIN)/fairkit demo --root runs/demo --workers 2

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/test

test-slow: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/test --slow

# The lowest torch/torchvision settings.ini accepts, in its own venv (.venv-floor), with the torch-sensitive notebooks
# and tests. Not part of `make test`: it downloads several GB (PyPI's torch is a CUDA build on x86_64).
test-torch-floor:
	bash .ci/torch-floor

readme: install
	$(BIN)/jupyter nbconvert --to markdown --stdout --log-level=ERROR nbs/index.ipynb > README.md

bench: install
	$(PY) bench/cache_loader.py

bench-sweep: install
	$(PY) bench/sweep_scaling.py

clean:
	rm -rf runs _proc _docs .pytest_cache
