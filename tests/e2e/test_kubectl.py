"""Real kubectl (v1.32, the machine's binary) against raykube over HTTPS."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        resources:
          requests: {cpu: 100m, memory: 64Mi}
"""
SIDECAR = """\
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
"""


def _ns(cp, name: str) -> str:
    """A new namespace, once its default service account exists (pods need it), as upstream's e2e waits."""
    cp.ok("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    deadline = time.monotonic() + 30
    while cp.kubectl("get", "-n", name, "serviceaccount", "default").returncode != 0:
        assert time.monotonic() < deadline, f"no default service account in {name}"
        time.sleep(0.2)
    return name


def test_version_discovery_and_cluster_info(control_plane):
    cp = control_plane
    v = json.loads(cp.ok("version", "-o", "json"))
    assert v["serverVersion"]["minor"] == "32" and v["serverVersion"]["major"] == "1"
    res = cp.ok("api-resources")
    for row in ("pods  ", "deployments", "leases", "endpointslices", "clusterroles"):
        assert row in res
    assert "deploy" in cp.ok("api-resources", "--api-group", "apps", "-o", "wide")
    info = cp.ok("cluster-info")
    assert "Kubernetes control plane is running at https://" in info
    names = cp.ok("get", "namespaces", "-o", "name").split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public",
            "namespace/kube-node-lease"} <= set(names)


def test_create_get_in_every_output_format(control_plane):
    cp = control_plane
    ns = _ns(cp, "outputs")
    assert cp.ok("create", "-n", ns, "-f", "-", input=DEPLOYMENT).strip() == "deployment.apps/web created"
    table = cp.ok("get", "-n", ns, "deployments").splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/2"]
    wide = cp.ok("get", "-n", ns, "deploy", "-o", "wide").splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"] and "app=web" in wide[1]
    obj = yaml.safe_load(cp.ok("get", "-n", ns, "deploy", "web", "-o", "yaml"))
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert obj["metadata"]["generation"] == 1 and obj["metadata"]["uid"]
    as_json = json.loads(cp.ok("get", "-n", ns, "deploy", "web", "-o", "json"))
    # (the controller manager may write its status in between: the same object, maybe a newer version)
    assert as_json["metadata"]["uid"] == obj["metadata"]["uid"] and as_json["spec"] == obj["spec"]
    assert int(as_json["metadata"]["resourceVersion"]) >= int(obj["metadata"]["resourceVersion"])
    assert cp.ok("get", "-n", ns, "deploy", "-o", "name").strip() == "deployment.apps/web"
    assert cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "2"
    cc = cp.ok("get", "-n", ns, "deploy", "-o", "custom-columns=N:.metadata.name,IMG:.spec.template.spec.containers[0].image")
    assert cc.split() == ["N", "IMG", "web", "nginx:1.25"]
    cp.ok("run", "-n", ns, "solo", "--image=busybox:1.36", "--labels=tier=one")
    pods = cp.ok("get", "-n", ns, "pods", "--show-labels").splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert pods[1].split()[:3] == ["solo", "0/1", "Pending"] and pods[1].split()[-1] == "tier=one"
    allns = cp.ok("get", "pods", "-A").splitlines()
    assert allns[0].split()[0] == "NAMESPACE" and any(ln.split()[:2] == [ns, "solo"] for ln in allns)
    assert "solo" in cp.ok("get", "pods", "-n", ns, "-l", "tier=one")
    assert "No resources found" in cp.kubectl("get", "pods", "-n", ns, "-l", "tier=two").stderr
    assert "solo" in cp.ok("get", "pods", "-n", ns, "--field-selector", "metadata.name=solo")
    assert "deployment.apps/web" in cp.ok("get", "all", "-n", ns)


def test_get_of_every_kind(control_plane):
    cp = control_plane
    ns = _ns(cp, "kinds")
    manifests = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
         "spec": {"template": {"spec": {"restartPolicy": "Never",
                                        "containers": [{"name": "c", "image": "busybox"}]}}}},
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lease"},
         "spec": {"holderIdentity": "me"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    ]
    for m in manifests:
        cp.ok("create", "-n", ns, "-f", "-", input=json.dumps(m))
    expect = {"configmaps": ["NAME", "DATA", "AGE"], "secrets": ["NAME", "TYPE", "DATA", "AGE"],
              "serviceaccounts": ["NAME", "SECRETS", "AGE"],
              "services": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
              "jobs": ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
              "leases": ["NAME", "HOLDER", "AGE"], "roles": ["NAME", "CREATED", "AT"]}
    for kind, header in expect.items():
        out = cp.ok("get", "-n", ns, kind).splitlines()
        assert out[0].split() == header, (kind, out)
        assert len(out) >= 2, (kind, out)
    for kind in ("nodes", "endpoints", "endpointslices", "events", "daemonsets", "statefulsets",
                 "replicasets", "clusterroles", "clusterrolebindings", "rolebindings"):
        r = cp.kubectl("get", kind, "-A" if kind not in ("nodes", "clusterroles", "clusterrolebindings") else "-o=wide")
        assert r.returncode == 0, (kind, r.stderr)
    assert cp.ok("get", "-n", ns, "secret", "s", "-o", "jsonpath={.data.k}") == "dg=="


def test_apply_client_side_and_edit_label_annotate_patch(control_plane, tmp_path):
    cp = control_plane
    ns = _ns(cp, "applied")
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOYMENT)
    assert cp.ok("apply", "-n", ns, "-f", str(f)).strip() == "deployment.apps/web created"
    assert cp.ok("apply", "-n", ns, "-f", str(f)).strip() == "deployment.apps/web unchanged"
    f.write_text(DEPLOYMENT.replace("nginx:1.25", "nginx:1.26") + SIDECAR)
    assert cp.ok("apply", "-n", ns, "-f", str(f)).strip() == "deployment.apps/web configured"
    imgs = cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}")
    assert imgs == "nginx:1.26 busybox:1.36"
    f.write_text(DEPLOYMENT)  # the sidecar leaves the manifest: apply removes it
    cp.ok("apply", "-n", ns, "-f", str(f))
    assert cp.ok("get", "-n", ns, "deploy", "web",
                 "-o", "jsonpath={.spec.template.spec.containers[*].name}") == "nginx"
    gen = cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.metadata.generation}")
    assert gen == "3"
    cp.ok("label", "-n", ns, "deploy", "web", "team=blue")
    cp.ok("annotate", "-n", ns, "deploy", "web", "owner=ops")
    meta = json.loads(cp.ok("get", "-n", ns, "deploy", "web", "-o", "json"))["metadata"]
    assert meta["labels"]["team"] == "blue" and meta["annotations"]["owner"] == "ops"
    assert "already has a value" in cp.fails("label", "-n", ns, "deploy", "web", "team=red")
    cp.ok("label", "-n", ns, "deploy", "web", "team-")
    # the three patch types
    cp.ok("patch", "-n", ns, "deploy", "web", "-p",
          '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}')
    cp.ok("patch", "-n", ns, "deploy", "web", "--type=merge", "-p", '{"spec":{"revisionHistoryLimit":3}}')
    cp.ok("patch", "-n", ns, "deploy", "web", "--type=json",
          "-p", '[{"op":"add","path":"/spec/minReadySeconds","value":5}]')
    spec = json.loads(cp.ok("get", "-n", ns, "deploy", "web", "-o", "json"))["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert spec["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert spec["revisionHistoryLimit"] == 3 and spec["minReadySeconds"] == 5
    # edit through an EDITOR script
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 7/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    assert "edited" in cp.ok("edit", "-n", ns, "deploy", "web", env={"EDITOR": str(editor)})
    assert cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "7"


def test_scale_and_delete_modes(control_plane):
    cp = control_plane
    ns = _ns(cp, "scaled")
    cp.ok("create", "-n", ns, "-f", "-", input=DEPLOYMENT)
    assert "scaled" in cp.ok("scale", "-n", ns, "deploy", "web", "--replicas=4")
    assert cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "4"
    err = cp.fails("scale", "-n", ns, "deploy", "web", "--current-replicas=2", "--replicas=5")
    assert "Expected replicas to be 2, was 4" in err
    cp.ok("scale", "-n", ns, "deploy", "web", "--current-replicas=4", "--replicas=5")
    assert cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "5"
    for i in range(3):
        cp.ok("create", "-n", ns, "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "labels": {"batch": "x"}}}))
    out = cp.ok("delete", "-n", ns, "configmaps", "-l", "batch=x")
    assert sorted(out.split("\n")[:3]) == ['configmap "c0" deleted', 'configmap "c1" deleted',
                                          'configmap "c2" deleted']
    cp.ok("create", "-n", ns, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}}))
    # the garbage collector finishes what --cascade asked for: orphan (nothing depends on
    # "kept": it just goes), foreground (the ReplicaSet and its pods first, then the Deployment)
    cp.ok("delete", "-n", ns, "configmap", "kept", "--cascade=orphan", "--wait=true", "--timeout=30s")
    assert "NotFound" in cp.fails("get", "-n", ns, "configmap", "kept")
    rs = cp.ok("get", "-n", ns, "replicasets", "-o", "name").split()
    assert len(rs) == 1, rs
    out = cp.ok("delete", "-n", ns, "deploy", "web", "--cascade=foreground", "--wait=true", "--timeout=60s",
                timeout=90)
    assert 'deployment.apps "web" deleted' in out
    assert "NotFound" in cp.fails("get", "-n", ns, "deploy", "web")
    assert "NotFound" in cp.fails("get", "-n", ns, rs[0])
    cp.ok("run", "-n", ns, "gone", "--image=busybox")
    assert 'pod "gone" deleted' in cp.ok("delete", "-n", ns, "pod", "gone", "--wait=true", "--timeout=30s")
    cp.ok("run", "-n", ns, "dry", "--image=busybox")
    cp.ok("delete", "-n", ns, "pod", "dry", "--dry-run=server")
    assert "dry" in cp.ok("get", "-n", ns, "pods", "-o", "name")


def test_wait_describe_and_watch(control_plane):
    cp = control_plane
    ns = _ns(cp, "watched")
    cp.ok("create", "-n", ns, "-f", "-", input=DEPLOYMENT)
    described = cp.ok("describe", "-n", ns, "deploy", "web")
    assert "Name:                   web" in described and "RollingUpdate" in described
    cp.ok("run", "-n", ns, "p1", "--image=busybox")
    d = cp.ok("describe", "-n", ns, "pod", "p1")
    assert re.search(r"^Status:\s+Pending$", d, re.M) and re.search(r"^QoS Class:\s+BestEffort$", d, re.M), d
    assert cp.ok("wait", "-n", ns, "--for=jsonpath={.status.phase}=Pending", "pod/p1", "--timeout=20s")
    watcher = subprocess.Popen(
        ["kubectl", "--kubeconfig", cp.kubeconfig, "--cache-dir", os.path.join(cp.tmp, "kubecache"),
         "get", "pods", "-n", ns, "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        cp.ok("run", "-n", ns, "p2", "--image=busybox")
        cp.ok("label", "-n", ns, "pod", "p2", "seen=yes")
        time.sleep(2)
    finally:
        watcher.terminate()
        out, err = watcher.communicate(timeout=10)
    lines = [ln.split()[0] for ln in out.splitlines() if ln.strip()]
    assert lines[0] == "NAME" and lines.count("p1") == 1 and lines.count("p2") >= 2, out + err
    deleter = subprocess.Popen(
        ["kubectl", "--kubeconfig", cp.kubeconfig, "--cache-dir", os.path.join(cp.tmp, "kubecache"),
         "wait", "-n", ns, "--for=delete", "pod/p1", "--timeout=30s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    cp.ok("delete", "-n", ns, "pod", "p1", "--wait=false")
    out, err = deleter.communicate(timeout=40)
    assert deleter.returncode == 0 and "condition met" in out, err


def test_errors_print_as_upstream(control_plane):
    cp = control_plane
    ns = _ns(cp, "errors")
    assert cp.fails("get", "-n", ns, "pod", "nope").strip() == 'Error from server (NotFound): pods "nope" not found'
    assert cp.fails("get", "-n", ns, "deploy", "nope").strip() == \
        'Error from server (NotFound): deployments.apps "nope" not found'
    cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}})
    cp.ok("create", "-n", ns, "-f", "-", input=cm)
    assert 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" already exists' \
        in cp.fails("create", "-n", ns, "-f", "-", input=cm)
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"},
           "spec": {"ports": [{"port": 70000, "targetPort": 80}]}}
    err = cp.fails("create", "-n", ns, "-f", "-", input=json.dumps(svc))
    assert 'The Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and ' \
           '65535, inclusive' in err
    svc["spec"]["ports"] = [{"port": 0}]
    err = cp.fails("create", "-n", ns, "-f", "-", input=json.dumps(svc))
    assert err.startswith('The Service "bad" is invalid: \n* spec.ports[0].port: Invalid value: 0: ')
    assert 'error: the server doesn\'t have a resource type "frobs"' in cp.fails("get", "frobs")
    unknown = cp.fails("create", "-n", ns, "-f", "-",
                       input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "u"}, "bogus": 1}))
    assert 'strict decoding error: unknown field "bogus"' in unknown
    warned = cp.kubectl("create", "-n", ns, "--validate=warn", "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "u"}, "bogus": 1}))
    assert warned.returncode == 0 and 'Warning: unknown field "bogus"' in warned.stderr
    got = json.loads(cp.ok("get", "-n", ns, "configmap", "dup", "-o", "json"))
    got["data"] = {"x": "1"}
    cp.ok("replace", "-f", "-", input=json.dumps(got))
    conflict = cp.fails("replace", "-f", "-", input=json.dumps(got))
    assert 'Operation cannot be fulfilled on configmaps "dup": the object has been modified; ' \
           'please apply your changes to the latest version and try again' in conflict


def test_apply_server_side(control_plane, tmp_path):
    cp = control_plane
    ns = _ns(cp, "ssa")
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOYMENT + SIDECAR)
    assert cp.ok("apply", "--server-side", "-n", ns, "-f", str(f)).strip() == "deployment.apps/web serverside-applied"
    live = json.loads(cp.ok("get", "-n", ns, "deploy", "web", "-o", "json", "--show-managed-fields"))
    (entry,) = live["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert 'k:{"name":"sidecar"}' in entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    f.write_text(DEPLOYMENT)  # the sidecar leaves the configuration, so the object
    cp.ok("apply", "--server-side", "-n", ns, "-f", str(f))
    assert cp.ok("get", "-n", ns, "deploy", "web",
                 "-o", "jsonpath={.spec.template.spec.containers[*].name}") == "nginx"
    cp.ok("scale", "-n", ns, "deploy", "web", "--replicas=5")
    f.write_text(DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
    err = cp.fails("apply", "--server-side", "-n", ns, "-f", str(f))
    assert "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: " \
           ".spec.replicas" in err
    cp.ok("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", str(f))
    assert cp.ok("get", "-n", ns, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    other = tmp_path / "cm.yaml"  # apply creates what is missing
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made\ndata:\n  a: b\n")
    cp.ok("apply", "--server-side", "-n", ns, "-f", str(other))
    assert cp.ok("get", "-n", ns, "configmap", "made", "-o", "jsonpath={.data.a}") == "b"


def test_examples_apply_cleanly_and_round_trip(control_plane, tmp_path):
    cp = control_plane
    ns = _ns(cp, "examples")
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    created = cp.ok("apply", "-n", ns, "-f", examples).splitlines()
    assert len(created) == 7 and all(ln.endswith(" created") for ln in created), created
    again = cp.ok("apply", "-n", ns, "-f", examples).splitlines()
    assert all(ln.endswith(" unchanged") for ln in again), again
    for ref in ("deployment/web", "service/web", "configmap/shop-config", "job/migrate",
                "daemonset/node-agent", "statefulset/db", "service/db"):
        out = tmp_path / "obj.yaml"
        printed = yaml.safe_load(cp.ok("get", "-n", ns, ref, "-o", "yaml"))
        # what get prints is accepted back as it is; without its resourceVersion, since
        # controllers may have written the object since (an unconditional replace)
        del printed["metadata"]["resourceVersion"]
        out.write_text(yaml.safe_dump(printed))
        # kubectl replace reads the live resourceVersion and writes conditionally: a controller
        # writing the object's status in between makes it a 409, and a person runs it again
        for _ in range(10):
            r = cp.kubectl("replace", "-f", str(out))
            if r.returncode == 0 or "Conflict" not in r.stderr:
                break
        assert r.returncode == 0, r.stderr
        again = yaml.safe_load(cp.ok("get", "-n", ns, ref, "-o", "yaml"))
        before = yaml.safe_load(out.read_text())
        assert again["spec" if "spec" in before else "data"] == before["spec" if "spec" in before else "data"]


def test_imperative_generators_expose_nodes_and_logs(control_plane):
    cp = control_plane
    # create namespace / configmap / deployment send protobuf bodies
    assert cp.ok("create", "namespace", "gen").strip() == "namespace/gen created"
    assert cp.ok("create", "-n", "gen", "configmap", "cfg", "--from-literal=a=b").strip() == "configmap/cfg created"
    assert cp.ok("get", "-n", "gen", "configmap", "cfg", "-o", "jsonpath={.data.a}") == "b"
    cp.ok("create", "-n", "gen", "deployment", "api", "--image=nginx:1.27", "--replicas=3", "--port=8080")
    dep = json.loads(cp.ok("get", "-n", "gen", "deploy", "api", "-o", "json"))
    assert dep["spec"]["replicas"] == 3 and dep["spec"]["selector"]["matchLabels"] == {"app": "api"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert cp.ok("expose", "-n", "gen", "deployment", "api", "--port=80", "--target-port=8080").strip() == \
        "service/api exposed"
    svc = json.loads(cp.ok("get", "-n", "gen", "svc", "api", "-o", "json"))
    assert svc["spec"]["selector"] == {"app": "api"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    # a node as a kubelet would register it; describe and wait read it
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {"zone": "a"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "raykube", "kernelVersion": "6.1",
                                    "containerRuntimeVersion": "raykube://1", "machineID": "", "systemUUID": "",
                                    "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux",
                                    "architecture": "amd64"}}}
    cp.ok("create", "-f", "-", input=json.dumps(node))
    nodes = cp.ok("get", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[:3] == ["node-a", "Ready", "<none>"] and nodes[1].split()[-1] == "v1.32.0"
    assert "condition met" in cp.ok("wait", "--for=condition=Ready", "node/node-a", "--timeout=20s")
    described = cp.ok("describe", "node", "node-a")
    assert "Name:               node-a" in described and "zone=a" in described
    cp.ok("run", "-n", "gen", "talker", "--image=busybox")
    cp.ok("wait", "-n", "gen", "--for=jsonpath={.spec.nodeName}=node-a", "pod/talker", "--timeout=30s")
    err = cp.fails("logs", "-n", "gen", "talker")
    # the scheduler has bound it to node-a, the only node, which no kubelet serves
    assert "no kubelet serves node node-a" in err, err


def test_service_account_tokens_and_namespace_deletion(control_plane):
    cp = control_plane
    ns = _ns(cp, "tokens")
    assert cp.ok("get", "serviceaccounts", "-n", ns, "-o", "name").split() == ["serviceaccount/default"]
    assert "ca.crt" in cp.ok("get", "configmap", "kube-root-ca.crt", "-n", ns, "-o", "jsonpath={.data}")
    token = cp.ok("create", "token", "default", "-n", ns, "--duration=20m").strip()
    assert token.count(".") == 2
    denied = cp.kubectl("--token", token, "get", "pods", "-n", ns)
    assert denied.returncode != 0
    assert f'User "system:serviceaccount:{ns}:default" cannot list resource "pods"' in denied.stderr
    forged = cp.kubectl("--token", token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB"),
                        "get", "pods", "-n", ns)
    assert forged.returncode != 0 and "Unauthorized" in forged.stderr
    assert "less than 10 minutes" in cp.fails("create", "token", "default", "-n", ns, "--duration=5m")
    # deleting the namespace takes everything in it, then the namespace (kubectl waits for that)
    cp.ok("create", "configmap", "settings", "-n", ns, "--from-literal=a=b")
    assert f'namespace "{ns}" deleted' in cp.ok("delete", "namespace", ns, "--timeout=60s", timeout=90)
    assert "NotFound" in cp.fails("get", "namespace", ns)
    assert "may not be deleted" in cp.fails("delete", "namespace", "kube-system")
