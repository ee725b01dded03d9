# vaelab: the two commands of the README.
#
#   make book   build the HTML book (_build/html), executing every chapter; any warning fails the build
#   make test   run the whole test suite: the lint gate (make lint), pytest unit tests and nbval over every chapter
#
# and some helpers:
#
#   make lint          the lint gate alone (ruff check ., settings in pyproject.toml)
#   make vendor        fetch MathJax, require.js and the Jupyter widget manager (npm pack, pinned) into
#                      _vendor/, so that the built HTML needs no network; `make book` runs it (a no-op once done)
#   make wheel-test    build the wheel, install it into a fresh environment outside the checkout and use it
#                      (the console script and the library) from another folder (scripts/wheel_smoke.sh)
#   make browser-test  open every page of the built book in headless Chromium, offline, and every chapter in
#                      JupyterLab as a student reads it (browser_tests/); needs `make book` first, Chromium,
#                      and installs requirements-browser.txt into $(VENV)
#   make student       the student edition in _student/ (solutions removed, answer cells marked);
#                      make student-book also builds its HTML (from the stored outputs), make student-check
#                      builds it and checks that no solution text is left in it (book/instructors.md explains them)
#   make course-test   a graded assignment made from the book and two sample submissions graded end to end by
#                      nbgrader (course/test_course.py; installs the `course` extra into $(VENV))
#
# Both first set up a virtual environment ($(VENV), default .venv) with the Python >= 3.10 found on PATH
# (or PYTHON=...), installing torch ($(TORCH)) first, then requirements.txt, then vaelab itself (editable).
# TORCH is the torch requirement installed first; TORCH_INDEX, when set, is the index it comes from.
# On a machine without a GPU a CPU build saves gigabytes, for example
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# and where a wheel lies on local disk, TORCH can name it (.ci/run uses TORCH=torch==2.13.0).

VENV   ?= .venv
TORCH  ?= torch>=2.2,<3
TORCH_INDEX ?=
# the first interpreter on PATH that is Python >= 3.10 (python3 first: it is the one the machine's wheels fit)
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11 python3.10 python; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
            >/dev/null 2>&1 && { echo $$p; break; }; done)
endif

BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.installed-browser
COURSE_STAMP := $(VENV)/.installed-course
VENDOR := _vendor
# notebooks run in the kernel of this virtual environment, not one from the user's Jupyter settings
export JUPYTER_PREFER_ENV_PATH := 1

.PHONY: book test lint venv vendor browser-test wheel-test student student-book student-check course-test clean

book: $(STAMP) vendor
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP) lint
	$(BIN)/python -m pytest tests --nbval-lax --nbval-current-env --nbval-cell-timeout=600 book

# The lint gate (ruff: pyflakes, pycodestyle, import order, bugbear; settings in pyproject.toml), before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .

venv: $(STAMP)

# Pinned front-end assets for the offline HTML (scripts/vendor_assets.py says what and why); needs npm. With
# them in place the script only checks them (a fraction of a second) and fetches nothing.
vendor:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: no Python >= 3.10 found on PATH; install one or run 'make PYTHON=/path/to/python3.x ...'" >&2; \
	  exit 1; fi
	$(PYTHON) scripts/vendor_assets.py $(VENDOR)

# The built book in headless Chromium, with the network blocked; screenshots in _build/screenshots/.
browser-test:
	@if [ ! -f _build/html/index.html ]; then \
	  echo "error: no built book in _build/html: run make book first" >&2; exit 1; fi
	@$(MAKE) --no-print-directory $(BROWSER_STAMP)
	$(BIN)/python -m pytest browser_tests -v -s

$(BROWSER_STAMP): requirements-browser.txt $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -r requirements-browser.txt
	@touch $@

# Re-run when the requirements change; the stamp is written only after every install step succeeded.
$(STAMP): requirements.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: no Python >= 3.10 found on PATH; install one or run 'make PYTHON=/path/to/python3.x ...'" >&2; \
	  exit 1; fi
	@if [ ! -x $(BIN)/python ]; then echo "creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet "pip>=23"
	$(BIN)/python -m pip install --progress-bar off "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt
	$(BIN)/python -m pip install --progress-bar off -e .
	@touch $@

# The wheel, installed into a fresh environment outside the checkout and used from another folder.
wheel-test: $(STAMP)
	PYTHON=$(PYTHON) TORCH="$(TORCH)" bash scripts/wheel_smoke.sh

# The student edition (scripts/student_edition.py): chapters without solutions, answer cells marked; with its HTML.
student: $(STAMP)
	$(BIN)/python scripts/student_edition.py

student-book: $(STAMP) vendor
	$(BIN)/python scripts/student_edition.py --html

student-check: $(STAMP) vendor
	$(BIN)/python scripts/student_edition.py --check

# nbgrader's commands call its migration tool (alembic) by name: the environment's bin/ goes first on PATH.
course-test: $(COURSE_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest course/test_course.py -v -p no:cacheprovider

$(COURSE_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e ".[course]"
	@touch $@

clean:
	rm -rf _build .pytest_cache $(VENDOR) book/checkpoints _student
