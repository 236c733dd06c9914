# Two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create or refresh .venv; a second run with nothing changed takes seconds.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.stamp-deps
PKG_STAMP := $(VENV)/.stamp-package
PKG_SOURCES := $(shell find lam_ros lam_models launch config -name '*.py' -o -name '*.yaml' -o -name '*.xml' 2>/dev/null)
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: demo test setup clean
setup: $(PKG_STAMP)

$(DEPS_STAMP): requirements.txt tools/system_deps.sh
	tools/system_deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

$(PKG_STAMP): $(DEPS_STAMP) setup.py setup.cfg package.xml $(PKG_SOURCES)
	$(PY) -m pip install -q --no-deps --no-build-isolation --force-reinstall . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

demo: setup
	$(PY) -m lam_ros.demo

test: setup
	$(PY) -m pytest test -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info
