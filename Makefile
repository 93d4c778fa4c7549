# Neural Synth Modeler: every workflow is a make target. `make reproduce` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
PROFILE ?= full
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: install data test test-slow bench docs reproduce export readme

install: $(VENV_STAMP) /usr/lib/vst/amsynth_vst.so

/usr/lib/vst/amsynth_vst.so:
	@if [ "$$(id -u)" = 0 ]; then (apt-get install -y -qq amsynth || (apt-get update -qq && apt-get install -y -qq amsynth)); \
	 else sudo apt-get install -y -qq amsynth || (sudo apt-get update -qq && sudo apt-get install -y -qq amsynth); fi
	@mkdir -p $$HOME/.local/share

$(VENV_STAMP): settings.ini setup.py
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

data: install
	.venv/bin/nsm presets import /usr/share/amsynth/banks -o data/presets/
	.venv/bin/nsm data --config configs/data_config.toml

test: install
	.venv/bin/nbdev_export
	@git diff --quiet -- nsm_modeler || (echo "nbdev_export changed nsm_modeler/: export the notebooks and commit" && git --no-pager diff --stat -- nsm_modeler && exit 1)
	.venv/bin/nbdev_test --n_workers 2
	.venv/bin/pytest -q tests

test-slow: install
	.venv/bin/nbdev_test --n_workers 2 --flags slow

bench: install
	$(PY) -c 'from nsm_modeler.bench import run_benchmarks; run_benchmarks()'

docs: install
	@# build_docs runs every notebook in this process, and something they start leaves a native (non-Python) thread
	@# that blocks a normal interpreter exit (seen: make docs hung after "site written"); os._exit ends it once the site is written.
	@if command -v quarto >/dev/null; then .venv/bin/nbdev_docs; else $(PY) -c 'import os; from nsm_modeler.docs import build_docs; build_docs(); os._exit(0)'; fi

reproduce: install
	.venv/bin/nsm reproduce --profile $(PROFILE)

export: install
	.venv/bin/nbdev_export
	$(PY) -c 'from nsm_modeler.docs import write_readme; write_readme()'

readme: install
	$(PY) -c 'from nsm_modeler.docs import write_readme; write_readme()'
