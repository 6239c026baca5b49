# raykube: `make test` and `make demo` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo sim bench-etcd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m raftstore.sim --seeds 20 --nodes 3 --faults all
	$(PY) -m raftstore.sim --seeds 10 --nodes 5 --faults all

sim: $(STAMP)
	$(PY) -m raftstore.sim --seeds 300 --faults all

# raftstore against a real 3-member etcd on this machine (Debian's etcd-server)
bench-etcd: $(STAMP)
	@command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server; }
	mkdir -p benchmarks/results
	$(PY) -m benchmarks.etcd_compare $(BENCH_ARGS) --json benchmarks/results/etcd_compare.json

clean:
	rm -rf $(VENV) .pytest_cache
