# The two commands of the README. Each first makes sure the project-local
# environment (.venv) exists; tools/setup_env.sh is a no-op when it does.
PYTHON := .venv/bin/python

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
