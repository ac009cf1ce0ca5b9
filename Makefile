# The two commands of the README. Each first makes sure the project-local
# environment exists; tools/setup_env.sh is a no-op when it does. It lives in
# .venv, or where MMRN38_VENV says (the variable tools/setup_env.sh reads).
MMRN38_VENV ?= .venv
export MMRN38_VENV
PYTHON := $(MMRN38_VENV)/bin/python

.PHONY: setup test demo

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest

demo: setup
	$(PYTHON) tools/demo.py

# Weakly-supervised segmentation on the built-in data (README section
# "Weakly-supervised segmentation"): CAM classifier, CAMs, pseudo-label mIoU.
.PHONY: demo-wsss

demo-wsss: setup
	$(PYTHON) tools/wsss/demo.py
