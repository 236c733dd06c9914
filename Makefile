# Two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create or refresh .venv; a second run with nothing changed takes seconds.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.stamp-deps
PKG_STAMP := $(VENV)/.stamp-package
PKG_SOURCES := $(shell find lam_ros lam_models launch config -name '*.py' -o -name '*.yaml' -o -name '*.xml' 2>/dev/null)
XS_PREFIX := $(CURDIR)/build/xs_msgs/install
XS_STAMP := $(VENV)/.stamp-xs-msgs
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
# interbotix_xs_msgs built from interfaces/ (a robot has the real package sourced instead)
export PYTHONPATH := $(XS_PREFIX)/lib/python3.11/site-packages$(if $(PYTHONPATH),:$(PYTHONPATH))
export LD_LIBRARY_PATH := $(XS_PREFIX)/lib$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))
export AMENT_PREFIX_PATH := $(XS_PREFIX):$(CURDIR)/$(VENV)$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH))
export FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds.xml

.PHONY: demo test setup clean
setup: $(PKG_STAMP) $(XS_STAMP)

$(DEPS_STAMP): requirements.txt tools/system_deps.sh
	tools/system_deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

$(PKG_STAMP): $(DEPS_STAMP) setup.py setup.cfg package.xml $(PKG_SOURCES)
	$(PY) -m pip install -q --no-deps --no-build-isolation --force-reinstall . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

$(XS_STAMP): $(DEPS_STAMP) tools/build_interfaces.py $(wildcard interfaces/interbotix_xs_msgs/*/*) interfaces/interbotix_xs_msgs/CMakeLists.txt
	$(PY) tools/build_interfaces.py --prefix $(XS_PREFIX)
	touch $@

demo: setup
	$(PY) -m lam_ros.app.demo

TESTS ?= test
test: setup  # one file: make test TESTS=test/test_safety.py
	$(PY) -m pytest $(TESTS) -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info
