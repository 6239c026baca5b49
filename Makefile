# raykube: `make test` and `make demo` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo sim bench-etcd etcd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP) etcd
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m raftstore.sim --seeds 20 --nodes 3 --faults all
	$(PY) -m raftstore.sim --seeds 10 --nodes 5 --faults all
	@echo; echo "== a live raftstore on Ray: 3 members, a write, the leader killed, the write still there"
	@export RAYKUBE_HOME=$$(mktemp -d) RAYKUBE_DATA=$$(mktemp -d); K=$(VENV)/bin/raykube; \
	trap '$$K etcd down >/dev/null 2>&1; rm -rf "$$RAYKUBE_HOME" "$$RAYKUBE_DATA"' EXIT; \
	$$K etcd up --members 3 && $$K etcd put greeting hello && $$K etcd kill-leader && \
	$$K etcd get greeting && $$K etcd status

sim: $(STAMP)
	$(PY) -m raftstore.sim --seeds 300 --faults all

# Debian's etcd-server: real etcd for the side-by-side benchmark and its test
etcd:
	@command -v etcd >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq etcd-server) >/dev/null 2>&1 \
		|| echo "could not install etcd-server: the real-etcd benchmark test will not run"

# raftstore against a real 3-member etcd on this machine
bench-etcd: $(STAMP) etcd
	mkdir -p benchmarks/results
	$(PY) -m benchmarks.etcd_compare $(BENCH_ARGS) --json benchmarks/results/etcd_compare.json

clean:
	rm -rf $(VENV) .pytest_cache
