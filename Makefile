# shopmig: two commands for a fresh machine.
#   make demo   set everything up, build the demo shop, run the walkthrough into build/
#   make test   set up if needed, run ruff, mypy, pytest (unit + backends) and nbval over every notebook
# Server tests and server notebook runs use SHOPMIG_TEST_POSTGRES_URL / SHOPMIG_TEST_MARIADB_URL
# when set (see README); without them they skip with a message, except under CI=true.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SANITIZE := notebooks/nbval_sanitize.cfg
DEMO_DB := build/shop.db
NBVAL_OPTS := -p no:cacheprovider

.PHONY: help venv demo test unit notebooks-strict notebooks-servers lint lab bench record lock clean

help:
	@echo "make demo   - create .venv, install, build the demo shop, run the notebooks into build/"
	@echo "make test   - ruff + pytest + nbval over every notebook"
	@echo "make lab    - open JupyterLab on notebooks/ (options: LAB_ARGS=\"--no-browser --port 8899\")"
	@echo "make site   - build/site/: executed notebooks and the learner's exercises (offline)"
	@echo "make facilitator-site - build/facilitator-site/: the site plus solutions and the guide"
	@echo "make bench  - run benchmarks/ (writes benchmarks/results/)"
	@echo "make bench-reladiff - only the verify comparison with reladiff and datacompy"
	@echo "make faults - the full fault-injection run (kills during every step, all backends)"

$(STAMP): pyproject.toml requirements-lock.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements-lock.txt -e '.[notebooks,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@mkdir -p build
	$(PY) -m shopmig --url sqlite:///$(DEMO_DB) init-demo --rows 100000 --replace
	$(PY) -m shopmig --url sqlite:///$(DEMO_DB) sql head
	$(PY) -m shopmig notebooks --out build/notebooks
	$(PY) scripts/build_site.py --out build/site --reuse build/notebooks
	@echo
	@echo "== shopmig demo summary =="
	@$(PY) -m shopmig --url sqlite:///$(DEMO_DB) inspect
	@echo "Executed notebooks (open the .html files in a browser, or run: make lab):"
	@ls -1 build/notebooks/*.html
	@echo "The walkthrough as a site (notebooks, exercises, facilitator's guide; works offline):"
	@echo "  build/site/index.html"

test: lint unit notebooks-strict notebooks-servers

lint: $(STAMP)
	$(PY) -m ruff check shopmig tests benchmarks scripts
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest tests

notebooks-strict: $(STAMP)
	$(PY) -m pytest --nbval notebooks --nbval-sanitize-with $(SANITIZE) $(NBVAL_OPTS)

notebooks-servers: $(STAMP)
	@set -e; for var in SHOPMIG_TEST_POSTGRES_URL SHOPMIG_TEST_MARIADB_URL; do \
	  url=$$(printenv $$var || true); \
	  if [ -n "$$url" ]; then \
	    echo "nbval (lax) on $$var"; \
	    SHOPMIG_NOTEBOOK_URL="$$url" $(PY) -m pytest --nbval-lax notebooks $(NBVAL_OPTS); \
	  elif [ "$$CI" = "true" ]; then \
	    echo "CI=true but $$var is not set: server notebook runs are required in CI"; exit 1; \
	  else \
	    echo "skipping server notebook runs: set $$var to run the notebooks on that server"; \
	  fi; \
	done

# make lab LAB_ARGS="--no-browser --port 8899 --ip 0.0.0.0"   (any `jupyter lab` options)
# As root (a container) --allow-root is added, since Jupyter refuses root without it.
LAB_ARGS ?=
LAB_ROOT_ARGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),$(if $(findstring --allow-root,$(LAB_ARGS)),,--allow-root))

lab: $(STAMP)
	$(PY) -m pip install --quiet -c requirements-lock.txt -e '.[lab]'
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ROOT_ARGS) $(LAB_ARGS)

# The benchmarks' own dependencies (datacompy, reladiff with its PostgreSQL and MySQL drivers,
# psutil) are the `bench` extra, pinned in requirements-lock.txt.
.PHONY: bench-deps bench-reladiff bench-process
bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -c requirements-lock.txt -e '.[bench]'

bench: bench-deps
	$(PY) benchmarks/status_step.py --sizes 10000,1000000 --backends sqlite,postgresql,mariadb --out benchmarks/results/status_step.json
	$(PY) benchmarks/verify.py --sizes 1000000,10000000 --backends sqlite,postgresql,mariadb --tools auto,stream,datacompy,pandas,floor --out benchmarks/results/verify.json
	$(MAKE) bench-reladiff
	$(MAKE) bench-process

# The whole command as a user runs it (python -m shopmig verify) next to reladiff and datacompy,
# each process importing only its own tool (benchmarks/results/verify_process.md).
bench-process: bench-deps
	$(PY) benchmarks/verify.py --backends sqlite,postgresql --sizes 1000000,10000000 --backend-sizes sqlite=1000000 --tools shopmig-cli,auto,reladiff,datacompy,floor --size-tools 10000000=shopmig-cli,auto,reladiff,floor --repeat 2 --cross-rows 0 --out benchmarks/results/verify_process.json

# shopmig verify vs reladiff vs datacompy vs the count+sum floor, best of 2: PostgreSQL and
# MariaDB at 1M and 10M rows, SQLite at 1M (reladiff 0.6 runs on PostgreSQL only here: it has
# no SQLite and refuses MariaDB's text key; those rows say so). About 40 minutes on 2 cores.
bench-reladiff: bench-deps
	$(PY) benchmarks/verify.py --backends sqlite,postgresql,mariadb --sizes 1000000,10000000 --backend-sizes sqlite=1000000 --tools auto,reladiff,datacompy,floor --repeat 2 --cross-rows 0 --out benchmarks/results/verify_reladiff.json

# The full fault-injection run (issue 13): kill -9 and killed server sessions at random moments
# of every step, up and down, on every backend (at least 10 kills per step), and two upgrades
# at once; every fault checked (state named, rerun reaches head, data unchanged). Servers from
# SHOPMIG_BENCH_*_URL or SHOPMIG_TEST_*_URL. Figures: benchmarks/results/faults.{json,md}.
# The fast seeded subset runs in `make unit` (pytest marker `faults`).
.PHONY: faults
faults: $(STAMP)
	$(PY) benchmarks/faults.py --backends sqlite,postgresql,mariadb --out benchmarks/results/faults.json

record: $(STAMP)
	$(PY) scripts/record_notebooks.py

# The walkthrough as a static site that works offline from file:// (build/site/index.html):
# every notebook executed and the learner's exercises, no solutions (what learners get).
.PHONY: site facilitator-site
site: $(STAMP)
	$(PY) scripts/build_site.py --out build/site

# The facilitator's site (build/facilitator-site/index.html): the learner's site plus the
# exercises' solutions (facilitator/exercises_solution.ipynb) and the facilitator's guide.
facilitator-site: $(STAMP)
	$(PY) scripts/build_site.py --facilitator --out build/facilitator-site

# Re-generate notebooks/exercises/exercises_learner.ipynb and facilitator/exercises_solution.ipynb
# from their one source (facilitator/exercises_source.ipynb) and record the solution's outputs.
.PHONY: exercises
exercises: $(STAMP)
	$(PY) scripts/build_exercises.py

lock:
	rm -rf build/lockvenv
	$(PYTHON) -m venv build/lockvenv
	build/lockvenv/bin/pip install --quiet --upgrade pip
	build/lockvenv/bin/pip install --quiet '.[notebooks,dev,bench]'
	build/lockvenv/bin/pip freeze --exclude shopmig > requirements-lock.txt

clean:
	rm -rf build .pytest_cache .ruff_cache
