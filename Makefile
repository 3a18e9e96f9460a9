# Two commands for a fresh machine: `make demo` (the app on the demo stream) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# `make demo SOURCE="--camera 0"` (or `make webcam`) runs the same window on a webcam.
SOURCE ?= --demo

.PHONY: demo webcam test venv bench clean lint

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required (set PY=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# the compiled kinematic fit, once per machine (numba's disk cache; else the first run
	@# compiles it in the background for ~20 s)
	$(BIN)/python -c "from model.anatomy_fast import warm_up; print(f'kinematic fit compiled in {warm_up():.0f} s')"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/handtrack $(SOURCE)

webcam: $(STAMP)
	$(BIN)/handtrack --camera 0

test: $(STAMP)
	bash scripts/gui-test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build *.egg-info
