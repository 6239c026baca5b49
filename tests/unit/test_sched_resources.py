"""The resource, port, node-name, unschedulable and image-locality scheduler
plugins, table-driven after upstream's plugin tests (same inputs, same
expected reasons and scores), plus a run through the Framework."""
from __future__ import annotations

import hashlib

import pytest

from actors.scheduler.framework import (MAX_NODE_SCORE, ClusterEvent, Code, CycleState, Framework, ListSnapshot,
                                        PluginSpec, Profile, SimpleHandle)
from actors.scheduler.nodeinfo import NodeInfo, PodInfo
from actors.scheduler.plugins.imagelocality import ImageLocality, normalized_image_name
from actors.scheduler.plugins.nodename import NodeName
from actors.scheduler.plugins.nodeports import NodePorts
from actors.scheduler.plugins.noderesources import (BalancedAllocation, Fit, broken_linear_function,
                                                    is_extended_resource_name, pod_non_zero_cpu_memory)
from actors.scheduler.plugins.nodeunschedulable import NodeUnschedulable

MB = 1024 * 1024
EXT_A, EXT_B = "example.com/aaa", "example.com/bbb"
K8S_IO_A, K8S_IO_B = "kubernetes.io/something", "subdomain.kubernetes.io/something"
HUGEPAGE_A = "hugepages-2Mi"
EXTENDED_RES = "vendor-domain/resource"


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------

def container(requests: dict | None = None, **extra) -> dict:
    c: dict = {"name": "c", "image": "img"}
    if requests is not None:
        c["resources"] = {"requests": {k: str(v) for k, v in requests.items()}}
    c.update(extra)
    return c


def res(cpu_milli: int = 0, mem: int = 0, eph: int = 0) -> dict:
    """A request list like upstream's framework.Resource{...}.ResourceList()."""
    out: dict = {"cpu": f"{cpu_milli}m", "memory": str(mem)}
    if eph:
        out["ephemeral-storage"] = str(eph)
    return out


def rl(**kw) -> dict:
    """Requests with arbitrary names: rl(**{"example.com/aaa": 1})."""
    return {k: str(v) for k, v in kw.items()}


def pod(*containers: dict, init: tuple[dict, ...] = (), overhead: dict | None = None, node_name: str = "",
        name: str = "p", **spec_extra) -> dict:
    spec: dict = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if overhead:
        spec["overhead"] = overhead
    if node_name:
        spec["nodeName"] = node_name
    spec.update(spec_extra)
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def req_pod(*reqs: dict, **kw) -> dict:
    """One container per request list (upstream's st.MakePod().Req(...).Req(...))."""
    return pod(*(container(r) for r in reqs), **kw)


def node(name: str, allocatable: dict | None = None, images: list | None = None, **spec) -> dict:
    n: dict = {"metadata": {"name": name}, "spec": dict(spec), "status": {}}
    if allocatable is not None:
        n["status"]["allocatable"] = {k: str(v) for k, v in allocatable.items()}
    if images is not None:
        n["status"]["images"] = images
    return n


def node_info(n: dict, *pods: dict) -> NodeInfo:
    ni = NodeInfo(n)
    for i, p in enumerate(pods):
        p = {**p, "metadata": {"name": f"existing-{i}", "namespace": "default"}}
        ni.add_pod(PodInfo.of(p))
    return ni


def make_allocatable(milli_cpu, memory, pods, ext_a, storage, hugepage_a) -> dict:
    return {"cpu": f"{milli_cpu}m", "memory": memory, "pods": pods, EXT_A: ext_a, "ephemeral-storage": storage,
            HUGEPAGE_A: hugepage_a}


def run_filter(plugin, p: dict, ni: NodeInfo):
    state = CycleState()
    pi = PodInfo.of(p)
    _, st = plugin.pre_filter(state, pi, [ni])
    if st.code == Code.SKIP:
        return st
    assert st.is_success()
    return plugin.filter(state, pi, ni)


def scores(plugin, p: dict, nis: list[NodeInfo], run_pre_score: bool = True) -> list[int]:
    state = CycleState()
    pi = PodInfo.of(p)
    if run_pre_score:
        st = plugin.pre_score(state, pi, nis)
        assert st.is_success(), st
    out = []
    for ni in nis:
        s, st = plugin.score(state, pi, ni)
        assert st.is_success()
        out.append(s)
    return out


# --------------------------------------------------------------------------------------------
# NodeResourcesFit: Filter
# --------------------------------------------------------------------------------------------

FIT_CASES = [
    # (name, pod, existing pod on the node, args, expected reasons)
    ("no resources requested always fits", pod(), req_pod(res(10, 20)), {}, []),
    ("too many resources fails", req_pod(res(1, 1)), req_pod(res(10, 20)), {},
     ["Insufficient cpu", "Insufficient memory"]),
    ("too many resources fails due to init container cpu",
     req_pod(res(1, 1), init=(container(res(3, 1)),)), req_pod(res(8, 19)), {}, ["Insufficient cpu"]),
    ("too many resources fails due to highest init container cpu",
     req_pod(res(1, 1), init=(container(res(3, 1)), container(res(2, 1)))), req_pod(res(8, 19)), {},
     ["Insufficient cpu"]),
    ("too many resources fails due to init container memory",
     req_pod(res(1, 1), init=(container(res(1, 3)),)), req_pod(res(9, 19)), {}, ["Insufficient memory"]),
    ("too many resources fails due to highest init container memory",
     req_pod(res(1, 1), init=(container(res(1, 3)), container(res(1, 2)))), req_pod(res(9, 19)), {},
     ["Insufficient memory"]),
    ("init container fits because it's the max, not sum, of containers and init containers",
     req_pod(res(1, 1), init=(container(res(1, 1)),)), req_pod(res(9, 19)), {}, []),
    ("multiple init containers fit because it's the max, not sum, of containers and init containers",
     req_pod(res(1, 1), init=(container(res(1, 1)), container(res(1, 1)))), req_pod(res(9, 19)), {}, []),
    ("both resources fit", req_pod(res(1, 1)), req_pod(res(5, 5)), {}, []),
    ("one resource memory fits", req_pod(res(2, 1)), req_pod(res(9, 5)), {}, ["Insufficient cpu"]),
    ("one resource cpu fits", req_pod(res(1, 2)), req_pod(res(5, 19)), {}, ["Insufficient memory"]),
    ("equal edge case", req_pod(res(5, 1)), req_pod(res(5, 19)), {}, []),
    ("equal edge case for init container", req_pod(res(4, 1), init=(container(res(5, 1)),)),
     req_pod(res(5, 19)), {}, []),
    ("extended resource fits", req_pod(rl(**{EXT_A: 1})), req_pod(res()), {}, []),
    ("extended resource fits for init container", req_pod(res(), init=(container(rl(**{EXT_A: 1})),)),
     req_pod(res()), {}, []),
    ("extended resource capacity enforced", req_pod({**res(1, 1), EXT_A: "10"}), req_pod({**res(), EXT_A: "0"}),
     {}, [f"Insufficient {EXT_A}"]),
    ("extended resource capacity enforced for init container",
     req_pod(res(), init=(container({**res(1, 1), EXT_A: "10"}),)), req_pod({**res(), EXT_A: "0"}), {},
     [f"Insufficient {EXT_A}"]),
    ("extended resource allocatable enforced", req_pod({**res(1, 1), EXT_A: "1"}),
     req_pod({**res(), EXT_A: "5"}), {}, [f"Insufficient {EXT_A}"]),
    ("extended resource allocatable enforced for init container",
     req_pod(res(), init=(container({**res(1, 1), EXT_A: "1"}),)), req_pod({**res(), EXT_A: "5"}), {},
     [f"Insufficient {EXT_A}"]),
    ("extended resource allocatable enforced for multiple containers",
     req_pod({**res(1, 1), EXT_A: "3"}, {**res(1, 1), EXT_A: "3"}), req_pod({**res(), EXT_A: "2"}), {},
     [f"Insufficient {EXT_A}"]),
    ("extended resource allocatable admits multiple init containers",
     req_pod(res(), init=(container({**res(1, 1), EXT_A: "3"}), container({**res(1, 1), EXT_A: "3"}))),
     req_pod({**res(), EXT_A: "2"}), {}, []),
    ("extended resource allocatable enforced for multiple init containers",
     req_pod(res(), init=(container({**res(1, 1), EXT_A: "6"}), container({**res(1, 1), EXT_A: "3"}))),
     req_pod({**res(), EXT_A: "2"}), {}, [f"Insufficient {EXT_A}"]),
    ("extended resource allocatable enforced for unknown resource", req_pod({**res(1, 1), EXT_B: "1"}),
     req_pod(res()), {}, [f"Insufficient {EXT_B}"]),
    ("extended resource allocatable enforced for unknown resource for init container",
     req_pod(res(), init=(container({**res(1, 1), EXT_B: "1"}),)), req_pod(res()), {}, [f"Insufficient {EXT_B}"]),
    ("kubernetes.io resource capacity enforced", req_pod({**res(1, 1), K8S_IO_A: "10"}), req_pod(res()), {},
     [f"Insufficient {K8S_IO_A}"]),
    ("kubernetes.io resource capacity enforced for init container",
     req_pod(res(), init=(container({**res(1, 1), K8S_IO_B: "10"}),)), req_pod(res()), {},
     [f"Insufficient {K8S_IO_B}"]),
    ("hugepages resource capacity enforced", req_pod({**res(1, 1), HUGEPAGE_A: "10"}),
     req_pod({**res(), HUGEPAGE_A: "0"}), {}, [f"Insufficient {HUGEPAGE_A}"]),
    ("hugepages resource capacity enforced for init container",
     req_pod(res(), init=(container({**res(1, 1), HUGEPAGE_A: "10"}),)), req_pod({**res(), HUGEPAGE_A: "0"}), {},
     [f"Insufficient {HUGEPAGE_A}"]),
    ("hugepages resource allocatable enforced for multiple containers",
     req_pod({**res(1, 1), HUGEPAGE_A: "3"}, {**res(1, 1), HUGEPAGE_A: "3"}), req_pod({**res(), HUGEPAGE_A: "2"}),
     {}, [f"Insufficient {HUGEPAGE_A}"]),
    ("skip checking ignored extended resource", req_pod({**res(1, 1), EXT_B: "1"}), req_pod(res()),
     {"ignoredResources": [EXT_B]}, []),
    ("skip checking ignored extended resource via resource groups",
     req_pod({**res(1, 1), EXT_B: "1", K8S_IO_A: "1"}), req_pod(res()),
     {"ignoredResourceGroups": ["example.com"]}, [f"Insufficient {K8S_IO_A}"]),
    ("ignoredResources never skips a kubernetes.io resource", req_pod({**res(1, 1), K8S_IO_A: "1"}),
     req_pod(res()), {"ignoredResources": [K8S_IO_A]}, [f"Insufficient {K8S_IO_A}"]),
    ("resources + pod overhead fits", req_pod(res(1, 1), overhead={"cpu": "3m", "memory": "13"}),
     req_pod(res(5, 5)), {}, []),
    ("requests + overhead does not fit for memory", req_pod(res(1, 1), overhead={"cpu": "1m", "memory": "15"}),
     req_pod(res(5, 5)), {}, ["Insufficient memory"]),
    ("sidecar requests add to the containers'",
     req_pod(res(1, 1), init=(container(res(5, 1), restartPolicy="Always"),)), req_pod(res(5, 5)), {},
     ["Insufficient cpu"]),
    ("a plain init container of the same size fits", req_pod(res(1, 1), init=(container(res(5, 1)),)),
     req_pod(res(5, 5)), {}, []),
    ("init container runs alongside earlier sidecars",
     req_pod(res(1, 1), init=(container(res(3, 1), restartPolicy="Always"), container(res(3, 1)))),
     req_pod(res(5, 5)), {}, ["Insufficient cpu"]),
    ("a zero extended request is not checked", req_pod({**res(1, 1), EXT_B: "0"}), req_pod(res()), {}, []),
]


@pytest.mark.parametrize("name,p,existing,args,want", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_fit_filter(name, p, existing, args, want):
    ni = node_info(node("n", make_allocatable(10, 20, 32, 5, 20, 5)), existing)
    st = run_filter(Fit(args, None), p, ni)
    if want:
        assert st.code == Code.UNSCHEDULABLE
        assert st.reasons == want
    else:
        assert st.is_success(), st


NOT_ENOUGH_PODS_CASES = [
    ("even without specified resources predicate fails when there's no space for additional pod",
     pod(), req_pod(res(10, 20)), ["Too many pods"]),
    ("even if both resources fit predicate fails when there's no space for additional pod",
     req_pod(res(1, 1)), req_pod(res(5, 5)), ["Too many pods"]),
    ("even for equal edge case predicate fails when there's no space for additional pod",
     req_pod(res(5, 1)), req_pod(res(5, 19)), ["Too many pods"]),
    ("even for equal edge case predicate fails when there's no space for additional pod due to init container",
     req_pod(res(5, 1), init=(container(res(5, 1)),)), req_pod(res(5, 19)), ["Too many pods"]),
    ("every reason is listed", req_pod(res(6, 2)), req_pod(res(5, 19)),
     ["Too many pods", "Insufficient cpu", "Insufficient memory"]),
]


@pytest.mark.parametrize("name,p,existing,want", NOT_ENOUGH_PODS_CASES, ids=[c[0] for c in NOT_ENOUGH_PODS_CASES])
def test_fit_filter_pod_count(name, p, existing, want):
    ni = node_info(node("n", make_allocatable(10, 20, 1, 0, 0, 0)), existing)
    st = run_filter(Fit({}, None), p, ni)
    assert st.code == Code.UNSCHEDULABLE and st.reasons == want


STORAGE_CASES = [
    ("due to container scratch disk", req_pod(res(1, 1)), req_pod(res(10, 10)), ["Insufficient cpu"]),
    ("pod fit", req_pod(res(1, 1)), req_pod(res(2, 10)), []),
    ("storage ephemeral local storage request exceeds allocatable", req_pod(res(eph=25)), req_pod(res(2, 2)),
     ["Insufficient ephemeral-storage"]),
    ("ephemeral local storage is used", req_pod(res(eph=15)), req_pod(res(2, 2, eph=10)),
     ["Insufficient ephemeral-storage"]),
    ("pod fits", req_pod(res(eph=10)), req_pod(res(2, 2)), []),
]


@pytest.mark.parametrize("name,p,existing,want", STORAGE_CASES, ids=[c[0] for c in STORAGE_CASES])
def test_fit_filter_storage(name, p, existing, want):
    ni = node_info(node("n", make_allocatable(10, 20, 32, 5, 20, 5)), existing)
    st = run_filter(Fit({}, None), p, ni)
    assert (st.reasons if not st.is_success() else []) == want


def test_fit_filter_without_pre_filter_state_uses_the_pod():
    ni = node_info(node("n", make_allocatable(10, 20, 32, 5, 20, 5)), req_pod(res(10, 20)))
    st = Fit({}, None).filter(CycleState(), PodInfo.of(req_pod(res(1, 1))), ni)
    assert st.reasons == ["Insufficient cpu", "Insufficient memory"]


def test_extended_resource_names():
    assert is_extended_resource_name(EXT_A) and is_extended_resource_name("nvidia.com/gpu")
    for n in ("cpu", "memory", "pods", K8S_IO_A, K8S_IO_B, HUGEPAGE_A, "requests.example.com/x", "a/b/c"):
        assert not is_extended_resource_name(n), n


def test_fit_args_validation():
    with pytest.raises(ValueError, match="resources\\[0\\].weight"):
        Fit({"scoringStrategy": {"type": "LeastAllocated", "resources": [{"name": "memory", "weight": -1},
                                                                         {"name": "cpu", "weight": 1}]}}, None)
    with pytest.raises(ValueError, match="resources\\[1\\].weight"):
        Fit({"scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "memory", "weight": 1},
                                                                        {"name": "cpu", "weight": 101}]}}, None)
    with pytest.raises(ValueError, match="scoringStrategy.type"):
        Fit({"scoringStrategy": {"type": "Nope"}}, None)
    with pytest.raises(ValueError, match="at least one point"):
        Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}, None)
    with pytest.raises(ValueError, match="increasing order"):
        Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
            "shape": [{"utilization": 50, "score": 1}, {"utilization": 10, "score": 2}]}}}, None)
    with pytest.raises(ValueError, match="score"):
        Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
            "shape": [{"utilization": 0, "score": 11}]}}}, None)
    with pytest.raises(ValueError, match="ignoredResourceGroups"):
        Fit({"ignoredResourceGroups": ["example.com/aaa"]}, None)
    # weight 0 is defaulted to 1, as in the v1 configuration
    Fit({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}}, None)


# --------------------------------------------------------------------------------------------
# NodeResourcesFit: Score
# --------------------------------------------------------------------------------------------

DEFAULT_RESOURCES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
EXTENDED_RESOURCE_SET = DEFAULT_RESOURCES + [{"name": EXTENDED_RES, "weight": 1}]
CM = rl(cpu=1000, memory=2000), rl(cpu=2000, memory=3000)  # the usual two-container request


def cap(name: str, **alloc) -> dict:
    return node(name, alloc)


LEAST_ALLOCATED_CASES = [
    ("nothing scheduled, nothing requested", pod(),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=4000, memory=10000)], [], DEFAULT_RESOURCES,
     [MAX_NODE_SCORE, MAX_NODE_SCORE]),
    ("nothing scheduled, resources requested, differently sized nodes", req_pod(*CM),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)], [], DEFAULT_RESOURCES,
     [37, 50]),
    ("no resources requested, pods scheduled", pod(),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=4000, memory=10000)],
     [("node1", pod()), ("node1", pod()), ("node2", pod()), ("node2", pod())], DEFAULT_RESOURCES,
     [MAX_NODE_SCORE, MAX_NODE_SCORE]),
    ("no resources requested, pods scheduled with resources", pod(),
     [cap("node1", cpu=10000, memory=20000), cap("node2", cpu=10000, memory=20000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node1", req_pod(rl(cpu=3000, memory=0))),
      ("node2", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [70, 57]),
    ("resources requested, pods scheduled with resources", req_pod(*CM),
     [cap("node1", cpu=10000, memory=20000), cap("node2", cpu=10000, memory=20000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [57, 45]),
    ("resources requested, pods scheduled with resources, differently sized nodes", req_pod(*CM),
     [cap("node1", cpu=10000, memory=20000), cap("node2", cpu=10000, memory=50000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [57, 60]),
    ("requested resources exceed node capacity", req_pod(rl(cpu=3000, memory=0)),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=4000, memory=10000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [50, 25]),
    ("zero node resources, pods scheduled with resources", pod(), [node("node1", {}), node("node2", {})],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [0, 0]),
    ("nothing scheduled, resources requested with different weight on CPU and memory, differently sized nodes",
     req_pod(*CM), [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)], [],
     [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}], [41, 50]),
    ("bypass extended resource if the pod does not request", req_pod(*CM),
     [cap("node1", cpu=6000, memory=10000), node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4})],
     [], EXTENDED_RESOURCE_SET, [50, 50]),
    ("honor extended resource if the pod requests", req_pod({**rl(cpu=3000, memory=5000), EXTENDED_RES: "2"}),
     [node("node1", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4}),
      node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 10})], [], EXTENDED_RESOURCE_SET, [50, 60]),
    ("if the node doesn't have a resource", req_pod(rl(cpu=3000, memory=4000)),
     [cap("node1", cpu=6000, memory=10000), node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4})], [],
     [{"name": EXTENDED_RES, "weight": 2}, {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
     [55, 55]),
]

MOST_ALLOCATED_CASES = [
    ("nothing scheduled, nothing requested", pod(),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=4000, memory=10000)], [], DEFAULT_RESOURCES, [0, 0]),
    ("nothing scheduled, resources requested, differently sized nodes", req_pod(*CM),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)], [], DEFAULT_RESOURCES,
     [62, 50]),
    ("no resources requested, pods scheduled with resources", pod(),
     [cap("node1", cpu=10000, memory=20000), cap("node2", cpu=10000, memory=20000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node1", req_pod(rl(cpu=3000, memory=0))),
      ("node2", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [30, 42]),
    ("resources requested, pods scheduled with resources", req_pod(*CM),
     [cap("node1", cpu=10000, memory=20000), cap("node2", cpu=10000, memory=20000)],
     [("node1", req_pod(rl(cpu=3000, memory=0))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [42, 55]),
    ("resources requested equal node capacity", req_pod(rl(cpu=2000, memory=4000), rl(cpu=3000, memory=5000)),
     [cap("node1", cpu=5000, memory=10000), cap("node2", cpu=10000, memory=9000)], [], DEFAULT_RESOURCES,
     [95, 75]),
    ("nothing scheduled, resources requested, differently sized nodes, weighted", req_pod(*CM),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)], [],
     [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}], [58, 50]),
    ("no resources requested, pods scheduled, nonzero request for resource", pod(container()),
     [cap("node1", cpu="250m", memory="1000Mi"), cap("node2", cpu="250m", memory="1000Mi")],
     [("node1", pod(container())), ("node1", pod(container()))], DEFAULT_RESOURCES, [80, 30]),
    ("bypass extended resource if the pod does not request", req_pod(*CM),
     [cap("node1", cpu=6000, memory=10000), node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4})],
     [], EXTENDED_RESOURCE_SET, [50, 50]),
    ("honor extended resource if the pod request", req_pod({**rl(cpu=3000, memory=5000), EXTENDED_RES: "2"}),
     [node("node1", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4}),
      node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 10})], [], EXTENDED_RESOURCE_SET, [50, 40]),
    ("if the node doesn't have a resource", req_pod(rl(cpu=3000, memory=4000)),
     [cap("node1", cpu=6000, memory=10000), node("node2", {"cpu": 6000, "memory": 10000, EXTENDED_RES: 4})], [],
     [{"name": EXTENDED_RES, "weight": 2}, {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
     [45, 45]),
]

SHAPE_LEAST = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]
RTCR_CASES = [
    ("nothing scheduled, nothing requested (default - least requested nodes have priority)", pod(),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=4000, memory=10000)],
     [("node1", pod()), ("node1", pod())], DEFAULT_RESOURCES, [MAX_NODE_SCORE, MAX_NODE_SCORE]),
    ("nothing scheduled, resources requested, differently sized nodes (default - least requested nodes have "
     "priority)", req_pod(*CM),
     [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)],
     [("node1", pod()), ("node1", pod())], DEFAULT_RESOURCES, [38, 50]),
    ("no resources requested, pods scheduled with resources (default - least requested nodes have priority)",
     pod(), [cap("node1", cpu=4000, memory=10000), cap("node2", cpu=6000, memory=10000)],
     [("node1", req_pod(rl(cpu=3000, memory=5000))), ("node2", req_pod(rl(cpu=3000, memory=5000)))],
     DEFAULT_RESOURCES, [38, 50]),
]


def _place(nodes: list[dict], pods: list[tuple[str, dict]]) -> list[NodeInfo]:
    nis = [NodeInfo(n) for n in nodes]
    by_name = {ni.name: ni for ni in nis}
    for i, (where, p) in enumerate(pods):
        by_name[where].add_pod(PodInfo.of({**p, "metadata": {"name": f"e{i}", "namespace": "default"}}))
    return nis


@pytest.mark.parametrize("name,p,nodes,pods,resources,want", LEAST_ALLOCATED_CASES,
                         ids=[c[0] for c in LEAST_ALLOCATED_CASES])
def test_least_allocated(name, p, nodes, pods, resources, want):
    fit = Fit({"scoringStrategy": {"type": "LeastAllocated", "resources": resources}}, None)
    assert scores(fit, p, _place(nodes, pods)) == want


@pytest.mark.parametrize("name,p,nodes,pods,resources,want", MOST_ALLOCATED_CASES,
                         ids=[c[0] for c in MOST_ALLOCATED_CASES])
def test_most_allocated(name, p, nodes, pods, resources, want):
    fit = Fit({"scoringStrategy": {"type": "MostAllocated", "resources": resources}}, None)
    assert scores(fit, p, _place(nodes, pods)) == want


@pytest.mark.parametrize("name,p,nodes,pods,resources,want", RTCR_CASES, ids=[c[0] for c in RTCR_CASES])
def test_requested_to_capacity_ratio(name, p, nodes, pods, resources, want):
    fit = Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio", "resources": resources,
                                   "requestedToCapacityRatio": {"shape": SHAPE_LEAST}}}, None)
    assert scores(fit, p, _place(nodes, pods)) == want
    # Score works without PreScore too
    assert scores(fit, p, _place(nodes, pods), run_pre_score=False) == want


def _ext_node(name: str, scalars: dict) -> dict:
    return node(name, {"cpu": "4000m", "memory": 10000 * MB, **scalars})


SHAPE_BIN_PACKING = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]


@pytest.mark.parametrize("p,pods,want", [
    (pod(), [], [0, 0]),
    (req_pod(rl(**{"intel.com/foo": 2})), [], [2, 5]),
    (req_pod(rl(**{"intel.com/foo": 2})), [("node2", req_pod(rl(**{"intel.com/foo": 2})))], [2, 10]),
    (req_pod(rl(**{"intel.com/foo": 4})), [], [5, 10]),
], ids=["nothing requested", "less resources", "existing pod running", "more resources"])
def test_resource_bin_packing_single_extended(p, pods, want):
    nodes = [_ext_node("node1", {"intel.com/foo": 8}), _ext_node("node2", {"intel.com/foo": 4})]
    fit = Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                                   "resources": [{"name": "intel.com/foo", "weight": 1}],
                                   "requestedToCapacityRatio": {"shape": SHAPE_BIN_PACKING}}}, None)
    assert scores(fit, p, _place(nodes, pods)) == want


@pytest.mark.parametrize("p,pods,want", [
    (pod(), [], [0, 0]),
    (req_pod(rl(**{"intel.com/foo": 2, "intel.com/bar": 2})), [], [4, 3]),
    (req_pod(rl(**{"intel.com/foo": 2, "intel.com/bar": 2})),
     [("node2", req_pod(rl(**{"intel.com/foo": 4, "intel.com/bar": 2})))], [4, 7]),
    (req_pod(rl(**{"intel.com/foo": 4, "intel.com/bar": 2})), [], [5, 5]),
], ids=["nothing requested", "less resources", "existing pod running", "more resources"])
def test_resource_bin_packing_multiple_extended(p, pods, want):
    nodes = [_ext_node("node1", {"intel.com/foo": 8, "intel.com/bar": 4}),
             _ext_node("node2", {"intel.com/foo": 4, "intel.com/bar": 8})]
    fit = Fit({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                                   "resources": [{"name": "intel.com/foo", "weight": 3},
                                                 {"name": "intel.com/bar", "weight": 5}],
                                   "requestedToCapacityRatio": {"shape": SHAPE_BIN_PACKING}}}, None)
    assert scores(fit, p, _place(nodes, pods)) == want


@pytest.mark.parametrize("points,assertions", [
    ([(10, 1), (90, 9)], [(-10, 1), (0, 1), (9, 1), (10, 1), (15, 1), (19, 1), (20, 2), (89, 8), (90, 9), (99, 9),
                          (100, 9), (110, 9)]),
    ([(0, 2), (40, 10), (100, 0)], [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)]),
    ([(0, 2), (40, 2), (100, 2)], [(-10, 2), (0, 2), (20, 2), (30, 2), (40, 2), (70, 2), (100, 2), (110, 2)]),
])
def test_broken_linear_function(points, assertions):
    f = broken_linear_function(points)
    for p, want in assertions:
        assert f(p) == want, (points, p)


def test_broken_linear_function_truncates_toward_zero():
    # descending: 100 + (0-100)*(33-0)/100 = 100 - 33 (Go truncation; flooring would give 67)
    assert broken_linear_function([(0, 100), (100, 0)])(33) == 67
    assert broken_linear_function([(0, 100), (30, 0)])(10) == 67  # 100 + (-1000 / 30 = -33)


def test_non_zero_requests_count_init_containers_and_overhead():
    plain = PodInfo.of(pod(container(), container(rl(cpu="1", memory="1Gi"))))
    assert pod_non_zero_cpu_memory(plain) == (1100, 200 * MB + 1024 * MB)
    with_init = PodInfo.of(pod(container(), init=(container(rl(cpu="2")),)))
    assert pod_non_zero_cpu_memory(with_init) == (2000, 200 * MB)
    with_sidecar = PodInfo.of(pod(container(), init=(container(restartPolicy="Always"),
                                                     container(rl(cpu="150m", memory="1")))))
    # sidecar 100m/200Mi runs alongside: containers 200m/400Mi vs init step 250m/(200Mi+1)
    assert pod_non_zero_cpu_memory(with_sidecar) == (250, 400 * MB)
    with_overhead = PodInfo.of(pod(container(), overhead={"cpu": "50m", "memory": "10Mi"}))
    assert pod_non_zero_cpu_memory(with_overhead) == (150, 210 * MB)


def test_least_allocated_counts_the_pods_non_zero_request():
    # a pod without requests still counts 100m / 200Mi on every node
    nis = _place([cap("node1", cpu="1000m", memory=f"{1000 * MB}")], [])
    fit = Fit({}, None)
    # cpu (1000-100)*100/1000 = 90, memory (1000-200)*100/1000 = 80 -> 85
    assert scores(fit, pod(container()), nis) == [85]


# --------------------------------------------------------------------------------------------
# NodeResourcesBalancedAllocation
# --------------------------------------------------------------------------------------------

CPU_AND_MEMORY_AND_GPU = req_pod(rl(cpu="1000m", memory=2000), {**rl(cpu="2000m", memory=3000), "nvidia.com/gpu": "3"})
CPU_ONLY = req_pod(rl(cpu="1000m", memory=0), rl(cpu="2000m", memory=0))
CPU_AND_MEMORY = req_pod(rl(cpu="1000m", memory=2000), rl(cpu="2000m", memory=3000))
GPU_RESOURCES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": "nvidia.com/gpu", "weight": 1}]


def _mk(name: str, milli_cpu: int, memory: int, scalars: dict | None = None) -> dict:
    return node(name, {"cpu": f"{milli_cpu}m", "memory": memory, **(scalars or {})})


BALANCED_CASES = [
    ("nothing scheduled, nothing requested", pod(), [_mk("node1", 4000, 10000), _mk("node2", 4000, 10000)], [],
     None, [MAX_NODE_SCORE, MAX_NODE_SCORE]),
    ("nothing scheduled, resources requested, differently sized nodes", CPU_AND_MEMORY,
     [_mk("node1", 4000, 10000), _mk("node2", 6000, 10000)], [], None, [87, MAX_NODE_SCORE]),
    ("resources requested, pods scheduled with resources", CPU_AND_MEMORY,
     [_mk("node1", 10000, 20000), _mk("node2", 10000, 20000)], [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)],
     None, [82, 95]),
    ("resources requested, pods scheduled with resources, differently sized nodes", CPU_AND_MEMORY,
     [_mk("node1", 10000, 20000), _mk("node2", 10000, 50000)], [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)],
     None, [82, 80]),
    ("requested resources at node capacity", CPU_ONLY, [_mk("node1", 6000, 10000), _mk("node2", 6000, 10000)],
     [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)], None, [50, 75]),
    ("include scalar resource on a node for balanced resource allocation",
     req_pod({"memory": "0", "nvidia.com/gpu": "1"}),
     [_mk("node1", 3500, 40000, {"nvidia.com/gpu": 8}), _mk("node2", 3500, 40000, {"nvidia.com/gpu": 8})],
     [("node2", CPU_AND_MEMORY), ("node1", CPU_AND_MEMORY_AND_GPU)], GPU_RESOURCES, [70, 65]),
    ("node without the scalar resource should skip the scalar resource", CPU_AND_MEMORY,
     [_mk("node1", 3500, 40000, {"nvidia.com/gpu": 8}), _mk("node2", 3500, 40000)], [], GPU_RESOURCES, [63, 63]),
]


@pytest.mark.parametrize("name,p,nodes,pods,resources,want", BALANCED_CASES, ids=[c[0] for c in BALANCED_CASES])
def test_balanced_allocation(name, p, nodes, pods, resources, want):
    ba = BalancedAllocation({"resources": resources} if resources else {}, None)
    assert scores(ba, p, _place(nodes, pods)) == want
    assert scores(ba, p, _place(nodes, pods), run_pre_score=False) == want


def test_balanced_allocation_uses_requests_not_non_zero_defaults():
    # a pod without requests adds nothing: cpu 0, memory 0 -> perfectly balanced
    nis = _place([_mk("node1", 1000, 1000 * MB)], [])
    assert scores(BalancedAllocation({}, None), pod(container()), nis) == [MAX_NODE_SCORE]


def test_balanced_allocation_args():
    with pytest.raises(ValueError, match="must be 1"):
        BalancedAllocation({"resources": [{"name": "cpu", "weight": 2}]}, None)
    with pytest.raises(ValueError, match="Duplicate"):
        BalancedAllocation({"resources": [{"name": "cpu"}, {"name": "cpu"}]}, None)


# --------------------------------------------------------------------------------------------
# NodePorts
# --------------------------------------------------------------------------------------------

def port_pod(*specs: str) -> dict:
    """Ports as "PROTO/IP/PORT" (upstream's newPod helper)."""
    ports = []
    for s in specs:
        proto, ip, port = s.split("/")
        ports.append({"containerPort": int(port), "hostPort": int(port), "protocol": proto, "hostIP": ip})
    return pod(container(ports=ports))


NODE_PORTS_CASES = [
    ("nothing running", port_pod("UDP/127.0.0.1/8080"), pod(), True),
    ("other port", port_pod("UDP/127.0.0.1/8080"), port_pod("UDP/127.0.0.1/9090"), True),
    ("same udp port", port_pod("UDP/127.0.0.1/8080"), port_pod("UDP/127.0.0.1/8080"), False),
    ("same tcp port", port_pod("TCP/127.0.0.1/8080"), port_pod("TCP/127.0.0.1/8080"), False),
    ("different host ip", port_pod("TCP/127.0.0.1/8080"), port_pod("TCP/127.0.0.2/8080"), True),
    ("different protocol", port_pod("UDP/127.0.0.1/8080"), port_pod("TCP/127.0.0.1/8080"), True),
    ("second udp port conflict", port_pod("UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"),
     port_pod("UDP/127.0.0.1/8080"), False),
    ("first tcp port conflict", port_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"),
     port_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"), False),
    ("first tcp port conflict due to 0.0.0.0 hostIP", port_pod("TCP/0.0.0.0/8001"),
     port_pod("TCP/127.0.0.1/8001"), False),
    ("TCP hostPort conflict due to 0.0.0.0 hostIP", port_pod("TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"),
     port_pod("TCP/127.0.0.1/8001"), False),
    ("second tcp port conflict to 0.0.0.0 hostIP", port_pod("TCP/127.0.0.1/8001"),
     port_pod("TCP/0.0.0.0/8001"), False),
    ("second different protocol", port_pod("UDP/127.0.0.1/8001"), port_pod("TCP/0.0.0.0/8001"), True),
    ("UDP hostPort conflict due to 0.0.0.0 hostIP", port_pod("UDP/127.0.0.1/8001"),
     port_pod("TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"), False),
]


@pytest.mark.parametrize("name,p,existing,fits", NODE_PORTS_CASES, ids=[c[0] for c in NODE_PORTS_CASES])
def test_node_ports(name, p, existing, fits):
    st = run_filter(NodePorts({}, None), p, node_info(node("n", {"pods": 110}), existing))
    if fits:
        assert st.is_success()
    else:
        assert st.code == Code.UNSCHEDULABLE
        assert st.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def test_node_ports_defaults_and_skip():
    # no hostIP means 0.0.0.0 and no protocol TCP: clashes with any TCP use of the port
    p = pod(container(ports=[{"containerPort": 80, "hostPort": 8080}]))
    st = run_filter(NodePorts({}, None), p, node_info(node("n"), port_pod("TCP/10.1.1.1/8080")))
    assert st.code == Code.UNSCHEDULABLE
    # a containerPort without a hostPort uses no host port: PreFilter skips
    q = pod(container(ports=[{"containerPort": 80}]))
    _, st = NodePorts({}, None).pre_filter(CycleState(), PodInfo.of(q), [])
    assert st.code == Code.SKIP


# --------------------------------------------------------------------------------------------
# NodeName, NodeUnschedulable
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("want_name,node_name,fits", [
    ("", "foo", True), ("foo", "foo", True), ("bar", "foo", False),
], ids=["no host specified", "host matches", "host doesn't match"])
def test_node_name(want_name, node_name, fits):
    st = NodeName({}, None).filter(CycleState(), PodInfo.of(pod(node_name=want_name)), node_info(node(node_name)))
    if fits:
        assert st.is_success()
    else:
        assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert st.reasons == ["node(s) didn't match the requested node name"]


UNSCHEDULABLE_TOLERATION = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


@pytest.mark.parametrize("tolerations,unschedulable,fits", [
    (None, None, True),
    (None, True, False),
    (None, False, True),
    ([UNSCHEDULABLE_TOLERATION], True, True),
    ([{**UNSCHEDULABLE_TOLERATION, "operator": "Exists"}], True, True),
    ([{"operator": "Exists"}], True, True),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}], True, True),
    ([{**UNSCHEDULABLE_TOLERATION, "effect": "NoExecute"}], True, False),
    ([{**UNSCHEDULABLE_TOLERATION, "value": "x"}], True, False),
    ([{"key": "other", "operator": "Exists"}], True, False),
], ids=["schedulable", "unschedulable", "unschedulable false", "tolerated", "tolerated with Exists",
        "tolerate everything", "key with no effect", "other effect", "other value", "other key"])
def test_node_unschedulable(tolerations, unschedulable, fits):
    spec = {"tolerations": tolerations} if tolerations else {}
    n = node("n") if unschedulable is None else node("n", unschedulable=unschedulable)
    st = NodeUnschedulable({}, None).filter(CycleState(), PodInfo.of(pod(**spec)), node_info(n))
    if fits:
        assert st.is_success()
    else:
        assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert st.reasons == ["node(s) were unschedulable"]


def test_node_unschedulable_without_node():
    st = NodeUnschedulable({}, None).filter(CycleState(), PodInfo.of(pod()), NodeInfo())
    assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and st.reasons == ["node(s) had unknown conditions"]


# --------------------------------------------------------------------------------------------
# ImageLocality
# --------------------------------------------------------------------------------------------

def img(size_mb: int, *names: str) -> dict:
    return {"names": list(names), "sizeBytes": size_mb * MB}


NODE_40_300_2000 = [img(40, "gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"),
                    img(300, "gcr.io/300:latest", "gcr.io/300:v1"), img(2000, "gcr.io/2000:latest")]
NODE_250_10 = [img(250, "gcr.io/250:latest"), img(10, "gcr.io/10:latest", "gcr.io/10:v1")]
NODE_600_40_900 = [img(600, "gcr.io/600:latest"), img(40, "gcr.io/40:latest"), img(900, "gcr.io/900:latest")]
NODE_300_600_900 = [img(300, "gcr.io/300:latest"), img(600, "gcr.io/600:latest"), img(900, "gcr.io/900:latest")]
NODE_4000_30 = [img(4000, "gcr.io/4000:latest"), img(30, "gcr.io/30:latest")]
NODE_20_30_40 = [img(20, "gcr.io/20:latest"), img(30, "gcr.io/30:latest"), img(40, "gcr.io/40:latest")]


def image_pod(*images: str, init: tuple[str, ...] = ()) -> dict:
    return pod(*(container(image=i) for i in images), init=tuple(container(image=i) for i in init))


IMAGE_CASES = [
    ("two images spread on two nodes, prefer the larger image one", image_pod("gcr.io/40", "gcr.io/250"),
     [NODE_40_300_2000, NODE_250_10], [0, 5]),
    ("two images on one node, prefer this node", image_pod("gcr.io/40", "gcr.io/300"),
     [NODE_40_300_2000, NODE_250_10], [7, 0]),
    ("if exceed limit, use limit", image_pod("gcr.io/10", "gcr.io/4000"), [NODE_4000_30, NODE_250_10],
     [MAX_NODE_SCORE, 0]),
    ("if exceed limit, use limit (with node which has no images present)", image_pod("gcr.io/10", "gcr.io/4000"),
     [NODE_4000_30, NODE_250_10, None], [66, 0, 0]),
    ("pod with multiple large images, node2 is preferred", image_pod("gcr.io/300", "gcr.io/600", "gcr.io/900"),
     [NODE_600_40_900, NODE_300_600_900, None], [32, 36, 0]),
    ("pod with multiple small images", image_pod("gcr.io/30", "gcr.io/40"), [NODE_20_30_40, NODE_4000_30], [1, 0]),
    ("include InitContainers: two images spread on two nodes, prefer the larger image one",
     image_pod("gcr.io/30", init=("gcr.io/300",)), [NODE_40_300_2000, NODE_20_30_40], [6, 0]),
]


@pytest.mark.parametrize("name,p,node_images,want", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_image_locality(name, p, node_images, want):
    nis = [NodeInfo(node(f"node{i + 1}", images=imgs)) for i, imgs in enumerate(node_images)]
    pl = ImageLocality({}, SimpleHandle(snapshot=ListSnapshot(nis)))
    assert scores(pl, p, nis) == want
    assert scores(pl, p, nis, run_pre_score=False) == want


def test_image_locality_spread_counts_all_nodes_not_just_the_feasible():
    nis = [NodeInfo(node(f"node{i}", images=[img(500, "gcr.io/500:latest")])) for i in range(4)]
    nis.append(NodeInfo(node("node4")))
    pl = ImageLocality({}, SimpleHandle(snapshot=ListSnapshot(nis)))
    # 500MB * 4/5 = 400MB: 100 * (400 - 23) / (1000 - 23) = 38, though only node0 is being scored
    assert scores(pl, image_pod("gcr.io/500"), nis[:1]) == [38]


def test_image_locality_skips_when_no_node_has_the_images():
    nis = [NodeInfo(node("node1", images=NODE_250_10))]
    pl = ImageLocality({}, SimpleHandle(snapshot=ListSnapshot(nis)))
    st = pl.pre_score(CycleState(), PodInfo.of(image_pod("gcr.io/elsewhere")), nis)
    assert st.code == Code.SKIP


def test_normalized_image_name():
    digest = "sha256:" + hashlib.sha256(b"root").hexdigest()
    assert normalized_image_name("root") == "root:latest"
    assert normalized_image_name("gcr.io:5000/root") == "gcr.io:5000/root:latest"
    assert normalized_image_name("root:tag") == "root:tag"
    assert normalized_image_name("root@" + digest) == "root@" + digest


# --------------------------------------------------------------------------------------------
# events and the Framework
# --------------------------------------------------------------------------------------------

def test_events_to_register():
    assert set(Fit({}, None).events_to_register()) == {
        ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update")}
    assert set(NodePorts({}, None).events_to_register()) == {ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add")}
    assert NodeName({}, None).events_to_register() == [ClusterEvent("Node", "Add")]
    assert ClusterEvent("Node", "Update") in NodeUnschedulable({}, None).events_to_register()


REGISTRY = {cls.name: cls for cls in (NodeUnschedulable, NodeName, NodePorts, Fit, BalancedAllocation,
                                      ImageLocality)}


def test_framework_filters_and_weighted_scores():
    nodes = [
        node("small", {"cpu": "1", "memory": "1Gi", "pods": 110}),
        node("big", {"cpu": "4", "memory": "4Gi", "pods": 110}, images=[img(500, "app:latest")]),
        node("cordoned", {"cpu": "4", "memory": "4Gi", "pods": 110}, unschedulable=True),
        node("busy", {"cpu": "4", "memory": "4Gi", "pods": 110}),
        node("mid", {"cpu": "2", "memory": "4Gi", "pods": 110}),
    ]
    nis = [NodeInfo(n) for n in nodes]
    nis[3].add_pod(PodInfo.of({**port_pod("TCP/0.0.0.0/80"), "metadata": {"name": "web", "namespace": "x"}}))
    profile = Profile(plugins=[
        PluginSpec("NodeUnschedulable"), PluginSpec("NodeName"), PluginSpec("NodePorts"),
        PluginSpec("NodeResourcesFit", 1, {"scoringStrategy": {"type": "MostAllocated"}}),
        PluginSpec("NodeResourcesBalancedAllocation", 1), PluginSpec("ImageLocality", 2)])
    fw = Framework(profile, REGISTRY, SimpleHandle(snapshot=ListSnapshot(nis)))

    p = pod(container(rl(cpu="1500m", memory="1Gi"), image="app",
                      ports=[{"containerPort": 80, "hostPort": 80}]))
    pi = PodInfo.of(p)
    state = CycleState()
    result, st = fw.run_pre_filter(state, pi, nis)
    assert st.is_success() and result is None
    statuses = {ni.name: fw.run_filter(state, pi, ni) for ni in nis}
    assert statuses["small"].plugin == "NodeResourcesFit" and statuses["small"].reasons == ["Insufficient cpu"]
    assert statuses["cordoned"].plugin == "NodeUnschedulable"
    assert statuses["cordoned"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert statuses["busy"].plugin == "NodePorts"
    feasible = [ni for ni in nis if statuses[ni.name].is_success()]
    assert [ni.name for ni in feasible] == ["big", "mid"]

    assert fw.run_pre_score(state, pi, feasible).is_success()
    totals, st = fw.run_score(state, pi, feasible)
    assert st.is_success()
    # big: MostAllocated cpu 1500/4000 -> 37, memory 1Gi/4Gi -> 25 => 31; Balanced |0.375-0.25|/2 -> 93;
    #      ImageLocality 500MB*1/5 = 100MB: 100*(100-23)/(1000-23) = 7, weight 2 -> 14
    # mid: MostAllocated cpu 1500/2000 -> 75, memory 25 => 50; Balanced |0.75-0.25|/2 -> 75; no image -> 0
    assert totals == [31 + 93 + 2 * 7, 50 + 75 + 0]

    # a pod pinned to a node: NodeName rejects the others, unresolvably
    pinned = PodInfo.of(pod(container(), node_name="mid"))
    state = CycleState()
    fw.run_pre_filter(state, pinned, nis)
    assert "NodePorts" in state.skip_filter
    st = fw.run_filter(state, pinned, nis[1])
    assert st.plugin == "NodeName" and st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert fw.run_filter(state, pinned, nis[4]).is_success()
    assert set(fw.events()) >= {ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add"),
                                ClusterEvent("Node", "Update")}


@pytest.mark.parametrize("cls,args", [
    ("Fit", {}), ("Fit", {"scoringStrategy": {"type": "MostAllocated"}}), ("BalancedAllocation", {}),
    ("Fit", {"scoringStrategy": {"type": "LeastAllocated",
                                 "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}]}}),
])
def test_batch_scores_equal_per_node_scores(cls, args):
    """score_nodes (the fast path) must give exactly what score gives node by node."""
    import random as _random

    from actors.scheduler.framework import CycleState as _CS
    from actors.scheduler.nodeinfo import NodeInfo as _NI, PodInfo as _PI
    from actors.scheduler.plugins import noderesources as nr

    rng = _random.Random(7)
    plugin = getattr(nr, cls)(args, None)
    nodes = []
    for i in range(60):
        ni = _NI({"metadata": {"name": f"n{i}"}, "status": {"allocatable": {
            "cpu": str(rng.choice([0, 1, 2, 4, 16])), "memory": f"{rng.choice([0, 1, 8, 64])}Gi", "pods": "110"}}})
        for j in range(rng.randrange(4)):
            ni.add_pod(_PI.of({"metadata": {"name": f"p{i}-{j}", "namespace": "x"}, "spec": {"containers": [
                {"name": "c", "resources": {"requests": {"cpu": f"{rng.randrange(1, 3000)}m",
                                                          "memory": f"{rng.randrange(1, 9000)}Mi"}}}]}}))
        nodes.append(ni)
    for req in ({}, {"cpu": "500m"}, {"cpu": "2", "memory": "3Gi"}):
        pod = _PI.of({"metadata": {"name": "me", "namespace": "x"},
                      "spec": {"containers": [{"name": "c", "resources": {"requests": req}}]}})
        state = _CS()
        plugin.pre_score(state, pod, nodes)
        assert plugin.score_nodes(state, pod, nodes) == [plugin.score(state, pod, n)[0] for n in nodes]
