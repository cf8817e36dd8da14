# Two commands: `make train` (shapes, the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-other-cpus lint bench mutate clean browser

# Detectron2 has no registry wheels: a test/development dependency, installed from the shared
# wheel when this machine has one (../shared/wheels); without it its tests skip, saying why.
D2_WHEEL := $(firstword $(wildcard ../shared/wheels/detectron2-*.whl))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# one OpenCV (opencv-python): a venv from before still has the headless wheel over the same cv2 folder
	@if $(PY) -m pip show -q opencv-python-headless 2>/dev/null; then \
	  $(PY) -m pip uninstall -q -y opencv-python-headless opencv-python; fi
	$(PY) -m pip install -q -e '.[dev]'
	$(if $(D2_WHEEL),$(PY) -m pip install -q $(D2_WHEEL),@echo "no ../shared/wheels/detectron2-*.whl: Detectron2 tests will skip")
	touch $(STAMP)

train: $(STAMP)
	$(PY) scripts/train.py +experiment=shapes

# The report test opens report.html in Debian's Chromium (driven by Playwright, a dev dependency);
# installed here when missing and apt-get can (as root); otherwise that test skips, saying why.
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null) || echo "no chromium and no root apt-get: the browser test will skip"; }

# pytest exits 5 when it collects nothing: that is a failure here, as every non-zero code is.
# pytest-xdist: one worker per core, each pinned to its own (tests/conftest.py): 1.62x on 2 cores.
XDIST := -n auto --maxprocesses 8 --dist worksteal
test: $(STAMP) browser
	$(PY) -m pytest $(XDIST)

# The numerically sensitive tests as other x86 CPUs run them: AVX2 only (no AVX-512), and
# AVX-512 with bf16 but no AMX (an AMD Zen 4). Their tolerances must hold on every CPU.
NUMERIC := tests/deploy tests/d2/test_parity.py tests/modeling tests/evaluation tests/demo/test_predictor.py
test-other-cpus: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 $(PY) -m pytest $(XDIST) $(NUMERIC)
	ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 $(PY) -m pytest $(XDIST) $(NUMERIC)

lint: $(STAMP)
	$(VENV)/bin/ruff check balloon_shapes scripts tests benchmarks

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml); about 20 minutes.
mutate: $(STAMP)
	$(PY) -m pip install -q -e '.[mutate]'
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

bench: $(STAMP)
	$(PY) benchmarks/shapes_cpu.py

clean:
	rm -rf outputs .pytest_cache mutants
