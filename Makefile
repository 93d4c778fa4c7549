# Neural Synth Modeler: every workflow is a make target. `make reproduce` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
PROFILE ?= full
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: install data test test-slow bench fuzz docs reproduce export readme

install: $(VENV_STAMP) /usr/lib/vst/amsynth_vst.so /usr/bin/chromedriver

# Debian's Chromium and its WebDriver: tests/test_docs.py opens the built docs site in them, headless.
/usr/bin/chromedriver:
	@if [ "$$(id -u)" = 0 ]; then (apt-get install -y -qq chromium chromium-driver || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)); \
	 else sudo apt-get install -y -qq chromium chromium-driver || (sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver); fi

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

# The notebooks are tested two at a time, each with half the cores: torch's OpenMP threads spin while they wait, and two
# notebooks each running a thread per core made 09h, 09i and 12a take 7 min together on 2 cores, against 50 s this way.
NB_THREADS := $(shell n=$$(nproc); echo $$(( n > 2 ? n / 2 : 1 )))
NB_TEST := OMP_NUM_THREADS=$(NB_THREADS) .venv/bin/nbdev_test --n_workers 2

test: install /usr/bin/sox /usr/bin/espeak-ng
	.venv/bin/nbdev_export
	@git diff --quiet -- nsm_modeler || (echo "nbdev_export changed nsm_modeler/: export the notebooks and commit" && git --no-pager diff --stat -- nsm_modeler && exit 1)
	$(NB_TEST)
	.venv/bin/pytest -q tests

test-slow: install /usr/bin/sox /usr/bin/espeak-ng
	$(NB_TEST) --flags slow

# sox and espeak-ng make the sounds amsynth did not make (`out_of_domain`), on which the F0 trackers are compared (bench.f0_agreement)
bench: install /usr/bin/sox /usr/bin/espeak-ng
	$(PY) -c 'from nsm_modeler.bench import run_benchmarks; run_benchmarks()'

/usr/bin/sox /usr/bin/espeak-ng:
	@if [ "$$(id -u)" = 0 ]; then (apt-get install -y -qq $(@F) || (apt-get update -qq && apt-get install -y -qq $(@F))); \
	 else sudo apt-get install -y -qq $(@F) || (sudo apt-get update -qq && sudo apt-get install -y -qq $(@F)); fi

# Coverage-guided fuzzing (atheris) of every reader of outside bytes (nsm_modeler.fuzz.reader_table), seeded from real
# files: FUZZ_RUNS inputs per reader, two readers at a time, each in its own process. Writes reports/fuzz.md and keeps
# any failing input in reports/fuzz/; fails if an input raised anything but NsmError or crashed a reader.
FUZZ_RUNS ?= 100000
fuzz: install
	$(PY) -c 'from nsm_modeler.fuzz import fuzz_main; fuzz_main($(FUZZ_RUNS))'

# The docs site in _site/ (open _site/index.html): the README, the notebooks executed (two at a time; DOCS_EXECUTE=0 shows
# the outputs saved in them instead, in about a minute), reports/results.md, the pipeline run's executed notebooks
# (reports/runs/<DOCS_PROFILE>/, default: the run results.md reports) and docs/*.md; it also redraws docs/architecture.png.
DOCS_EXECUTE ?= 1
DOCS_PROFILE ?=
docs: install /usr/bin/sox /usr/bin/espeak-ng
	$(PY) -c 'from nsm_modeler.docs import docs_main; docs_main("$(DOCS_EXECUTE)", "$(DOCS_PROFILE)")'

# FORCE=1 rebuilds the dataset even if the finished one matches its config; sox and espeak-ng make the evaluate step's
# sounds amsynth did not make (`out_of_domain`)
reproduce: install /usr/bin/sox /usr/bin/espeak-ng
	.venv/bin/nsm reproduce --profile $(PROFILE)$(if $(FORCE), --force)

export: install
	.venv/bin/nbdev_export
	$(PY) -c 'from nsm_modeler.docs import write_readme; write_readme()'

readme: install
	$(PY) -c 'from nsm_modeler.docs import write_readme; write_readme()'
