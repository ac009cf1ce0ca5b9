# The commands of the README. Each first makes sure the project-local
# environment exists; tools/setup_env.sh is a no-op when it does. It lives in
# .venv, or where MMRN38_VENV says (the variable tools/setup_env.sh reads).
MMRN38_VENV ?= .venv
export MMRN38_VENV
PYTHON := $(MMRN38_VENV)/bin/python

.PHONY: setup lint test test-all demo

setup:
	bash tools/setup_env.sh

# flake8, isort and yapf with setup.cfg's settings (OpenMMLab's); one line
# names the files that fail. About 10 s on 2 cores.
lint: setup
	$(PYTHON) .dev_scripts/lint.py

# The quick tier: every test but those marked slow (pytest.ini).
test: setup lint
	$(PYTHON) -m pytest -m "not slow"

# Everything, the slow full-size trainings included (what CI runs).
test-all: setup lint
	$(PYTHON) -m pytest

demo: setup
	$(PYTHON) tools/demo.py

# Weakly-supervised segmentation on the built-in data, PSA's whole chain
# (docs/en/user_guides/wsss.md): CAM classifier, CAMs and CRF files,
# AffinityNet, random walk, segmentation network; held-out mIoU per stage.
.PHONY: demo-wsss

demo-wsss: setup
	$(PYTHON) tools/wsss/demo.py
