# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The torch build this machine has on disk (see README); pip takes it from there.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test bench clean install

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all,test]' $(TORCH)
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/zoo list
	$(BIN)/zoo search resnet imagenet
	$(BIN)/zoo info all-minilm-l6-v2

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/warm_pull.py
	$(BIN)/python bench/verify_throughput.py
	$(BIN)/python bench/pull_throughput.py

clean:
	rm -rf $(VENV) build dist *.egg-info
