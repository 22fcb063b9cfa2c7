# Set-up and the two main jobs. Safe to re-run: the venv is made once, torch is installed once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0

.PHONY: demo test install venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch goes first, in its own step, pinned: any other version pulls a multi-GB CUDA build.
$(VENV)/.torch-$(TORCH_VERSION): $(BIN)/python
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	touch $@

# deepmd-kit's wheel carries an op library built for another torch, and `import deepmd.pt` fails while it is there;
# DPA-2's pure-PyTorch path (train, fine-tune, freeze, the ASE calculator) needs no ops, so it goes after each install.
install: $(VENV)/.torch-$(TORCH_VERSION)
	$(BIN)/pip install --quiet ".[test,postgres,parquet,sila,docking,atomistic,freeenergy]"
	rm -f $(VENV)/lib/python*/site-packages/deepmd/lib/libdeepmd_op_pt.so

demo: install
	$(BIN)/atomloop demo

# One test process a core, at most four (pytest-xdist; each PostgreSQL test worker gets a database of its own).
test: install
	$(BIN)/pytest --numprocesses=auto --maxprocesses=4 --durations=20

clean:
	rm -rf $(VENV) build *.egg-info
