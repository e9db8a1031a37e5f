# Quick start: `make demo` and `make test`. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nbgrader runs tools (alembic, jupyter) from PATH: use the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Nothing at test or demo time may reach the network for data.
export BACKPROP_NINJA_OFFLINE ?= 1

.PHONY: install demo test lab exercises clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed first, pinned: the package asks for torch>=2.2, and an unpinned install would pull the
# CUDA build (several GB) on a CPU machine. 2.13.0 is the CPU build this project is tested with.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Regenerate the student notebooks from the instructor source, as nbgrader releases them.
exercises: install
	cd course && nbgrader generate_assignment backprop_ninja --force

# For now: the self-check on the instructor's notebook (full marks) and on a sample wrong submission.
demo: install
	backprop-ninja check --verbose solutions/backprop_ninja/backprop_ninja.ipynb
	-backprop-ninja check course/sample_submissions/bob/backprop_ninja/backprop_ninja.ipynb

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

lab: install
	$(BIN)/jupyter lab exercises

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache course/gradebook.db demo-output
