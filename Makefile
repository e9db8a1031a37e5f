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

# torch is installed first, pinned to the version this project is tested with: the package asks for torch>=2.2,
# and letting the project's install pick a torch would pull the newest build with several GB of CUDA packages.
# Where pip finds a CPU wheel of 2.13.0 by itself (as on our CI machines) that is what this installs; elsewhere,
# on a machine without a GPU, say where the CPU builds are: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -e ".[test]"
	# The notebooks' kernel "python3" is this venv's Python by absolute path, whatever PATH the server has.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (backprop-ninja)"
	touch $@

install: $(VENV)/.installed

# Regenerate the student notebooks from the instructor source, as nbgrader releases them.
exercises: install
	cd course && nbgrader generate_assignment backprop_ninja --force

# The instructor's loop on the sample class (right, wrong, broken, untouched): release, grade, feedback, report.
# Re-running starts from the same submissions; grading skips the ones already graded and unchanged.
demo: install
	rm -rf course/submitted && cp -r course/sample_submissions course/submitted
	cd course && nbgrader generate_assignment backprop_ninja --force --log-level=WARN
	cd course && backprop-ninja grade backprop_ninja
	cd course && backprop-ninja report backprop_ninja
	@echo "Feedback pages: $(CURDIR)/course/feedback/<student>/backprop_ninja/backprop_ninja.html"
	@echo "Gradebook: course/gradebook.db (cd course && nbgrader export; nbgrader formgrader in JupyterLab)"

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

# The student's JupyterLab: nbgrader's assignment list and validate button, not the instructor's tools
# (student_lab/ is added to the config path for this run only; nothing in ~/.jupyter is touched).
lab: install
	JUPYTER_CONFIG_PATH=$(CURDIR)/student_lab $(BIN)/jupyter lab --ServerApp.root_dir=exercises

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache course/gradebook.db demo-output \
		course/submitted course/autograded course/feedback course/results course/reports
