# Two entry points (see README): `make course` builds everything, `make test` runs the tests.
# Both create ./.venv and install the development requirements into it first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Offline copy of the datasets, when there is one beside the checkout (CI, classrooms).
export MLSYS_EDU_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export NO_MKDOCS_2_WARNING = 1

.PHONY: course test install browser versions clean

$(BIN)/mlsys-edu: pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/mlsys-edu

course: install
	$(BIN)/mlsys-edu build

# Headless Chromium for the browser tests: Debian's package where apt is available as root.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped (install Debian's chromium)"; fi; }

# The version sets every lab is checked under (Colab's, the declared minimum): .venvs/<set>,
# built once and reused while versions/ and pyproject.toml are unchanged.
versions: install
	$(BIN)/mlsys-edu versions build

test: install browser versions
	$(BIN)/python -m pytest

clean:
	rm -rf build .pytest_cache .venvs
