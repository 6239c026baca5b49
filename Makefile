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
	@echo; echo "== the control plane on Ray, driven by the real kubectl"
	@command -v kubectl >/dev/null 2>&1 || { echo "kubectl is not installed: skipping this part"; exit 0; }; \
	export RAYKUBE_HOME=$$(mktemp -d) RAYKUBE_DATA=$$(mktemp -d); K=$(VENV)/bin/raykube; \
	KC="kubectl --kubeconfig $$RAYKUBE_HOME/kubeconfig --cache-dir $$RAYKUBE_HOME/kubecache"; \
	trap '$$K down >/dev/null 2>&1; rm -rf "$$RAYKUBE_HOME" "$$RAYKUBE_DATA"' EXIT; set -x; \
	$$K up --etcd 3 --apiservers 2 --port 0 --kubeconfig $$RAYKUBE_HOME/kubeconfig && \
	$$KC version && $$KC get namespaces && $$KC apply -f examples/ && $$KC get all -o wide && \
	$$KC scale deployment web --replicas=5 && \
	{ sed 's/replicas: 3/replicas: 4/' examples/web-deployment.yaml | $$KC apply --server-side -f - || true; } && \
	$$KC get deployment web -o yaml --show-managed-fields | head -40 && \
	$$KC get pod nope || true; \
	$$KC get replicasets,statefulsets,jobs,serviceaccounts,endpointslices && \
	$$KC create token default --duration=1h | cut -c1-48 && \
	$$KC create namespace scratch && $$KC create configmap note -n scratch --from-literal=a=b && \
	$$KC delete namespace scratch --timeout=60s
	@echo; echo "== the pod network: two nodes of real processes, a request from outside through a Service"
	@command -v kubectl >/dev/null 2>&1 || { echo "kubectl is not installed: skipping this part"; exit 0; }; \
	export RAYKUBE_HOME=$$(mktemp -d) RAYKUBE_DATA=$$(mktemp -d); K=$(VENV)/bin/raykube; \
	KC="kubectl --kubeconfig $$RAYKUBE_HOME/kubeconfig --cache-dir $$RAYKUBE_HOME/kubecache"; \
	trap '$$K down >/dev/null 2>&1; rm -rf "$$RAYKUBE_HOME" "$$RAYKUBE_DATA"' EXIT; set -x; \
	$$K up --etcd 1 --nodes 2 --runtime process --port 0 --kubeconfig $$RAYKUBE_HOME/kubeconfig >/dev/null && \
	$$KC apply -f examples/network/ && $$KC rollout status deployment/echo --timeout=120s && \
	$$KC wait --for=condition=Ready pod/client --timeout=120s && \
	$$KC get nodes,pods,services -o wide && \
	IP=$$($$KC get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}') && \
	PORT=$$($$KC get service echo -o jsonpath='{.spec.ports[0].nodePort}') && \
	$$K net curl http://$$IP:$$PORT/hostname && \
	for i in 1 2 3 4 5 6 7 8 9 10; do LB=$$($$KC get service echo -o jsonpath='{.status.loadBalancer.ingress[0].ip}'); \
	  [ -n "$$LB" ] && break; sleep 1; done && \
	$$K net curl http://$$LB/hostname && \
	$$K net curl --from default/client http://echo/hostname && \
	$$KC exec client -- wget -qO- http://echo.default.svc.cluster.local/hostname && echo

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
