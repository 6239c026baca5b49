"""Unit tests for kubeapi.strategy: the QoS class of a pod (as upstream's
GetPodQOS) and what the server sets on a newly created object."""
from __future__ import annotations

import copy

import pytest

from kubeapi.strategy import STATUS_RESET, pod_qos_class, prepare_for_create


def res(requests: dict | None = None, limits: dict | None = None) -> dict:
    out: dict = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return out


def c(name: str = "c", resources: dict | None = None) -> dict:
    out = {"name": name, "image": "busybox"}
    if resources is not None:
        out["resources"] = resources
    return out


def spec(*containers: dict, init: list | None = None, ephemeral: list | None = None) -> dict:
    out: dict = {"containers": list(containers)}
    if init is not None:
        out["initContainers"] = init
    if ephemeral is not None:
        out["ephemeralContainers"] = ephemeral
    return out


CPU_MEM = {"cpu": "500m", "memory": "256Mi"}
GUARANTEED = res(CPU_MEM, CPU_MEM)

# (name, pod spec, expected class)
QOS_CASES = [
    # ---------------------------------------------------------------- BestEffort
    ("no containers", {"containers": []}, "BestEffort"),
    ("an empty spec", {}, "BestEffort"),
    ("no resources", spec(c()), "BestEffort"),
    ("empty resources", spec(c(resources={})), "BestEffort"),
    ("empty requests and limits", spec(c(resources=res({}, {}))), "BestEffort"),
    ("zero requests are ignored", spec(c(resources=res({"cpu": "0", "memory": "0"}))), "BestEffort"),
    ("zero limits and requests in any suffix are ignored",
     spec(c(resources=res({"cpu": "0m", "memory": "0Gi"}, {"cpu": "0", "memory": "0Mi"}))), "BestEffort"),
    ("an extended resource alone", spec(c(resources=res({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"}))),
     "BestEffort"),
    ("ephemeral-storage and hugepages alone do not count",
     spec(c(resources=res({"ephemeral-storage": "1Gi", "hugepages-2Mi": "2Mi"},
                          {"ephemeral-storage": "1Gi", "hugepages-2Mi": "2Mi"}))), "BestEffort"),
    ("several containers, none with cpu or memory", spec(c("a"), c("b", res({"example.com/foo": "1"}))),
     "BestEffort"),
    # ---------------------------------------------------------------- Burstable
    ("a cpu request only", spec(c(resources=res({"cpu": "100m"}))), "Burstable"),
    ("a memory request only", spec(c(resources=res({"memory": "64Mi"}))), "Burstable"),
    ("a memory limit (and its defaulted request) only",
     spec(c(resources=res({"memory": "1Gi"}, {"memory": "1Gi"}))), "Burstable"),
    ("cpu and memory limited, requests lower",
     spec(c(resources=res({"cpu": "250m", "memory": "128Mi"}, {"cpu": "500m", "memory": "256Mi"}))),
     "Burstable"),
    ("requests equal limits for cpu, lower for memory",
     spec(c(resources=res({"cpu": "1", "memory": "128Mi"}, {"cpu": "1", "memory": "256Mi"}))), "Burstable"),
    ("an explicit zero cpu request under a cpu limit",
     spec(c(resources=res({"cpu": "0", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}))), "Burstable"),
    ("a zero cpu limit", spec(c(resources=res({"memory": "1Gi"}, {"cpu": "0", "memory": "1Gi"}))),
     "Burstable"),
    ("limits with no requests at all (before defaulting)",
     spec(c(resources=res(None, {"cpu": "1", "memory": "1Gi"}))), "Burstable"),
    ("one guaranteed container and one without resources", spec(c("a", GUARANTEED), c("b")), "Burstable"),
    ("one guaranteed container and one burstable",
     spec(c("a", GUARANTEED), c("b", res({"cpu": "100m"}, {"cpu": "200m", "memory": "1Gi"}))), "Burstable"),
    ("1G is not 1Gi", spec(c(resources=res({"cpu": "1", "memory": "1G"}, {"cpu": "1", "memory": "1Gi"}))),
     "Burstable"),
    ("init containers count: a request in an init container only",
     spec(c("app"), init=[c("init", res({"cpu": "100m"}))]), "Burstable"),
    ("init containers count: a guaranteed app with an unlimited init container",
     spec(c("app", GUARANTEED), init=[c("init")]), "Burstable"),
    ("init containers count: a guaranteed init container with an unlimited app",
     spec(c("app"), init=[c("init", GUARANTEED)]), "Burstable"),
    # ---------------------------------------------------------------- Guaranteed
    ("requests equal limits for cpu and memory", spec(c(resources=GUARANTEED)), "Guaranteed"),
    ("1 cpu equals 1000m", spec(c(resources=res({"cpu": "1000m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}))),
     "Guaranteed"),
    ("0.5 equals 500m and 1Gi equals 1073741824",
     spec(c(resources=res({"cpu": "0.5", "memory": "1073741824"}, {"cpu": "500m", "memory": "1Gi"}))),
     "Guaranteed"),
    ("128Mi equals 134217728 and 1000e-3 equals 1",
     spec(c(resources=res({"cpu": "1000e-3", "memory": "134217728"}, {"cpu": "1", "memory": "128Mi"}))),
     "Guaranteed"),
    ("integer quantities", spec(c(resources=res({"cpu": 2, "memory": 1073741824},
                                                {"cpu": "2", "memory": "1Gi"}))), "Guaranteed"),
    ("an extended resource beside equal cpu and memory does not matter",
     spec(c(resources=res({**CPU_MEM, "nvidia.com/gpu": "1"}, {**CPU_MEM, "nvidia.com/gpu": "1"}))),
     "Guaranteed"),
    ("an extended resource limited without a request does not matter",
     spec(c(resources=res(CPU_MEM, {**CPU_MEM, "example.com/foo": "2"}))), "Guaranteed"),
    ("two guaranteed containers", spec(c("a", GUARANTEED), c("b", res({"cpu": "2", "memory": "1Gi"},
                                                                      {"cpu": "2", "memory": "1Gi"}))),
     "Guaranteed"),
    ("guaranteed app and init containers", spec(c("app", GUARANTEED), init=[c("init", GUARANTEED)]),
     "Guaranteed"),
    ("ephemeral containers are not counted", spec(c("app", GUARANTEED), ephemeral=[c("debug")]), "Guaranteed"),
]


@pytest.mark.parametrize("name,pod_spec,expected", QOS_CASES, ids=[q[0] for q in QOS_CASES])
def test_pod_qos_class(name, pod_spec, expected):
    before = copy.deepcopy(pod_spec)
    assert pod_qos_class(pod_spec) == expected
    assert pod_spec == before, "the spec was mutated"


def pod(pod_spec: dict, status: dict | None = None) -> dict:
    out = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default",
                                                           "labels": {"app": "x"}},
           "spec": pod_spec}
    if status is not None:
        out["status"] = status
    return out


@pytest.mark.parametrize("pod_spec,qos", [
    (spec(c()), "BestEffort"),
    (spec(c(resources=res({"cpu": "100m"}))), "Burstable"),
    (spec(c(resources=GUARANTEED)), "Guaranteed"),
])
def test_pod_created_pending_with_its_qos_class(pod_spec, qos):
    obj = pod(pod_spec)
    assert prepare_for_create("Pod", obj) is None
    assert obj == {**pod(pod_spec), "status": {"phase": "Pending", "qosClass": qos}}


def test_pod_status_from_the_client_is_discarded():
    sent = {"phase": "Running", "podIP": "10.1.2.3", "qosClass": "Guaranteed",
            "conditions": [{"type": "Ready", "status": "True"}]}
    obj = pod(spec(c()), status=sent)
    prepare_for_create("Pod", obj)
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert obj["spec"] == spec(c())
    assert obj["metadata"] == {"name": "p", "namespace": "default", "labels": {"app": "x"}}


def test_pod_without_spec_is_best_effort():
    obj = {"kind": "Pod", "metadata": {"name": "p"}}
    prepare_for_create("Pod", obj)
    assert obj == {"kind": "Pod", "metadata": {"name": "p"},
                   "status": {"phase": "Pending", "qosClass": "BestEffort"}}


WORKLOADS = ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"]
# the zero status as upstream serializes it: fields without omitempty stay, as 0
ZERO_STATUS = {
    "Deployment": {}, "Job": {}, "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0},
}


@pytest.mark.parametrize("kind", WORKLOADS)
def test_workload_status_reset(kind):
    template = {"metadata": {"labels": {"app": "w"}}, "spec": spec(c(resources=GUARANTEED))}
    obj = {"kind": kind, "metadata": {"name": "w"}, "spec": {"template": template},
           "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 7,
                      "conditions": [{"type": "Available", "status": "True"}]}}
    prepare_for_create(kind, obj)
    assert obj == {"kind": kind, "metadata": {"name": "w"}, "spec": {"template": template},
                   "status": ZERO_STATUS[kind]}


@pytest.mark.parametrize("kind", WORKLOADS)
def test_workload_without_status_gets_an_empty_one(kind):
    obj = {"kind": kind, "metadata": {"name": "w"}, "spec": {}}
    prepare_for_create(kind, obj)
    assert obj["status"] == ZERO_STATUS[kind]


def test_service_status_reset_to_an_empty_load_balancer():
    obj = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]},
                      "conditions": [{"type": "x", "status": "True"}]}}
    prepare_for_create("Service", obj)
    assert obj == {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]},
                   "status": {"loadBalancer": {}}}


def test_status_reset_kinds():
    assert STATUS_RESET == {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "Service"}


@pytest.mark.parametrize("kind,obj", [
    ("ConfigMap", {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}),
    ("ConfigMap", {"kind": "ConfigMap", "metadata": {"name": "cm"}, "status": {"x": 1}}),
    ("Node", {"kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}}),
    ("Lease", {"kind": "Lease", "metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}),
])
def test_other_kinds_untouched(kind, obj):
    before = copy.deepcopy(obj)
    prepare_for_create(kind, obj)
    assert obj == before
