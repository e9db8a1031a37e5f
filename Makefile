# Quick start: `make demo` and `make test`. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nbgrader runs tools (alembic, jupyter) from PATH: use the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Nothing at test or demo time may reach the network for data.
export BACKPROP_NINJA_OFFLINE ?= 1

.PHONY: install demo test lab exercises wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed first, pinned to the version this project is tested with: the package asks for torch>=2.2,
# and letting the project's install pick a torch would pull the newest build with several GB of CUDA packages.
# Where pip finds a CPU wheel of 2.13.0 by itself (as on our CI machines) that is what this installs; elsewhere,
# on a machine without a GPU, say where the CPU builds are: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -e ".[course]"
	# The notebooks' kernel "python3" is this venv's Python by absolute path, whatever PATH the server has.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (backprop-ninja)"
	touch $@

# The test tools (pytest, Playwright, Dask) only for `make test`: the demo and grading need none of them.
$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Regenerate the student notebooks from the instructor source, as nbgrader releases them.
ASSIGNMENTS := backprop_ninja micrograd gpt2_block
exercises: install
	# A declared assignment's source notebook is written from its declaration (autograder/declared/notebook.py).
	$(BIN)/python -c 'from autograder.declared.notebook import write_source_notebook as w; \
	  from autograder.assignments.gpt2_block import ASSIGNMENT as a; w(a.declaration, "solutions/gpt2_block/gpt2_block.ipynb")'
	for assignment in $(ASSIGNMENTS); do (cd course && nbgrader generate_assignment $$assignment --force) || exit 1; done
	# The package ships each release too, for `backprop-ninja notebook` (and lecture notebooks' Exercise 4 loop).
	for assignment in $(ASSIGNMENTS); do \
	  cp exercises/$$assignment/$$assignment.ipynb autograder/assignments/$$assignment/$$assignment.ipynb; done

# The instructor's loop on the sample class (right, wrong, crashing, untouched) for each assignment, in a course of its own under
# demo-output/: release, grade, report, release feedback through a local exchange. Nothing in course/, where a
# real class is collected, is read or written but its nbgrader_config.py. Re-running starts from the same
# submissions; grading skips the ones already graded and unchanged.
DEMO := demo-output
DEMO_SEED := 8675309
# Every assignment, in one nbgrader course and one gradebook.
DEMO_ASSIGNMENTS := $(ASSIGNMENTS)
demo: install
	rm -rf $(DEMO)/solutions $(DEMO)/course/submitted
	mkdir -p $(DEMO)/course $(DEMO)/exchange
	cp -r solutions $(DEMO)/solutions
	cp -r course/sample_submissions $(DEMO)/course/submitted
	cp course/nbgrader_config.py $(DEMO)/course/nbgrader_config.py
	echo 'c.Exchange.root = os.path.join(here, "..", "exchange")  # the demo'"'"'s own exchange' >> $(DEMO)/course/nbgrader_config.py
	for assignment in $(DEMO_ASSIGNMENTS); do \
	  (cd $(DEMO)/course && nbgrader generate_assignment $$assignment --force --log-level=WARN \
	    && backprop-ninja grade $$assignment --hidden-seed $(DEMO_SEED) \
	    && backprop-ninja report $$assignment \
	    && nbgrader release_feedback $$assignment --log-level=WARN) || exit 1; \
	done
	@echo "The demo's course: $(CURDIR)/$(DEMO)/course (its gradebook, feedback pages, report; exchange in $(DEMO)/exchange)"

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 tests

# The student's JupyterLab: nbgrader's assignment list and validate button, not the instructor's tools
# (student_lab/ is added to the config path for this run only; nothing in ~/.jupyter is touched). As root (a
# container) it passes --allow-root; LAB_ARGS adds JupyterLab's own options (make lab LAB_ARGS="--no-browser
# --port 8899"). Its assignment list reads nbgrader's exchange at LAB_EXCHANGE, nbgrader's default and the
# course's: made here when it is missing and this user may (as nbgrader's docs make it, writable by everyone).
LAB_ARGS ?=
LAB_EXCHANGE ?= /srv/nbgrader/exchange
lab: install
	@[ -d $(LAB_EXCHANGE) ] || (mkdir -p $(LAB_EXCHANGE) && chmod 777 $(LAB_EXCHANGE)) 2>/dev/null || \
	  echo "make lab: no exchange at $(LAB_EXCHANGE) and no right to make it: the assignment list stays empty (make lab LAB_EXCHANGE=DIR)"
	JUPYTER_CONFIG_PATH=$(CURDIR)/student_lab BACKPROP_NINJA_EXCHANGE=$(LAB_EXCHANGE) $(BIN)/jupyter lab \
	  --ServerApp.root_dir=exercises $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The course package as one file for students who only get the notebook: its first cell names this wheel.
wheel: install
	rm -rf dist && $(BIN)/pip wheel --no-deps --no-build-isolation -w dist .

# What setting up, the demo and the tests made. Never course/'s gradebook, submissions, grades or feedback: those
# are a class's (remove them yourself, knowing whose they are).
clean:
	rm -rf $(VENV) *.egg-info .pytest_cache $(DEMO) dist build test-artifacts
