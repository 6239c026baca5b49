"""The pod network with real processes, as a person drives it: a Service
in front of an agnhost Deployment, reached by its DNS name from a busybox
pod (`kubectl exec ... wget http://web/`: the real wget process goes
through its node's egress gateway into the pod network, its name resolved
by the cluster DNS, kube-proxy's rule picking an endpoint, the answer from
the real server process), and `raykube net curl` from a pod and from
outside through a NodePort, printing the hops."""
from __future__ import annotations

import ipaddress
import json
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: net}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: net}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.52
        args: ["netexec", "--http-port=8080"]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: net}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: net}
spec:
  containers:
  - {name: c, image: "busybox:1.36", command: ["sleep", "3600"]}
"""


def retry(fn, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what} (last: {last!r})")


def test_a_real_process_reaches_a_service_by_name_and_outsiders_through_a_node_port(cluster):
    cluster.ok("apply", "-f", "-", input=APP)
    try:
        cluster.ok("rollout", "status", "deployment/web", "-n", "net", "--timeout=120s", timeout=130)
        cluster.ok("wait", "--for=condition=Ready", "pod/client", "-n", "net", "--timeout=120s", timeout=130)
        names = {p["metadata"]["name"] for p in json.loads(cluster.ok(
            "get", "pods", "-n", "net", "-l", "app=web", "-o", "json"))["items"]}
        svc = json.loads(cluster.ok("get", "service", "web", "-n", "net", "-o", "json"))
        assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
        node_port = svc["spec"]["ports"][0]["nodePort"]
        assert 30000 <= node_port <= 32767
        dns = json.loads(cluster.ok("get", "service", "kube-dns", "-n", "kube-system", "-o", "json"))
        assert dns["spec"]["clusterIP"] == "10.96.0.10"
        assert "nameserver 10.96.0.10" in cluster.ok("exec", "-n", "net", "client", "--", "cat", "/etc/resolv.conf")

        def by_name(host: str):
            r = cluster.kubectl("exec", "-n", "net", "client", "--", "wget", "-qO-", f"http://{host}/hostname")
            return r.stdout if r.returncode == 0 else None
        seen = set()
        for host in ["web"] * 10 + ["web.net", "web.net.svc.cluster.local"]:
            got = retry(lambda: by_name(host), f"wget http://{host}/ from the client pod")
            assert got in names, got
            seen.add(got)
        assert len(seen) == 2                              # both endpoints take turns

        r = cluster.raykube("net", "curl", "--from", "net/client", "http://web/hostname")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] in names
        assert "dns: web -> web.net.svc.cluster.local" in r.stdout and "kube-proxy" in r.stdout

        node = json.loads(cluster.ok("get", "nodes", "-o", "json"))["items"][0]
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        r = cluster.raykube("net", "curl", f"http://{ip}:{node_port}/hostname")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.splitlines()[0] in names
        assert "external client" in r.stdout and f"NodePort {ip}:{node_port}" in r.stdout
        r = cluster.raykube("net", "curl", f"http://{ip}:1/")
        assert r.returncode == 7 and "Connection refused" in r.stdout
        r = cluster.raykube("net", "curl", "--from", "net/nope", "http://web/")
        assert r.returncode == 2 and "net/nope" in r.stderr
    finally:
        cluster.kubectl("delete", "namespace", "net", "--wait=false")
